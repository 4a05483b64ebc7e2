"""The scheduled reconciliation on the whole tree against the paper venue (manual clock): a fill
dropped on its way to portfolio or to the journal is repaired from the venue's snapshot within one
`reconcile.interval_s`, and a position the venue does not have moves trading to REDUCING with the
difference named, until `resume --accept-venue` adopts the venue's size."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from actors.app.tree import FAULT_TARGETS
from domain.control import OperatorCommand
from domain.orders import NEVER_REACHED, Fill, net_positions
from domain.queries import COUNTS, OPEN_ORDERS, REPORT
from runtime.faults import parse_fault
from tests.tree_harness import TreeHarness

INTERVAL_S = 2.0


def venue_positions(h: TreeHarness) -> dict[str, Decimal]:
    return {pid: size for pid, size in net_positions(h.fills()) if size}


def portfolio_positions(h: TreeHarness) -> dict[str, Decimal]:
    positions = h.tree.ask("portfolio", REPORT, timeout=5)["positions"]
    return {pid: Decimal(str(p["size"])) for pid, p in positions.items()}


def journal_fills(h: TreeHarness) -> int:
    return h.tree.ask("journal", COUNTS, timeout=5)["fills"]


def journal_rows(h: TreeHarness, sql: str, *args: object) -> list[tuple]:
    db = Path(h.tmp.name) / h.profile.journal.file
    conn = sqlite3.connect(db.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def reconciled_after(h: TreeHarness, runs_before: int) -> None:
    """Two more reconciliations answered: the second one ran after the repairs of the first."""
    h.run_until(lambda: h.services.metrics.value("reconcile.runs") >= runs_before + 2, max_seconds=3 * INTERVAL_S + 1,
                what="two reconciliations")


@pytest.mark.parametrize("fault", ["portfolio:drop:after=1:on=Fill", "journal:drop:after=1:on=Fill"])
def test_a_fill_lost_on_its_way_is_repaired_within_one_interval(harness, fault):
    h = harness(**{"reconcile.interval_s": INTERVAL_S})
    h.faults.arm(parse_fault(fault, FAULT_TARGETS))
    h.run_until(lambda: len(h.fills()) >= 2 and h.faults.fired().get(fault.split(":")[0], 0) >= 1, max_seconds=60,
                what="the fault fired on a fill")
    reconciled_after(h, h.services.metrics.value("reconcile.runs"))
    h.run(0.5)
    fills = h.fills()
    assert portfolio_positions(h) == venue_positions(h)
    assert journal_fills(h) == len({f.trade_id for f in fills}), "the journal holds every venue fill once"
    if fault.startswith("portfolio"):
        assert h.services.metrics.value("reconcile.fills_repaired") >= 1, "the dropped fill came back by reconciliation"
    assert h.status()["trading_state"] == "ACTIVE", "a repaired loss is not a mismatch"


def test_a_position_the_venue_does_not_have_holds_trading_reducing_until_the_operator_accepts(harness):
    h = harness(**{"reconcile.interval_s": INTERVAL_S})
    h.run_until(lambda: len(h.fills()) >= 1, max_seconds=60, what="a first fill")
    ghost = Fill("ghost-1", "pb-ghost", "v-ghost", "BTC-USD", "BUY", Decimal("50000"), Decimal("0.5"), Decimal(0),
                 "TAKER", h.clock.now() - 1)
    h.services.send("portfolio", ghost)  # a fill portfolio holds and the venue never made
    h.run_until(lambda: h.status()["trading_state"] == "REDUCING", max_seconds=3 * INTERVAL_S + 1,
                what="REDUCING on the mismatch")
    holds = h.status()["holds"]
    assert "position mismatch" in holds["reconcile"] and "BTC-USD" in holds["reconcile"]

    h.services.tell_supervisor(OperatorCommand("resume", "r-1", accept_venue=True), "control", 1)
    h.run_until(lambda: h.status()["trading_state"] == "ACTIVE", max_seconds=5, what="ACTIVE after accept-venue")
    h.run(0.5)
    assert portfolio_positions(h).get("BTC-USD", Decimal(0)) == venue_positions(h).get("BTC-USD", Decimal(0))
    runs = h.services.metrics.value("reconcile.runs")
    reconciled_after(h, runs)
    assert h.status()["trading_state"] == "ACTIVE", "the adopted position agrees with the venue's from then on"


def test_an_order_lost_on_its_way_to_the_venue_is_asked_for_and_ends_failed_not_pending_for_ever(harness):
    h = harness(**{"reconcile.inflight_s": 2.0})
    h.faults.arm(parse_fault("venue:drop:after=1:on=PlaceOrder", (*FAULT_TARGETS, "venue")))
    h.run_until(lambda: h.faults.fired().get("venue", 0) == 1, max_seconds=60, what="a PlaceOrder dropped")
    h.run_until(lambda: h.services.metrics.value("execution.inflight_queries") >= 1, max_seconds=5,
                what="execution asked the venue")
    h.run(0.5)
    failed = journal_rows(h, "SELECT o.client_order_id, o.status FROM orders o JOIN order_events e"
                             " ON e.client_order_id = o.client_order_id WHERE e.reason = ?", NEVER_REACHED)
    assert [status for _, status in failed] == ["FAILED"], "the lost order ended FAILED, once"
    lost = failed[0][0]
    assert lost not in {o.client_order_id for o in h.tree.ask("venue", OPEN_ORDERS, timeout=5)}
    assert h.tree.ask("execution", REPORT, timeout=5)["open_orders"] == \
        len(h.tree.ask("venue", OPEN_ORDERS, timeout=5)), "no phantom PENDING order left in execution's table"
    before = len(h.fills())
    h.run_until(lambda: len(h.fills()) > before, max_seconds=60, what="trading goes on")


def test_the_start_of_day_equity_is_journaled_once_per_day_for_a_restart_to_start_from(harness):
    h = harness()
    h.run_until(lambda: journal_rows(h, "SELECT count(*) FROM day_start")[0][0] == 1, max_seconds=10,
                what="the day's start journaled")
    h.run(2.0)
    [(day, equity)] = journal_rows(h, "SELECT utc_day, equity FROM day_start")
    risk = h.tree.ask("risk", REPORT, timeout=5)
    assert Decimal(equity) == Decimal(str(risk["start_of_day_equity"])) and day == int(h.clock.now() // 86_400)
