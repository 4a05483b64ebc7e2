"""Cancel-and-replace and a local stop through the whole tree and the in-process paper venue:
the venue never holds the original and its replacement live together, the replacement rests at
the new price on the original's side; a stop-market held by execution closes a long position when
the mark reaches it."""

from __future__ import annotations

from decimal import Decimal as D

from actors.execution.orders import client_order_id
from domain.orders import OrderIntent, ReplaceIntent
from domain.queries import OPEN_ORDERS, REPORT, OrderQuery
from tests.tree_harness import TreeHarness

PRODUCT = "BTC-USD"
QUIET = {"strategy.products": (PRODUCT,), "strategy.long_window": 200,  # the strategy sends nothing
         "strategy.stop_loss_bps": 0}


def mark(h: TreeHarness) -> D:
    return D(h.tree.ask("market_data", REPORT)[PRODUCT]["mark"])


def position(h: TreeHarness) -> D:
    return h.tree.ask("portfolio", REPORT)["positions"].get(PRODUCT, {}).get("size", D(0))


def venue_open(h: TreeHarness) -> dict:
    """Open bot orders at the venue by client_order_id."""
    return {update.client_order_id: update for update in h.tree.ask("venue", OPEN_ORDERS)}


def test_a_resting_limit_is_replaced_at_the_venue_without_two_live_at_once():
    h = TreeHarness(**QUIET)
    try:
        h.run(2.0)
        low = (mark(h) * D("0.97")).quantize(D(1))
        h.services.send("execution", OrderIntent("rest", PRODUCT, "BUY", D("0.01"), "limit", low))
        original = client_order_id("rest")
        h.run_until(lambda: original in venue_open(h), max_seconds=2, what="the original rests")

        lower = low - 100
        h.services.send("execution", ReplaceIntent("rest-2", replaces="rest", limit_price=lower))
        replacement = client_order_id("rest-2")
        seen_together = False

        def replaced() -> bool:
            nonlocal seen_together
            live = venue_open(h)
            seen_together |= original in live and replacement in live
            return replacement in live and original not in live

        h.run_until(replaced, max_seconds=2, what="the replacement rests, the original is gone")
        assert not seen_together
        rested = h.tree.ask("venue", OrderQuery(replacement))
        assert rested.status == "OPEN" and rested.leaves_size == D("0.01")
        assert h.tree.ask("venue", OrderQuery(original)).status == "CANCELLED"
        report = h.tree.ask("execution", REPORT)
        assert report["replaced"] == 1 and report["open_orders"] == 1 and report["refusals"] == {}
    finally:
        h.stop()


def test_a_local_stop_closes_a_long_when_the_mark_reaches_it():
    h = TreeHarness(**QUIET)
    try:
        h.run(2.0)
        h.services.send("execution", OrderIntent("long", PRODUCT, "BUY", D("0.01")))
        h.run_until(lambda: position(h) == D("0.01"), max_seconds=3, what="long 0.01")
        # A stop above the market that triggers going down fires at the next mark.
        above = (mark(h) * D("1.01")).quantize(D(1))
        h.services.send("execution", OrderIntent("protect", PRODUCT, "SELL", D("0.01"), "stop_market",
                                                 stop_price=above, reduce_only=True,
                                                 stop_direction="STOP_DIRECTION_STOP_DOWN"))
        h.run_until(lambda: position(h) == 0, max_seconds=3, what="the stop closed the long")
        report = h.tree.ask("execution", REPORT)
        assert (report["stops_triggered"], report["stops_armed"]) == (1, 0)
        assert h.tree.ask("venue", OrderQuery(client_order_id("protect"))).status == "FILLED"
    finally:
        h.stop()
