"""The Coinbase gateway core: exactly-once orders through timeouts, 5xx, 429 storms, rejections and
user-channel replays, inside the request budget."""

from __future__ import annotations

from decimal import Decimal as D

import msgspec

from actors.venue.coinbase_rest import Response
from actors.venue.gateway import GatewayCore
from actors.venue.gateway_state import ACCEPTED, DONE, UNKNOWN, Http
from actors.wire.rate_limit import RateLimiter
from actors.wire.user import UserOrder
from domain.orders import Fill, OrderUpdate, PlaceOrder


def order(cid: str = "rt-1") -> PlaceOrder:
    return PlaceOrder(cid, "BTC-USD", "BUY", "limit", D("0.001"), D("91200.00"))


class FakeVenue:
    """Idempotent on client_order_id, like Coinbase and our exchange: a repeated id returns the
    original order. Counts the venue orders that exist."""

    def __init__(self) -> None:
        self.orders: dict[str, str] = {}

    def create(self, http: Http) -> Response:
        body = msgspec.json.decode(http.request.body)
        cid = body["client_order_id"]
        oid = self.orders.setdefault(cid, f"v-{len(self.orders) + 1}")
        return Response(200, msgspec.json.encode(
            {"success": True, "success_response": {"order_id": oid, "client_order_id": cid}}))


def creates(effects) -> list[Http]:
    return [e for e in effects if type(e) is Http and e.request.path.endswith("/orders")]


def test_an_accepted_order_is_announced_open_with_its_venue_id():
    gw, venue = GatewayCore(), FakeVenue()
    [http] = creates(gw.place(order(), 0.0))
    out = gw.on_response(http.request_id, venue.create(http), 0.1)
    assert out == [OrderUpdate("rt-1", "v-1", "BTC-USD", "OPEN", D(0), D("0.001"), "", 0.1)]
    assert gw.state("rt-1") == ACCEPTED and gw.in_flight() == []


def test_the_same_intent_twice_sends_one_create():
    gw = GatewayCore()
    assert len(creates(gw.place(order(), 0.0))) == 1
    assert gw.place(order(), 0.0) == []
    assert gw.counters["duplicate_intents"] == 1


def test_a_timeout_is_unknown_then_retried_with_the_same_id_and_never_makes_two_orders():
    gw, venue = GatewayCore(), FakeVenue()
    [first] = creates(gw.place(order(), 0.0))
    venue.create(first)  # the venue took it, but the answer was lost
    assert gw.on_response(first.request_id, Response(None, error="timeout"), 5.0) == []
    assert gw.state("rt-1") == UNKNOWN and gw.in_flight() == ["rt-1"]
    assert gw.next_wake(5.0) == 5.5
    assert creates(gw.pump(5.4)) == []
    [retry] = creates(gw.pump(5.5))
    assert retry.request.body == first.request.body  # same client_order_id, same order
    out = gw.on_response(retry.request_id, venue.create(retry), 5.6)
    assert [u.venue_order_id for u in out] == ["v-1"]
    assert len(venue.orders) == 1
    assert gw.counters["unknown_outcomes"] == 1 and gw.counters["unknown_settled"] == 1


def test_a_5xx_storm_backs_off_exponentially():
    gw = GatewayCore()
    [http] = creates(gw.place(order(), 0.0))
    now, waits = 0.0, []
    for _ in range(5):
        gw.on_response(http.request_id, Response(503), now)
        wake = gw.next_wake(now)
        waits.append(round(wake - now, 3))
        now = wake
        [http] = creates(gw.pump(now))
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_the_user_channel_settles_an_unknown_before_the_retry_and_the_retry_is_not_sent():
    gw = GatewayCore()
    [http] = creates(gw.place(order(), 0.0))
    gw.on_response(http.request_id, Response(504), 1.0)
    out = gw.on_user_order(UserOrder("v-9", "rt-1", "OPEN", "BTC-USD", "BUY", leaves_quantity="0.001"), 1.2)
    assert [type(e) for e in out] == [OrderUpdate] and out[0].venue_order_id == "v-9"
    assert gw.state("rt-1") == ACCEPTED and gw.next_wake(1.2) is None
    assert creates(gw.pump(10.0)) == []
    assert gw.counters["unknown_settled"] == 1


