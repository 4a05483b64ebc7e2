"""The open-order table: client order ids, the order state machine, and fill de-duplication.

Owns every order execution has submitted or the venue has reported, keyed by `client_order_id`,
and the set of fills already seen. Venue reports are applied idempotently: a duplicate update or
fill changes nothing and is counted; an update that is behind what is already known (a replayed
OPEN after fills arrived) is stale and ignored. Only contradictions (a terminal order reported in
a different terminal state) and illegal calls to `transition` raise ValueError. A rebuild from
the venue's snapshot returns how the venue's view differs from the table it replaced (SyncDiff).
Must never talk to the venue, decide what to trade, or account PnL (that is the portfolio).
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

import msgspec

from domain.orders import Fill, OrderIntent, OrderUpdate, PlaceOrder, VenueSnapshot

PENDING = "pending"
OPEN = "open"
PARTIALLY_FILLED = "partially_filled"
FILLED = "filled"
CANCELLED = "cancelled"
REJECTED = "rejected"

LIVE = frozenset({PENDING, OPEN, PARTIALLY_FILLED})
TERMINAL = frozenset({FILLED, CANCELLED, REJECTED})

_NEXT: dict[str, frozenset[str]] = {
    # Skipping ahead is legal: a market order may be reported FILLED without ever being OPEN.
    PENDING: frozenset({OPEN, PARTIALLY_FILLED, FILLED, CANCELLED, REJECTED}),
    OPEN: frozenset({PARTIALLY_FILLED, FILLED, CANCELLED, REJECTED}),
    PARTIALLY_FILLED: frozenset({PARTIALLY_FILLED, FILLED, CANCELLED, REJECTED}),
    FILLED: frozenset(),
    CANCELLED: frozenset(),
    REJECTED: frozenset(),
}
_RANK = {PENDING: 0, OPEN: 1, PARTIALLY_FILLED: 2, FILLED: 3, CANCELLED: 3, REJECTED: 3}
# Our states as the venue (and the journal) spell them.
VENUE_STATUS = {PENDING: "PENDING", OPEN: "OPEN", PARTIALLY_FILLED: "OPEN", FILLED: "FILLED", CANCELLED: "CANCELLED",
                REJECTED: "REJECTED"}

# Venue status strings (Coinbase REST/WS and the simulated venue) to our states. CANCEL_QUEUED
# is absent on purpose: the order is still live until the venue says CANCELLED.
_VENUE_STATUS = {
    "PENDING": PENDING,
    "QUEUED": PENDING,
    "OPEN": OPEN,
    "FILLED": FILLED,
    "CANCELLED": CANCELLED,
    "CANCELED": CANCELLED,
    "EXPIRED": CANCELLED,
    "REJECTED": REJECTED,
    "FAILED": REJECTED,
}

_ZERO = Decimal(0)


def client_order_id(intent_id: str) -> str:
    """The venue idempotency key for an intent: the same decision always maps to the same id."""
    return "pb-" + hashlib.sha256(intent_id.encode("utf-8")).hexdigest()[:24]


def transition(current: str, new: str) -> str:
    """`new` if the state machine allows current -> new, else ValueError."""
    if new not in _NEXT.get(current, frozenset()):
        raise ValueError(f"illegal order transition {current} -> {new}")
    return new


class OrderRecord(msgspec.Struct, frozen=True):
    """One order as execution knows it. Replaced, never mutated, on every change."""

    client_order_id: str
    product_id: str
    side: str  # "BUY" / "SELL"; "" when adopted from a venue report that does not say
    order_type: str
    size: Decimal
    state: str
    limit_price: Decimal | None = None
    intent_id: str = ""
    venue_order_id: str = ""
    venue_filled_size: Decimal = _ZERO  # cumulative, as the venue last reported it
    fills_size: Decimal = _ZERO  # sum of the distinct fills seen
    fills_notional: Decimal = _ZERO
    fees: Decimal = _ZERO
    reason: str = ""
    updated_at: float = 0.0
    order: PlaceOrder | None = None  # as sent; None when adopted from a venue report

    @property
    def filled_size(self) -> Decimal:
        """Best knowledge of the filled quantity: fills and venue reports may arrive in any order."""
        return max(self.venue_filled_size, self.fills_size)

    @property
    def is_live(self) -> bool:
        return self.state in LIVE


class OrderCounts(msgspec.Struct, frozen=True):
    intents: int = 0
    orders: int = 0
    fills: int = 0
    rejects: int = 0
    duplicate_submits: int = 0
    duplicate_updates: int = 0
    stale_updates: int = 0
    unknown_statuses: int = 0
    duplicate_fills: int = 0
    orphan_fills: int = 0  # fills for an order not in the table
    partial_fills: int = 0  # fills that left their order with size still to fill
    maker_fills: int = 0
    taker_fills: int = 0


class SyncDiff(msgspec.Struct, frozen=True):
    """How a venue snapshot differs from the table it replaced."""

    vanished: tuple[str, ...] = ()  # live in the table, not among the venue's open orders
    unknown: tuple[str, ...] = ()  # open at the venue, not in the table
    missed_fills: tuple[str, ...] = ()  # trade ids the venue lists that the table had not seen

    def __bool__(self) -> bool:
        return bool(self.vanished or self.unknown or self.missed_fills)


class OrderBookkeeper:
    """The open-order table. Single owner: the execution actor."""

    def __init__(self) -> None:
        self._orders: dict[str, OrderRecord] = {}
        self._seen_fills: set[tuple[str, str, str]] = set()
        self._counts: dict[str, int] = {f: 0 for f in OrderCounts.__struct_fields__}

    # -- queries ---------------------------------------------------------------------------

    def get(self, coid: str) -> OrderRecord | None:
        return self._orders.get(coid)

    def __contains__(self, coid: object) -> bool:
        return coid in self._orders

    def records(self) -> tuple[OrderRecord, ...]:
        """Every order in the table, in submission order."""
        return tuple(self._orders.values())

    def open_orders(self) -> tuple[OrderRecord, ...]:
        """Live orders (pending, open, partially filled) in submission order."""
        return tuple(r for r in self._orders.values() if r.state in LIVE)

    @property
    def counts(self) -> OrderCounts:
        return OrderCounts(**self._counts)

    # -- inputs ----------------------------------------------------------------------------

    def record_intent(self, intent: OrderIntent) -> None:
        """Count an intent that reached execution (including ones later refused)."""
        self._counts["intents"] += 1

    def on_submit(self, order: PlaceOrder, intent_id: str = "", ts: float = 0.0) -> bool:
        """Add a submitted order as pending. False (and counted) if its client id is known:
        a second submission of one decision must never become a second order."""
        if order.client_order_id in self._orders:
            self._counts["duplicate_submits"] += 1
            return False
        self._orders[order.client_order_id] = OrderRecord(
            client_order_id=order.client_order_id,
            product_id=order.product_id,
            side=order.side,
            order_type=order.order_type,
            size=order.size,
            state=PENDING,
            limit_price=order.limit_price,
            intent_id=intent_id,
            updated_at=ts,
            order=order,
        )
        self._counts["orders"] += 1
        return True

    def on_update(self, update: OrderUpdate) -> bool:
        """Apply a venue order report. True if it changed the table."""
        target = _VENUE_STATUS.get(update.status.upper())
        if target is None:
            self._counts["unknown_statuses"] += 1
            return False
        if target == OPEN and update.filled_size > 0:
            target = PARTIALLY_FILLED
        rec = self._orders.get(update.client_order_id)
        if rec is None:
            self._adopt(update, target)
            return True

        venue_filled = max(rec.venue_filled_size, update.filled_size)
        if target == rec.state and venue_filled == rec.venue_filled_size:
            self._counts["duplicate_updates"] += 1
            return False
        if rec.state in TERMINAL and target in TERMINAL and target != rec.state:
            raise ValueError(f"order {rec.client_order_id} reported {target} after {rec.state}")
        if _RANK[target] < _RANK[rec.state]:
            self._counts["stale_updates"] += 1
            return False
        # Same state with a larger cumulative fill is a real change, not a transition.
        state = rec.state if target == rec.state else transition(rec.state, target)
        self._orders[rec.client_order_id] = msgspec.structs.replace(
            rec,
            state=state,
            venue_order_id=update.venue_order_id or rec.venue_order_id,
            venue_filled_size=venue_filled,
            reason=update.reason or rec.reason,
            updated_at=update.ts or rec.updated_at,
        )
        if state == REJECTED:
            self._counts["rejects"] += 1
        return True

    def on_fill(self, fill: Fill) -> bool:
        """Record a fill once. False (and counted) for a trade already seen."""
        # A self-trade gives both of our sides the same trade id, hence the side in the key.
        key = (fill.product_id, fill.trade_id, fill.side)
        if key in self._seen_fills:
            self._counts["duplicate_fills"] += 1
            return False
        self._seen_fills.add(key)
        self._counts["fills"] += 1
        liquidity = fill.liquidity.upper()
        if liquidity in ("MAKER", "TAKER"):
            self._counts[f"{liquidity.lower()}_fills"] += 1
        rec = self._orders.get(fill.client_order_id)
        if rec is None:
            self._counts["orphan_fills"] += 1
            return True
        fills_size = rec.fills_size + fill.size
        if rec.size > 0 and max(fills_size, rec.venue_filled_size) < rec.size:
            self._counts["partial_fills"] += 1
        state = rec.state
        if state in LIVE:
            filled = max(fills_size, rec.venue_filled_size)
            state = transition(state, FILLED if rec.size > 0 and filled >= rec.size else PARTIALLY_FILLED)
        self._orders[rec.client_order_id] = msgspec.structs.replace(
            rec,
            state=state,
            side=rec.side or fill.side,
            venue_order_id=rec.venue_order_id or fill.venue_order_id,
            fills_size=fills_size,
            fills_notional=rec.fills_notional + fill.price * fill.size,
            fees=rec.fees + fill.fee,
            updated_at=fill.ts or rec.updated_at,
        )
        return True

    def rebuild(self, snapshot: VenueSnapshot) -> SyncDiff:
        """Replace the table with what the venue reports after a restart or reconnect: its open
        orders and every fill (so replays of those fills are recognised as duplicates). Counts
        restart from the snapshot; intents are not known to the venue and restart at zero.
        Returns what the venue reported differently from the table it replaces."""
        listed = {u.client_order_id for u in snapshot.open_orders if _VENUE_STATUS.get(u.status.upper(), OPEN) in LIVE}
        diff = SyncDiff(
            vanished=tuple(c for c, r in self._orders.items() if r.state in LIVE and c not in listed),
            unknown=tuple(u.client_order_id for u in snapshot.open_orders if u.client_order_id not in self._orders),
            missed_fills=tuple(f.trade_id for f in snapshot.fills
                               if (f.product_id, f.trade_id, f.side) not in self._seen_fills),
        )
        self._orders.clear()
        self._seen_fills.clear()
        self._counts = {f: 0 for f in OrderCounts.__struct_fields__}
        for update in snapshot.open_orders:
            target = _VENUE_STATUS.get(update.status.upper(), OPEN)
            if target == OPEN and update.filled_size > 0:
                target = PARTIALLY_FILLED
            self._adopt(update, target)
        for fill in snapshot.fills:
            self.on_fill(fill)
        self._counts["orphan_fills"] = 0  # fills of finished orders are expected here
        return diff

    def _adopt(self, update: OrderUpdate, state: str) -> None:
        """An order the table did not know (placed before a restart): take the venue's word."""
        self._orders[update.client_order_id] = OrderRecord(
            client_order_id=update.client_order_id,
            product_id=update.product_id,
            side="",
            order_type="",
            size=update.filled_size + update.leaves_size,
            state=state,
            venue_order_id=update.venue_order_id,
            venue_filled_size=update.filled_size,
            reason=update.reason,
            updated_at=update.ts,
        )
        self._counts["orders"] += 1
        if state == REJECTED:
            self._counts["rejects"] += 1
