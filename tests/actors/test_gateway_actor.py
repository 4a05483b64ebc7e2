"""The Coinbase gateway actor against a fake Coinbase REST server on 127.0.0.1: exactly one venue
order per intent through timeouts and 5xx, unknown outcomes settled by the user channel or by the
retry, 429 back-off honoured, a rejected post-only reaching execution, snapshots and cancel-all
over paginated listings, and a stop that does not wait for a hung request."""

from __future__ import annotations

import time
from decimal import Decimal as D
from typing import Any

import pytest

from actors.app.paper import ephemeral_credentials
from actors.venue.gateway_actor import CoinbaseGatewayActor
from actors.wire.user import UserStreamFrame
from domain.orders import CancelAll, Fill, OrderUpdate, PlaceOrder, PrivateStreamBack, SyncRequest, VenueSnapshot
from domain.queries import FILLS, REPORT
from runtime.clock import WallClock
from runtime.scheduler import Scheduler
from runtime.services import Services
from runtime.supervisor import ChildSpec, Supervisor, SupervisorConfig
from tests.actors.fake_coinbase import PREFIX, FakeCoinbase, as_streamed
from tests.support import Recorder, wait_until


class Rig:
    def __init__(self, fake: FakeCoinbase, timeout_s: float = 0.3) -> None:
        self.fake = fake
        self.scheduler = Scheduler(WallClock())
        self.scheduler.start()
        self.services = Services(self.scheduler.clock, self.scheduler)
        specs = [ChildSpec("execution", Recorder), ChildSpec("reconciler", Recorder),
                 ChildSpec("venue", CoinbaseGatewayActor, {
            "rest_url": fake.url, "credentials": ephemeral_credentials(), "timeout_s": timeout_s, "private_per_s": 20.0})]
        self.ref = Supervisor.start(specs, SupervisorConfig(ping_interval_s=0.1, hang_timeout_s=2.0), self.services)
        wait_until(lambda: self.ask("venue", REPORT) is not None, what="gateway started")

    def ask(self, name: str, message: Any) -> Any:
        entry = self.services.directory.get(name)
        return None if entry is None or entry.ref is None else entry.ref.ask(message, timeout=5)

    def send(self, message: Any) -> None:
        assert self.services.send("venue", message)

    def seen(self, kind: type = object) -> list[Any]:
        return [m for m in self.ask("execution", "seen") if isinstance(m, kind)]

    def update(self, cid: str, status: str) -> OrderUpdate:
        return wait_until(lambda: next((u for u in self.seen(OrderUpdate)
                                        if u.client_order_id == cid and u.status == status), None),
                          what=f"{cid} {status} at execution")

    def report(self) -> dict[str, Any]:
        return self.ask("venue", REPORT)

    def stop(self) -> None:
        self.ref.stop(block=True, timeout=10)
        self.scheduler.stop()


@pytest.fixture
def fake():
    server = FakeCoinbase().start()
    yield server
    server.stop()


@pytest.fixture
def rig(fake):
    r = Rig(fake)
    yield r
    r.stop()


def order(cid: str, post_only: bool = False) -> PlaceOrder:
    return PlaceOrder(cid, "BTC-USD", "BUY", "limit", D("1"), D("100"), post_only=post_only)


def test_a_timed_out_create_is_retried_with_its_id_and_makes_one_venue_order(rig, fake):
    fake.scripts["a"] = ["timeout", "ok"]
    rig.send(order("a"))
    opened = rig.update("a", "OPEN")
    assert opened.venue_order_id == fake.orders["a"]["order_id"]
    assert fake.creates("a") == 2 and len(fake.orders) == 1  # the retry reused the id: one order
    report = rig.report()
    assert (report["unknown_outcomes"], report["unknown_settled"], report["retries"]) == (1, 1, 1)
    assert rig.services.metrics.value("venue.unknown_outcomes") == 1
    assert [u.status for u in rig.seen(OrderUpdate) if u.client_order_id == "a"] == ["OPEN"]


def test_an_unknown_outcome_is_settled_by_the_user_channel_before_any_retry(rig, fake):
    fake.reset_after_s = 0.0
    fake.scripts["b"] = ["503"]
    rig.send(order("b"))
    wait_until(lambda: rig.report()["unknown_outcomes"] == 1, what="the 503 read as unknown")
    rig.send(as_streamed(fake.user_frame("b", "OPEN"), 1))
    opened = rig.update("b", "OPEN")
    assert opened.venue_order_id == "v-1"
    report = rig.report()
    assert report["unknown_settled"] == 1 and report["in_flight"] == 0
    assert report["next_wake"] is None and report["retries"] == 0  # nothing left to re-send
    assert fake.creates("b") == 1 and len(fake.orders) == 1
    # Then it fills on the socket: one fill, priced from the cumulative state.
    rig.send(as_streamed(fake.user_frame("b", "FILLED", "1", "99.5", seq=2), 1))
    [fill] = wait_until(lambda: rig.seen(Fill), what="fill at execution")
    assert (fill.client_order_id, fill.size, fill.price) == ("b", D("1"), D("99.5"))


