"""Injected time: the one place the runtime reads the time of day.

Owns the `Clock` interface with a wall clock for live runs and a manual clock for tests and replays.
Must never sleep: waiting is the scheduler's job, and a manual clock only moves when told to.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Clock:
    """Time source read by every timing decision (staleness, back-off, schedules, funding)."""

    def now(self) -> float:
        """Seconds since the Unix epoch."""
        raise NotImplementedError

    @property
    def is_manual(self) -> bool:
        return False


class WallClock(Clock):
    def now(self) -> float:
        return time.time()


class ManualClock(Clock):
    """A clock that moves only when `advance`/`advance_to` is called.

    Listeners (the scheduler) are called synchronously, in the advancing thread, after each move,
    so timers due at or before the new time fire before `advance` returns.
    """

    def __init__(self, start: float = 1_795_000_000.0) -> None:
        self._now = start
        self._listeners: list[Callable[[float], None]] = []

    @property
    def is_manual(self) -> bool:
        return True

    def now(self) -> float:
        return self._now

    def add_listener(self, listener: Callable[[float], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[float], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock never goes back")
        self.advance_to(self._now + seconds)

    def advance_to(self, when: float) -> None:
        """Move to `when` (ignored if it is in the past: replays may carry out-of-order stamps)."""
        if when > self._now:
            self._now = when
        for listener in list(self._listeners):
            listener(self._now)
