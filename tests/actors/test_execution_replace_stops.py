"""Execution's cancel-and-replace and its local stops, against a recording venue: a replacement
goes only after its original ended, keeps side and reduce-only and sends what the original left
unfilled; a stop-market (Coinbase holds none) is armed locally and fires once, as a gated market
order, when the mark reaches it; a halt disarms stops and drops waiting replacements."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from actors.execution.actor import ExecutionActor
from actors.execution.orders import client_order_id
from actors.journal.actor import JournalActor
from config.loader import load_profile
from domain.control import HALTED, TradingStateChanged
from domain.market import BookStatus, LiquiditySnapshot
from domain.orders import (
    CancelIntent,
    CancelOrder,
    Fill,
    OrderIntent,
    OrderUpdate,
    PlaceOrder,
    ReplaceIntent,
    SyncRequest,
    VenueSnapshot,
)
from domain.portfolio import PortfolioUpdate
from domain.products import CATALOG
from domain.queries import REPORT
from runtime.backoff import Backoff
from runtime.clock import ManualClock
from runtime.faults import FaultPlan, parse_fault
from runtime.quiescence import InflightTracker
from runtime.scheduler import Scheduler
from runtime.services import Services
from runtime.supervisor import ChildSpec, Supervisor, SupervisorConfig
from tests.support import Recorder, wait_until

START = 1_795_000_000.0
PRODUCT = "BTC-USD"
MARK = D("50000")


class ExecutionRig:
    """Execution between recording stand-ins; with `journal_db`, the real journal (for restarts)."""

    def __init__(self, journal_db: str | None = None, faults: list | None = None) -> None:
        profile = load_profile("paper")
        self.clock = ManualClock(START)
        self.scheduler = Scheduler(self.clock)
        self.scheduler.start()
        self.tracker = InflightTracker()
        self.services = Services(self.clock, self.scheduler, tracker=self.tracker, faults=FaultPlan(faults or []))
        stand_ins = ("venue", "portfolio", "market_data") + (() if journal_db else ("journal",))
        specs = [ChildSpec(name, Recorder) for name in stand_ins]
        if journal_db:
            specs.append(ChildSpec("journal", JournalActor, {"db_path": journal_db}))
        specs.append(ChildSpec("execution", ExecutionActor, {
            "products": {PRODUCT: CATALOG[PRODUCT]}, "config": profile.execution, "risk": profile.risk,
            "stale_after_s": 5.0}))
        config = SupervisorConfig(ping_interval_s=1.0, backoff=Backoff(base_s=0.0, factor=1.0, cap_s=0.0, jitter=0.0))
        self.ref = Supervisor.start(specs, config, self.services)
        wait_until(lambda: all(self._bound(spec.name) for spec in specs), what="all started")
        self.start_execution()

    def start_execution(self, open_orders: tuple = (), incarnation: int = 1) -> None:
        """Answer the (re)started execution's sync and give it a market, as the tree would."""
        wait_until(lambda: len(self.seen("venue", SyncRequest)) == incarnation, what="sync asked")
        self.send(VenueSnapshot(open_orders, ()))
        self.position(D(0))
        self.mark(MARK)
        z = D(0)
        self.send(LiquiditySnapshot(
            product_id=PRODUCT, ts=START, spread_bps=D(1), depth_1pct=D("5000000"), depth_5pct=D("5000000"),
            imbalance=z, score=D(90), condition="excellent", volume_1m=z, volume_5m=z, volume_15m=D("100000000"),
            trades_15m=1, avg_trade_size_15m=z, spread_avg_5m=None, spread_min_5m=None, spread_max_5m=None))

    def _bound(self, name: str) -> bool:
        entry = self.services.directory.get(name)
        return entry is not None and entry.ref is not None

    def ask(self, name: str, message: Any) -> Any:
        return self.services.directory.get(name).ref.ask(message, timeout=5)

    def send(self, message: Any) -> None:
        assert self.services.send("execution", message)
        assert self.tracker.wait_quiescent(5)

    def seen(self, name: str, kind: type) -> list[Any]:
        return [m for m in self.ask(name, "seen") if isinstance(m, kind)]

    def mark(self, mark: D) -> None:
        half = D("0.5")
        self.send(BookStatus(PRODUCT, True, mark - half, mark + half, mark, self.clock.now(), 0))

    def position(self, size: D) -> None:
        self.send(PortfolioUpdate(D("100000"), ((PRODUCT, size),), ((PRODUCT, MARK),), self.clock.now()))

    def report(self) -> dict[str, Any]:
        return self.ask("execution", REPORT)

    def decisions(self) -> list[str]:
        return [f"{d.kind} {d.detail}" for d in self.ask("journal", "seen") if type(d).__name__ == "Decision"]

    def stop(self) -> None:
        self.ref.stop(block=True, timeout=10)
        self.scheduler.stop()


