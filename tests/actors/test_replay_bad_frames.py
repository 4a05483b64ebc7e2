"""A capture with malformed lines, error frames, unknown channels and a sequence gap replays to
the correct final books, each kind counted."""

from __future__ import annotations

from decimal import Decimal

from actors.app.replay import run_replay
from config.loader import apply_overrides, load_profile


def frame(seq: int, ts: str, channel: str, events: list) -> str:
    import json

    return json.dumps({"channel": channel, "client_id": "", "timestamp": ts, "sequence_num": seq, "events": events})


def l2(kind: str, product: str, levels: list[tuple[str, str, str]]) -> dict:
    return {"type": kind, "product_id": product, "updates": [
        {"side": side, "event_time": "2026-11-23T21:40:01.000000Z", "price_level": price, "new_quantity": qty}
        for side, price, qty in levels]}


def test_bad_frames_are_counted_skipped_and_books_end_correct(tmp_path):
    t = "2026-11-23T21:40:0{}.000000000Z"
    lines = [
        frame(0, t.format(1), "l2_data", [l2("snapshot", "BTC-USD", [
            ("bid", "100.00", "1"), ("bid", "99.00", "2"), ("offer", "101.00", "1"), ("offer", "102.00", "3")])]),
        "{not json at all",
        '{"type": "error", "message": "authentication failure"}',
        frame(1, t.format(2), "l2_data", [l2("update", "BTC-USD", [("bid", "100.00", "0.00000000")])]),
        frame(2, t.format(2), "mystery_channel", [{"x": 1}]),
        frame(3, t.format(3), "l2_data", [l2("update", "BTC-USD", [("offer", "101.00", "0")])]),
        # sequence 4 is lost: the book is invalid until the next snapshot
        frame(5, t.format(4), "l2_data", [l2("update", "BTC-USD", [("bid", "98.00", "7")])]),
        frame(6, t.format(5), "l2_data", [l2("snapshot", "BTC-USD", [
            ("bid", "99.50", "4"), ("offer", "100.50", "5"), ("offer", "103.00", "1")])]),
        frame(7, t.format(6), "l2_data", [l2("update", "BTC-USD", [("bid", "99.75", "2"), ("offer", "103.00", "0E-8")])]),
        '["an", "array"]',
        # a crossed book is corruption: invalid, and a resync is asked for, until a new snapshot
        frame(8, t.format(7), "l2_data", [l2("update", "BTC-USD", [("bid", "101.00", "1")])]),
        frame(9, t.format(8), "l2_data", [l2("update", "BTC-USD", [("bid", "99.80", "1")])]),
        frame(10, t.format(9), "l2_data", [l2("snapshot", "BTC-USD", [
            ("bid", "99.75", "2"), ("bid", "99.50", "4"), ("offer", "100.50", "5")])]),
    ]
    capture = tmp_path / "bad.jsonl"
    capture.write_text("\n".join(lines) + "\n")
    profile = apply_overrides(load_profile("paper"), **{"run.data_dir": str(tmp_path / "data"),
                                                        "strategy.products": ("BTC-USD",)})
    report, status = run_replay(profile, capture, lines, [])
    assert status == 0
    feed = report["feed"]
    assert feed["frames"] == len(lines)
    assert feed["malformed"] == 2 and feed["error_frames"] == 1 and feed["unknown"] == 1 and feed["gaps"] == 1
    book = report["products"]["BTC-USD"]
    assert Decimal(book["best_bid"]) == Decimal("99.75") and Decimal(book["best_ask"]) == Decimal("100.50")
    assert (book["bid_levels"], book["ask_levels"]) == (2, 1)
    assert book["resyncs"] == 2
    assert feed["resync_requests"] == 1
    assert report["trading"]["orders"] == 0
