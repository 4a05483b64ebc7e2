"""Fault injection into every subsystem actor of the whole tree (manual clock, in-process feed).

After each fault: it was detected, the actor came back with a higher epoch, and the run went on
and traded; a poison message escalated exactly once to HALTED with open orders cancelled, new
orders refused and market data still flowing.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from actors.app.tree import FAULT_TARGETS
from domain.orders import OrderIntent
from domain.queries import OPEN_ORDERS, REPORT
from runtime.faults import parse_fault
from tests.tree_harness import TreeHarness


def trading(h: TreeHarness) -> None:
    h.run_until(lambda: len(h.fills()) >= 1, max_seconds=60, what="a first fill")


def arm(h: TreeHarness, spec: str) -> None:
    h.faults.arm(parse_fault(spec, FAULT_TARGETS))


def fills_after_restart(h: TreeHarness, actor: str, quiet_s: float = 2.0) -> None:
    h.run_until(lambda: h.epoch(actor) == 2 and h.tree.ask(actor, "ping?", timeout=2, default="down") != "down",
                max_seconds=30, quiet_s=quiet_s, what=f"{actor} restarted")
    before = len(h.fills())
    h.run_until(lambda: len(h.fills()) > before, max_seconds=90, what="fills after the restart")
    status = h.status()
    assert status["restarts"][actor] == 1
    assert status["escalations"] == 0 and status["trading_state"] == "ACTIVE"
    assert all(epoch == 1 for name, epoch in status["epochs"].items() if name != actor), "one_for_one"


@pytest.mark.parametrize("actor", FAULT_TARGETS)
def test_crash_is_detected_and_the_run_goes_on_trading(harness, actor):
    h = harness()
    trading(h)
    arm(h, f"{actor}:crash:after=1")
    fills_after_restart(h, actor)
    failed = [e for e in h.status()["events"] if e.kind == "failed"]
    assert [(e.child, e.epoch, e.detail.split(":")[0]) for e in failed] == [(actor, 1, "crash")], "reported, not polled"


@pytest.mark.parametrize("actor", FAULT_TARGETS)
def test_hang_is_detected_by_ping_deadline_and_the_run_goes_on_trading(harness, actor):
    h = harness()
    trading(h)
    arm(h, f"{actor}:hang:after=1:hang_s=60")
    fills_after_restart(h, actor, quiet_s=0.02)
    failed = [e for e in h.status()["events"] if e.kind == "failed"]
    assert [(e.child, e.detail.split(":")[0]) for e in failed] == [(actor, "hang")]


def resting_order(h: TreeHarness) -> None:
    """A buy limit far below the market: it rests at the venue until cancelled."""
    mark = Decimal(h.tree.ask("market_data", REPORT)["BTC-USD"]["mark"])
    price = (mark / 2).quantize(Decimal("0.01"))
    h.services.send("execution", OrderIntent("test:resting", "BTC-USD", "BUY", Decimal("0.001"), "limit", price))
    h.run_until(lambda: len(h.tree.ask("venue", OPEN_ORDERS)) == 1, max_seconds=2, what="order resting")


@pytest.mark.parametrize("actor", FAULT_TARGETS)
def test_poison_message_escalates_exactly_once_to_halted(harness, actor):
    h = harness()
    trading(h)
    resting_order(h)
    arm(h, f"{actor}:crash:every=1")
    h.run_until(lambda: h.status()["escalations"] == 1, max_seconds=120, what="escalation")
    h.run_until(lambda: h.tree.ask("venue", OPEN_ORDERS) == (), max_seconds=2, what="open orders cancelled")
    status = h.status()
    assert status["trading_state"] == "HALTED"
    orders_at_halt = len({f.client_order_id for f in h.fills()})
    updates_before = h.tree.ask("market_data", REPORT, default={}).get("BTC-USD", {}).get("updates_applied")
    h.run(10.0)
    status = h.status()
    assert [e.kind for e in status["events"]].count("escalated") == 1
    assert status["escalations"] == 1 and status["trading_state"] == "HALTED"
    assert len({f.client_order_id for f in h.fills()}) == orders_at_halt, "no new orders while HALTED"
    if actor not in ("streaming", "market_data"):
        updates_after = h.tree.ask("market_data", REPORT)["BTC-USD"]["updates_applied"]
        assert updates_after > updates_before, "market data keeps flowing while HALTED"
