"""The pure core of the Coinbase venue gateway: orders out over REST, their fate back from REST
outcomes and the `user` channel, exactly once.

Owns, per client_order_id, where an order stands between us and the venue (queued for budget,
sent, accepted with a venue id, unknown, finished), the request budget, and the rules:
- one create request in flight per client_order_id; a retry always reuses the id (the venue's
  idempotency key), so one intent can never become two venue orders;
- a timeout, a 5xx or an unreadable answer is UNKNOWN, not a rejection: the order stays in flight
  and is settled by the `user` channel or by re-sending the same create (the venue answers a
  repeated id with the original order) after a back-off;
- a 429 waits for the budget's back-off and goes again; a 401/403 is a rejection (not taken);
- a cancel for an order whose venue id is not known yet waits for the id, then goes;
- cancels go in batches of at most 100 ids.
Pure: returns effects (Http requests to perform, messages to emit, a wake-up time); time comes
in as an argument. Must never perform I/O, sleep, or invent a client_order_id.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Union

import msgspec

from actors.execution.messages import PlaceOrder
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
from actors.venue.messages import Fill, OrderUpdate
from actors.venue.rate_limit import RateLimiter
from actors.venue.user_channel import UserFillDeriver, UserOrder

QUEUED, SENT, UNKNOWN, ACCEPTED, DONE = "queued", "sent", "unknown", "accepted", "done"
RETRY_BASE_S = 0.5
RETRY_CAP_S = 10.0
_FINAL = frozenset({"FILLED", "CANCELLED", "EXPIRED", "FAILED", "REJECTED"})
_ZERO = Decimal(0)


class Http(msgspec.Struct, frozen=True):
    """Perform `request`; answer with `on_response(request_id, response)`."""

    request_id: int
    request: rest.Request


Effect = Union[Http, OrderUpdate, Fill]


class _Order:
    __slots__ = ("order", "state", "venue_id", "attempts", "cancel_wanted", "retry_at", "was_unknown")

    def __init__(self, order: PlaceOrder) -> None:
        self.order = order
        self.state = QUEUED
        self.venue_id = ""
        self.attempts = 0
        self.cancel_wanted = False
        self.retry_at: float | None = None
        self.was_unknown = False  # settled later, it counts as an unknown outcome settled


class GatewayCore:
    def __init__(self, limiter: RateLimiter | None = None) -> None:
        self.limiter = limiter or RateLimiter()
        self.deriver = UserFillDeriver()
        self._orders: dict[str, _Order] = {}
        self._by_venue_id: dict[str, str] = {}
        self._waiting: deque[tuple[str, rest.Request]] = deque()  # (purpose, request) for budget
        self._in_flight: dict[int, tuple[str, str]] = {}  # request id -> (purpose, client_order_id)
        self._unknown: dict[str, None] = {}  # client_order_ids in UNKNOWN, in the order they became so
        self._next_id = 0
        self.counters = {"creates_sent": 0, "retries": 0, "unknown_outcomes": 0, "unknown_settled": 0,
                         "rejected": 0, "throttled": 0, "cancels_sent": 0, "duplicate_intents": 0}

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
        for cid in client_order_ids:
            o = self._orders.get(cid)
            if o is None or o.state == DONE:
                continue
            if o.venue_id:
                venue_ids.append(o.venue_id)
            else:
                o.cancel_wanted = True  # goes once the venue id is known
        for request in rest.batch_cancel(venue_ids):
            self._waiting.append(("cancel:", request))
        return self.pump(now)

    def cancel_all(self, now: float) -> list[Effect]:
        return self.cancel([cid for cid, o in self._orders.items() if o.state != DONE], now)

    # ------------------------------------------------------------ budget

    def pump(self, now: float) -> list[Effect]:
        """Send what the budget allows now, and re-send unknown creates whose back-off is over."""
        for cid in list(self._unknown):
            o = self._orders[cid]
            if o.retry_at is not None and now >= o.retry_at:
                del self._unknown[cid]
                o.retry_at = None
                o.state = QUEUED
                self.counters["retries"] += 1
                self._waiting.append(("create:" + cid, rest.create_order(o.order)))
        out: list[Effect] = []
        while self._waiting:
            purpose, request = self._waiting[0]
            kind, _, cid = purpose.partition(":")
            if kind == "create" and self._orders[cid].state != QUEUED:  # settled while it waited
                self._waiting.popleft()
                continue
            if not self.limiter.acquire(request.budget, now):
                break
            self._waiting.popleft()
            self._next_id += 1
            self._in_flight[self._next_id] = (kind, cid)
            if kind == "create":
                self._orders[cid].state = SENT
                self._orders[cid].attempts += 1
                self.counters["creates_sent"] += 1
            else:
                self.counters["cancels_sent"] += 1
            out.append(Http(self._next_id, request))
        return out

    def next_wake(self, now: float) -> float | None:
        """When `pump` has something to do next (None: nothing waits)."""
        times = [t for cid in self._unknown if (t := self._orders[cid].retry_at) is not None]
        if self._waiting:
            times.append(now + self.limiter.delay(self._waiting[0][1].budget, now))
        return min(times) if times else None

    # ------------------------------------------------------------ answers

    def on_response(self, request_id: int, response: rest.Response, now: float) -> list[Effect]:
        kind, cid = self._in_flight.pop(request_id, ("", ""))
        if kind != "create":
            if response.status == 429:
                self.counters["throttled"] += 1
                self.limiter.throttled("private", now, dict(response.headers))
            return self.pump(now)  # cancel outcomes arrive on the user channel
        o = self._orders[cid]
        if o.state == DONE or o.venue_id:  # the user channel settled it first
            return self.pump(now)
        outcome = create_order_outcome(cid, response.status, response.body, response.headers)
        out: list[Effect] = []
        if type(outcome) is Accepted:
            self.limiter.succeeded("private")
            out += self._accepted(o, outcome.order_id, now)
        elif type(outcome) is Rejected or type(outcome) is AuthFailed:
            reason = outcome.reason if type(outcome) is Rejected else f"HTTP_{outcome.status}"
            out += self._finish_rejected(cid, reason, now)
        elif type(outcome) is Throttled:
            self.counters["throttled"] += 1
            self.limiter.throttled("private", now, dict(outcome.headers))
            o.state = QUEUED
            self._waiting.appendleft(("create:" + cid, rest.create_order(o.order)))
        elif type(outcome) is Unknown:
            self.counters["unknown_outcomes"] += 1
            o.state = UNKNOWN
            o.was_unknown = True
            self._unknown[cid] = None
            o.retry_at = now + min(RETRY_CAP_S, RETRY_BASE_S * 2 ** (o.attempts - 1))
        return out + self.pump(now)

    def on_user_order(self, order: UserOrder, now: float) -> list[Effect]:
        """One order state from the `user` channel: updates, fills, and it settles unknowns."""
        update, fill = self.deriver.on_order(order, now)
        out: list[Effect] = []
        o = self._orders.get(order.client_order_id)
        if o is not None and order.order_id and not o.venue_id:
            out += self._accepted(o, order.order_id, now, announce=False)
        if fill is not None:
            out.append(fill)
        if update is not None:
            out.append(update)
            if o is not None and update.status in _FINAL:
                o.state = DONE
        return out + self.pump(now)

    # ------------------------------------------------------------ internals

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
