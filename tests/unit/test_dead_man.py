"""The dead-man switch's timing: silent past its limit it trips once, the first frame after asks
for a reconciliation, and only a finished reconciliation releases it."""

from __future__ import annotations

from actors.venue.dead_man import RECONCILE, RELEASE, TRIP, DeadMan

T0 = 1_795_000_000.0


def test_silence_past_the_limit_trips_once_and_frames_before_it_keep_it_armed():
    switch = DeadMan(30.0, T0)
    assert switch.check(T0 + 29) is None
    assert switch.on_frame(T0 + 29) is None
    assert switch.check(T0 + 59) is None, "a frame restarts the count"
    assert switch.check(T0 + 59.5) == TRIP
    assert switch.check(T0 + 90) is None and switch.trips == 1, "tripped once, not every check"
    assert switch.silent_for(T0 + 90) == 61


def test_the_stream_back_asks_for_a_reconciliation_and_only_that_releases_it():
    switch = DeadMan(30.0, T0)
    assert switch.reconciled() is None, "nothing to release while armed"
    assert switch.check(T0 + 31) == TRIP
    assert switch.reconciled() is None, "not before the stream is back"
    assert switch.on_frame(T0 + 40) == RECONCILE
    assert switch.on_frame(T0 + 41) is None, "asked once"
    assert switch.check(T0 + 100) is None, "waiting for the reconciliation, not silent again"
    assert switch.reconciled() == RELEASE
    assert switch.check(T0 + 72) == TRIP, "armed again after the release"
