"""Messages the orchestrator sends down the tree."""

from __future__ import annotations

import msgspec

ACTIVE, REDUCING, HALTED = "ACTIVE", "REDUCING", "HALTED"


class TradingStateChanged(msgspec.Struct, frozen=True, tag=True):
    state: str  # ACTIVE / REDUCING / HALTED
    reason: str
    ts: float


class ResyncRequest(msgspec.Struct, frozen=True, tag=True):
    """Streaming must resubscribe level2: a book owner lost its books (e.g. it was restarted)."""

    reason: str


class Decision(msgspec.Struct, frozen=True, tag=True):
    """A journaled decision: trading-state change, refusal, cancel-all."""

    ts: float
    kind: str
    detail: str


class FeedHealth(msgspec.Struct, frozen=True, tag=True):
    """From streaming: the feed failed `attempts` reconnects in a row (healthy=False), or it is
    subscribed again with a fresh snapshot of every book (healthy=True)."""

    healthy: bool
    reason: str
    attempts: int = 0


class JournalHealth(msgspec.Struct, frozen=True, tag=True):
    """From the journal: a write failed (ok=False, sqlite's or the OS's reason), or it writes again
    (ok=True, also sent after the first good write of each incarnation)."""

    ok: bool
    reason: str


class BooksHealth(msgspec.Struct, frozen=True, tag=True):
    """From market_data, on every change: are all books valid?"""

    all_valid: bool


OPERATOR_COMMANDS = ("halt", "reduce", "resume")


class OperatorCommand(msgspec.Struct, frozen=True, tag=True):
    """From the control channel (`bin/perpsbot ctl`): halt, reduce or resume trading."""

    command: str  # one of OPERATOR_COMMANDS
    request_id: str


class OperatorReply(msgspec.Struct, frozen=True, tag=True):
    """The orchestrator's answer to an OperatorCommand: the trading state after it, and what holds it."""

    request_id: str
    state: str
    line: str  # one line for the operator
    holds: tuple[str, ...] = ()  # "source STATE (reason)" of every hold still in force


class Shutdown(msgspec.Struct, frozen=True, tag=True):
    """From the app at a clean stop: no new risk from now on. With `cancel_orders` trading goes
    HALTED and every open order is cancelled at the venue; without, REDUCING and they keep working."""

    cancel_orders: bool
