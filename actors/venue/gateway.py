"""The pure core of the Coinbase venue gateway: orders out over REST, their fate back from REST
outcomes and the `user` channel, exactly once.

Owns, per client_order_id, where an order stands between us and the venue (queued for budget,
sent, accepted with a venue id, unknown, finished), the request budget, the fills reported so far
(each piece of an order's filled quantity once, whichever way it was learned), and the rules:
- one create request in flight per client_order_id; a retry always reuses the id (the venue's
  idempotency key), so one intent can never become two venue orders;
- a timeout, a 5xx or an unreadable answer is UNKNOWN, not a rejection: the order stays in flight
  and is settled by the `user` channel or by re-sending the same create (the venue answers a
  repeated id with the original order) after a back-off;
- a 429 waits for the budget's back-off and goes again, a cancel too (unanswered or 5xx: again after
  a back-off, capped, for as long as the order may be live); a 401/403 is a rejection (not taken);
- a cancel for an order whose venue id is not known yet waits for the id, then goes; an order
  never sent (and never unknown) is cancelled here, without a request;
- an order in flight or unknown while nobody heard the `user` channel (a restart, an outage) is
  read over REST once a create answer names it: the answer says only that it exists;
- cancels go in batches of at most 100 ids;
- a restarted gateway takes back from execution the live orders and the quantity of each order
  already reported (`resume`), then reconciles: a crash forgets nothing and reports nothing twice;
- REST listings (`listing.py`) answer a sync (a restarted actor's snapshot of open orders and every
  fill), reconcile after a `user` stream reconnect (what changed while it was down), and find
  every cancelable order for a cancel-all. Fills over REST carry real trade ids, fills from the
  socket derived ids: per venue order the quantity already reported is kept, and only quantity
  beyond it is reported again, so a fill is never counted twice across the two sources.
Pure: returns effects (Http requests to perform, messages to emit, snapshots to answer, a wake-up
time); time comes in as an argument. Must never perform I/O, sleep, or invent a client_order_id.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Union, cast

import msgspec

from actors.venue import coinbase_rest as rest
from actors.venue.coinbase_orders import (
    Accepted,
    AuthFailed,
    OrderBodyError,
    Rejected,
    Throttled,
    Unknown,
    create_order_outcome,
)
from actors.venue.listing import LIVE, Complete, Failed, Listing, Next, RestFill, RestOrder, fills_since
from actors.venue.user_channel import UserFillDeriver, UserOrder
from actors.wire.decimals import finite_decimal
from actors.wire.rate_limit import PRIVATE, RateLimiter
from domain.orders import FUTURES_ONLY, NEVER_REACHED, Fill, KnownOrders, OrderUpdate, PlaceOrder, VenueSnapshot

QUEUED, SENT, UNKNOWN, ACCEPTED, DONE = "queued", "sent", "unknown", "accepted", "done"
RETRY_BASE_S = 0.5
RETRY_CAP_S = 10.0
FILTER_IDS_MAX = 50  # a reconcile names at most this many orders in its query; more: list them all
_FINAL = frozenset({"FILLED", "CANCELLED", "EXPIRED", "FAILED", "REJECTED"})
_REPORTED = (LIVE - {"CANCEL_QUEUED"}) | _FINAL  # REST statuses execution understands
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


class _Order:
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


class _Job:
    """One REST listing being read for a sync, a reconcile or a cancel-all sweep."""

    __slots__ = ("kind", "listing", "reply_to", "failures")

    def __init__(self, kind: str, listing: Listing, reply_to: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.listing = listing
        self.reply_to = reply_to
        self.failures = 0


def _backoff(n: int) -> float:
    return min(RETRY_CAP_S, RETRY_BASE_S * 2 ** (n - 1))


class GatewayCore:
    def __init__(self, limiter: RateLimiter | None = None) -> None:
        self.limiter = limiter or RateLimiter()
        self.deriver = UserFillDeriver()
        self._orders: dict[str, _Order] = {}
        self._by_venue_id: dict[str, str] = {}
        self._waiting: deque[tuple[str, rest.Request]] = deque()  # (purpose, request) for budget
        self._in_flight: dict[int, tuple[str, str, rest.Request]] = {}  # request id -> (kind, key, request)
        self._unknown: dict[str, None] = {}  # client_order_ids in UNKNOWN, in the order they became so
        self._delayed: list[tuple[float, str, rest.Request]] = []  # failed pages, cancels: (due, purpose, request)
        self._jobs: dict[str, _Job] = {}
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

    # ------------------------------------------------------------ commands

    def place(self, order: PlaceOrder, now: float) -> list[Effect]:
        cid = order.client_order_id
        known = self._orders.get(cid)
        if known is not None:  # the same intent again: never a second venue order
            self.counters["duplicate_intents"] += 1
            return []
        self._orders[cid] = _Order(order)
        try:
            request = rest.create_order(order)
        except OrderBodyError as exc:
            return self._finish_rejected(cid, f"INVALID_ORDER: {exc}", now)
        self._waiting.append(("create:" + cid, request))
        return self.pump(now)

    def cancel(self, client_order_ids: list[str], now: float) -> list[Effect]:
        venue_ids = []
        out: list[Effect] = []
        for cid in client_order_ids:
            o = self._orders.get(cid)
            if o is None or o.state == DONE:
                continue
            if o.venue_id:
                venue_ids.append(o.venue_id)
            elif o.state == QUEUED and o.attempts == 0 and not o.was_unknown:  # never left: nothing at the venue
                o.state = DONE
                self.counters["cancelled_unsent"] += 1
                out.append(OrderUpdate(cid, "", o.order.product_id, "CANCELLED", _ZERO, _ZERO,
                                       "cancelled before sending", now))
            else:
                o.cancel_wanted = True  # goes once the venue id is known
        for request in rest.batch_cancel(venue_ids):
            self._waiting.append(("cancel:", request))
        return out + self.pump(now)

    def query(self, orders: tuple[tuple[str, str], ...], now: float) -> list[Effect]:
        """Execution heard nothing of these orders for a while. One never given to this gateway (its
        PlaceOrder was lost: a restarted gateway took back every live order from execution) ends
        FAILED; one the venue named is read again over REST (its answer may have been lost on the
        way); one still being sent is left to its own retries."""
        out: list[Effect] = []
        named: list[str] = []
        for cid, product_id in orders:
            o = self._orders.get(cid)
            if o is None:
                self.counters["never_sent"] += 1
                out.append(OrderUpdate(cid, "", product_id, "FAILED", _ZERO, _ZERO, NEVER_REACHED, now))
            elif o.venue_id:
                named.append(o.venue_id)
        if named:
            out += self._start_job(RECONCILE, Listing(orders=True, fills=True, order_ids=tuple(named[:FILTER_IDS_MAX])),
                                   now)
        return out + self.pump(now)

    def cancel_all(self, now: float) -> list[Effect]:
        return self.cancel([cid for cid, o in self._orders.items() if o.state != DONE], now)

    def cancel_everything(self, now: float) -> list[Effect]:
        """Cancel-all: every order known here, and every order the venue lists as cancelable
        (placed before a restart, or by an earlier run), found by listing orders unfiltered."""
        self.counters["sweeps"] += 1
        return self.cancel_all(now) + self._start_job(SWEEP, Listing(orders=True, fills=False), now)

    def sync(self, reply_to: str, now: float, positions: bool = False) -> list[Effect]:
        """Read open orders, every fill (and, with `positions`, the futures positions) over REST;
        answer `reply_to` with a VenueSnapshot when all are read (a Snapshot effect)."""
        self.counters["syncs"] += 1
        return self._start_job(SYNC, Listing(orders=True, fills=True, positions=positions,
                                             fills_since=fills_since(self._newest_fill)), now, (reply_to,))

    def reconcile(self, now: float) -> list[Effect]:
        """The `user` stream reconnected: re-read the orders not finished here and their fills, and
        report what the socket did not say while it was down."""
        for o in self._orders.values():
            if o.state != DONE and not o.venue_id and (o.attempts or o.was_unknown):  # left, unnamed yet
                o.recheck = True
        venue_ids = tuple(o.venue_id for o in self._orders.values() if o.state != DONE and o.venue_id)
        if not venue_ids:
            return self.pump(now)
        self.counters["reconciles"] += 1
        ids = venue_ids if len(venue_ids) <= FILTER_IDS_MAX else ()
        return self._start_job(RECONCILE, Listing(orders=True, fills=True, order_ids=ids,
                                                  fills_since=fills_since(self._newest_fill)), now)

    def seed(self, reported: dict[str, tuple[Decimal, Decimal, Decimal]], newest_fill: float | None = None) -> None:
        """At a process start: per venue order id, the (quantity, quote value, fees) of its fills the
        journal already holds, so a sync reports only what came after (fills the bot missed); and
        the newest journaled fill's time, from which fills are listed (FILLS_LOOKBACK_S before it)."""
        if newest_fill is not None:
            self._newest_fill = max(newest_fill, self._newest_fill or newest_fill)
        for venue_id, piece in reported.items():
            if piece[0] > self._reported.get(venue_id, (_ZERO, _ZERO, _ZERO))[0]:
                self._reported[venue_id] = piece

    def resume(self, known: KnownOrders, now: float) -> list[Effect]:
        """After a restart of this gateway: take back from execution (the owner of order state)
        the live orders and the fills already reported, so that neither the socket nor a REST
        listing reports a fill twice, then reconcile what happened while nobody was listening.
        A live order without a venue id may or may not exist at the venue: it is an unknown
        outcome, settled by re-sending its create under the same client_order_id."""
        for k in known.orders:
            if k.venue_order_id and k.filled_size > 0:
                reported = self._reported.get(k.venue_order_id, (_ZERO, _ZERO, _ZERO))
                if k.filled_size > reported[0]:
                    self._reported[k.venue_order_id] = (k.filled_size, k.filled_value, k.fees)
            if not k.live or k.order is None or k.client_order_id in self._orders:
                continue
            o = self._orders[k.client_order_id] = _Order(k.order)
            self.counters["resumed"] += 1
            if k.venue_order_id:
                o.state, o.venue_id = ACCEPTED, k.venue_order_id
                self._by_venue_id[k.venue_order_id] = k.client_order_id
            else:
                self.counters["unknown_outcomes"] += 1
                o.state, o.was_unknown, o.retry_at = UNKNOWN, True, now
                self._unknown[k.client_order_id] = None
        return self.reconcile(now)

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

    # ------------------------------------------------------------ answers

    def on_response(self, request_id: int, response: rest.Response, now: float) -> list[Effect]:
        kind, key, request = self._in_flight.pop(request_id, ("", "", None))
        if kind == "list":
            return self._on_page(key, response, now) + self.pump(now)
        if kind == "cancel" and request is not None:  # its outcome arrives on the user channel
            if response.status == 429:
                self.counters["throttled"] += 1
                self.limiter.throttled(PRIVATE, now, dict(response.headers))
                self._waiting.appendleft(("cancel:" + key, request))
            elif response.status is None or response.status >= 500:  # a cancel may go twice
                n = int(key or 0) + 1
                self._delayed.append((now + _backoff(n), f"cancel:{n}", request))
        if kind != "create":
            return self.pump(now)
        cid = key
        o = self._orders[cid]
        if o.state == DONE or o.venue_id:  # the user channel settled it first
            return self.pump(now)
        outcome = create_order_outcome(cid, response.status, response.body, response.headers)
        out: list[Effect] = []
        if type(outcome) is Accepted:
            self.limiter.succeeded(PRIVATE)
            out += self._accepted(o, outcome.order_id, now)
        elif type(outcome) is Rejected or type(outcome) is AuthFailed:
            reason = outcome.reason if type(outcome) is Rejected else f"HTTP_{cast(AuthFailed, outcome).status}"
            out += self._finish_rejected(cid, reason, now)
        elif type(outcome) is Throttled:
            self.counters["throttled"] += 1
            self.limiter.throttled(PRIVATE, now, dict(outcome.headers))
            o.state = QUEUED
            self._waiting.appendleft(("create:" + cid, rest.create_order(o.order)))
        elif type(outcome) is Unknown:
            if not o.was_unknown:  # one order unknown again on its retry is still one unknown outcome
                self.counters["unknown_outcomes"] += 1
            o.state = UNKNOWN
            o.was_unknown = True
            self._unknown[cid] = None
            o.retry_at = now + _backoff(o.attempts)
        return out + self.pump(now)

    def on_user_order(self, order: UserOrder, now: float) -> list[Effect]:
        """One order state from the `user` channel: updates, fills, and it settles unknowns."""
        update, fill = self.deriver.on_order(order, now)
        out: list[Effect] = []
        o = self._orders.get(order.client_order_id)
        if o is not None and order.order_id and not o.venue_id:
            out += self._accepted(o, order.order_id, now, announce=False)
        if fill is not None:
            fill = self._unreported_part(order, fill)
            if fill is not None and self._record_fill(fill):
                out.append(fill)
        if update is not None:
            out.append(update)
            if o is not None and update.status in _FINAL:
                o.state = DONE
        return out + self.pump(now)

    # ------------------------------------------------------------ listings

    def _start_job(self, kind: str, listing: Listing, now: float, reply_to: tuple[str, ...] = ()) -> list[Effect]:
        self._next_job += 1
        job_id = str(self._next_job)
        self._jobs[job_id] = _Job(kind, listing, reply_to)
        for which, request in listing.start():
            self._waiting.append((f"list:{job_id}:{which}", request))
        return self.pump(now)

    def _on_page(self, key: str, response: rest.Response, now: float) -> list[Effect]:
        job_id, _, which = key.partition(":")
        job = self._jobs.get(job_id)
        if job is None:
            return []
        result = job.listing.on_page(which, response)
        purpose = "list:" + key
        if type(result) is Next:
            self.limiter.succeeded(PRIVATE)
            self._waiting.append((purpose, result.request))
        elif type(result) is Failed:
            self.counters["list_failures"] += 1
            retry = job.listing.current(which)
            if result.throttled:
                self.counters["throttled"] += 1
                self.limiter.throttled(PRIVATE, now, dict(result.headers))
                self._waiting.append((purpose, retry))
            else:
                job.failures += 1
                self._delayed.append((now + _backoff(job.failures), purpose, retry))
        elif type(result) is Complete:
            self.limiter.succeeded(PRIVATE)
            if job.listing.done:
                del self._jobs[job_id]
                return self._finish_job(job, now)
        return []

    def _finish_job(self, job: _Job, now: float) -> list[Effect]:
        listing = job.listing
        if job.kind == SWEEP:
            for request in rest.batch_cancel(listing.cancelable_ids()):
                self._waiting.append(("cancel:", request))
            return []
        out = self._absorb(listing, now)
        if job.kind == RECONCILE:
            self.counters["reconciles_done"] += 1
        if job.kind == SYNC:
            positions = None if listing.positions is None else tuple(sorted(listing.positions.items()))
            every = () if listing.positions is None else tuple(
                OrderUpdate(o.client_order_id, o.order_id, o.product_id, o.status.upper(), o.filled(), o.leaves(),
                            o.reject_reason or o.cancel_message, now)
                for o in {o.order_id: o for o in listing.orders}.values() if o.status.upper() in _REPORTED)
            snapshot = VenueSnapshot(self._snapshot_orders(listing, now), tuple(self._fills), positions,
                                     positions_cover=FUTURES_ONLY, orders=every)
            out.append(Snapshot(job.reply_to, snapshot))
        return out

    def _absorb(self, listing: Listing, now: float) -> list[Effect]:
        """Apply what the venue listed: fills beyond what was reported, then order states."""
        latest = {o.order_id: o for o in listing.orders}
        out: list[Effect] = []
        by_order: dict[str, dict[str, RestFill]] = {}
        for f in listing.fills:
            by_order.setdefault(f.order_id, {})[f.trade_id] = f
        for venue_id, trades in by_order.items():
            listed = latest.get(venue_id)
            cid = self._by_venue_id.get(venue_id) or (listed.client_order_id if listed else "")
            out += self._rest_fills(venue_id, cid, list(trades.values()), now)
        for listed in latest.values():
            o = self._orders.get(listed.client_order_id) if listed.client_order_id else None
            if o is None:
                known = self._by_venue_id.get(listed.order_id)
                o = self._orders.get(known) if known else None
            if o is None:
                if listed.status.upper() in LIVE and listed.client_order_id:
                    self._adopt(listed)
                continue
            if o.state != DONE:
                out += self._apply_rest_order(o, listed, now)
        return out

    def _rest_fills(self, venue_id: str, cid: str, trades: list[RestFill], now: float) -> list[Effect]:
        out: list[Effect] = []
        filled = _ZERO
        for f in sorted(trades, key=RestFill.when):  # the quantity reported so far is the earliest
            size, price = finite_decimal(f.size, nonneg=True), finite_decimal(f.price, nonneg=True)
            fee = finite_decimal(f.commission or "0")
            if size is None or price is None or fee is None or size <= 0:
                continue
            start, filled = filled, filled + size
            quantity, value, fees = self._reported.get(venue_id, (_ZERO, _ZERO, _ZERO))
            if filled <= quantity:
                continue  # this much of the order was reported already
            piece = filled - max(start, quantity)
            if piece != size:
                fee = fee * piece / size
            self._reported[venue_id] = (filled, value + price * piece, fees + fee)
            fill = Fill(
                trade_id=f.trade_id if piece == size else f"{f.trade_id}:{filled}",
                client_order_id=cid, venue_order_id=venue_id, product_id=f.product_id, side=f.side.upper(),
                price=price, size=piece, fee=fee, liquidity=f.liquidity_indicator.upper() or "UNKNOWN",
                ts=f.when()[0] or now)
            if self._record_fill(fill):
                self.counters["fills_reconciled"] += 1
                out.append(fill)
        return out

    def _apply_rest_order(self, o: _Order, listed: RestOrder, now: float) -> list[Effect]:
        out: list[Effect] = []
        if not o.venue_id:
            out += self._accepted(o, listed.order_id, now, announce=False)
        status = listed.status.upper()
        if status in _FINAL:
            o.state = DONE
        if status in _REPORTED:
            reason = listed.reject_reason or listed.cancel_message
            out.append(OrderUpdate(o.order.client_order_id, listed.order_id, o.order.product_id, status,
                                   listed.filled(), listed.leaves(), reason, now))
        return out

    def _adopt(self, listed: RestOrder) -> None:
        """A live order this core did not place (an earlier incarnation or run): known for cancels."""
        size = listed.base_size() or _ZERO
        o = _Order(PlaceOrder(listed.client_order_id, listed.product_id, listed.side.upper(), "limit", size))
        o.state = ACCEPTED
        o.venue_id = listed.order_id
        self._orders[listed.client_order_id] = o
        self._by_venue_id[listed.order_id] = listed.client_order_id
        self.counters["adopted"] += 1

    def _snapshot_orders(self, listing: Listing, now: float) -> tuple[OrderUpdate, ...]:
        """The venue's live orders, then ours it did not list (not sent yet, or placed since)."""
        out = []
        listed_ids = set()
        for listed in listing.live_orders():
            listed_ids.add(listed.order_id)
            out.append(OrderUpdate(listed.client_order_id, listed.order_id, listed.product_id, listed.status.upper(),
                                   listed.filled(), listed.leaves(), "", now))
        for cid, o in self._orders.items():
            if o.state == DONE or (o.venue_id and o.venue_id in listed_ids):
                continue
            status = "OPEN" if o.venue_id else "PENDING"
            out.append(OrderUpdate(cid, o.venue_id, o.order.product_id, status, _ZERO, o.order.size, "", now))
        return tuple(out)

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


    def _accepted(self, o: _Order, venue_id: str, now: float, announce: bool = True) -> list[Effect]:
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

    def _settle(self, o: _Order) -> None:
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
