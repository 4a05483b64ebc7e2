"""Strategy state across a restart: a crossover core restored from its journaled snapshot acts
exactly as one that saw every bar; protective stops restored from execution's held stops are
trailed, never armed twice; what the journal holds is decoded or skipped, never guessed."""

from __future__ import annotations

from decimal import Decimal as D

import msgspec

from actors.strategy.crossover import CrossoverCore
from actors.strategy.protective import ProtectiveStops
from actors.strategy.state import CrossoverSnapshot, HeldStop, encode_snapshot, strategy_start
from domain.market import Bar
from domain.orders import OrderIntent, ReplaceIntent
from domain.products import BTC_PERP, CATALOG

PERP = BTC_PERP.product_id
CLOSES = ["100", "100", "100", "100", "90", "90", "95", "110", "120", "80", "70", "60", "130", "140"]


def bar(i: int, close: str) -> Bar:
    c = D(close)
    return Bar(PERP, 1000.0 + i, 1.0, c, c, c, c, D(1), 1, 7000 + i)


def core(confirmation_bars: int = 1) -> CrossoverCore:
    c = CrossoverCore(products=dict(CATALOG), short_window=2, long_window=4, confirmation_bars=confirmation_bars)
    c.on_portfolio(D("52000"), {})
    return c


def test_a_core_restored_at_any_bar_emits_exactly_what_the_uninterrupted_core_emits():
    whole = core()
    expected = [whole.on_bar(bar(i, c)) for i, c in enumerate(CLOSES)]
    assert any(isinstance(i, OrderIntent) for i in expected)  # the series does cross
    for cut in range(1, len(CLOSES)):
        first = core()
        got = [first.on_bar(bar(i, c)) for i, c in enumerate(CLOSES[:cut])]
        body = encode_snapshot(first.snapshot(bar(cut - 1, CLOSES[cut - 1])))  # what the journal holds
        (_, snapshot), = strategy_start({f"crossover:{PERP}": body}, [])[0].crossover
        second = core()
        assert second.restore(PERP, snapshot)
        got += [second.on_bar(bar(i, c)) for i, c in enumerate(CLOSES[cut:], start=cut)]
        assert got == expected, f"restored after bar {cut}"


def test_a_fresh_core_misses_the_cross_a_restored_one_keeps():
    """Why the state is journaled: without it a restart re-primes on the first full window and the
    pending confirmation is lost."""
    whole = core()
    [whole.on_bar(bar(i, c)) for i, c in enumerate(CLOSES[:8])]
    fresh = core()
    assert [fresh.on_bar(bar(i, c)) for i, c in enumerate(CLOSES[8:], start=8)] != \
        [whole.on_bar(bar(i, c)) for i, c in enumerate(CLOSES[8:], start=8)]


def test_a_snapshot_longer_than_the_window_keeps_the_newest_closes_and_an_unknown_product_is_ignored():
    c = core(confirmation_bars=0)
    snap = CrossoverSnapshot(tuple(D(x) for x in ("1", "2", "3", "4", "5", "6")), 1, True, 0, 0, 1006.0, 1.0)
    assert c.restore(PERP, snap)
    assert c.snapshot(bar(6, "6")).closes == (D(3), D(4), D(5), D(6))
    assert not c.restore("NOT-A-PRODUCT", snap)


def test_unreadable_bodies_are_counted_and_skipped_and_only_protective_stops_are_taken():
    stops = [HeldStop(PERP, f"{PERP}:5000:stop", "SELL", D("1"), D("90")),
             HeldStop(PERP, "operator-stop-1", "SELL", D("1"), D("80"))]
    start, unreadable = strategy_start({f"crossover:{PERP}": "{not json", "other:key": "{}"}, stops)
    assert unreadable == 1 and start.crossover == ()
    assert [s.intent_id for s in start.stops] == [f"{PERP}:5000:stop"]


def test_a_restored_protective_stop_is_trailed_not_armed_a_second_time():
    fresh = ProtectiveStops(D(100))
    [arm] = fresh.on_bar(bar(9, "100"), D("1"))
    assert isinstance(arm, OrderIntent)  # what a restart without the journal would do: a second stop
    restored = ProtectiveStops(D(100))
    restored.restore(PERP, f"{PERP}:5000:stop", "SELL", D("1"), D("99"))
    assert restored.on_bar(bar(9, "100"), D("1")) == []  # 99 is where a 1% stop under 100 sits
    [trail] = restored.on_bar(bar(10, "110"), D("1"))
    assert isinstance(trail, ReplaceIntent) and trail.replaces == f"{PERP}:5000:stop"
    assert trail.stop_price == D("108.9")


def test_the_snapshot_round_trips_through_json_exactly():
    snap = CrossoverSnapshot((D("0.1"), D("1e-8"), D("65000.12345678")), -1, True, 1, 0, 1234.5, 60.0)
    assert msgspec.json.decode(encode_snapshot(snap), type=CrossoverSnapshot) == snap
