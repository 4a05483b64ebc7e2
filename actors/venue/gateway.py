"""The pure core of the Coinbase venue gateway: orders out over REST, their fate back from REST
outcomes and the `user` channel, exactly once.

Owns the commands (place, cancel, query, cancel-all) and the answers (REST responses, `user`
channel order states), and the rules:
- one create request in flight per client_order_id; a retry always reuses the id (the venue's
  idempotency key), so one intent can never become two venue orders;
- a timeout, a 5xx or an unreadable answer is UNKNOWN, not a rejection: the order stays in flight
  and is settled by the `user` channel or by re-sending the same create (the venue answers a
  repeated id with the original order) after a back-off;
- a 429 waits for the budget's back-off and goes again, a cancel too (unanswered or 5xx: again after
  a back-off, capped, for as long as the order may be live); a 401/403 is a rejection (not taken);
- a cancel for an order whose venue id is not known yet waits for the id, then goes; an order
  never sent (and never unknown) is cancelled here, without a request;
- cancels go in batches of at most 100 ids.
Where each order stands, the request budget and the fills reported are `gateway_state.py`; what
REST listings say (sync, reconcile, sweep, resume) is `gateway_listings.py`.
Pure: returns effects (Http requests to perform, messages to emit, snapshots to answer, a wake-up
time); time comes in as an argument. Must never perform I/O, sleep, or invent a client_order_id.
"""

from __future__ import annotations

from decimal import Decimal
from typing import cast

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
from actors.venue.gateway_listings import FILTER_IDS_MAX, GatewayListings
from actors.venue.gateway_state import DONE, FINAL, QUEUED, RECONCILE, SWEEP, UNKNOWN, Effect, TrackedOrder, backoff
from actors.venue.listing import Listing
from actors.wire.rate_limit import PRIVATE
from actors.wire.user import UserOrder
from domain.orders import NEVER_REACHED, OrderUpdate, PlaceOrder

_ZERO = Decimal(0)


class GatewayCore(GatewayListings):
    # ------------------------------------------------------------ commands

    def place(self, order: PlaceOrder, now: float) -> list[Effect]:
        cid = order.client_order_id
        known = self._orders.get(cid)
        if known is not None:  # the same intent again: never a second venue order
            self.counters["duplicate_intents"] += 1
            return []
        self._orders[cid] = TrackedOrder(order)
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
                self._delayed.append((now + backoff(n), f"cancel:{n}", request))
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
            o.retry_at = now + backoff(o.attempts)
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
            if o is not None and update.status in FINAL:
                o.state = DONE
        return out + self.pump(now)
