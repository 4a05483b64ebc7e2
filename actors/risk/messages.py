"""Messages the risk actor sends: the runtime guards' verdicts, for the orchestrator.

Owns the shape of the fact "the guards' verdicts changed". Must never carry an instruction: the
orchestrator alone decides what a verdict does to the trading state.
"""

from __future__ import annotations

import msgspec

from actors.risk.guards import Verdict


class RiskVerdict(msgspec.Struct, frozen=True, tag=True):
    """Every guard's current verdict and the worst level among them (OK/WARN/REDUCING/HALTED).
    Sent when the worst level, the set of guards not OK, or the UTC day changes."""

    level: str
    verdicts: tuple[Verdict, ...]
    ts: float
