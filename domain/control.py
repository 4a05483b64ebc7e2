"""The control protocol: the trading states, what the orchestrator decides and tells the tree
(state changes, resyncs, decisions, operator commands and replies, shutdown), the health reports
and risk verdicts it is sent, the backup commands, and the UTC day the limits roll on. Frozen
values only: must never hold state or import anything
of ours outside `domain`.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

# -- Messages the orchestrator sends down the tree -------------------------------------------------


ACTIVE, REDUCING, HALTED = "ACTIVE", "REDUCING", "HALTED"
# A start rebuilt from the journal, until the venue confirmed it: market data flows, no order goes out.
RECOVERING = "RECOVERING"
TRADING_STATES = (ACTIVE, REDUCING, RECOVERING, HALTED)  # least to most severe


class TradingStateChanged(msgspec.Struct, frozen=True, tag=True):
    state: str  # one of TRADING_STATES
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
    (ok=True, also sent after the first good write of each incarnation). From execution
    (writer "intent_log"): an order's intent could not be written ahead, so it was not sent."""

    ok: bool
    reason: str
    writer: str = "journal"


class BooksHealth(msgspec.Struct, frozen=True, tag=True):
    """From market_data, on every change: are all books valid?"""

    all_valid: bool


OPERATOR_COMMANDS = ("halt", "reduce", "resume")


class OperatorCommand(msgspec.Struct, frozen=True, tag=True):
    """From the control channel (`bin/perpsbot ctl`): halt, reduce or resume trading. A resume with
    `accept_venue` also adopts the venue's positions where reconciliation found them different."""

    command: str  # one of OPERATOR_COMMANDS
    request_id: str
    accept_venue: bool = False


class DeadManSwitch(msgspec.Struct, frozen=True, tag=True):
    """From the venue gateway: the private stream has been silent too long (tripped: every open order
    cancelled, REDUCING), or it is back and the venue re-read (released)."""

    tripped: bool
    reason: str


class JournalRestarted(msgspec.Struct, frozen=True, tag=True):
    """To execution, portfolio and the reconciler: the journal restarted and may have lost its
    mailbox; tell it again what you know (its writes are idempotent by key)."""


class Synced(msgspec.Struct, frozen=True, tag=True):
    """From execution and portfolio: rebuilt from the venue's snapshot (each start, each restart)."""

    actor: str


class PositionMismatch(msgspec.Struct, frozen=True, tag=True):
    """From a reconciliation: the bot's and the venue's positions differ (after every repair it
    could make). Holds trading at REDUCING until `ctl resume --accept-venue` or `ctl halt`."""

    positions: tuple[tuple[str, Decimal, Decimal], ...]  # (product, bot's, venue's)
    source: str  # "start" or "scheduled"

    def describe(self) -> str:
        return "; ".join(f"{pid}: journal {mine}, venue {venue}, delta {venue - mine}"
                         for pid, mine, venue in self.positions)


class AdoptPositions(msgspec.Struct, frozen=True, tag=True):
    """To portfolio, on `ctl resume --accept-venue`: read the venue again and take its size for
    these products (as it is now, not as it was when the difference was found)."""

    products: tuple[str, ...]


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


# -- The backup actor's messages -------------------------------------------------------------------


class BackupNow(msgspec.Struct, frozen=True, tag=True):
    """Take a snapshot labelled `tier` now ("shutdown", "escalation", or any tier of
    actors.backup.plan.TIERS). Asked directly (not through an envelope), the actor answers with
    a BackupDone; told through `services.send`, the answer is dropped."""

    tier: str
    reason: str = ""


class BackupDone(msgspec.Struct, frozen=True, tag=True):
    ok: bool
    tier: str
    backup_id: str | None = None
    path: str | None = None
    detail: str = ""


# -- the runtime risk guards' verdicts -------------------------------------------------------------

# Guard levels, least to most severe. REDUCING and HALTED are also trading states.
OK, WARN = "OK", "WARN"
LEVELS = (OK, WARN, REDUCING, HALTED)
DAY_S = 86_400


def utc_day(ts: float) -> int:
    """The UTC day number of epoch seconds `ts` (day limits roll at UTC midnight)."""
    return int(ts // DAY_S)


class Verdict(msgspec.Struct, frozen=True, tag=True):
    guard: str  # "daily_loss", "liquidation_buffer", "volatility:<product>", "concentration:<product>"
    level: str
    reason: str


class RiskVerdict(msgspec.Struct, frozen=True, tag=True):
    """Every guard's current verdict and the worst level among them (OK/WARN/REDUCING/HALTED).
    Sent when the worst level, the set of guards not OK, or the UTC day changes. A fact, never an
    instruction: the orchestrator alone decides what a verdict does to the trading state."""

    level: str
    verdicts: tuple[Verdict, ...]
    ts: float
