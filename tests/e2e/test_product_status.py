"""A product the `status` channel takes offline refuses new risk ("product_status") until it is
online again; reductions still go; a restarted execution actor does not forget."""

from __future__ import annotations

import itertools
from decimal import Decimal

from actors.app.tree import FAULT_TARGETS
from domain.orders import OrderIntent
from domain.products import BTC_USD
from domain.queries import REPORT
from exchange import frames
from runtime.faults import parse_fault
from tests.live_rig import LiveRig
from tests.support import wait_until
from tests.tree_harness import TreeHarness

SPOT = BTC_USD.product_id
NO_STRATEGY_ORDERS = {"strategy.long_window": 200, "strategy.stop_loss_bps": 0}


class Orders:
    """Sends intents to execution one at a time and reads what became of each from its report."""

    def __init__(self, ask) -> None:
        self.ask = ask
        self.numbers = itertools.count(1)

    def outcomes(self) -> tuple[int, dict[str, int]]:
        report = self.ask("execution", REPORT)
        return report["orders"], report["refusals"]

    def attempt(self, send, side: str, size: str) -> str:
        """'sent' or the refusal reason of one new intent."""
        orders, refusals = self.outcomes()
        send("execution", OrderIntent(f"status-test:{next(self.numbers)}", SPOT, side, Decimal(size)))

        def decided():
            now_orders, now_refusals = self.outcomes()
            if now_orders > orders:
                return "sent"
            grown = [r for r, n in now_refusals.items() if n > refusals.get(r, 0)]
            return grown[0] if grown else None

        return wait_until(decided, timeout=5, what="the intent decided")


def test_offline_refuses_new_risk_reductions_go_and_online_trades_again():
    rig = LiveRig(**NO_STRATEGY_ORDERS)
    orders = Orders(lambda name, msg: rig.tree.ask(name, msg))
    send = rig.services.send
    try:
        wait_until(rig.books_valid, timeout=10, what="books valid")
        wait_until(lambda: rig.books()[SPOT]["status"] == "online", timeout=5, what="status snapshot")
        # The first may meet a liquidity snapshot not taken yet: retry until one goes.
        wait_until(lambda: orders.attempt(send, "BUY", "0.002") == "sent", timeout=10, what="a first order")
        def position() -> Decimal | None:
            return rig.tree.ask("portfolio", REPORT)["positions"].get(SPOT, {}).get("size")

        wait_until(lambda: position() == Decimal("0.002"), timeout=5, what="the first order filled")

        rig.server.set_product_status(SPOT, "offline", "maintenance")
        wait_until(lambda: rig.books()[SPOT]["status"] == "offline", timeout=5, what="offline seen")
        assert orders.attempt(send, "BUY", "0.001") == "product_status"
        assert orders.attempt(send, "SELL", "0.003") == "product_status"  # flips to short: new risk
        assert orders.attempt(send, "SELL", "0.001") == "sent"  # reduces the long
        assert orders.outcomes()[1]["product_status"] == 2

        rig.server.set_product_status(SPOT, "online")
        wait_until(lambda: rig.books()[SPOT]["status"] == "online", timeout=5, what="online again")
        assert orders.attempt(send, "BUY", "0.001") == "sent"
        assert rig.books()[SPOT]["status_increment_mismatches"] == 0
    finally:
        rig.stop()


def test_a_restarted_execution_asks_market_data_and_still_refuses():
    h = TreeHarness(**NO_STRATEGY_ORDERS)
    orders = Orders(lambda name, msg: h.tree.ask(name, msg))

    def feed_status(state: str) -> None:
        pending = frames.status(h.clock.now(), frames.UPDATE, [BTC_USD], {SPOT: (state, "")})
        h.feed.seq += 1  # the harness's feed numbers its frames: take the next number
        h._send_all([pending.render(h.feed.seq - 1)])

    def attempt(side: str, size: str) -> str:
        result = orders.attempt(h.services.send, side, size)
        h.tracker.wait_quiescent(2)
        return result

    try:
        h.run(2.0)
        feed_status("delisted")
        assert h.tree.ask("market_data", REPORT)[SPOT]["status"] == "delisted"
        assert attempt("BUY", "0.001") == "product_status"
        # Crash execution on its next intent; the supervisor restarts it.
        h.faults.arm(parse_fault("execution:crash:on=OrderIntent", FAULT_TARGETS))
        h.services.send("execution", OrderIntent("status-test:crash", SPOT, "BUY", Decimal("0.001")))
        h.run_until(lambda: h.epoch("execution") == 2 and h.tree.ask("execution", "ping?", timeout=2, default="down")
                    != "down", max_seconds=10, what="execution restarted")
        h.run(1.5)  # its venue sync, the tradability answer and a portfolio update (every 1 s)
        assert attempt("BUY", "0.001") == "product_status"
        feed_status("online")
        assert attempt("BUY", "0.001") == "sent"
    finally:
        h.stop()