def test_a_429_waits_for_the_reset_and_goes_again_with_the_same_id():
    gw = GatewayCore(RateLimiter())
    [http] = creates(gw.place(order(), 1_795_000_000.0))
    out = gw.on_response(http.request_id, Response(429, b"{}", (("x-ratelimit-reset", "1795000002"),)),
                         1_795_000_000.0)
    assert out == [] and gw.counters["throttled"] == 1
    assert gw.next_wake(1_795_000_000.0) == 1_795_000_002.0
    assert creates(gw.pump(1_795_000_001.9)) == []
    [again] = creates(gw.pump(1_795_000_002.0))
    assert again.request.body == http.request.body


def test_a_rejection_is_final_with_its_reason():
    gw = GatewayCore()
    [http] = creates(gw.place(order(), 0.0))
    body = b'{"success": false, "error_response": {"error": "INSUFFICIENT_FUND", "message": "no"}}'
    [update] = gw.on_response(http.request_id, Response(200, body), 0.1)
    assert (update.status, update.reason) == ("REJECTED", "INSUFFICIENT_FUND")
    assert gw.state("rt-1") == DONE and gw.in_flight() == []


def test_an_order_coinbase_cannot_express_is_rejected_without_a_request():
    gw = GatewayCore()
    bad = PlaceOrder("rt-2", "BTC-USD", "BUY", "limit", D("1"), D("100"), time_in_force="GTD")  # no end
    [update] = gw.place(bad, 0.0)
    assert update.status == "REJECTED" and update.reason.startswith("INVALID_ORDER")


def test_a_cancel_before_the_venue_id_is_known_goes_once_it_is():
    gw, venue = GatewayCore(), FakeVenue()
    [http] = creates(gw.place(order(), 0.0))
    assert gw.cancel(["rt-1"], 0.05) == []
    out = gw.on_response(http.request_id, venue.create(http), 0.1)
    cancels = [e for e in out if type(e) is Http]
    assert len(cancels) == 1 and msgspec.json.decode(cancels[0].request.body) == {"order_ids": ["v-1"]}


def test_cancel_all_batches_at_most_100_ids():
    gw, venue = GatewayCore(RateLimiter(private_per_s=1000)), FakeVenue()
    for i in range(150):
        [http] = creates(gw.place(order(f"rt-{i}"), 0.0))
        gw.on_response(http.request_id, venue.create(http), 0.0)
    cancels = [e for e in gw.cancel_all(1.0) if type(e) is Http]
    assert [len(msgspec.json.decode(c.request.body)["order_ids"]) for c in cancels] == [100, 50]


def test_a_burst_of_orders_never_exceeds_the_budget():
    gw = GatewayCore(RateLimiter(private_per_s=10))
    sent = [(0.0, h) for i in range(40) for h in creates(gw.place(order(f"b-{i}"), 0.0))]
    now = 0.0
    while gw.next_wake(now) is not None:
        now = gw.next_wake(now)
        sent += [(now, h) for h in creates(gw.pump(now))]
    assert len(sent) == 40 and len({h.request.body for _, h in sent}) == 40
    for start, _ in sent:
        assert sum(1 for t, _ in sent if start <= t < start + 1.0) <= 10 + 10  # burst + rate


def test_fills_come_from_the_user_channel_and_replays_do_not_repeat_them():
    gw, venue = GatewayCore(), FakeVenue()
    [http] = creates(gw.place(order(), 0.0))
    gw.on_response(http.request_id, venue.create(http), 0.1)
    state = UserOrder("v-1", "rt-1", "FILLED", "BTC-USD", "BUY", avg_price="91200", cumulative_quantity="0.001",
                      total_fees="0.05")
    first = gw.on_user_order(state, 1.0)
    replay = gw.on_user_order(state, 2.0)
    [fill] = [e for e in first if type(e) is Fill]
    assert (fill.size, fill.price, fill.fee) == (D("0.001"), D("91200"), D("0.05"))
    assert replay == [] and gw.state("rt-1") == DONE
