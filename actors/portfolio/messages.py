"""Messages portfolio publishes."""

from __future__ import annotations

from decimal import Decimal

import msgspec


class PortfolioUpdate(msgspec.Struct, frozen=True, tag=True):
    """Equity and signed positions (venue units), for sizing and the pre-trade gate."""

    equity: Decimal
    positions: tuple[tuple[str, Decimal], ...]
    marks: tuple[tuple[str, Decimal], ...]
    ts: float


class PositionRecord(msgspec.Struct, frozen=True, tag=True):
    """A position after a change, for the journal."""

    product_id: str
    size: Decimal
    entry: Decimal
    realized_pnl: Decimal
    ts: float
