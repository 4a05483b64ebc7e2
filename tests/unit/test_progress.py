"""The progress line: paced, rewritten in place with the count, rate and time left; nothing at all
when it is not enabled (not a terminal, or --quiet)."""

from __future__ import annotations

import io

from actors.app.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_line_is_paced_and_says_count_rate_and_eta():
    out, clock = io.StringIO(), Clock()
    progress = Progress("replay", 1000, out, enabled=True, interval_s=0.5, clock=clock)
    clock.now = 0.1
    progress.update(10)  # within the first interval: nothing yet
    assert out.getvalue() == ""
    clock.now = 1.0
    progress.update(200)
    assert out.getvalue() == "\rreplay  200/1,000 frames  200/s  ETA 4 s   "
    clock.now = 1.2
    progress.update(250)  # paced: not rewritten
    clock.now = 2.0
    progress.update(1000)
    progress.finish()
    assert out.getvalue().count("\r") == 2 and out.getvalue().endswith("1,000/1,000 frames  500/s  ETA 0 s   \n")


def test_nothing_is_written_when_disabled():
    out, clock = io.StringIO(), Clock()
    progress = Progress("replay", 10, out, enabled=False, clock=clock)
    clock.now = 5.0
    progress.update(10)
    progress.finish()
    assert out.getvalue() == ""
