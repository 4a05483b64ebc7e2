"""What the Coinbase gateway core (GatewayCore, `gateway.py`) learns from REST listings
(`listing.py`): syncs, reconciles, cancel-all sweeps, and a restart's seed and resume.

Owns the answers to a listing:
- a sync: a restarted actor's snapshot of open orders and every fill;
- a reconcile after a `user` stream reconnect: what changed while it was down (the orders not
  finished here, named in the query when there are at most FILTER_IDS_MAX of them, else all);
- a sweep: every cancelable order, for a cancel-all (cancels go in batches of at most 100 ids);
- a restarted gateway takes back from execution the live orders and the quantity of each order
  already reported (`resume`), then reconciles: a crash forgets nothing and reports nothing twice.
Fills over REST carry real trade ids, fills from the socket derived ids: per venue order the
quantity already reported is kept, and only quantity beyond it is reported again, so a fill is
never counted twice across the two sources. A live order listed that this core did not place is
adopted, known for cancels.
Pure: returns effects; time comes in as an argument. Must never perform I/O, sleep, or invent a
client_order_id; never sends a create or decides what a create's answer means (`gateway.py`).
"""

from __future__ import annotations

from decimal import Decimal

from actors.venue import coinbase_rest as rest
from actors.venue.gateway_state import (
    ACCEPTED,
    DONE,
    FINAL,
    RECONCILE,
    SWEEP,
    SYNC,
    UNKNOWN,
    Effect,
    GatewayState,
    ListingJob,
    Snapshot,
    TrackedOrder,
    backoff,
)
from actors.venue.listing import LIVE, Complete, Failed, Listing, Next, RestFill, RestOrder, fills_since
from actors.wire.decimals import finite_decimal
from actors.wire.rate_limit import PRIVATE
from domain.orders import FUTURES_ONLY, Fill, KnownOrders, OrderUpdate, PlaceOrder, VenueSnapshot

FILTER_IDS_MAX = 50  # a reconcile names at most this many orders in its query; more: list them all
_REPORTED = (LIVE - {"CANCEL_QUEUED"}) | FINAL  # REST statuses execution understands
_ZERO = Decimal(0)


class GatewayListings(GatewayState):
    """Syncs, reconciles, sweeps and a restart's seed and resume, over REST listings."""

    # ------------------------------------------------------------ commands

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
            o = self._orders[k.client_order_id] = TrackedOrder(k.order)
            self.counters["resumed"] += 1
            if k.venue_order_id:
                o.state, o.venue_id = ACCEPTED, k.venue_order_id
                self._by_venue_id[k.venue_order_id] = k.client_order_id
            else:
                self.counters["unknown_outcomes"] += 1
                o.state, o.was_unknown, o.retry_at = UNKNOWN, True, now
                self._unknown[k.client_order_id] = None
        return self.reconcile(now)

    # ------------------------------------------------------------ listings

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
                self._delayed.append((now + backoff(job.failures), purpose, retry))
        elif type(result) is Complete:
            self.limiter.succeeded(PRIVATE)
            if job.listing.done:
                del self._jobs[job_id]
                return self._finish_job(job, now)
        return []

    def _finish_job(self, job: ListingJob, now: float) -> list[Effect]:
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

    def _apply_rest_order(self, o: TrackedOrder, listed: RestOrder, now: float) -> list[Effect]:
        out: list[Effect] = []
        if not o.venue_id:
            out += self._accepted(o, listed.order_id, now, announce=False)
        status = listed.status.upper()
        if status in FINAL:
            o.state = DONE
        if status in _REPORTED:
            reason = listed.reject_reason or listed.cancel_message
            out.append(OrderUpdate(o.order.client_order_id, listed.order_id, o.order.product_id, status,
                                   listed.filled(), listed.leaves(), reason, now))
        return out

    def _adopt(self, listed: RestOrder) -> None:
        """A live order this core did not place (an earlier incarnation or run): known for cancels."""
        size = listed.base_size() or _ZERO
        o = TrackedOrder(PlaceOrder(listed.client_order_id, listed.product_id, listed.side.upper(), "limit", size))
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
