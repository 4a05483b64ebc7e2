"""Messages execution sends to a venue."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from actors.venue.messages import OrderUpdate


class PlaceOrder(msgspec.Struct, frozen=True, tag=True):
    client_order_id: str
    product_id: str
    side: str  # "BUY" / "SELL"
    order_type: str  # "market" / "limit"
    size: Decimal  # quantized venue units
    limit_price: Decimal | None = None
    post_only: bool = False
    origin_ns: int = 0
    # Coinbase order kinds beyond a plain market/limit order ("" = the type's usual one).
    time_in_force: str = ""  # "GTC", "GTD", "IOC", "FOK"; market orders are IOC unless FOK
    stop_price: Decimal | None = None  # order_type "stop_limit"
    stop_direction: str = ""  # "STOP_DIRECTION_STOP_UP" / "STOP_DIRECTION_STOP_DOWN"
    end_time: str = ""  # RFC 3339, GTD only
    reduce_only: bool = False  # enforced locally: Coinbase has no reduce-only field
    leverage: Decimal | None = None  # futures
    margin_type: str = ""  # futures: "CROSS" / "ISOLATED"


class CancelOrder(msgspec.Struct, frozen=True, tag=True):
    client_order_id: str


class CancelAll(msgspec.Struct, frozen=True, tag=True):
    reason: str


class SyncRequest(msgspec.Struct, frozen=True, tag=True):
    """Ask the venue to report open orders and all fills to `reply_to` (a logical name); with
    `positions` (a reconciliation), also the positions it holds and every order of any status."""

    reply_to: str
    positions: bool = False


class QueryOrders(msgspec.Struct, frozen=True, tag=True):
    """From execution: these orders (client id, product) have had no answer for
    `reconcile.inflight_s`: say where they stand (an OrderUpdate each; FAILED, "never reached the
    venue", for one the venue was never given)."""

    orders: tuple[tuple[str, str], ...]


NEVER_REACHED = "never reached the venue"


class OrderState(msgspec.Struct, frozen=True, tag=True):
    """For the journal: where an order stands, as execution knows it (told again to a restarted
    journal) or as the venue lists it (a reconciliation, `from_venue`: an order the journal has no
    row for gets one). Written only where the journal's status differs: telling it again changes
    nothing."""

    update: OrderUpdate
    from_venue: bool = False


class OrderPlaced(msgspec.Struct, frozen=True, tag=True):
    """For the journal: an order left for the venue on behalf of an intent."""

    order: PlaceOrder
    intent_id: str
    ts: float


class OrdersRequest(msgspec.Struct, frozen=True, tag=True):
    """A restarted venue gateway asks execution, the owner of order state, what it was told."""

    reply_to: str


class KnownOrder(msgspec.Struct, frozen=True):
    client_order_id: str
    venue_order_id: str  # "" while the venue's answer is not known
    live: bool
    order: PlaceOrder | None  # as sent; None when adopted from a venue report
    filled_size: Decimal  # the fills execution accounted, quote value and fees with them
    filled_value: Decimal
    fees: Decimal


class KnownOrders(msgspec.Struct, frozen=True, tag=True):
    """Reply to OrdersRequest: the live orders, and every order with fills accounted."""

    orders: tuple[KnownOrder, ...]


class HeldOrder(msgspec.Struct, frozen=True, tag=True):
    """For the journal: an order execution holds itself, not the venue: an armed local stop (`kind`
    "stop", keyed by its client_order_id) or a replacement waiting for its original to end
    ("replacement", keyed by the original's). `body` is the held order as msgspec JSON; "" once it
    is no longer held (fired, disarmed, sent or dropped)."""

    key: str
    kind: str
    body: str
    ts: float


class HeldOrdersRequest(msgspec.Struct, frozen=True, tag=True):
    """A (re)starting execution asks the journal for what it held."""

    reply_to: str


class HeldOrders(msgspec.Struct, frozen=True, tag=True):
    items: tuple[HeldOrder, ...]
