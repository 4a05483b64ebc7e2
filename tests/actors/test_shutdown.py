"""A clean stop's first step (the Shutdown fact to the orchestrator), on the whole tree: without
cancelling (`run.cancel_on_exit = false`) trading goes REDUCING and what is working keeps working;
with it, HALTED and execution's armed stops are gone."""

from __future__ import annotations

from domain.control import Shutdown
from domain.queries import REPORT
from tests.tree_harness import TreeHarness


def stops_armed(h: TreeHarness) -> int:
    return (h.tree.ask("execution", REPORT, timeout=5, default={}) or {}).get("stops_armed", 0)


def test_shutdown_leaves_orders_working_or_cancels_them():
    h = TreeHarness(seed=3)
    try:
        h.run_until(lambda: stops_armed(h) >= 1, max_seconds=60, what="a protective stop armed")

        h.tree.orchestrator.ask(Shutdown(cancel_orders=False), timeout=5)
        h.run(0.5)
        status = h.status()
        assert status["trading_state"] == "REDUCING"
        assert status["holds"]["shutdown"].startswith("REDUCING")
        assert stops_armed(h) >= 1  # left working

        h.tree.orchestrator.ask(Shutdown(cancel_orders=True), timeout=5)
        h.run(0.5)
        status = h.status()
        assert status["trading_state"] == "HALTED"
        assert status["holds"]["shutdown"].startswith("HALTED")
        assert stops_armed(h) == 0
        assert (h.tree.ask("execution", REPORT, timeout=5, default={}) or {}).get("open_orders") == 0
    finally:
        h.stop()
