"""Reconciliation: what the journal remembers set against what the venue holds, and the repairs.

Owns the rules a start of `run` (and, later, the schedule) applies, in this order:
- an intent journaled before it was sent (write-ahead) or an order journaled as sent that the
  venue never answered for is looked up by its client id in the venue's orders of every status:
  found, it settles with the venue's status; absent, it settles as never having reached the venue.
  It is never re-sent and never assumed cancelled;
- a fill the venue has and the journal lacks is taken once and listed as inferred. Per venue order,
  by quantity: the journal may hold a fill under the id the `user` channel gave it
  (`order_id:cumulative`) that REST lists under its real trade id, so only the venue's quantity
  beyond what the journal holds for that order is new (the gateway's rule, actors.venue.gateway);
- an order live at the venue that the journal does not know is foreign unless its client id is one
  this bot derives (`pb-`...: sent, but its journal record died with the process), which is adopted;
- positions are the journal's fills plus the inferred ones, per product, set against the venue's
  `cfm/positions` (perpetual-style products; spot has no position endpoint, its fills are the truth):
  what still differs is a mismatch.
Pure: journal and venue views in, a Reconciliation out. Must never perform I/O or read a clock,
and never decide to trade: it says what differs; the caller holds trading and tells the operator.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from domain.orders import Fill, net_positions

_ZERO = Decimal(0)
OUR_PREFIX = "pb-"  # actors.execution.orders.client_order_id
ABSENT = "ABSENT"  # an intent the venue never heard of


class VenueOrder(msgspec.Struct, frozen=True):
    client_order_id: str
    venue_order_id: str
    product_id: str
    side: str
    status: str
    live: bool


class JournalView(msgspec.Struct, frozen=True):
    """What the journal holds, read at start."""

    fills: tuple[Fill, ...] = ()
    orders: dict[str, str] = {}  # client_order_id -> journaled status
    unanswered: tuple[str, ...] = ()  # client ids written ahead or sent, with no venue answer journaled


class VenueView(msgspec.Struct, frozen=True):
    """What the venue holds, read at start over REST."""

    fills: tuple[Fill, ...]
    orders: tuple[VenueOrder, ...]  # every status
    positions: dict[str, Decimal]  # cfm/positions: signed contracts per perpetual-style product


class SettledIntent(msgspec.Struct, frozen=True):
    client_order_id: str
    status: str  # the venue's, or ABSENT
    venue_order_id: str = ""


class Reconciliation(msgspec.Struct, frozen=True):
    inferred: tuple[Fill, ...]  # venue fills the journal lacked, oldest first
    settled: tuple[SettledIntent, ...]
    foreign: tuple[VenueOrder, ...]  # live at the venue, not ours
    adopted: tuple[VenueOrder, ...]  # live at the venue, ours by client id, unknown to the journal
    positions: dict[str, tuple[Decimal, Decimal]]  # product -> (journal after repairs, venue), compared ones
    mismatches: dict[str, tuple[Decimal, Decimal]]  # the subset that differs

    @property
    def clean(self) -> bool:
        return not self.mismatches


def journaled_quantities(fills: tuple[Fill, ...] | list[Fill]) -> dict[str, Decimal]:
    """Venue order id -> the quantity of its fills the journal holds."""
    quantities: dict[str, Decimal] = {}
    for fill in fills:
        if fill.venue_order_id:
            quantities[fill.venue_order_id] = quantities.get(fill.venue_order_id, _ZERO) + fill.size
    return quantities


def beyond(fills: list[Fill], quantity: Decimal) -> list[Fill]:
    """The pieces of one order's fills (oldest first) past the first `quantity` of it; a fill cut
    in two keeps its tail under `trade_id:cumulative` and its share of the fee."""
    out: list[Fill] = []
    filled = _ZERO
    for fill in fills:
        start, filled = filled, filled + fill.size
        if filled <= quantity:
            continue
        piece = filled - max(start, quantity)
        if piece == fill.size:
            out.append(fill)
        else:
            out.append(msgspec.structs.replace(fill, trade_id=f"{fill.trade_id}:{filled}", size=piece,
                                               fee=fill.fee * piece / fill.size))
    return out


def inferred_fills(journal_fills: tuple[Fill, ...], venue_fills: tuple[Fill, ...], products: set[str]) -> tuple[Fill, ...]:
    """The venue's fills the journal lacks, oldest first (venue_fills are oldest first)."""
    have = journaled_quantities(journal_fills)
    known = {f.trade_id for f in journal_fills}
    by_order: dict[str, list[Fill]] = {}
    loose: list[Fill] = []
    for fill in venue_fills:
        if fill.product_id not in products:
            continue
        if fill.venue_order_id:
            by_order.setdefault(fill.venue_order_id, []).append(fill)
        elif fill.trade_id not in known:
            loose.append(fill)
    found = loose + [piece for vid, fills in by_order.items() for piece in beyond(fills, have.get(vid, _ZERO))]
    return tuple(sorted(found, key=lambda f: f.ts))


def reconcile(journal: JournalView, venue: VenueView, products: set[str], perpetuals: set[str]) -> Reconciliation:
    inferred = inferred_fills(journal.fills, venue.fills, products)
    by_client = {o.client_order_id: o for o in venue.orders if o.client_order_id}
    settled = tuple(
        SettledIntent(coid, by_client[coid].status, by_client[coid].venue_order_id) if coid in by_client
        else SettledIntent(coid, ABSENT)
        for coid in journal.unanswered)
    unknown = [o for o in venue.orders
               if o.live and o.product_id in products and o.client_order_id not in journal.orders]
    adopted = tuple(o for o in unknown if o.client_order_id.startswith(OUR_PREFIX))
    foreign = tuple(o for o in unknown if not o.client_order_id.startswith(OUR_PREFIX))
    ours = dict(net_positions([f for f in (*journal.fills, *inferred) if f.product_id in products]))
    positions = {pid: (ours.get(pid, _ZERO), venue.positions.get(pid, _ZERO)) for pid in sorted(perpetuals & products)}
    mismatches = {pid: pair for pid, pair in positions.items() if pair[0] != pair[1]}
    return Reconciliation(inferred, settled, foreign, adopted, positions, mismatches)
