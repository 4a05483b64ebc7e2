"""The books of the Coinbase gateway core (GatewayCore, `gateway.py`): what it knows of each order
and of the fills, and the request budget its requests wait for.

Owns the effects the core returns (Http requests to perform, snapshots to answer, and the
OrderUpdate and Fill messages to emit), per client_order_id where an order stands between us and
the venue (queued for budget, sent, accepted with a venue id, unknown, finished), the request
budget (requests waiting for it, in flight, or delayed by a back-off, capped; an unknown create is
re-sent under the same client_order_id once its back-off is over), the REST listings running, the
fills reported so far (each piece of an order's filled quantity once, whichever way it was learned:
per venue order the quantity already reported is kept, and only quantity beyond it is reported
again), and settling an order once its fate is known:
- accepted with a venue id: a cancel that waited for the id goes; an order in flight or unknown
  while nobody heard the `user` channel (a restart, an outage) is read over REST once a create
  answer names it: the answer says only that it exists;
- rejected.
Pure: returns effects; time comes in as an argument. Must never perform I/O, sleep, or invent a
client_order_id; never reads what a REST answer (`gateway.py`) or a listing (`gateway_listings.py`)
says.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Union

import msgspec

from actors.venue import coinbase_rest as rest
from actors.venue.listing import Listing
from actors.venue.user_channel import UserFillDeriver
from actors.wire.decimals import finite_decimal
from actors.wire.rate_limit import RateLimiter
from actors.wire.user import UserOrder
from domain.orders import Fill, OrderUpdate, PlaceOrder, VenueSnapshot

QUEUED, SENT, UNKNOWN, ACCEPTED, DONE = "queued", "sent", "unknown", "accepted", "done"
RETRY_BASE_S = 0.5
RETRY_CAP_S = 10.0
FINAL = frozenset({"FILLED", "CANCELLED", "EXPIRED", "FAILED", "REJECTED"})
_ZERO = Decimal(0)
SYNC, RECONCILE, SWEEP = "sync", "reconcile", "sweep"


class Http(msgspec.Struct, frozen=True):
    """Perform `request`; answer with `on_response(request_id, response)`."""

    request_id: int
    request: rest.Request


class Snapshot(msgspec.Struct, frozen=True):
    """Answer a sync: send `snapshot` to each of `reply_to` (logical names)."""

    reply_to: tuple[str, ...]
    snapshot: VenueSnapshot


Effect = Union[Http, OrderUpdate, Fill, Snapshot]


class TrackedOrder:
    __slots__ = ("order", "state", "venue_id", "attempts", "cancel_wanted", "retry_at", "was_unknown", "recheck")

    def __init__(self, order: PlaceOrder) -> None:
        self.order = order
        self.state = QUEUED
        self.venue_id = ""
        self.attempts = 0
        self.cancel_wanted = False
        self.retry_at: float | None = None
        self.was_unknown = False  # settled later, it counts as an unknown outcome settled
        self.recheck = False  # its frames may have been missed: read it over REST once it has an id


class ListingJob:
    """One REST listing being read for a sync, a reconcile or a cancel-all sweep."""

    __slots__ = ("kind", "listing", "reply_to", "failures")

    def __init__(self, kind: str, listing: Listing, reply_to: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.listing = listing
        self.reply_to = reply_to
        self.failures = 0


def backoff(n: int) -> float:
    return min(RETRY_CAP_S, RETRY_BASE_S * 2 ** (n - 1))


class GatewayState:
    """The core's books and request budget; GatewayListings and GatewayCore build on them."""

    def __init__(self, limiter: RateLimiter | None = None) -> None:
        self.limiter = limiter or RateLimiter()
        self.deriver = UserFillDeriver()
        self._orders: dict[str, TrackedOrder] = {}
        self._by_venue_id: dict[str, str] = {}
        self._waiting: deque[tuple[str, rest.Request]] = deque()  # (purpose, request) for budget
        self._in_flight: dict[int, tuple[str, str, rest.Request]] = {}  # request id -> (kind, key, request)
        self._unknown: dict[str, None] = {}  # client_order_ids in UNKNOWN, in the order they became so
        self._delayed: list[tuple[float, str, rest.Request]] = []  # failed pages, cancels: (due, purpose, request)
        self._jobs: dict[str, ListingJob] = {}
        self._next_job = 0
        self._next_id = 0
        self._fills: list[Fill] = []  # every fill reported, in order
        self._fill_keys: set[tuple[str, str, str]] = set()
        self._newest_fill: float | None = None  # the fills watermark: the newest fill's time reported
        # venue order id -> (quantity, quote value, fees) of its fills already reported
        self._reported: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
        self.counters = {"creates_sent": 0, "retries": 0, "unknown_outcomes": 0, "unknown_settled": 0,
                         "rejected": 0, "throttled": 0, "cancels_sent": 0, "duplicate_intents": 0, "never_sent": 0,
                         "cancelled_unsent": 0, "syncs": 0, "reconciles": 0, "sweeps": 0, "list_failures": 0,
                         "fills_reconciled": 0, "duplicate_fills": 0, "adopted": 0, "resumed": 0,
                         "reconciles_done": 0}

    # ------------------------------------------------------------ budget

    def pump(self, now: float) -> list[Effect]:
        """Send what the budget allows now, and re-send unknown creates and failed pages whose
        back-off is over."""
        for cid in list(self._unknown):
            o = self._orders[cid]
            if o.retry_at is not None and now >= o.retry_at:
                del self._unknown[cid]
                o.retry_at = None
                o.state = QUEUED
                self.counters["retries"] += 1
                self._waiting.append(("create:" + cid, rest.create_order(o.order)))
        if self._delayed:
            due = [d for d in self._delayed if d[0] <= now]
            if due:
                self._delayed = [d for d in self._delayed if d[0] > now]
                self._waiting.extend((purpose, request) for _, purpose, request in due)
        out: list[Effect] = []
        while self._waiting:
            purpose, request = self._waiting[0]
            kind, _, key = purpose.partition(":")
            if kind == "create" and self._orders[key].state != QUEUED:  # settled while it waited
                self._waiting.popleft()
                continue
            if not self.limiter.acquire(request.budget, now):
                break
            self._waiting.popleft()
            self._next_id += 1
            self._in_flight[self._next_id] = (kind, key, request)
            if kind == "create":
                self._orders[key].state = SENT
                self._orders[key].attempts += 1
                self.counters["creates_sent"] += 1
            elif kind == "cancel":
                self.counters["cancels_sent"] += 1
            out.append(Http(self._next_id, request))
        return out

    def next_wake(self, now: float) -> float | None:
        """When `pump` has something to do next (None: nothing waits)."""
        times = [t for cid in self._unknown if (t := self._orders[cid].retry_at) is not None]
        times += [due for due, _, _ in self._delayed]
        if self._waiting:
            times.append(now + self.limiter.delay(self._waiting[0][1].budget, now))
        return min(times) if times else None

    # ------------------------------------------------------------ listings

    def _start_job(self, kind: str, listing: Listing, now: float, reply_to: tuple[str, ...] = ()) -> list[Effect]:
        self._next_job += 1
        job_id = str(self._next_job)
        self._jobs[job_id] = ListingJob(kind, listing, reply_to)
        for which, request in listing.start():
            self._waiting.append((f"list:{job_id}:{which}", request))
        return self.pump(now)

    # ------------------------------------------------------------ internals

    def _unreported_part(self, order: UserOrder, fill: Fill) -> Fill | None:
        """The part of a fill derived from the socket that REST has not reported already: None
        when all of it was; priced and charged from the order's cumulative value and fees minus
        what was reported, so the fills of an order always add up to the venue's totals."""
        cumulative = finite_decimal(order.cumulative_quantity or "0") or _ZERO
        quantity, value, fees = self._reported.get(fill.venue_order_id, (_ZERO, _ZERO, _ZERO))
        if cumulative <= quantity:
            self.counters["duplicate_fills"] += 1
            return None
        if quantity > cumulative - fill.size:  # the socket missed REST's part of this step
            piece = cumulative - quantity
            avg, total_fees = finite_decimal(order.avg_price or "0"), finite_decimal(order.total_fees or "0")
            price = (avg * cumulative - value) / piece if avg is not None else fill.price
            fee = max(_ZERO, total_fees - fees) if total_fees is not None else fill.fee * piece / fill.size
            fill = msgspec.structs.replace(fill, size=piece, price=price if price > 0 else fill.price, fee=fee)
        self._reported[fill.venue_order_id] = (cumulative, value + fill.price * fill.size, fees + fill.fee)
        return fill

    def _record_fill(self, fill: Fill) -> bool:
        key = (fill.product_id, fill.trade_id, fill.side)
        if key in self._fill_keys:
            self.counters["duplicate_fills"] += 1
            return False
        self._fill_keys.add(key)
        self._fills.append(fill)
        if fill.ts and (self._newest_fill is None or fill.ts > self._newest_fill):
            self._newest_fill = fill.ts
        return True


    def _accepted(self, o: TrackedOrder, venue_id: str, now: float, announce: bool = True) -> list[Effect]:
        cid = o.order.client_order_id
        self._settle(o)
        o.venue_id = venue_id
        if o.state != DONE:
            o.state = ACCEPTED
        self._by_venue_id[venue_id] = cid
        out: list[Effect] = []
        if announce and o.state == ACCEPTED:
            out.append(OrderUpdate(cid, venue_id, o.order.product_id, "OPEN", _ZERO, o.order.size, "", now))
        if o.cancel_wanted:
            o.cancel_wanted = False
            for request in rest.batch_cancel([venue_id]):
                self._waiting.append(("cancel:", request))
        if o.recheck:  # a listing or the socket says what it did; a create answer does not
            o.recheck = False
            if announce:
                self.counters["reconciles"] += 1
                out += self._start_job(RECONCILE, Listing(orders=True, fills=True, order_ids=(venue_id,)), now)
        return out

    def _finish_rejected(self, cid: str, reason: str, now: float) -> list[Effect]:
        o = self._orders[cid]
        self._settle(o)
        o.state = DONE
        self.counters["rejected"] += 1
        order = o.order
        return [OrderUpdate(cid, "", order.product_id, "REJECTED", _ZERO, _ZERO, reason, now)]

    def _settle(self, o: TrackedOrder) -> None:
        """The order's fate is known: it leaves the unknown set (counted once if it was there)."""
        o.retry_at = None
        self._unknown.pop(o.order.client_order_id, None)
        if o.was_unknown:
            o.was_unknown = False
            self.counters["unknown_settled"] += 1

    # ------------------------------------------------------------ queries

    def state(self, client_order_id: str) -> str | None:
        o = self._orders.get(client_order_id)
        return o.state if o is not None else None

    def in_flight(self) -> list[str]:
        """Orders whose fate at the venue is not settled (queued, sent or unknown)."""
        return [cid for cid, o in self._orders.items() if o.state in (QUEUED, SENT, UNKNOWN)]

    def fills(self) -> tuple[Fill, ...]:
        """Every fill reported, in the order reported."""
        return tuple(self._fills)

    def open_orders(self, now: float) -> tuple[OrderUpdate, ...]:
        """Orders not finished as far as this core knows (PENDING before a venue id, else OPEN)."""
        return tuple(OrderUpdate(cid, o.venue_id, o.order.product_id, "OPEN" if o.venue_id else "PENDING", _ZERO,
                                 o.order.size, "", now)
                     for cid, o in self._orders.items() if o.state != DONE)

    def jobs_running(self) -> int:
        return len(self._jobs)
