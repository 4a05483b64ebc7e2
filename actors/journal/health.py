"""WriteHealth: whether the journal can write, and what to say when that changes.

Owns the journal's write condition: failing (with sqlite's or the OS's reason) or writing, the
count of failed writes and the last error. A change of condition is one log line and one
JournalHealth fact for the orchestrator, never one per message: the first failure of a condition
(or a new reason) is one ERROR line; "writes again" is one INFO line, said only once writes have
succeeded for RECOVERED_AFTER_S with no failure (a full disk fails the writes that need a new page
and lets small ones through: without the quiet period it would flap). The first good write of an
incarnation is reported (ok=True, no line) so a restarted journal can vouch for itself. Pure: the
actor logs and sends what this returns. Must never read the clock (time comes in) or decide
trading (the orchestrator halts on the fact).
"""

from __future__ import annotations

import msgspec

from domain.control import JournalHealth

RECOVERED_AFTER_S = 30.0


class Change(msgspec.Struct, frozen=True):
    """What the actor does about a change of condition: log `line` at `level`, tell `fact`."""

    level: str  # "ERROR" / "INFO" / "" (no line)
    line: str
    fact: JournalHealth


class WriteHealth:
    def __init__(self, recovered_after_s: float = RECOVERED_AFTER_S) -> None:
        self.recovered_after_s = recovered_after_s
        self.write_errors = 0
        self.last_error: str | None = None
        self.failing: str | None = None  # the reason while the journal cannot write
        self._last_failure_at = 0.0
        self._failed_since_ok = 0
        self._vouched = False  # a good write of this incarnation has been reported

    def failed(self, reason: str, now: float) -> Change | None:
        self.write_errors += 1
        self._failed_since_ok += 1
        self.last_error = reason
        self._last_failure_at = now
        self._vouched = True  # nothing to vouch for now: the next ok is a recovery
        if reason == self.failing:
            return None
        self.failing = reason
        line = f"journal: write failed ({reason}): trading HALTED until it writes again and `ctl resume`"
        return Change("ERROR", line, JournalHealth(False, reason))

    def succeeded(self, now: float) -> Change | None:
        if self.failing is None:
            if self._vouched:
                return None
            self._vouched = True
            return Change("", "", JournalHealth(True, "writing"))
        if now - self._last_failure_at < self.recovered_after_s:
            return None
        reason, failed = self.failing, self._failed_since_ok
        self.failing, self._failed_since_ok = None, 0
        return Change("INFO", f"journal: writes again after {failed} failed writes ({reason}); trading stays "
                              "HALTED until `ctl resume`", JournalHealth(True, f"writes again after {reason}"))

    def report(self) -> dict[str, object]:
        return {"write_errors": self.write_errors, "last_error": self.last_error, "failing": self.failing}
