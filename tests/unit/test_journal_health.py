"""WriteHealth: one line and one fact per change of the journal's write condition, never one per write."""

from __future__ import annotations

from actors.journal.health import RECOVERED_AFTER_S, WriteHealth
from domain.control import JournalHealth

FULL = "database or disk is full"


def test_the_first_good_write_of_an_incarnation_vouches_for_it_silently():
    health = WriteHealth()
    first = health.succeeded(1.0)
    assert first is not None and first.level == "" and first.fact == JournalHealth(True, "writing")
    assert health.succeeded(2.0) is None


def test_a_failing_condition_is_one_error_line_however_many_writes_it_refuses():
    health = WriteHealth()
    health.succeeded(0.0)
    change = health.failed(FULL, 10.0)
    assert change is not None and change.level == "ERROR" and change.fact == JournalHealth(False, FULL)
    assert change.line == f"journal: write failed ({FULL}): trading HALTED until it writes again and `ctl resume`"
    assert health.failed(FULL, 11.0) is None
    assert health.succeeded(12.0) is None, "a small write through a full disk is not a recovery"
    assert health.failed(FULL, 13.0) is None
    assert health.report() == {"write_errors": 3, "last_error": FULL, "failing": FULL}
    other = health.failed("disk I/O error", 14.0)
    assert other is not None and other.level == "ERROR", "a new reason is a new condition"


def test_writes_again_is_one_info_line_after_a_quiet_period():
    health = WriteHealth()
    health.failed(FULL, 10.0)  # before any good write: the recovery is what vouches
    assert health.succeeded(10.0 + RECOVERED_AFTER_S - 1) is None
    back = health.succeeded(10.0 + RECOVERED_AFTER_S)
    assert back is not None and back.level == "INFO" and back.fact.ok
    assert back.line.startswith(f"journal: writes again after 1 failed writes ({FULL})")
    assert health.succeeded(100.0) is None
    assert health.report() == {"write_errors": 1, "last_error": FULL, "failing": None}
    again = health.failed(FULL, 200.0)
    assert again is not None and again.level == "ERROR", "a new episode after a recovery"
