"""The order protocol: what strategy intends (intents), what execution asks the venue (place,
cancel, cancel all, sync, queries) and keeps (order states, held stops), and what the venue
answers (order updates, fills, snapshots). Frozen values only: must never hold state or import
anything of ours outside `domain`.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

# -- Messages strategy emits -----------------------------------------------------------------------


class OrderIntent(msgspec.Struct, frozen=True, tag=True):
    """A decision to trade. `intent_id` is derived from the decision, so a replay of the same
    decision yields the same id (and the same client_order_id downstream)."""

    intent_id: str
    product_id: str
    side: str  # "BUY" / "SELL"
    size: Decimal  # venue units (base for spot, contracts for futures), before quantization
    order_type: str = "market"  # "market" / "limit" / "stop_limit"
    limit_price: Decimal | None = None
    post_only: bool = False
    reduce_only: bool = False
    reason: str = ""
    origin_ns: int = 0
    created_at: float = 0.0
    # Coinbase order kinds beyond market/limit (see execution.messages.PlaceOrder); "" = usual one.
    time_in_force: str = ""  # "GTC", "GTD", "IOC", "FOK"
    stop_price: Decimal | None = None  # order_type "stop_limit"
    stop_direction: str = ""  # "" derives it: from the stop against the mark, else from the side
    end_time: str = ""  # RFC 3339, GTD only


class ReplaceIntent(msgspec.Struct, frozen=True, tag=True):
    """Cancel-and-replace the live order (or armed local stop) of an earlier intent.

    The replacement keeps the original's product, side, order type, time in force, post-only and
    reduce-only; only the fields given here change. `size` is the new total, the part the original
    already filled included (as in FIX cancel/replace), so the replacement sends what is left of
    it. `intent_id` is this decision's own id: the replacement's client_order_id derives from it."""

    intent_id: str
    replaces: str  # the intent_id of the order to replace
    size: Decimal | None = None  # None: the original's size
    limit_price: Decimal | None = None  # None: the original's
    stop_price: Decimal | None = None  # None: the original's
    reason: str = ""
    origin_ns: int = 0
    created_at: float = 0.0


class CancelIntent(msgspec.Struct, frozen=True, tag=True):
    """Cancel the live order (or disarm the local stop) of an earlier intent."""

    intent_id: str  # the intent whose order to cancel
    reason: str = ""


# -- Messages a venue sends back -------------------------------------------------------------------


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


# -- Messages execution sends to a venue -----------------------------------------------------------


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
