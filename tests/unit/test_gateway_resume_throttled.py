"""A restarted gateway under throttling, on the manual clock: whatever the crash loses (a create's
answer, the `user` frame that carried its fill, a cancel, a listing page), the money comes out
right. Checked after each scenario: the bot's position is the sum of its de-duplicated fills and
equals the venue's, no client_order_id has two venue orders, and no order the venue finished is
still live at execution."""

from __future__ import annotations

import urllib.parse
from collections import Counter
from decimal import Decimal as D
from typing import Any

import msgspec
import pytest

from actors.execution.orders import OrderBookkeeper
from actors.venue.coinbase_rest import Response
from actors.venue.gateway import GatewayCore
from actors.venue.gateway_state import Http
from actors.wire.rate_limit import RateLimiter
from actors.wire.user import UserOrder
from domain.orders import Fill, KnownOrder, KnownOrders, OrderUpdate, PlaceOrder

T0 = 1_795_000_000.0
PERP = "BIP-20DEC30-CDE"
_FINAL = {"FILLED", "CANCELLED"}


class Venue:
    """Coinbase as far as these scenarios need it: idempotent on client_order_id (a repeated id
    answers the original order), a market order fills at once, a limit order rests; batch cancels
    and both listings (narrowed by repeated `order_ids`). During a 429 storm nothing is taken.
    Every change is also a `user` channel state, in `frames`, for whoever is listening."""

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}  # client_order_id -> order
        self.fills: list[dict[str, Any]] = []
        self.made: Counter[str] = Counter()  # venue orders made per client_order_id
        self.frames: list[UserOrder] = []
        self.storm_until = 0.0

    def position(self) -> D:
        return sum((D(f["size"]) * (1 if f["side"] == "BUY" else -1) for f in self.fills), D(0))

    def serve(self, http: Http, now: float) -> Response:
        request = http.request
        if now < self.storm_until:
            return Response(429, b'{"errors":[{"id":"rate_limit_exceeded"}]}',
                            (("x-ratelimit-reset", str(int(self.storm_until))),))
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.target).query)
        wanted = set(query.get("order_ids", []))
        if request.path.endswith("/orders"):
            return self._create(msgspec.json.decode(request.body))
        if request.path.endswith("/batch_cancel"):
            for oid in msgspec.json.decode(request.body)["order_ids"]:
                order = next((o for o in self.orders.values() if o["order_id"] == oid), None)
                if order is not None and order["status"] == "OPEN":
                    order["status"] = "CANCELLED"
                    self._frame(order)
            return _ok({"results": []})
        if request.path.endswith("/historical/batch"):
            rows = [o for o in self.orders.values() if not wanted or o["order_id"] in wanted]
            return _ok({"orders": rows, "has_next": False, "cursor": ""})
        if request.path.endswith("/historical/fills"):
            return _ok({"fills": [f for f in self.fills if not wanted or f["order_id"] in wanted], "cursor": ""})
        return Response(404)

    def _create(self, body: dict[str, Any]) -> Response:
        cid = body["client_order_id"]
        order = self.orders.get(cid)
        if order is None:
            (kind, config), = body["order_configuration"].items()
            order = self.orders[cid] = {
                "order_id": f"v-{len(self.orders) + 1}", "client_order_id": cid, "product_id": body["product_id"],
                "side": body["side"], "status": "OPEN", "filled_size": "0", "order_configuration": body[
                    "order_configuration"]}
            self.made[cid] += 1
            if kind.startswith("market"):
                self.fills.append({"trade_id": f"t-{len(self.fills) + 1}", "order_id": order["order_id"],
                                   "product_id": order["product_id"], "side": order["side"], "price": "86600",
                                   "size": config["base_size"], "commission": "1.5", "liquidity_indicator": "TAKER",
                                   "trade_time": "2026-11-23T21:40:01.000Z"})
                order["status"], order["filled_size"] = "FILLED", config["base_size"]
            self._frame(order)
        return _ok({"success": True, "success_response": {"order_id": order["order_id"], "client_order_id": cid}})

    def _frame(self, order: dict[str, Any]) -> None:
        filled = order["filled_size"]
        size = next(iter(order["order_configuration"].values()))["base_size"]
        self.frames.append(UserOrder(
            order["order_id"], order["client_order_id"], order["status"], order["product_id"], order["side"],
            "Market", avg_price="86600" if D(filled) else "0", cumulative_quantity=filled,
            leaves_quantity=str(D(size) - D(filled)) if order["status"] == "OPEN" else "0",
            total_fees="1.5" if D(filled) else "0"))


