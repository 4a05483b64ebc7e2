"""Messages market_data publishes: book status, product tradability, liquidity views and bars."""

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


class ProductTradability(msgspec.Struct, frozen=True, tag=True):
    """Whether new risk may be taken on a product, from its latest `status` channel entry.

    Published on every status entry (they are rare), and on request to a restarted consumer.
    """

    product_id: str
    tradable: bool  # status is "online"
    status: str
    status_message: str
    ts: float  # timestamp of the status frame


class TradabilityRequest(msgspec.Struct, frozen=True, tag=True):
    """Ask market_data to send every known ProductTradability to `reply_to` (no blocking ask)."""

    reply_to: str
