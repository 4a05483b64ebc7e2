"""Messages execution sends to a venue."""

from __future__ import annotations

from decimal import Decimal

import msgspec


class PlaceOrder(msgspec.Struct, frozen=True, tag=True):
    client_order_id: str
    product_id: str
    side: str  # "BUY" / "SELL"
    order_type: str  # "market" / "limit"
    size: Decimal  # quantized venue units
    limit_price: Decimal | None = None
    post_only: bool = False
    origin_ns: int = 0


class CancelOrder(msgspec.Struct, frozen=True, tag=True):
    client_order_id: str


class CancelAll(msgspec.Struct, frozen=True, tag=True):
    reason: str


class SyncRequest(msgspec.Struct, frozen=True, tag=True):
    """Ask the venue to report open orders and all fills to `reply_to` (a logical name)."""

    reply_to: str


class OrderPlaced(msgspec.Struct, frozen=True, tag=True):
    """For the journal: an order left for the venue on behalf of an intent."""

    order: PlaceOrder
    intent_id: str
    ts: float
