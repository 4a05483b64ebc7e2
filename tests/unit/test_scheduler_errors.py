"""A timer callback that raises is logged at ERROR with its name and traceback, and the other
timers keep firing: a bug in a callback must neither stop the scheduler nor vanish."""

from __future__ import annotations

from loguru import logger

from runtime.clock import ManualClock
from runtime.scheduler import Scheduler


def test_a_failing_callback_is_logged_as_an_error_and_the_others_keep_firing():
    clock = ManualClock(100.0)
    scheduler = Scheduler(clock)
    scheduler.start()
    fired: list[float] = []
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message), level="ERROR", format="{level} {message}")

    def broken() -> None:
        raise RuntimeError("boom")

    try:
        scheduler.call_later(1.0, broken)
        scheduler.call_later(1.0, lambda: fired.append(clock.now()))
        clock.advance(1.5)
    finally:
        logger.remove(sink)
        scheduler.stop()
    assert fired == [101.5]
    assert len(lines) == 1 and lines[0].startswith("ERROR timer callback")
    assert "broken" in lines[0] and "RuntimeError: boom" in lines[0]