@pytest.fixture
def rig():
    r = ExecutionRig()
    yield r
    r.stop()


def limit(intent_id: str, side: str, size: str, price: str, reduce_only: bool = False) -> OrderIntent:
    return OrderIntent(intent_id, PRODUCT, side, D(size), "limit", D(price), reduce_only=reduce_only)


def stop_market(intent_id: str, side: str, size: str, stop: str, reduce_only: bool = True) -> OrderIntent:
    return OrderIntent(intent_id, PRODUCT, side, D(size), "stop_market", stop_price=D(stop), reduce_only=reduce_only)


def update(coid: str, status: str, filled: str, leaves: str) -> OrderUpdate:
    return OrderUpdate(coid, "v-" + coid, PRODUCT, status, D(filled), D(leaves), ts=START)


def test_a_replacement_waits_for_the_cancel_and_sends_what_the_original_left(rig):
    rig.send(limit("a", "BUY", "0.04", "49000"))
    original = rig.seen("venue", PlaceOrder)[-1]
    rig.send(update(original.client_order_id, "OPEN", "0", "0.04"))

    rig.send(ReplaceIntent("a2", replaces="a", size=D("0.05"), limit_price=D("49500")))
    assert rig.seen("venue", CancelOrder) == [CancelOrder(original.client_order_id)]
    assert len(rig.seen("venue", PlaceOrder)) == 1, "the replacement went while the original was live"

    # The original traded 0.01 before the cancel took: the replacement is for the 0.04 left of 0.05.
    rig.send(Fill("t1", original.client_order_id, "v", PRODUCT, "BUY", D("49000"), D("0.01"), D("0.1"), "MAKER", START))
    assert len(rig.seen("venue", PlaceOrder)) == 1
    rig.send(update(original.client_order_id, "CANCELLED", "0.01", "0"))
    replacement = rig.seen("venue", PlaceOrder)[-1]
    assert replacement.client_order_id == client_order_id("a2") != original.client_order_id
    assert (replacement.side, replacement.order_type, replacement.size, replacement.limit_price) == \
        ("BUY", "limit", D("0.04"), D("49500"))
    assert rig.report()["replaced"] == 1

    rig.send(update(original.client_order_id, "CANCELLED", "0.01", "0"))  # a replayed report
    assert len(rig.seen("venue", PlaceOrder)) == 2


def test_a_replacement_keeps_reduce_only_and_the_gate_checks_its_size(rig):
    rig.position(D("0.03"))
    rig.send(limit("r", "SELL", "0.02", "51000", reduce_only=True))
    original = rig.seen("venue", PlaceOrder)[-1]
    rig.send(update(original.client_order_id, "OPEN", "0", "0.02"))

    rig.send(ReplaceIntent("r2", replaces="r", limit_price=D("50900")))
    rig.send(update(original.client_order_id, "CANCELLED", "0", "0"))
    kept = rig.seen("venue", PlaceOrder)[-1]
    assert (kept.client_order_id, kept.side, kept.reduce_only, kept.size, kept.limit_price) == \
        (client_order_id("r2"), "SELL", True, D("0.02"), D("50900"))

    # Growing it past the position would flip it: refused at placement, reduce-only still applied.
    rig.send(update(kept.client_order_id, "OPEN", "0", "0.02"))
    rig.send(ReplaceIntent("r3", replaces="r2", size=D("0.05")))
    rig.send(update(kept.client_order_id, "CANCELLED", "0", "0"))
    assert len(rig.seen("venue", PlaceOrder)) == 2
    assert rig.report()["refusals"] == {"reduce_only": 1}


def test_no_replacement_when_the_original_filled_first_and_none_for_an_order_not_live(rig):
    rig.send(limit("f", "BUY", "0.02", "49000"))
    original = rig.seen("venue", PlaceOrder)[-1]
    rig.send(ReplaceIntent("f2", replaces="f", size=D("0.03"), limit_price=D("49100")))  # too late: filled
    rig.send(update(original.client_order_id, "FILLED", "0.02", "0"))
    assert len(rig.seen("venue", PlaceOrder)) == 1
    assert any(d.startswith("replace_dropped f:") for d in rig.decisions())

    rig.send(ReplaceIntent("f3", replaces="f", limit_price=D("49200")))
    rig.send(ReplaceIntent("x2", replaces="never-sent"))
    assert rig.report()["refusals"] == {"replace_not_live": 2}
    assert len(rig.seen("venue", CancelOrder)) == 1


def test_a_second_replace_while_one_waits_is_refused(rig):
    rig.send(limit("p", "BUY", "0.02", "49000"))
    rig.send(ReplaceIntent("p2", replaces="p", limit_price=D("49100")))
    rig.send(ReplaceIntent("p3", replaces="p", limit_price=D("49200")))
    assert rig.report()["refusals"] == {"replace_pending": 1}
    assert len(rig.seen("venue", CancelOrder)) == 1


