"""A journal write refused by sqlite ("database or disk is full", a real SQLite condition made by
the `journal:disk_full` fault) halts trading with the reason and cancels every open order; the
journal is not restarted, the operator sees one ERROR line, the report says why, nothing is left
half-written, and `ctl resume` does not release the hold until the journal has reported ok."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from loguru import logger

from actors.app.report import collect
from actors.app.tree import FAULT_TARGETS
from actors.execution.orders import client_order_id
from domain.control import JournalHealth, OperatorCommand
from domain.orders import OrderIntent
from domain.queries import OPEN_ORDERS, REPORT, OrderQuery
from runtime.faults import FaultSpecError, parse_fault
from tests.tree_harness import TreeHarness

DISK_FULL = "database or disk is full"


@pytest.fixture
def errors():
    records: list[tuple[str, str]] = []
    sink = logger.add(lambda m: records.append((m.record["level"].name, m.record["message"])), level="DEBUG",
                      format="{message}")
    yield records
    logger.remove(sink)


@pytest.fixture
def h():
    harness = TreeHarness()
    yield harness
    harness.stop()


def resting_order(h: TreeHarness) -> None:
    """A buy limit far below the market: it rests at the venue until cancelled."""
    mark = Decimal(h.tree.ask("market_data", REPORT)["BTC-USD"]["mark"])
    price = (mark / 2).quantize(Decimal("0.01"))
    h.services.send("execution", OrderIntent("test:resting", "BTC-USD", "BUY", Decimal("0.001"), "limit", price))
    h.run_until(lambda: len(h.tree.ask("venue", OPEN_ORDERS)) == 1, max_seconds=2, what="order resting")


def half_written(db: Path) -> list[str]:
    """Orders whose status no journaled event carries (an event and its status move in one
    transaction), and what integrity_check finds."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check") if row[0] != "ok"]
        problems += [f"order {cid} is {status} with no such event" for cid, status in conn.execute(
            "SELECT client_order_id, status FROM orders o WHERE status != 'PENDING' AND NOT EXISTS"
            " (SELECT 1 FROM order_events e WHERE e.client_order_id = o.client_order_id AND e.status = o.status)")]
    conn.close()
    return problems


def test_disk_full_on_a_journal_write_halts_trading_and_cancels_open_orders(h, errors):
    h.run_until(lambda: len(h.fills()) >= 1, max_seconds=60, what="a first fill")
    resting_order(h)
    h.faults.arm(parse_fault("journal:disk_full:after=1", FAULT_TARGETS))

    h.run_until(lambda: h.services.metrics.value("journal.write_errors") >= 1, max_seconds=60,
                what="a journal write refused")
    h.run_until(lambda: h.status()["trading_state"] == "HALTED", max_seconds=5, what="HALTED")
    h.run_until(lambda: h.tree.ask("venue", OPEN_ORDERS) == ()
                and h.tree.ask("execution", REPORT)["open_orders"] == 0, max_seconds=5, what="orders cancelled")
    h.run(3.0)  # trading goes on being refused, the journal goes on failing to write

    status = h.status()
    assert h.faults.fired() == {"journal": 1}
    assert status["trading_state"] == "HALTED" and status["state_reason"] == f"journal: {DISK_FULL}"
    assert status["holds"]["journal"] == f"HALTED: journal: {DISK_FULL}"
    assert status["restarts"]["journal"] == 0 and h.epoch("journal") == 1, "not a crash"
    assert not [e for e in status["events"] if e.child == "journal" and e.kind == "failed"]
    assert [m for level, m in errors if level == "ERROR"] == [
        f"journal: write failed ({DISK_FULL}): trading HALTED until it writes again and `ctl resume`"]
    assert any(m.startswith("trading state ACTIVE -> HALTED: journal: " + DISK_FULL) for _, m in errors)

    report = collect(h.tree, "paper", 0.0)
    assert report["trading"]["state"] == "HALTED" and report["trading"]["open_orders"] == 0
    assert report["trading"]["state_reason"] == f"journal: {DISK_FULL}"
    assert report["risk"]["holds"]["journal"] == f"HALTED: journal: {DISK_FULL}"
    assert report["journal"]["write_errors"] >= 1 and report["journal"]["last_error"] == DISK_FULL

    # The journal has not written since (a refused write is lost): resume leaves it HALTED, named.
    h.services.tell_supervisor(OperatorCommand("resume", "r1"))
    h.run(0.5)
    assert h.status()["trading_state"] == "HALTED" and "journal" in h.status()["holds"]

    db = Path(h.tmp.name) / h.profile.journal.file
    assert half_written(db) == []


def test_resume_releases_the_journal_hold_once_the_journal_has_reported_ok(h):
    h.run(1.0)
    h.services.tell_supervisor(JournalHealth(False, DISK_FULL))
    h.run_until(lambda: h.status()["trading_state"] == "HALTED", max_seconds=2, what="HALTED")
    h.services.tell_supervisor(JournalHealth(True, f"writes again after {DISK_FULL}"))
    h.run(0.5)
    assert h.status()["trading_state"] == "HALTED", "latched: writing again is not a release"
    h.services.tell_supervisor(OperatorCommand("resume", "r1"))
    h.run_until(lambda: h.status()["trading_state"] != "HALTED", max_seconds=2, what="resumed")
    assert "journal" not in h.status()["holds"]


def test_an_intent_log_write_refused_sends_nothing_halts_and_cancels_open_orders(h, errors):
    h.run_until(lambda: len(h.fills()) >= 1, max_seconds=60, what="a first fill")
    resting_order(h)
    sent_before = h.tree.ask("execution", REPORT)["orders"]
    h.faults.arm(parse_fault("execution:disk_full:after=1", FAULT_TARGETS))
    h.run_until(lambda: h.faults.fired().get("execution", 0) == 1, max_seconds=10, what="the fault fired")
    refused = OrderIntent("test:refused", "BTC-USD", "BUY", Decimal("0.001"), "market")
    h.services.send("execution", refused)
    h.run_until(lambda: h.status()["trading_state"] == "HALTED", max_seconds=5, what="HALTED")
    h.run_until(lambda: h.tree.ask("venue", OPEN_ORDERS) == ()
                and h.tree.ask("execution", REPORT)["open_orders"] == 0, max_seconds=5, what="orders cancelled")

    reason = "intent log: No space left on device (intent log)"
    status = h.status()
    assert status["holds"]["intent_log"] == f"HALTED: journal: {reason}"
    assert h.tree.ask("execution", REPORT)["orders"] == sent_before, "the refused order was never sent"
    assert h.tree.ask("venue", OrderQuery(client_order_id("test:refused"))) is None, "the venue never saw it"
    lines = [m for level, m in errors if level == "ERROR" and "intent could not be written" in m]
    assert len(lines) == 1 and reason in lines[0]
    h.services.tell_supervisor(OperatorCommand("resume", "r1"))
    h.run_until(lambda: h.status()["trading_state"] != "HALTED", max_seconds=2, what="resumed by the operator")


def test_disk_full_is_a_journal_and_execution_fault_only():
    assert parse_fault("journal:disk_full:after=3", FAULT_TARGETS).kind == "disk_full"
    assert parse_fault("execution:disk_full", FAULT_TARGETS).kind == "disk_full"
    with pytest.raises(FaultSpecError, match="disk_full applies only to journal"):
        parse_fault("portfolio:disk_full", FAULT_TARGETS)