def _ok(body: dict[str, Any]) -> Response:
    return Response(200, msgspec.json.encode(body))


class World:
    """Execution's order table (the real one), one gateway incarnation at a time, the venue, and
    what is on the wire between them: requests sent and not answered yet, `user` frames not read."""

    def __init__(self, per_s: float = 15.0) -> None:
        self.per_s = per_s
        self.venue = Venue()
        self.book = OrderBookkeeper()
        self.gw = GatewayCore(RateLimiter(per_s))
        self.now = T0
        self.wire: list[Http] = []
        self.read_frames = 0  # frames up to here were delivered to a gateway, or lost with one
        self.bot_fills: list[Fill] = []

    # -- execution's side ----------------------------------------------------------------------
    def place(self, cid: str, side: str, size: str, kind: str = "market", price: str | None = None) -> None:
        order = PlaceOrder(cid, PERP, side, kind, D(size), D(price) if price else None, leverage=D(3),
                           margin_type="CROSS")
        assert self.book.on_submit(order, cid, self.now)
        self.take(self.gw.place(order, self.now))

    def cancel(self, cid: str) -> None:
        self.take(self.gw.cancel([cid], self.now))

    def known(self) -> KnownOrders:  # what execution answers to OrdersRequest
        return KnownOrders(tuple(KnownOrder(r.client_order_id, r.venue_order_id, r.is_live, r.order, r.fills_size,
                                            r.fills_notional, r.fees)
                                 for r in self.book.records() if r.is_live or r.fills_size > 0))

    def take(self, effects: list[Any]) -> None:
        for effect in effects:
            if type(effect) is Http:
                self.wire.append(effect)
            elif type(effect) is OrderUpdate:
                try:
                    self.book.on_update(effect)
                except ValueError:
                    pass
            elif type(effect) is Fill and self.book.on_fill(effect):
                self.bot_fills.append(effect)

    # -- the wire ------------------------------------------------------------------------------
    def venue_takes(self) -> None:
        """The venue carries out every request on the wire; the answers never come back."""
        for http in self.wire:
            self.venue.serve(http, self.now)
        self.wire = []

    def crash(self) -> None:
        """The gateway dies: its requests, their answers and the frames it had not read are lost."""
        self.wire = []
        self.read_frames = len(self.venue.frames)
        self.gw = GatewayCore(RateLimiter(self.per_s))

    def resume(self) -> None:
        self.take(self.gw.resume(self.known(), self.now))

    def frames(self) -> None:
        new, self.read_frames = self.venue.frames[self.read_frames:], len(self.venue.frames)
        for frame in new:
            self.take(self.gw.on_user_order(frame, self.now))

    def step(self, frames_first: bool = True) -> None:
        """Answer what is on the wire (the venue publishes before it answers), then the next wake."""
        while self.wire:
            http = self.wire.pop(0)
            response = self.venue.serve(http, self.now)
            if frames_first:
                self.frames()
            self.take(self.gw.on_response(http.request_id, response, self.now))
            self.frames()

    def settle(self, until: float = 60.0) -> None:
        deadline = self.now + until
        while True:
            self.step()
            wake = self.gw.next_wake(self.now)
            if wake is None:
                return
            assert wake <= deadline, "the gateway never settled"
            self.now = max(self.now, wake)
            self.take(self.gw.pump(self.now))

    # -- the invariants --------------------------------------------------------------------------
    def assert_money(self) -> None:
        bot = sum((f.size * (1 if f.side == "BUY" else -1) for f in self.bot_fills), D(0))
        keys = [(f.product_id, f.trade_id, f.side) for f in self.bot_fills]
        assert len(keys) == len(set(keys))
        assert bot == self.venue.position(), (bot, self.venue.position())
        assert all(n == 1 for n in self.venue.made.values()), self.venue.made
        for cid, order in self.venue.orders.items():
            record = self.book.get(cid)
            if order["status"] in _FINAL:
                assert record is not None and not record.is_live, (cid, order["status"], record)
                assert record.filled_size == D(order["filled_size"]), (cid, record)
        assert self.gw.in_flight() == []


