"""Nothing lost: `bin/perpsbot run` killed with SIGKILL at random instants (during start-up, right
after an order went out, at any moment while trading) and restarted on the same data dir, against
the built-in exchange as its own process. After every restart has synced and after the final clean
stop: the bot's positions equal the exchange's, each exchange order's fills are counted once in the
journal, one exchange order per client id and per intent, and trading is back to ACTIVE and fills
again. Then orders resting at the exchange that fill while the bot is dead: inferred once.

The kill instants come from a seeded random (PERPSBOT_KILL_SEED overrides the default); every
failure names the seed and prints every kill and every violation. The harness is
tests/e2e/kill_harness.py; a drill's files (logs, journal, report) stay in its tmp folder."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest

from actors.venue.listing import RestFill, RestOrder
from tests.e2e.kill_harness import (
    PERP,
    JournalView,
    KillHarness,
    VenueState,
    assert_recovery_section,
    fill_violations,
    order_violations,
    position_violations,
    uncovered_trades,
)

SEED = int(os.environ.get("PERPSBOT_KILL_SEED", "20261202"))


def assert_drill(h: KillHarness, kills: int, min_in_flight: int) -> None:
    summary = h.summary()
    assert len(h.kills) == kills, summary
    assert all(k.returncode == -9 for k in h.kills), summary  # each one really was a SIGKILL
    assert all(k.lock_free for k in h.kills), summary  # the kernel released the data dir's flock
    assert all(k.orders_present for k in h.kills), summary  # the journal held orders at every kill
    assert sum(k.in_flight for k in h.kills) >= min_in_flight, summary  # and some were in flight
    assert not h.violations, summary


# -- kills at random instants -------------------------------------------------------------------

@pytest.fixture(scope="module")
def three_kills(tmp_path_factory):
    """One 3-kill drill (~15 s) shared by the two tests below: the harness (every process already
    stopped) and the final report."""
    h = KillHarness(tmp_path_factory.mktemp("three-kills"), SEED, exchange_duration_s=300)
    try:
        report = h.kill_restart(kills=3)
    finally:
        print(h.summary())
        h.close()  # kills whatever a failed drill left running, then the exchange
    assert not h.procs.alive(), "a process outlived the harness"
    return h, report


def test_three_kills_at_random_instants_lose_nothing(three_kills):
    h, _ = three_kills
    assert_drill(h, kills=3, min_in_flight=1)


def test_the_last_restart_reports_what_its_recovery_inferred(three_kills):
    h, report = three_kills
    last = h.kills[-1]
    assert_recovery_section(report, venue_fills_inferred=len(last.unjournaled_trades),
                            journal_fills=last.journal_fills, foreign_orders=0)


@pytest.fixture
def harness(tmp_path):
    h = KillHarness(tmp_path, SEED, exchange_duration_s=900)
    try:
        yield h
    finally:
        print(h.summary())
        h.close()
        assert not h.procs.alive(), "a process outlived the harness"


@pytest.mark.slow
@pytest.mark.timeout(600)  # ~90-110 s on 2 cores
def test_twenty_five_kills_in_a_row_lose_nothing(harness):
    harness.kill_restart(kills=25)
    assert_drill(harness, kills=25, min_in_flight=5)


# -- orders resting at the exchange that fill while the bot is dead -----------------------------

@pytest.fixture(scope="module")
def dead_fills(tmp_path_factory):
    """One drill (~8 s) shared by the two tests below: the harness (stopped) and what it saw."""
    h = KillHarness(tmp_path_factory.mktemp("dead-fills"), SEED + 1, exchange_duration_s=300)
    try:
        result = h.resting_orders_fill_while_dead()
    finally:
        print(h.summary())
        h.close()
    assert not h.procs.alive(), "a process outlived the harness"
    return h, result


def test_fills_made_while_the_bot_is_dead_are_journaled_once(dead_fills):
    h, result = dead_fills
    summary = h.summary()
    assert result.kill.returncode == -9 and result.kill.lock_free, summary
    assert result.resting_at_kill == {"buy": "OPEN", "sell": "OPEN", "stay": "OPEN"}, summary
    assert result.dead_trades, summary  # the two orders traded while nobody listened
    assert set(result.dead_trades) <= set(result.to_infer), summary
    assert not h.violations, summary


def test_the_report_says_the_fills_made_while_dead_were_inferred(dead_fills):
    h, result = dead_fills
    assert_recovery_section(result.report, venue_fills_inferred=len(result.to_infer),
                            journal_fills=result.journal_fills, foreign_orders=1,  # "stay" still rests
                            intents_settled=len(result.journal_live))


# -- the checks themselves, on made-up views -----------------------------------------------------

def _venue(fills: list[tuple[str, str, str, str]], orders: dict[str, str], positions: dict[str, str]) -> VenueState:
    """fills: (trade_id, order_id, side, size) on the perpetual; orders: venue id -> client id."""
    return VenueState(
        positions={p: Decimal(v) for p, v in positions.items()},
        orders={oid: RestOrder(oid, cid, PERP, "BUY", "FILLED") for oid, cid in orders.items()},
        fills={t: RestFill(t, oid, PERP, side, "85000", size, trade_time=f"2026-01-01T00:00:0{i}Z")
               for i, (t, oid, side, size) in enumerate(fills)},
        balances={})


def _journal(fills: list[tuple[str, str, str, str]], orders: dict[str, str],
             positions: dict[str, str]) -> JournalView:
    """fills: (trade_id, venue order id, side, size); orders: client id -> intent id."""
    return JournalView(
        orders={cid: {"intent_id": intent, "status": "FILLED"} for cid, intent in orders.items()},
        fills=[{"trade_id": t, "client_order_id": "", "venue_order_id": oid, "product_id": PERP, "side": side,
                "size": size} for t, oid, side, size in fills],
        positions={p: Decimal(v) for p, v in positions.items()})


def test_the_checks_take_a_user_channel_fill_and_its_rest_trade_as_one():
    venue = _venue([("t1", "o1", "BUY", "1"), ("t2", "o1", "BUY", "1")], {"o1": "pb-1"}, {PERP: "2"})
    journal = _journal([("o1:2", "o1", "BUY", "2")], {"pb-1": "i1"}, {PERP: "2"})
    assert fill_violations(journal, venue, "x") == []
    assert order_violations(journal, venue, "x") == []
    assert position_violations(journal.positions, venue, "x", (PERP,)) == []
    assert uncovered_trades(journal, venue) == []


def test_the_checks_see_a_fill_counted_twice_or_missing_and_a_stale_position():
    venue = _venue([("t1", "o1", "BUY", "2"), ("t2", "o2", "SELL", "1")], {"o1": "pb-1", "o2": "pb-2"}, {PERP: "1"})
    journal = _journal([("o1:2", "o1", "BUY", "2"), ("t1", "o1", "BUY", "2")], {"pb-1": "i1", "pb-2": "i2"},
                       {PERP: "2"})
    found = fill_violations(journal, venue, "x")
    assert any("o1" in v and "more than once" in v for v in found)
    assert any("o2" in v and "missing" in v for v in found)
    assert uncovered_trades(journal, venue) == ["t2"]
    assert [v for v in position_violations(journal.positions, venue, "x", (PERP,)) if "cfm/positions" in v]


def test_the_checks_see_one_intent_become_two_orders_and_an_order_never_journaled():
    venue = _venue([], {"o1": "pb-1", "o2": "pb-2", "o3": "pb-3", "o4": "kh-1"}, {})
    journal = _journal([], {"pb-1": "i1", "pb-2": "i1"}, {})
    found = order_violations(journal, venue, "x", foreign=frozenset({"kh-1"}))
    assert any("intent i1 became 2" in v for v in found)
    assert any("pb-3" in v and "not in the journal" in v for v in found)
    assert not any("kh-1" in v for v in found)
