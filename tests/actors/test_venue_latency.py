"""The paper venue actor delivers orders and cancels after a seeded latency on the injected clock,
and a cancel can overtake its order."""

from __future__ import annotations

from decimal import Decimal as D

from actors.venue.actor import PaperVenueActor
from domain.market import L2Update
from domain.orders import CancelOrder, PlaceOrder
from domain.products import BTC_USD, CATALOG
from domain.queries import FILLS, OPEN_ORDERS, OrderQuery
from runtime.actor import SupervisedActor
from runtime.supervisor import ChildSpec
from tests.support import Harness, wait_until

SPOT = BTC_USD.product_id


def run(latency_ms: float, seed: int = 3) -> Harness:
    venue = ChildSpec("venue", PaperVenueActor, {"products": dict(CATALOG), "maker_fee_rate": D("0"),
                                                 "taker_fee_rate": D("0"), "latency_ms": latency_ms,
                                                 "latency_jitter": 0.5, "seed": seed})
    h = Harness([venue])
    wait_until(lambda: h.bound("venue"), what="venue started")
    return h


def test_an_order_meets_the_book_only_after_its_latency():
    h = run(latency_ms=100)
    try:
        book = L2Update.from_sides(SPOT, True, (("100.00", "1"),), (("100.50", "1"),), 1.0, 1, 0)
        h.services.send("venue", book)
        h.services.send("venue", PlaceOrder("c1", SPOT, "BUY", "market", D("0.5")))
        h.ask("venue", FILLS)  # queues behind the sends: the order is on its way before time moves
        # 100 ms +- 50 %: nothing can have arrived before 50 ms
        h.tick(0.049)
        assert h.ask("venue", FILLS) == ()
        h.services.send("venue", L2Update.from_sides(SPOT, False, (), (("100.50", "0"), ("101.00", "1")), 1.0, 1, 0))
        h.ask("venue", FILLS)
        h.tick(0.102)  # past the longest latency
        fills = wait_until(lambda: h.ask("venue", FILLS), what="the order arrived")
        assert [(f.price, f.size) for f in fills] == [(D("101.00"), D("0.5"))]  # the book as it stood then
    finally:
        h.stop()


def test_a_cancel_sent_right_after_its_order_never_lets_it_fill_when_it_overtakes_it():
    outcomes = set()
    for seed in range(6):  # with +-50 % jitter some cancels overtake their order
        h = run(latency_ms=100, seed=seed)
        try:
            h.services.send("venue", L2Update.from_sides(SPOT, True, (("100.00", "1"),), (("100.50", "1"),), 1.0, 1, 0))
            h.services.send("venue", PlaceOrder("c1", SPOT, "BUY", "limit", D("0.5"), D("99.00")))
            h.services.send("venue", CancelOrder("c1"))
            h.ask("venue", FILLS)  # both are on their way before time moves
            h.tick(0.16)
            order = wait_until(lambda h=h: h.ask("venue", OrderQuery("c1")), what="order arrived")
            assert order.status == "CANCELLED"
            outcomes.add(order.reason)
            assert h.ask("venue", OPEN_ORDERS) == ()
        finally:
            h.stop()
    assert outcomes == {"", "CANCELLED_BEFORE_ARRIVAL"}  # both orders of arrival happened


class _Delayer(SupervisedActor):
    """Sets one one-shot timer per message, like the venue does per order."""

    def handle(self, message):
        if message == "timers":
            return len(self._timers)
        if message == "go":
            self.later(0.01, "fired")
        return None


def test_fired_one_shot_timers_do_not_pile_up():
    h = Harness([ChildSpec("delayer", _Delayer, {})])
    try:
        wait_until(lambda: h.bound("delayer"))
        for _ in range(10):
            for _ in range(50):
                h.services.send("delayer", "go")
            h.ask("delayer", "timers")  # the timers are set before time moves
            h.tick(0.02)
        assert h.ask("delayer", "timers") <= 64 + 50
    finally:
        h.stop()