@pytest.mark.parametrize("storm", [False, True], ids=["no-429", "429-on-the-re-send"])
def test_a_create_the_venue_filled_before_the_crash_is_reconciled_not_left_open(storm):
    """The crash takes the create's answer and the `user` frame with its fill: the new incarnation
    learns only "unknown" from execution. The re-sent create (throttled first, under a storm) is
    answered with the original order; what it did while nobody listened is read, not assumed."""
    w = World()
    w.place("pb-long", "BUY", "11")
    w.settle()
    w.place("pb-flip", "SELL", "22")
    w.venue_takes()  # filled at the venue ...
    w.crash()  # ... and neither its answer nor its frame reached anyone
    assert w.book.get("pb-flip").state == "pending"
    if storm:
        w.venue.storm_until = w.now + 3
    w.resume()
    w.settle()
    assert w.book.get("pb-flip").state == "filled"
    assert w.venue.position() == D(-11)
    w.assert_money()


def test_a_cancel_while_the_resumed_create_waits_for_budget_does_not_assume_it_never_left():
    """The old incarnation's create was taken; the new one's re-send waits for budget behind the
    reconcile pages when execution cancels: that order may exist, so the cancel waits for its id."""
    w = World(per_s=2.0)  # burst 2: the two reconcile pages go first, the re-send waits
    w.place("pb-rest", "BUY", "1", "limit", "80000")
    w.settle()
    w.place("pb-flip", "SELL", "22")
    w.venue_takes()
    w.crash()
    w.resume()
    assert [h.request.path.rsplit("/", 1)[-1] for h in w.wire] == ["batch", "fills"]
    w.cancel("pb-flip")  # e.g. a halt
    w.settle()
    assert w.book.get("pb-flip").state == "filled"
    w.assert_money()


def test_a_cancel_answered_429_is_sent_again_after_the_back_off():
    w = World()
    w.place("pb-rest", "BUY", "1", "limit", "80000")
    w.settle()
    w.venue.storm_until = w.now + 2
    w.cancel("pb-rest")
    w.settle()
    assert w.venue.orders["pb-rest"]["status"] == "CANCELLED"
    assert w.book.get("pb-rest").state == "cancelled"
    w.assert_money()


def test_a_create_in_flight_across_a_user_stream_outage_is_reconciled_once_accepted():
    """The socket was down while the venue filled the order; it came back (reconcile) before the
    create's answer did, so the reconcile could not name the order yet."""
    w = World()
    w.place("pb-flip", "SELL", "22")
    [create] = w.wire
    w.wire = []
    response = w.venue.serve(create, w.now)
    w.read_frames = len(w.venue.frames)  # the frame went to a socket that was down
    w.take(w.gw.reconcile(w.now))  # the new connection's first frame
    w.take(w.gw.on_response(create.request_id, response, w.now))
    w.settle()
    assert w.book.get("pb-flip").state == "filled"
    w.assert_money()


def test_a_429_on_the_resume_listing_waits_and_reports_each_fill_once():
    w = World()
    w.place("pb-rest", "BUY", "1", "limit", "80000")
    w.settle()
    w.place("pb-flip", "SELL", "22")
    w.settle()
    w.crash()
    w.venue.storm_until = w.now + 3
    w.resume()
    w.settle()
    assert w.venue.frames and w.gw.counters["throttled"] >= 1
    w.assert_money()


def test_frames_held_during_the_resume_carry_the_fill_and_it_is_reported_once():
    """The fill's frame reached the new incarnation (held until execution answered): the frame,
    the re-sent create's answer and any reconcile agree on one fill."""
    w = World()
    w.place("pb-flip", "SELL", "22")
    w.venue_takes()
    w.crash()
    w.read_frames -= 1  # the last frame was not lost: the new incarnation holds it
    w.resume()
    w.frames()  # released after the resume
    w.venue.storm_until = w.now + 1
    w.settle()
    assert len(w.bot_fills) == 1
    w.assert_money()
