"""No order leaves on a stale or invalid book; each refusal is counted."""

from __future__ import annotations

from decimal import Decimal

from domain.orders import OrderIntent
from domain.queries import REPORT
from tests.tree_harness import TreeHarness


def intent(n: int) -> OrderIntent:
    return OrderIntent(f"test:{n}", "BTC-USD", "BUY", Decimal("0.001"))


def test_orders_are_refused_on_a_stale_book_and_accepted_once_it_is_fresh_again():
    h = TreeHarness(**{"strategy.products": ("BTC-USD",), "strategy.long_window": 200,  # no strategy orders
                       "strategy.stop_loss_bps": 0})
    try:
        h.run(2.0)
        h.services.send("execution", intent(1))
        h.run_until(lambda: h.tree.ask("execution", REPORT)["orders"] == 1, max_seconds=1, what="fresh: sent")
        h.clock.advance(6.0)  # no frame for longer than stale_after_s (5 s)
        h.tracker.wait_quiescent(2)
        h.services.send("execution", intent(2))
        h.tracker.wait_quiescent(2)
        report = h.tree.ask("execution", REPORT)
        assert report["orders"] == 1 and report["refusals"] == {"stale_book": 1}
        h.run(0.5)  # frames again
        h.services.send("execution", intent(3))
        h.run_until(lambda: h.tree.ask("execution", REPORT)["orders"] == 2, max_seconds=1, what="fresh again")
    finally:
        h.stop()
