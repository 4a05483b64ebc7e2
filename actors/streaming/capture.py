"""Capture files: raw frames, one per line, exactly as received.

Owns reading a capture for replays (with the frame's own timestamp, which becomes the replay
clock) and recording one from any Advanced Trade endpoint, stopping when its caller asks. A line
that is not UTF-8 is read as its bytes, one frame like any other (the decoder calls it malformed),
never a reason to refuse the file. Must never alter a frame's text, install signal handlers (the
command does), or leave a capture unclosed.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import websocket
from loguru import logger

from actors.streaming.codec import MAX_FRAME_CHARS
from actors.streaming.core import StreamingCore
from actors.wire.timestamps import parse_timestamp

# 90 s of the built-in exchange (seed 7, default channels), recorded with `perpsbot record`.
SAMPLE = Path(__file__).parent / "samples" / "sample_capture.jsonl.gz"


class _Stamp(msgspec.Struct):
    timestamp: str | None = None


_stamp_decoder = msgspec.json.Decoder(_Stamp)


def frame_time(line: str | bytes) -> float | None:
    """The frame's own `timestamp` in epoch seconds, or None if the line has none or is malformed
    (over the frame size limit, nested too deeply, not UTF-8 ...)."""
    if len(line) > MAX_FRAME_CHARS:
        return None
    try:
        stamp = _stamp_decoder.decode(line).timestamp
        return parse_timestamp(stamp) if stamp else None
    except (msgspec.DecodeError, RecursionError, ValueError):  # ValidationError is a DecodeError
        return None


def _open(path: str | Path, mode: str) -> Any:  # a binary or a text file object, as `mode` says
    """gzip when the name ends in .gz, plain otherwise (the same rule for writing and reading)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    return opener(path, mode) if "b" in mode else opener(path, mode, encoding="utf-8")


def read_capture(path: str | Path) -> Iterator[str | bytes]:
    """Lines of a capture (gzip-compressed when the name ends in .gz), without line ends: text,
    or the line's bytes when it is not UTF-8."""
    with _open(path, "rb") as handle:
        for line in handle:
            line = line.rstrip(b"\r\n")
            if line:
                try:
                    yield line.decode("utf-8")
                except UnicodeDecodeError:
                    yield line


class RecordError(Exception):
    """The endpoint cannot be reached or refuses the subscription; one line naming it."""


class _Never:
    def is_set(self) -> bool:
        return False


RECV_SLICE_S = 0.1  # a stop request is noticed within this (the socket is read in slices)
FLUSH_INTERVAL_S = 1.0  # what reaches the disk at least this often (a kill -9 loses at most this)


def record(url: str, products: tuple[str, ...], channels: tuple[str, ...], duration_s: float, out: str | Path,
           stop: Any = None) -> int:
    """Subscribe like the bot does and write every received frame to `out` until `duration_s`
    passes, the server closes, or `stop.is_set()` (e.g. SIGTERM: the caller owns the signals).
    The file is closed properly on every one of those ends (a complete capture). Returns the count."""
    stop = stop if stop is not None else _Never()
    core = StreamingCore(products, channels)
    try:
        ws = websocket.create_connection(url, timeout=5)
    except (OSError, ValueError, websocket.WebSocketException) as exc:
        raise RecordError(f"cannot connect to {url}: {exc}") from None
    count = 0
    try:
        try:
            for message in core.subscribe_messages():
                ws.send(message)
        except (OSError, websocket.WebSocketException) as exc:
            raise RecordError(f"cannot subscribe on {url}: {exc}") from None
        deadline = time.monotonic() + duration_s
        with _open(out, "wt") as handle:
            logger.info("recording {} to {} for {:g} s", url, out, duration_s)
            next_flush = time.monotonic() + FLUSH_INTERVAL_S
            while not stop.is_set():
                now = time.monotonic()
                remaining = deadline - now
                if remaining <= 0:
                    break
                if now >= next_flush:
                    handle.flush()
                    next_flush = now + FLUSH_INTERVAL_S
                ws.settimeout(min(RECV_SLICE_S, max(0.01, remaining)))
                try:
                    text = ws.recv()
                except websocket.WebSocketTimeoutException:
                    continue
                except (websocket.WebSocketConnectionClosedException, ConnectionError):
                    break  # the server went away: keep what was received
                if not text:
                    break
                handle.write(text if isinstance(text, str) else text.decode())
                handle.write("\n")
                count += 1
    finally:
        ws.close()
    return count
