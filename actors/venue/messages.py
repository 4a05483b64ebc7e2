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


FUTURES_ONLY = "futures"  # cfm/positions lists futures positions; spot holdings are balances


class VenueSnapshot(msgspec.Struct, frozen=True, tag=True):
    """Reply to SyncRequest: everything needed to rebuild order and position state."""

    open_orders: tuple[OrderUpdate, ...]
    fills: tuple[Fill, ...]
    # Signed positions per product where the venue states them (the paper venue: the net of its
    # fills); None where this snapshot does not say (the Coinbase gateway reads them at a start).
    positions: tuple[tuple[str, Decimal], ...] | None = None
    positions_cover: str = "all"  # the products `positions` is complete for: "all", or FUTURES_ONLY
    # For a reconciliation: every order the venue lists (any status), its state as the venue has it.
    orders: tuple[OrderUpdate, ...] = ()


class PrivateStreamBack(msgspec.Struct, frozen=True, tag=True):
    """From the gateway to the reconciler: the `user` stream reconnected (or spoke again after
    the dead-man switch tripped); what it did not say while down is reconciled now."""

    reason: str


def net_positions(fills: tuple[Fill, ...] | list[Fill]) -> tuple[tuple[str, Decimal], ...]:
    """Signed net size per product over `fills`, each trade once (by product, trade id and side)."""
    seen: set[tuple[str, str, str]] = set()
    sizes: dict[str, Decimal] = {}
    for fill in fills:
        key = (fill.product_id, fill.trade_id, fill.side)
        if key in seen:
            continue
        seen.add(key)
        sizes[fill.product_id] = sizes.get(fill.product_id, Decimal(0)) + (fill.size if fill.side == "BUY" else -fill.size)
    return tuple(sorted(sizes.items()))
