"""Messages streaming produces and consumes. Values only: frozen, tagged, tuples not lists.

Prices and sizes stay wire strings here; the owning actor converts what it uses.
"""

from __future__ import annotations

import msgspec


class RawFrame(msgspec.Struct, frozen=True, tag=True):
    """One text frame exactly as received, from a socket thread or a capture file."""

    text: str | bytes  # bytes from the socket (UTF-8 is checked by the decoder) or a non-UTF-8 capture line
    conn: int  # connection number; a new connection restarts sequence numbering
    recv_ns: int  # perf_counter_ns() at arrival: the origin of tick-to-order latency


class L2Update(msgspec.Struct, frozen=True, tag=True):
    """A level2 event for one product: absolute sizes per price level (wire strings)."""

    product_id: str
    is_snapshot: bool
    bids: tuple[tuple[str, str], ...]  # (price_level, new_quantity)
    offers: tuple[tuple[str, str], ...]
    ts: float  # frame timestamp, epoch seconds (clock time of the event)
    conn: int
    recv_ns: int


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
