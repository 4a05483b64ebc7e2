"""Nothing on the money path is lost by the failure of one actor: each money-path fault (a message
an actor of the money path really receives, crashed on, dropped or handled twice) ends with
report, journal and venue agreeing on every position, fill and order within one reconciliation
interval of the fault (whole tree, manual clock, paper venue; the checks are
tests/actors/money_path_audit.py).

Execution writes each order's intent to its own log before it sends the order (the tree's
default), so the journal's order faults are `on=OrderPlaced`. Every fault is `after=1`: it fires
once (a crash with every=1 is a poison message, which escalates
by design and is tests/actors/test_tree_faults.py's). The short intervals run by default; the same
faults on the profile's own intervals (60 s, 10 s) are `slow`.
"""

from __future__ import annotations

import pytest

from actors.app.tree import FAULT_TARGETS
from config.loader import load_profile
from runtime.faults import parse_fault
from tests.actors.money_path_audit import disagreements
from tests.tree_harness import TreeHarness

TARGETS = (*FAULT_TARGETS, "venue")  # the venue stands in for the exchange: not a --fault target
INTERVAL_S = 2.0  # reconcile.interval_s
INFLIGHT_S = 1.0  # reconcile.inflight_s: checked every 0.5 s, so an unanswered order is asked for inside one interval
MARGIN_S = 0.5  # after the interval: the reconciliation's repairs travel and are written

# Every message type each money-path actor receives, crossed with crash, drop and duplicate:
# (fault, why it is on the money path and what must repair or absorb it).
CASES = (
    ("journal:crash:after=1:on=Fill", "fill lost with the mailbox: the reconciler re-hands the venue's fills"),
    ("journal:drop:after=1:on=Fill", "fill never written: the reconciler re-hands the venue's fills"),
    ("journal:duplicate:after=1:on=Fill", "fill written twice: one row per trade id"),
    ("journal:crash:after=1:on=OrderUpdate", "order state lost with the mailbox: told again on restart"),
    ("journal:drop:after=1:on=OrderUpdate", "order state never written: the orders row must follow the venue"),
    ("journal:duplicate:after=1:on=OrderUpdate", "order event twice: a final status stays"),
    ("journal:crash:after=1:on=OrderPlaced", "order row lost with the mailbox: told again on restart"),
    ("journal:drop:after=1:on=OrderPlaced", "order at the venue, its row never written: the venue's listing"),
    ("journal:duplicate:after=1:on=OrderPlaced", "one intent and one order row per client id"),
    ("portfolio:crash:after=1:on=Fill", "ledger misses it: the restart rebuilds from the venue's fills"),
    ("portfolio:drop:after=1:on=Fill", "ledger misses it: the reconciler's RepairFills applies it once"),
    ("portfolio:duplicate:after=1:on=Fill", "fill twice: applied once by key"),
    ("execution:crash:after=1:on=OrderIntent", "decision half-made: the restart rebuilds the table from the venue"),
    ("execution:drop:after=1:on=OrderIntent", "decision never an order: nothing left half-sent"),
    ("execution:duplicate:after=1:on=OrderIntent", "one decision twice: one client id, one order"),
    ("execution:crash:after=1:on=Fill", "fill and the order's end lost: the rebuild re-forwards fills"),
    ("execution:drop:after=1:on=Fill", "fill not forwarded: the reconciler hands on the venue's"),
    ("execution:duplicate:after=1:on=Fill", "fill twice: forwarded once"),
    ("execution:crash:after=1:on=OrderUpdate", "order's end lost: table and journal row must follow the venue"),
    ("execution:drop:after=1:on=OrderUpdate", "order's end unseen: fills end it; the journal row must follow"),
    ("execution:duplicate:after=1:on=OrderUpdate", "order report twice: the table moves once"),
    ("venue:crash:after=1:on=PlaceOrder", "order lost with the venue: asked for; the venue's books survive"),
    ("venue:drop:after=1:on=PlaceOrder", "order lost on its way: asked for, FAILED, never re-sent"),
    ("venue:duplicate:after=1:on=PlaceOrder", "order arrives twice: the venue knows the client id"),
)
SPECS = [spec for spec, _ in CASES]

# Where a metric shows the repair worked (the fault fired, and it bit).
REPAIRED_BY = {
    "portfolio:drop:after=1:on=Fill": ("reconcile.fills_repaired", "the reconciler re-applied the dropped fill"),
    "venue:crash:after=1:on=PlaceOrder": ("execution.inflight_queries", "the lost order was asked for"),
    "venue:drop:after=1:on=PlaceOrder": ("execution.inflight_queries", "the lost order was asked for"),
}


def overrides_for(spec: str, interval_s: float, inflight_s: float) -> dict:
    return {"reconcile.interval_s": interval_s, "reconcile.inflight_s": inflight_s}


def fault_then_audit(h: TreeHarness, spec: str) -> None:
    actor, kind = spec.split(":")[:2]
    interval_s = h.profile.reconcile.interval_s
    h.run_until(lambda: len(h.fills()) >= 1, max_seconds=60, what="a first fill")
    h.faults.arm(parse_fault(spec, TARGETS))
    h.run_until(lambda: h.faults.fired().get(actor, 0) >= 1, max_seconds=60, what=f"{spec} fired")
    assert h.faults.fired()[actor] == 1, "after=1 fires once"

    h.run(interval_s + MARGIN_S)  # one reconciliation interval of the fault, and its repairs written

    status = h.status()
    problems = disagreements(h)
    restarts = status["restarts"].get(actor, 0)
    if kind == "crash" and (restarts != 1 or h.epoch(actor) != 2):
        problems.append(f"the crash of {actor} was not seen and restarted once: restarts {restarts} "
                        f"epoch {h.epoch(actor)}")
    if kind != "crash" and restarts:
        problems.append(f"a {kind} is not a failure, yet {actor} restarted {restarts} times")
    if status["escalations"] or status["trading_state"] != "ACTIVE":
        problems.append(f"(5) trading {status['trading_state']} (escalations {status['escalations']}, "
                        f"holds {status.get('holds')})")
    if spec in REPAIRED_BY:
        metric, what = REPAIRED_BY[spec]
        if not h.services.metrics.value(metric):
            problems.append(f"{what}: {metric} is 0")
    assert not problems, (f"{spec}: {interval_s}s after the fault report, journal and venue disagree:\n  "
                          + "\n  ".join(problems))


@pytest.mark.parametrize("spec", SPECS)
def test_a_money_path_fault_loses_nothing_within_one_interval(harness, spec):
    h = harness(**overrides_for(spec, INTERVAL_S, INFLIGHT_S))
    fault_then_audit(h, spec)


@pytest.mark.slow
@pytest.mark.parametrize("spec", SPECS)
def test_a_money_path_fault_loses_nothing_on_the_profiles_own_intervals(harness, spec):
    own = load_profile("paper").reconcile  # a minute of market time after the fault
    h = harness(**overrides_for(spec, own.interval_s, own.inflight_s))
    fault_then_audit(h, spec)
