"""The paper venue's record of one of our orders: its venue-side state and the shapes it may take.

Owns the mutable state the paper venue keeps for each of our orders (status, filled size, the queue
estimate ahead of it, time in force and GTD end, stop fields), the OrderUpdate built from it, and the
check of an order's shape: market orders are IOC (or FOK), limits GTC, GTD (with a readable
`end_time`), IOC or FOK, stop-limits GTC or GTD with a stop price, a limit price and a direction.
What happens to an order (matching, stops firing, expiry, cancels, fills) is the venue's:
actors/venue/paper.py.

Must never touch a matching engine or the market book, do I/O, read a clock or use floats for money:
times come in as arguments, and a GTD `end_time` is parsed here.
"""

from __future__ import annotations

from decimal import Decimal

from actors.wire.timestamps import parse_timestamp
from domain.orders import OrderUpdate, PlaceOrder

OPEN = "OPEN"
FILLED = "FILLED"
CANCELLED = "CANCELLED"
REJECTED = "REJECTED"
EXPIRED = "EXPIRED"
STOP_UP = "STOP_DIRECTION_STOP_UP"
STOP_DOWN = "STOP_DIRECTION_STOP_DOWN"

INVALID_ORDER = "INVALID_ORDER"

_ZERO = Decimal(0)


class BotOrder:
    """Mutable venue-side state of one of our orders (the messages built from it are frozen)."""

    __slots__ = (
        "client_order_id", "venue_order_id", "product_id", "side", "size", "limit_price",
        "filled", "status", "reason", "queue_ahead", "ts", "tif", "end_ts", "stop_price", "stop_direction",
        "post_only", "triggered", "order_type",
    )

    def __init__(self, order: PlaceOrder, venue_order_id: str, ts: float) -> None:
        self.client_order_id = order.client_order_id
        self.venue_order_id = venue_order_id
        self.product_id = order.product_id
        self.side = order.side
        self.size = order.size
        self.limit_price = order.limit_price
        self.filled = _ZERO
        self.status = OPEN
        self.reason = ""
        self.queue_ahead = _ZERO  # market quantity ahead of us at our price (estimate)
        self.ts = ts
        self.tif = order.time_in_force or ("IOC" if order.order_type == "market" else "GTC")
        self.end_ts: float | None = None  # GTD expiry (epoch seconds)
        self.stop_price = order.stop_price
        self.stop_direction = order.stop_direction
        self.post_only = order.post_only
        self.triggered = order.order_type != "stop_limit"  # a stop waits off the book until then
        self.order_type = "market" if order.order_type == "market" else "limit"  # a stop enters as a limit

    @property
    def leaves(self) -> Decimal:
        return self.size - self.filled if self.status == OPEN else _ZERO

    def update(self) -> OrderUpdate:
        return OrderUpdate(
            client_order_id=self.client_order_id,
            venue_order_id=self.venue_order_id,
            product_id=self.product_id,
            status=self.status,
            filled_size=self.filled,
            leaves_size=self.leaves,
            reason=self.reason,
            ts=self.ts,
        )


def invalid_reason(order: PlaceOrder, bot: BotOrder) -> str:
    """Why the venue refuses an order's shape ("" when it does not); sets the GTD expiry."""
    if order.order_type not in ("market", "limit", "stop_limit"):
        return INVALID_ORDER
    if order.order_type == "stop_limit":
        if order.stop_price is None or order.limit_price is None or order.stop_direction not in (STOP_UP, STOP_DOWN):
            return INVALID_ORDER
        if bot.tif not in ("GTC", "GTD"):
            return INVALID_ORDER
    if bot.tif == "GTD":
        try:
            bot.end_ts = parse_timestamp(order.end_time)
        except ValueError:
            return INVALID_ORDER
    elif bot.tif not in ("GTC", "IOC", "FOK"):
        return INVALID_ORDER
    return ""
