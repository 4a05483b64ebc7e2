"""Messages a venue sends back: order updates, fills and sync snapshots."""

from __future__ import annotations

from decimal import Decimal

import msgspec


class OrderUpdate(msgspec.Struct, frozen=True, tag=True):
    """Venue-side state of one order. status: OPEN, FILLED, CANCELLED, REJECTED."""

    client_order_id: str
    venue_order_id: str
    product_id: str
    status: str
    filled_size: Decimal
    leaves_size: Decimal
    reason: str = ""
    ts: float = 0.0


class Fill(msgspec.Struct, frozen=True, tag=True):
    trade_id: str
    client_order_id: str
    venue_order_id: str
    product_id: str
    side: str
    price: Decimal
    size: Decimal  # venue units
    fee: Decimal  # quote currency
    liquidity: str  # "MAKER" / "TAKER"
    ts: float


class VenueSnapshot(msgspec.Struct, frozen=True, tag=True):
    """Reply to SyncRequest: everything needed to rebuild order and position state."""

    open_orders: tuple[OrderUpdate, ...]
    fills: tuple[Fill, ...]
