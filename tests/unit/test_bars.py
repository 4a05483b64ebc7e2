"""BarBuilder: clock-aligned bars, trades over mids, flat bars for empty intervals."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from actors.market_data.bars import BarBuilder
from domain.market import Bar


def bar(start, o, h, lo, c, volume="0", trades=0, origin_ns=0, interval=60.0) -> Bar:
    return Bar("BTC-USD", float(start), interval, D(o), D(h), D(lo), D(c), D(volume), trades, origin_ns)


def test_trades_make_ohlcv_and_close_at_the_boundary():
    b = BarBuilder("BTC-USD", 60)
    assert b.on_trade(D(100), D(1), 5.0, 1) == []
    assert b.on_trade(D(105), D(2), 30.0, 2) == []
    assert b.on_trade(D(98), D("0.5"), 50.0, 3) == []
    assert b.advance(59.999, 4) == []
    assert b.advance(60.0, 5) == [bar(0, 100, 105, 98, 98, "3.5", 3, origin_ns=5)]
    assert b.last_close == D(98)


def test_empty_intervals_are_flat_bars_at_the_last_close():
    b = BarBuilder("BTC-USD", 60)
    b.on_trade(D(100), D(1), 10.0, 1)
    closed = b.advance(185.0, 9)
    assert closed == [
        bar(0, 100, 100, 100, 100, "1", 1, origin_ns=9),
        bar(60, 100, 100, 100, 100, origin_ns=9),
        bar(120, 100, 100, 100, 100, origin_ns=9),
    ]
    # the bar [180, 240) is open; a trade in it is its own bar
    b.on_trade(D(101), D(2), 200.0, 10)
    assert b.advance(240.0, 11) == [bar(180, 101, 101, 101, 101, "2", 1, origin_ns=11)]


def test_bars_align_to_the_clock_not_to_the_first_event():
    b = BarBuilder("BTC-USD", 60)
    b.on_trade(D(100), D(1), 75.0, 1)
    assert b.advance(120.0, 2)[0].start == 60.0


def test_a_trade_in_a_later_interval_closes_the_earlier_bars_first():
    b = BarBuilder("BTC-USD", 60)
    b.on_trade(D(100), D(1), 1.0, 1)
    closed = b.on_trade(D(110), D(1), 130.0, 2)
    assert closed == [bar(0, 100, 100, 100, 100, "1", 1, origin_ns=2), bar(60, 100, 100, 100, 100, origin_ns=2)]


def test_mid_is_the_price_when_no_trade_printed():
    b = BarBuilder("BTC-USD", 60)
    b.on_mid(D("100.5"), 1.0, 1)
    b.on_mid(D("101.5"), 2.0, 2)
    b.on_mid(D("99.5"), 3.0, 3)
    b.on_mid(D("100"), 4.0, 4)
    assert b.advance(60.0, 5) == [bar(0, "100.5", "101.5", "99.5", "100", origin_ns=5)]


def test_trades_take_precedence_over_mids_in_a_bar():
    b = BarBuilder("BTC-USD", 60)
    b.on_mid(D(90), 1.0, 1)
    b.on_trade(D(100), D(1), 2.0, 2)
    b.on_mid(D(120), 3.0, 3)
    b.on_trade(D(101), D(1), 4.0, 4)
    assert b.advance(60.0, 5) == [bar(0, 100, 101, 100, 101, "2", 2, origin_ns=5)]


def test_no_bars_before_the_first_price():
    b = BarBuilder("BTC-USD", 60)
    assert b.advance(1_000.0, 1) == []
    b.on_mid(D(100), 1_000.0, 2)
    assert [x.start for x in b.advance(1_140.0, 3)] == [960.0, 1020.0, 1080.0]


def test_late_trade_is_folded_into_the_open_bar():
    b = BarBuilder("BTC-USD", 60)
    b.on_trade(D(100), D(1), 70.0, 1)
    b.on_trade(D(99), D(1), 50.0, 2)  # stamped before the open bar [60, 120)
    assert b.late_trades == 1
    assert b.advance(120.0, 3) == [bar(60, 100, 100, 99, 99, "2", 2, origin_ns=3)]


def test_long_silence_emits_at_most_max_flat_bars_the_most_recent():
    b = BarBuilder("BTC-USD", 1, max_flat_bars=3)
    b.on_trade(D(100), D(1), 0.5, 1)
    closed = b.advance(100.0, 2)
    assert [x.start for x in closed] == [0.0, 97.0, 98.0, 99.0]
    assert all(x.close == D(100) for x in closed)


def test_fractional_interval_does_not_drift():
    b = BarBuilder("BTC-USD", 0.1)
    b.on_mid(D(1), 0.0, 0)
    closed = b.advance(100.0, 1)
    assert len(closed) == 1000
    assert closed[-1].start == pytest.approx(99.9)


def test_interval_must_be_positive():
    with pytest.raises(ValueError):
        BarBuilder("BTC-USD", 0)


def test_a_mid_exactly_at_the_boundary_closes_the_bar_first():
    b = BarBuilder("BTC-USD", 0.25)
    b.on_mid(D(100), 0.0, 1)
    assert b.on_mid(D(101), 0.2499999, 2) == []
    assert b.on_mid(D(102), 0.25, 3) == [bar(0, 100, 101, 100, 101, origin_ns=3, interval=0.25)]
    assert b.on_mid(D(103), 0.3, 4) == []
    assert b.advance(0.5, 5) == [bar(0.25, 102, 103, 102, 103, origin_ns=5, interval=0.25)]


def test_the_same_mid_object_again_changes_nothing():
    b = BarBuilder("BTC-USD", 60)
    mid = D("100.5")
    b.on_mid(D(99), 1.0, 1)
    b.on_mid(mid, 2.0, 2)
    b.on_mid(mid, 3.0, 3)
    assert b.advance(60.0, 4) == [bar(0, 99, "100.5", 99, "100.5", origin_ns=4)]


def test_time_before_the_first_price_and_going_backwards_closes_nothing():
    b = BarBuilder("BTC-USD", 60)
    assert b.advance(10.0, 1) == [] and b.advance(5_000.0, 2) == []
    b.on_mid(D(100), 130.0, 3)  # opens [120, 180)
    assert b.advance(100.0, 4) == [] and b.on_mid(D(101), 90.0, 5) == []
    assert b.advance(180.0, 6) == [bar(120, 100, 101, 100, 101, origin_ns=6)]
