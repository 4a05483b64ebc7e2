"""Funding settled on a perpetual survives a restart of the portfolio: journaled, restored once."""

from __future__ import annotations

import math
from decimal import Decimal

from actors.app.tree import FAULT_TARGETS
from domain.queries import COUNTS, REPORT
from runtime.faults import parse_fault
from tests.support import wait_until
from tests.tree_harness import TreeHarness

PERP = "BIP-20DEC30-CDE"


def portfolio(h: TreeHarness) -> dict:
    return h.tree.ask("portfolio", REPORT)


def test_funding_is_kept_across_a_portfolio_restart_and_never_counted_twice():
    h = TreeHarness(**{"strategy.products": (PERP,)})
    try:
        h.run_until(lambda: PERP in portfolio(h)["positions"], max_seconds=60, what="a perp position")
        # jump to just after the next top of the hour: the portfolio's timer settles funding
        next_hour = (math.floor(h.clock.now() / 3600) + 1) * 3600
        h.clock.advance_to(next_hour + 1.5)
        h.tracker.wait_quiescent(5)
        settled = wait_until(lambda: Decimal(portfolio(h)["funding"]) != 0 and portfolio(h)["funding"],
                             what="funding settled")
        epoch = h.epoch("portfolio")
        h.faults.arm(parse_fault("portfolio:crash:after=1", FAULT_TARGETS))
        h.run(0.5)
        wait_until(lambda: (h.epoch("portfolio") or 0) > epoch and h.tree.ask("portfolio", REPORT),
                   what="portfolio restarted")
        wait_until(lambda: portfolio(h)["funding"] == settled, what="funding restored from the journal")
        h.clock.advance_to(next_hour + 30)  # more timers in the same interval: no second settlement
        h.tracker.wait_quiescent(5)
        assert portfolio(h)["funding"] == settled
        assert h.tree.ask("journal", COUNTS)["funding"] == 1
    finally:
        h.stop()
