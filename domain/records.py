"""Messages for the journal actor: what it writes for recovery, and the intents it reads back.

Owns the shape of the journal's recovery records (the write-ahead of an order is execution's
own log: actors.execution.intent_log): trading state changes with their holds, each UTC day's
starting equity, watermarks (fill cursors and the like), strategy state, and Intent (an unsettled
intent as the store reads it back).

Must never: import anything of ours but domain.orders (this sits under the journal
and its writers), carry a float as money, or be mutable (frozen, tagged, tuples not lists).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from domain.orders import PlaceOrder

# -- Messages for the journal actor ----------------------------------------------------------------


class TradingStateRecord(msgspec.Struct, frozen=True, tag=True):
    """A change of TradingState. `holds` is ((source, "STATE: reason"), ...)."""

    ts: float
    state: str
    reason: str
    holds: tuple[tuple[str, str], ...]
    daily_loss_day: int | None  # the UTC day the daily loss limit was hit, if it holds


class DayStartRecord(msgspec.Struct, frozen=True, tag=True):
    """The equity a UTC day (days since the epoch) started with; the first one per day wins."""

    day: int
    equity: Decimal
    ts: float


class WatermarkRecord(msgspec.Struct, frozen=True, tag=True):
    """How far a reader got (e.g. "fills.newest_ts", "fills.cursor"); the value is exact text."""

    name: str
    value: str
    ts: float


class StrategyStateRecord(msgspec.Struct, frozen=True, tag=True):
    """A strategy's state to restore after a restart; `body` is JSON text."""

    key: str
    body: str
    ts: float


class Intent(msgspec.Struct, frozen=True, tag=True):
    """An intent the journal wrote and the venue has not answered for yet (read back at start)."""

    client_order_id: str
    intent_id: str
    order: PlaceOrder
    ts: float
