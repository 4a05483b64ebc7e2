"""The market-data protocol: what streaming hands on (raw frames, level2 updates, trade prints,
product status, gaps, socket events) and what market data publishes (book status and views, bars,
tradability), and liquidity's snapshots. Frozen values only: must never hold state or import anything of ours outside
`domain`.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Literal

import msgspec

from domain.impact import estimate_impact_bps

# -- Messages streaming produces and consumes ------------------------------------------------------


class RawFrame(msgspec.Struct, frozen=True, tag=True):
    """One text frame exactly as received, from a socket thread or a capture file."""

    text: str | bytes  # bytes from the socket (UTF-8 is checked by the decoder) or a non-UTF-8 capture line
    conn: int  # connection number; a new connection restarts sequence numbering
    recv_ns: int  # perf_counter_ns() at arrival: the origin of tick-to-order latency


BookSide = Literal["bid", "offer"]  # a level2 level's side, as the wire spells it


class L2Level(msgspec.Struct, frozen=True, gc=False):
    """One price level of a level2 event, exactly as the wire spells it (streaming decodes frames
    straight into these; gc=False: frozen strings only, never part of a cycle).

    `side` is decoded as the literal, so it is the one shared string, compared by identity. A frame
    spelling a side otherwise still decodes (the lenient way, actors.streaming.codec) and its level
    carries that text: anything but "bid" is read as the ask side."""

    side: BookSide
    price_level: str
    new_quantity: str  # absolute size, not a delta


def levels_of_sides(bids: Iterable[tuple[str, str]], offers: Iterable[tuple[str, str]]) -> tuple[L2Level, ...]:
    """Levels from (price_level, new_quantity) pairs per side: bids first, then offers."""
    return tuple(L2Level("bid", p, q) for p, q in bids) + tuple(L2Level("offer", p, q) for p, q in offers)


class L2Update(msgspec.Struct, frozen=True, tag=True, gc=False):
    """A level2 event for one product: absolute sizes per price level, in wire order (the levels
    are the decoded frame's own, handed on uncopied).

    `plain` is the producer's promise that every price and size is in the usual spelling (1 to 15
    ASCII digits with at most one point, `actors.wire.decimals.plain`): a reader may then skip its
    own checks. Anything else must be checked by the reader. gc=False: frozen, and holding only
    strings, numbers and level structs, it can never be part of a reference cycle.
    """

    product_id: str
    is_snapshot: bool
    levels: tuple[L2Level, ...]
    ts: float  # frame timestamp, epoch seconds (clock time of the event)
    conn: int
    recv_ns: int
    plain: bool = False

    @classmethod
    def from_sides(cls, product_id: str, is_snapshot: bool, bids: tuple[tuple[str, str], ...],
                   offers: tuple[tuple[str, str], ...], ts: float, conn: int, recv_ns: int,
                   plain: bool = False) -> L2Update:
        """From (price_level, new_quantity) pairs per side: bids first, then offers."""
        return cls(product_id, is_snapshot, levels_of_sides(bids, offers), ts, conn, recv_ns, plain)

    @property
    def bids(self) -> tuple[tuple[str, str], ...]:
        return tuple((lv.price_level, lv.new_quantity) for lv in self.levels if lv.side == "bid")

    @property
    def offers(self) -> tuple[tuple[str, str], ...]:
        return tuple((lv.price_level, lv.new_quantity) for lv in self.levels if lv.side != "bid")


class TradePrint(msgspec.Struct, frozen=True, tag=True):
    """One market trade from the `market_trades` channel."""

    product_id: str
    trade_id: str
    price: str
    size: str
    side: str  # aggressor side, "BUY" or "SELL"
    ts: float
    recv_ns: int


class ProductStatus(msgspec.Struct, frozen=True, tag=True):
    """One product's entry of a `status` frame: trading status and increments (wire strings)."""

    product_id: str
    status: str  # "online", "offline", "internal", "delisted", ... ("" when absent)
    status_message: str
    base_increment: str
    quote_increment: str
    min_market_funds: str
    ts: float  # frame timestamp, epoch seconds (0.0 when unreadable)


class StreamGap(msgspec.Struct, frozen=True, tag=True):
    """Frames were lost on a connection: the books it fed are invalid until a new snapshot."""

    conn: int
    product_ids: tuple[str, ...]
    expected: int
    received: int


class SocketOpened(msgspec.Struct, frozen=True, tag=True):
    conn: int


class SocketClosed(msgspec.Struct, frozen=True, tag=True):
    conn: int
    reason: str


class Reconnect(msgspec.Struct, frozen=True, tag=True):
    """Timer message: time to open a new connection."""

    attempt: int


# -- Messages market_data publishes ----------------------------------------------------------------


class BookStatus(msgspec.Struct, frozen=True, tag=True, gc=False):
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


# -- Liquidity -------------------------------------------------------------------------------------

class LiquiditySnapshot(msgspec.Struct, frozen=True, tag=True):
    product_id: str
    ts: float  # clock time the snapshot was taken
    spread_bps: Decimal
    depth_1pct: Decimal  # quote currency
    depth_5pct: Decimal  # quote currency
    imbalance: Decimal  # -1 .. +1
    score: Decimal  # 0 .. 100
    condition: str  # excellent / good / fair / poor / critical
    volume_1m: Decimal  # traded notional, quote currency
    volume_5m: Decimal
    volume_15m: Decimal
    trades_15m: int
    avg_trade_size_15m: Decimal  # base units
    spread_avg_5m: Decimal | None  # None when no spread was sampled in the window
    spread_min_5m: Decimal | None
    spread_max_5m: Decimal | None

    def impact_bps(self, notional: Decimal) -> Decimal:
        """Estimated impact in bps of an order of `notional` quote currency, at this moment."""
        return estimate_impact_bps(
            notional, self.volume_15m, self.depth_5pct, self.spread_bps, self.condition
        )
