"""Capture files: raw frames, one per line, exactly as received.

Owns reading a capture for replays (with the frame's own timestamp, which becomes the replay
clock) and recording one from any Advanced Trade endpoint. Must never alter a frame's text.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import websocket

from actors.streaming.codec import parse_timestamp
from actors.streaming.core import StreamingCore

# 90 s of the built-in exchange (seed 7, default channels), recorded with `perpsbot record`.
SAMPLE = Path(__file__).parent / "samples" / "sample_capture.jsonl.gz"


class _Stamp(msgspec.Struct):
    timestamp: str | None = None


_stamp_decoder = msgspec.json.Decoder(_Stamp)


def frame_time(line: str) -> float | None:
    """The frame's own `timestamp` in epoch seconds, or None if the line has none or is malformed."""
    try:
        stamp = _stamp_decoder.decode(line).timestamp
        return parse_timestamp(stamp) if stamp else None
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
        return None


def _open(path: str | Path, mode: str):  # type: ignore[no-untyped-def]
    """gzip when the name ends in .gz, plain text otherwise (the same rule for writing and reading)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    return opener(path, mode, encoding="utf-8")


def read_capture(path: str | Path) -> Iterator[str]:
    """Lines of a capture (gzip-compressed when the name ends in .gz), without line ends."""
    with _open(path, "rt") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if line:
                yield line


def record(url: str, products: tuple[str, ...], channels: tuple[str, ...], duration_s: float, out: str | Path) -> int:
    """Subscribe like the bot does and write every received frame to `out`. Returns the count."""
    core = StreamingCore(products, channels)
    ws = websocket.create_connection(url, timeout=5)
    count = 0
    try:
        for message in core.subscribe_messages():
            ws.send(message)
        deadline = time.monotonic() + duration_s
        with _open(out, "wt") as handle:
            while time.monotonic() < deadline:
                ws.settimeout(max(0.05, deadline - time.monotonic()))
                try:
                    text = ws.recv()
                except websocket.WebSocketTimeoutException:
                    continue
                if not text:
                    break
                handle.write(text if isinstance(text, str) else text.decode())
                handle.write("\n")
                count += 1
    finally:
        ws.close()
    return count
