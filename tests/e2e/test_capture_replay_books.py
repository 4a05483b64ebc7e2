"""A capture recorded from the built-in exchange replays to the very books the exchange had."""

from __future__ import annotations

import gzip
import time

import websocket

from actors.app.replay import load_capture, run_replay
from actors.market_data.digest import book_digest
from actors.streaming.capture import record
from actors.streaming.core import StreamingCore
from config.loader import apply_overrides, load_profile
from exchange.server import ExchangeServer

PRODUCTS = ("BTC-USD", "BIP-20DEC30-CDE")


def record_until_paused(server: ExchangeServer, seconds: float) -> list[str]:
    ws = websocket.create_connection(server.url, timeout=5)
    lines: list[str] = []
    try:
        for message in StreamingCore(PRODUCTS, ("level2", "market_trades")).subscribe_messages():
            ws.send(message)
        ws.settimeout(0.2)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:  # record for `seconds` of live market
            _recv_into(ws, lines)
        server.pause()  # every frame of every past step is now queued: drain them
        while _recv_into(ws, lines):
            pass
    finally:
        ws.close()
        ws.shutdown()
    return lines


def _recv_into(ws: websocket.WebSocket, lines: list[str]) -> bool:
    try:
        lines.append(ws.recv())
        return True
    except websocket.WebSocketTimeoutException:
        return False


def test_recorded_capture_replays_to_the_exchange_books(tmp_path):
    server = ExchangeServer(seed=11, tick_interval_s=0.05)
    server.start()
    try:
        lines = record_until_paused(server, seconds=3)
        expected = {pid: book_digest(*server.books(pid)) for pid in PRODUCTS}
    finally:
        server.stop()
    capture = tmp_path / "capture.jsonl"
    capture.write_text("\n".join(lines) + "\n")
    profile = apply_overrides(load_profile("paper"), **{"run.data_dir": str(tmp_path / "data")})
    report, status = run_replay(profile, capture, lines, [])
    assert status == 0 and report["feed"]["gaps"] == 0
    for pid in PRODUCTS:
        assert report["products"][pid]["valid"]
        assert report["products"][pid]["book_sha256"] == expected[pid], pid


def test_record_writes_gzip_when_the_name_says_so_and_replay_reads_it_back(tmp_path):
    server = ExchangeServer(seed=12, tick_interval_s=0.05)
    server.start()
    try:
        out = tmp_path / "capture.jsonl.gz"
        count = record(server.url, PRODUCTS, ("level2", "status"), 1.0, out)
    finally:
        server.stop()
    with gzip.open(out, "rt") as handle:  # really gzip
        assert sum(1 for _ in handle) == count > 0
    _, lines = load_capture(out)
    assert len(lines) == count and any('"channel":"status"' in line.replace(" ", "") for line in lines)
