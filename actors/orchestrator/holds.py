"""What holds trading below ACTIVE: one hold per source, the trading state is the worst of them.

Owns the holds by source ("escalation", "operator", "feed", "risk:<guard>", "journal", "shutdown",
"recovering", "reconcile"), each a state (REDUCING, RECOVERING or HALTED) and a reason, and the
rule that the trading state is the most severe hold (ACTIVE when none). So a release of one source
(the feed is back, the operator resumes) returns
trading only as far as the other sources allow, and says which still hold it. Pure. Must never
send anything or read the clock (the orchestrator acts on what this says).
"""

from __future__ import annotations

import msgspec

from domain.control import ACTIVE, TRADING_STATES

_RANK = {state: rank for rank, state in enumerate(TRADING_STATES)}


class Hold(msgspec.Struct, frozen=True):
    source: str
    state: str  # REDUCING / RECOVERING / HALTED
    reason: str


class Holds:
    def __init__(self) -> None:
        self._holds: dict[str, Hold] = {}

    def put(self, source: str, state: str, reason: str) -> None:
        """Hold trading at `state` (at most) for `source`; ACTIVE releases it."""
        if state not in _RANK:
            raise ValueError(f"unknown trading state {state!r}")
        if state == ACTIVE:
            self._holds.pop(source, None)
        else:
            self._holds[source] = Hold(source, state, reason)

    def drop(self, source: str) -> bool:
        return self._holds.pop(source, None) is not None

    def get(self, source: str) -> Hold | None:
        return self._holds.get(source)

    def sources(self) -> tuple[str, ...]:
        return tuple(self._holds)

    def holding(self) -> tuple[Hold, ...]:
        """Every hold, most severe first (then in the order they were put)."""
        return tuple(sorted(self._holds.values(), key=lambda h: -_RANK[h.state]))

    def state(self) -> tuple[str, str]:
        """(the trading state, the reasons of the holds that set it; "" when ACTIVE)."""
        holds = self.holding()
        if not holds:
            return ACTIVE, ""
        top = holds[0].state
        return top, "; ".join(h.reason for h in holds if h.state == top)

    def lines(self) -> tuple[str, ...]:
        """Every hold as "source STATE (reason)", most severe first."""
        return tuple(f"{h.source} {h.state} ({h.reason})" for h in self.holding())

    def describe(self) -> str:
        """Every hold as "source STATE (reason)", most severe first; "" when none."""
        return ", ".join(self.lines())
