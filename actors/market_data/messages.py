"""Messages market_data publishes: book status, liquidity views and bars."""

from __future__ import annotations

from decimal import Decimal

import msgspec


class BookStatus(msgspec.Struct, frozen=True, tag=True):
    """Top of book, validity and freshness of one product, after every applied change."""

    product_id: str
    valid: bool
    best_bid: Decimal | None
    best_ask: Decimal | None
    mark: Decimal | None  # mid while valid
    updated_at: float  # clock time of the last applied change
    recv_ns: int


class BookView(msgspec.Struct, frozen=True, tag=True):
    """An immutable copy of a book within a price band, for liquidity metrics (conflated)."""

    product_id: str
    valid: bool
    bids: tuple[tuple[Decimal, Decimal], ...]  # best first, (price, size in base units)
    asks: tuple[tuple[Decimal, Decimal], ...]
    ts: float


class Bar(msgspec.Struct, frozen=True, tag=True):
    """A closed fixed-cadence bar. `origin_ns` is the arrival of the frame that closed it."""

    product_id: str
    start: float
    interval_s: float
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int
    origin_ns: int
