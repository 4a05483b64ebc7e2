"""`perpsbot replay` over a hostile capture: the bundled sample with bad frames interleaved (5,000
nines, 1e999999999, 1e-999999999, negative sizes, NaN, Infinity, deep nesting, a 10 MB line, a byte
that is not UTF-8). It runs to the end, counts each bad frame as malformed, logs each kind once,
and trades exactly as over the sample alone."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

from actors.streaming.capture import SAMPLE

ROOT = Path(__file__).resolve().parents[2]
PERPSBOT = [sys.executable, str(ROOT / "bin" / "perpsbot")]
DEEP = "[" * 100_000 + "]" * 100_000


def _l2(ts: str, seq: int, product: str, levels: list[tuple[str, str, str]], kind: str = "update",
        **extra: object) -> str:
    updates = [{"side": side, "event_time": ts, "price_level": price, "new_quantity": size}
               for side, price, size in levels]
    return json.dumps({"channel": "l2_data", "client_id": "", "timestamp": ts, "sequence_num": seq,
                       "events": [{"type": kind, "product_id": product, "updates": updates}], **extra})


def hostile_frames(ts: str, seq: int, last_seq: int) -> list[str | bytes]:
    """Bad frames to put before a good frame numbered `seq`, after one numbered `last_seq` stamped
    `ts`: level2 frames take the next frame's number (a skipped level2 frame's number is not
    counted, so the next one is in order), a trades frame the last one's (counted, as a duplicate),
    so none of them shows as a gap and the books stay as the sample leaves them."""
    btc, perp = "BTC-USD", "BIP-20DEC30-CDE"
    return [
        _l2(ts, seq, btc, [("offer", "9" * 5000, "1")]),
        _l2(ts, seq, btc, [("bid", "1", "9" * 5000)]),
        _l2(ts, seq, btc, [("offer", "1e999999999", "1")]),
        _l2(ts, seq, perp, [("offer", "90000", "1e999999999")]),
        _l2(ts, seq, btc, [("bid", "1e-999999999", "1")]),
        _l2(ts, seq, btc, [("bid", "88000.00", "-5")]),
        _l2(ts, seq, perp, [("bid", "88000", "-0.00000001")]),
        _l2(ts, seq, btc, [("offer", "NaN", "1")]),
        _l2(ts, seq, perp, [("bid", "88000", "Infinity")]),
        _l2(ts, seq, perp, [("bid", "88000", "1"), ("offer", "NaN", "1")], kind="snapshot"),
        json.dumps({"channel": "market_trades", "client_id": "", "timestamp": ts, "sequence_num": last_seq,
                    "events": [{"type": "update", "trades": [{"trade_id": "x", "product_id": btc,
                                                              "price": "1e999999999", "size": "1", "side": "BUY",
                                                              "time": ts}]}]}),
        DEEP,
        _l2(ts, seq, btc, [("bid", "1", "1")])[:-1] + ', "x": ' + DEEP + "}",
        _l2(ts, seq, btc, [("offer", "9" * 10_000_000, "1")]),  # a 10 MB line
        b'{"channel": "l2_data", "sequence_num": ' + str(seq).encode() + b', "events": "\xff\xfe"}',
    ]


KINDS = {"bad_decimal": 11, "too_deep": 2, "too_big": 1, "not_utf8": 1}


def write_hostile(path: Path) -> tuple[int, int]:
    """The sample with the hostile frames before three of its frames; (bad frames, all frames)."""
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as handle:
        lines = [line.rstrip("\n") for line in handle if line.strip()]
    out: list[str | bytes] = []
    bad = 0
    for i, line in enumerate(lines):
        if i in (len(lines) // 4, len(lines) // 2, 3 * len(lines) // 4):
            previous = json.loads(lines[i - 1])
            frames = hostile_frames(previous["timestamp"], json.loads(line)["sequence_num"],
                                    previous["sequence_num"])
            out += frames
            bad += len(frames)
        out.append(line)
    with open(path, "wb") as handle:
        for frame in out:
            handle.write((frame if isinstance(frame, bytes) else frame.encode()) + b"\n")
    return bad, len(out)


def replay(tmp_path: Path, name: str, *capture: str) -> tuple[subprocess.CompletedProcess, dict]:
    report = tmp_path / f"{name}.json"
    result = subprocess.run([*PERPSBOT, "replay", *capture, "--data-dir", str(tmp_path / name),
                             "--report-json", str(report)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result, json.loads(report.read_text())


def test_a_hostile_capture_replays_to_the_end_counted_and_trading_unaffected(tmp_path):
    capture = tmp_path / "hostile.jsonl"
    bad, frames = write_hostile(capture)
    assert bad == 3 * sum(KINDS.values())
    result, hostile = replay(tmp_path, "hostile", str(capture))
    _, clean = replay(tmp_path, "clean")  # the bundled sample alone

    feed = hostile["feed"]
    assert feed["frames"] == frames and hostile["replay"]["frames"] == frames
    assert feed["malformed"] == bad
    assert feed["malformed_kinds"] == {kind: 3 * n for kind, n in KINDS.items()}
    assert feed["gaps"] == 0 and feed["resync_requests"] == 0
    assert clean["feed"]["malformed"] == 0

    trading = hostile["trading"]
    assert trading["state"] != "HALTED" and trading["state"] == clean["trading"]["state"]
    assert trading["orders"] == clean["trading"]["orders"] > 0
    assert trading["fills"] == clean["trading"]["fills"] > 0
    assert hostile["fingerprint"] == clean["fingerprint"]  # the very same fills, in the same order
    assert hostile["positions"] == clean["positions"]
    for pid, book in clean["products"].items():
        assert hostile["products"][pid]["book_sha256"] == book["book_sha256"]
        assert hostile["products"][pid]["resyncs"] == book["resyncs"]
    assert not any(hostile["supervision"]["restarts"].values()) and hostile["supervision"]["escalations"] == 0

    log = result.stderr
    assert "Traceback" not in log and "supervision: failed" not in log
    warnings = [line for line in log.splitlines() if "malformed frame skipped" in line]
    assert len(warnings) == len(KINDS), warnings  # once per kind, not once per frame
    assert all(len(line) < 400 for line in warnings)  # never the 10 MB value itself
    assert "(malformed: bad_decimal 33, not_utf8 3, too_big 3, too_deep 6)" in result.stdout
