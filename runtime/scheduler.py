"""Timers that tell back: one-shot and periodic callbacks on the injected clock.

Owns the timer heap and, on a wall clock, the one thread that waits for the next deadline. With a
manual clock no thread runs: due timers fire inside `ManualClock.advance`. Callbacks must only
`tell` (never block); they run on the scheduler's thread. Must never call into actor state.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable
from typing import Any

from loguru import logger

from runtime.clock import Clock, ManualClock


class TimerHandle:
    __slots__ = ("due", "interval", "fn", "args", "cancelled")

    def __init__(self, due: float, interval: float | None, fn: Callable[..., Any], args: tuple) -> None:
        self.due = due
        self.interval = interval
        self.fn = fn
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()
        # Infrastructure lock (not actor code): actors on many threads add timers concurrently.
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def start(self) -> None:
        if isinstance(self.clock, ManualClock):
            self.clock.add_listener(self._on_manual_advance)
        elif self._thread is None:
            self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify_all()
        if isinstance(self.clock, ManualClock):
            self.clock.remove_listener(self._on_manual_advance)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> TimerHandle:
        return self._add(TimerHandle(self.clock.now() + max(delay, 0.0), None, fn, args))

    def call_every(
        self, interval: float, fn: Callable[..., Any], *args: Any, first_delay: float | None = None
    ) -> TimerHandle:
        if interval <= 0:
            raise ValueError("interval must be positive")
        first = interval if first_delay is None else first_delay
        return self._add(TimerHandle(self.clock.now() + first, interval, fn, args))

    def pending(self) -> int:
        with self._cond:
            return sum(1 for _, _, t in self._heap if not t.cancelled)

    def _add(self, timer: TimerHandle) -> TimerHandle:
        with self._cond:
            if not self._stopped:
                heapq.heappush(self._heap, (timer.due, next(self._seq), timer))
                self._cond.notify_all()
        return timer

    def _pop_due(self, now: float) -> list[TimerHandle]:
        """Remove due timers; periodic ones are re-armed once past `now` (missed ticks coalesce)."""
        due: list[TimerHandle] = []
        with self._cond:
            while self._heap and self._heap[0][0] <= now:
                _, _, timer = heapq.heappop(self._heap)
                if timer.cancelled:
                    continue
                due.append(timer)
                if timer.interval is not None:
                    timer.due += timer.interval
                    if timer.due <= now:
                        timer.due = now + timer.interval
                    heapq.heappush(self._heap, (timer.due, next(self._seq), timer))
        return due

    @staticmethod
    def _fire(timers: list[TimerHandle]) -> None:
        for timer in timers:
            if timer.cancelled:
                continue
            try:
                timer.fn(*timer.args)
            except Exception:  # a bug must not kill the scheduler, nor vanish: a dead target never
                # reaches here (SupervisedActor's timers drop a message for a stopped actor)
                logger.opt(exception=True).error("timer callback {} failed", getattr(timer.fn, "__qualname__", timer.fn))

    def _on_manual_advance(self, now: float) -> None:
        self._fire(self._pop_due(now))

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - self.clock.now()
                if wait > 0:
                    self._cond.wait(timeout=wait)
                    continue
            self._fire(self._pop_due(self.clock.now()))