def test_a_local_stop_fires_once_as_a_market_order_when_the_mark_reaches_it(rig):
    rig.position(D("0.03"))
    rig.send(stop_market("s", "SELL", "0.03", "49000"))  # a stop-loss under a long: fires going down
    assert rig.seen("venue", PlaceOrder) == [] and rig.report()["stops_armed"] == 1

    rig.mark(D("49001"))
    assert rig.seen("venue", PlaceOrder) == []
    rig.mark(D("49000"))
    fired = rig.seen("venue", PlaceOrder)
    assert len(fired) == 1
    assert (fired[0].client_order_id, fired[0].order_type, fired[0].side, fired[0].size, fired[0].reduce_only) == \
        (client_order_id("s"), "market", "SELL", D("0.03"), True)
    assert fired[0].stop_price is None

    rig.mark(D("48000"))
    rig.send(stop_market("s", "SELL", "0.03", "49000"))  # the same decision again
    assert len(rig.seen("venue", PlaceOrder)) == 1
    report = rig.report()
    assert (report["stops_armed"], report["stops_triggered"]) == (0, 1)


def test_a_buy_stop_fires_going_up_and_a_cancelled_or_replaced_stop_only_at_its_new_price(rig):
    rig.position(D("-0.02"))
    rig.send(stop_market("u", "BUY", "0.02", "51000"))
    rig.send(ReplaceIntent("u2", replaces="u", stop_price=D("52000")))
    rig.mark(D("51500"))
    assert rig.seen("venue", PlaceOrder) == []
    rig.mark(D("52000"))
    (fired,) = rig.seen("venue", PlaceOrder)
    assert (fired.client_order_id, fired.side, fired.size) == (client_order_id("u2"), "BUY", D("0.02"))

    rig.send(stop_market("c", "BUY", "0.02", "53000"))
    rig.send(CancelIntent("c"))
    rig.mark(D("54000"))
    assert len(rig.seen("venue", PlaceOrder)) == 1 and rig.report()["stops_armed"] == 0


def test_a_halt_disarms_stops_and_drops_waiting_replacements(rig):
    rig.position(D("0.03"))
    rig.send(stop_market("h", "SELL", "0.03", "49000"))
    rig.send(limit("o", "BUY", "0.01", "48000"))
    original = rig.seen("venue", PlaceOrder)[-1]
    rig.send(ReplaceIntent("o2", replaces="o", limit_price=D("48100")))
    rig.send(TradingStateChanged(HALTED, "operator", START))
    rig.send(update(original.client_order_id, "CANCELLED", "0", "0"))
    rig.mark(D("48000"))
    assert len(rig.seen("venue", PlaceOrder)) == 1
    assert rig.report()["stops_armed"] == 0
    decisions = rig.decisions()
    assert any(d.startswith("stop_disarmed h:") for d in decisions)
    assert any(d.startswith("replace_dropped") for d in decisions)


def test_armed_stops_and_waiting_replacements_survive_a_restart_of_execution(tmp_path):
    rig = ExecutionRig(journal_db=str(tmp_path / "journal.db"),
                       faults=[parse_fault("execution:crash:on=CancelIntent", ("execution",))])
    try:
        rig.position(D("0.03"))
        rig.send(stop_market("s", "SELL", "0.03", "49000"))
        rig.send(limit("a", "BUY", "0.02", "48000"))
        original = rig.seen("venue", PlaceOrder)[-1]
        rig.send(update(original.client_order_id, "OPEN", "0", "0.02"))
        rig.send(ReplaceIntent("a2", replaces="a", limit_price=D("48100")))
        assert len(rig.seen("venue", CancelOrder)) == 1

        assert rig.services.send("execution", CancelIntent("anything"))  # the injected crash
        wait_until(lambda: rig.clock.advance(0.01) or len(rig.seen("venue", SyncRequest)) == 2,
                   what="execution restarted")  # the restart is a timer on the manual clock
        rig.start_execution(open_orders=(update(original.client_order_id, "OPEN", "0", "0.02"),), incarnation=2)
        rig.position(D("0.03"))
        # The first cancel may have died with the old incarnation: the new one asks again.
        wait_until(lambda: len(rig.seen("venue", CancelOrder)) == 2, what="cancel asked again")
        assert rig.report()["stops_armed"] == 1

        rig.send(update(original.client_order_id, "CANCELLED", "0", "0"))
        replacement = rig.seen("venue", PlaceOrder)[-1]
        assert (replacement.client_order_id, replacement.limit_price) == (client_order_id("a2"), D("48100"))
        rig.mark(D("48900"))
        fired = rig.seen("venue", PlaceOrder)[-1]
        assert (fired.client_order_id, fired.order_type, fired.side) == (client_order_id("s"), "market", "SELL")
    finally:
        rig.stop()