def test_a_429_is_waited_out_until_the_venue_reset(rig, fake):
    fake.scripts["c"] = ["429"]
    rig.send(order("c"))
    rig.update("c", "OPEN")
    reset = fake.throttled_until
    arrivals = fake.arrivals()
    first = next(i for i, (_, _, _, cid) in enumerate(arrivals) if cid == "c")  # the one answered 429
    after = arrivals[first + 1:]
    assert after and all(t >= reset for t, *_ in after), (reset, after)  # nothing before the reset
    assert fake.creates("c") == 2 and len(fake.orders) == 1
    assert rig.report()["throttled"] == 1 and rig.services.metrics.value("venue.throttled") == 1


def test_a_post_only_that_would_cross_reaches_execution_as_rejected(rig, fake):
    fake.scripts["d"] = ["post_only"]
    rig.send(order("d", post_only=True))
    rejected = rig.update("d", "REJECTED")
    assert rejected.reason == "INVALID_LIMIT_PRICE_POST_ONLY"
    assert fake.orders == {} and rig.report()["rejected"] == 1


def test_a_sync_answers_from_every_page_of_orders_and_fills(rig, fake):
    for cid, status in (("o1", "OPEN"), ("o2", "FILLED"), ("o3", "PENDING"), ("o4", "QUEUED"), ("o5", "CANCELLED")):
        fake.seed_order(cid, status, filled="1" if status == "FILLED" else "0")
    fake.seed_fill("t1", "o2", "0.25", "100")
    fake.seed_fill("t2", "o2", "0.25", "101")
    fake.seed_fill("t3", "o2", "0.5", "102")
    rig.send(SyncRequest(reply_to="execution"))
    [snapshot] = wait_until(lambda: rig.seen(VenueSnapshot), what="snapshot")
    assert sorted(u.client_order_id for u in snapshot.open_orders) == ["o1", "o3", "o4"]
    assert [f.trade_id for f in snapshot.fills] == ["t1", "t2", "t3"]
    assert sum(f.size for f in snapshot.fills) == D("1")
    pages = [p for _, _, p, _ in fake.arrivals() if p.startswith(PREFIX + "/orders/historical")]
    assert pages.count(PREFIX + "/orders/historical/batch") == 3  # 5 orders, 2 a page
    assert pages.count(PREFIX + "/orders/historical/fills") == 2


def test_cancel_all_cancels_what_the_venue_lists_as_cancelable(rig, fake):
    for cid, status in (("o1", "OPEN"), ("o2", "FILLED"), ("o3", "PENDING"), ("o4", "QUEUED")):
        fake.seed_order(cid, status)
    rig.send(CancelAll(reason="test"))
    wait_until(lambda: len(fake.cancelled) == 3, what="batch cancel")
    assert sorted(fake.cancelled) == ["v-1", "v-3", "v-4"]


def test_a_reconnected_user_stream_reconciles_fills_over_rest(rig, fake):
    rig.send(order("e"))
    rig.update("e", "OPEN")
    rig.send(as_streamed(fake.user_frame("e", "OPEN", "0.4", "100"), 1))
    wait_until(lambda: rig.seen(Fill), what="the first fill")
    # While the socket is down the order fills; REST knows every trade, the socket knew 0.4.
    fake.orders["e"].update(status="FILLED", filled_size="1")
    fake.seed_fill("t1", "e", "0.4", "100")
    fake.seed_fill("t2", "e", "0.6", "110")
    rig.send(as_streamed(fake.user_frame("e", "FILLED", "1", "106", seq=1), 2))
    rig.update("e", "FILLED")
    wait_until(lambda: rig.report()["jobs_running"] == 0 and rig.report()["reconciles"] == 1, what="reconciled")
    fills = rig.seen(Fill)
    assert sum(f.size for f in fills) == D("1")  # never 1.4 or 1.6: each part once
    assert sum(f.size * f.price for f in fills) == D("106")  # 0.4 x 100 + 0.6 x 110
    assert rig.ask("venue", FILLS) == tuple(fills)
    told = [m for m in rig.ask("reconciler", "seen") if type(m) is PrivateStreamBack]
    assert told == [PrivateStreamBack("the private stream reconnected")], "the whole books are compared too"


def test_stop_does_not_wait_for_a_hung_request(fake):
    rig = Rig(fake, timeout_s=30.0)
    fake.scripts["h"] = ["hang"]
    try:
        rig.send(order("h"))
        wait_until(lambda: fake.creates("h") == 1, what="the create reached the venue")
    finally:
        started = time.monotonic()
        rig.stop()
    assert time.monotonic() - started < 3.0


def test_an_unreadable_user_frame_is_counted_and_changes_nothing(rig, fake):
    rig.send(UserStreamFrame("user", 1, unreadable=True))
    wait_until(lambda: rig.services.metrics.value("venue.unreadable_user_frames") == 1, what="counted")
    assert rig.seen(OrderUpdate) == [] and rig.seen(Fill) == []
