"""A one-line progress display for long commands on a terminal (`replay`): items done of the
total, the rate, and the time left, rewritten in place at most a few times a second.

Owns the line's text and its pacing. Must never write when it is not enabled (output that is not a
terminal, or `--quiet`): scripts and logs get no carriage returns.
"""

from __future__ import annotations

import time
from typing import Callable, TextIO


class Progress:
    def __init__(self, label: str, total: int, stream: TextIO, enabled: bool, interval_s: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._label = label
        self._total = total
        self._stream = stream
        self._enabled = enabled
        self._interval_s = interval_s
        self._clock = clock
        self._started = clock()
        self._next = self._started + interval_s
        self._shown = False

    def update(self, done: int) -> None:
        """Show `done` of the total if the last line is older than the interval."""
        if not self._enabled:
            return
        now = self._clock()
        if now < self._next and done < self._total:
            return
        self._next = now + self._interval_s
        self._stream.write("\r" + self.line(done, now - self._started))
        self._stream.flush()
        self._shown = True

    def finish(self) -> None:
        """End the line, so what is printed next starts on its own."""
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()

    def line(self, done: int, elapsed_s: float) -> str:
        rate = done / elapsed_s if elapsed_s > 0 else 0.0
        left = (self._total - done) / rate if rate > 0 else None
        eta = f"ETA {left:,.0f} s" if left is not None else "ETA --"
        return f"{self._label}  {done:,}/{self._total:,} frames  {rate:,.0f}/s  {eta}   "
