"""Trade tape and spread history: hand-worked windows, exact boundaries, brute-force agreement."""

from __future__ import annotations

import random
from decimal import Decimal as D
from decimal import localcontext

import pytest

from actors.liquidity.tape import SpreadStats, SpreadSummary, TapeStats, TradeTape


def test_tape_hand_worked():
    tape = TradeTape()
    assert tape.add_trade(D(100), D(2), 0.0)  # notional 200
    assert tape.add_trade(D(50), D(1), 30.0)  # 50
    assert tape.add_trade(D(10), D(3), 100.0)  # 30
    # at 100: 1m = (40, 100] -> 30; 5m and 15m hold all three: 280; size (2 + 1 + 3) / 3 = 2
    assert tape.stats(100.0) == TapeStats(
        volume_1m=D(30), volume_5m=D(280), volume_15m=D(280), trades_15m=3, avg_trade_size_15m=D(2)
    )


def test_tape_empty_is_zero():
    assert TradeTape().stats(0.0) == TapeStats(D(0), D(0), D(0), 0, D(0))


def test_tape_window_boundaries_are_half_open():
    tape = TradeTape()
    tape.add_trade(D("91234.5"), D("0.01"), 1000.0)  # notional 912.345
    n = D("912.345")
    assert tape.stats(1000.0).volume_1m == n
    assert tape.stats(1059.5).volume_1m == n
    s = tape.stats(1060.0)  # exactly 60 s old: out of the 1-minute window only
    assert (s.volume_1m, s.volume_5m, s.volume_15m) == (0, n, n)
    s = tape.stats(1299.5)
    assert (s.volume_5m, s.volume_15m) == (n, n)
    s = tape.stats(1300.0)
    assert (s.volume_1m, s.volume_5m, s.volume_15m, s.trades_15m) == (0, 0, n, 1)
    assert tape.stats(1899.5).trades_15m == 1
    assert tape.stats(1900.0) == TapeStats(D(0), D(0), D(0), 0, D(0))


def test_tape_time_never_goes_back():
    tape = TradeTape()
    tape.add_trade(D(1), D(1), 0.0)
    assert tape.stats(60.0).volume_1m == 0
    assert tape.stats(30.0).volume_1m == 0  # an earlier now reads as the latest time seen
    assert tape.stats(30.0).volume_5m == 1


def test_tape_reordered_print_takes_the_previous_stamp():
    tape = TradeTape()
    tape.add_trade(D(1), D(1), 100.0)
    tape.add_trade(D(2), D(1), 50.0)  # late: stamped 100
    assert tape.stats(120.0).volume_1m == 3  # at its own time 50 it would have left at 110
    assert tape.stats(160.0).volume_1m == 0
    assert tape.stats(160.0).volume_5m == 3


def test_tape_drops_trades_older_than_the_longest_window_and_bad_values():
    tape = TradeTape()
    tape.stats(2000.0)
    assert not tape.add_trade(D(1), D(1), 1100.0)  # exactly 900 s old
    assert not tape.add_trade(D(0), D(1), 2000.0)
    assert not tape.add_trade(D(1), D(0), 2000.0)
    assert not tape.add_trade(D(1), D(-1), 2000.0)
    assert tape.add_trade(D(1), D(1), 1100.5)
    assert tape.stats(2000.0).trades_15m == 1


def test_tape_custom_windows_and_validation():
    tape = TradeTape(windows=(1, 2, 3))
    tape.add_trade(D(1), D(1), 0.0)
    s = tape.stats(2.0)
    assert (s.volume_1m, s.volume_5m, s.volume_15m) == (0, 0, 1)
    for bad in ((60, 300), (60, 60, 900), (0, 300, 900), (300, 60, 900)):
        with pytest.raises(ValueError):
            TradeTape(windows=bad)


def test_tape_sums_stay_exact_through_many_expiries():
    # 0.1 x 0.3 does not drift: after thousands of additions and expiries the sums are exact
    tape = TradeTape()
    for i in range(5000):
        tape.add_trade(D("0.1"), D("0.3"), float(i))
    s = tape.stats(4999.0)
    # 1m holds ts 4940..4999 (60 trades), 5m 300, 15m 900; each 0.03
    assert (s.volume_1m, s.volume_5m, s.volume_15m) == (D("1.80"), D("9.00"), D("27.00"))
    assert s.trades_15m == 900
    assert s.avg_trade_size_15m == D("0.3")


def _brute_tape(trades, now, windows):
    volumes = []
    for w in windows:
        volumes.append(sum((p * s for t, p, s in trades if now - w < t <= now), D(0)))
    inside = [s for t, _, s in trades if now - windows[-1] < t <= now]
    return volumes, inside


def test_tape_agrees_with_brute_force_on_a_random_sequence():
    rng = random.Random(20261123)
    tape = TradeTape()
    trades = []  # (ts, price, size), ts non-decreasing
    ts = 0.0
    for _ in range(3000):
        ts += rng.choice((0.0, 0.5, 1.0, 5.0, 20.0, 60.0))
        price = D(rng.randint(9_000_000, 9_100_000)) / 100
        size = D(rng.randint(1, 10**8)) / 10**8
        assert tape.add_trade(price, size, ts)
        trades.append((ts, price, size))
        if rng.random() < 0.2:
            now = ts + rng.choice((0.0, 0.25, 30.0, 60.0, 300.0, 900.0))
            with localcontext() as ctx:
                ctx.prec = 60  # exact sums
                volumes, sizes = _brute_tape(trades, now, (60.0, 300.0, 900.0))
                size = sum(sizes, D(0))
            avg = size / len(sizes) if sizes else D(0)  # one rounding, to 28 digits
            expected = TapeStats(volumes[0], volumes[1], volumes[2], len(sizes), avg)
            assert tape.stats(now) == expected
            ts = max(ts, now)


def test_spread_hand_worked_and_boundaries():
    spreads = SpreadStats()
    spreads.add(D(5), 0.0)
    spreads.add(D(3), 100.0)
    spreads.add(D(8), 200.0)
    spreads.add(D(4), 299.0)
    assert spreads.stats(299.0) == SpreadSummary(4, D(5), D(3), D(8))  # 20 / 4
    assert spreads.stats(300.0) == SpreadSummary(3, D(5), D(3), D(8))  # 5 left; 15 / 3
    assert spreads.stats(399.5) == SpreadSummary(3, D(5), D(3), D(8))
    assert spreads.stats(400.0) == SpreadSummary(2, D(6), D(4), D(8))  # 3 left; 12 / 2
    assert spreads.stats(500.0) == SpreadSummary(1, D(4), D(4), D(4))  # 8 left
    assert spreads.stats(599.0) == SpreadSummary(0, None, None, None)  # 4 left


def test_spread_ties_and_stale_samples():
    spreads = SpreadStats(window=10)
    spreads.add(D(2), 0.0)
    spreads.add(D(2), 5.0)  # equal value: the newer one must survive the older one's expiry
    assert spreads.stats(10.0) == SpreadSummary(1, D(2), D(2), D(2))
    assert not spreads.add(D(1), 0.0)  # exactly one window old
    with pytest.raises(ValueError):
        SpreadStats(window=0)


def test_spread_min_max_agree_with_brute_force_on_a_random_sequence():
    rng = random.Random(7)
    spreads = SpreadStats(window=300)
    samples = []
    ts = 0.0
    palette = [D(n) / 4 for n in range(40)] + [D(1) / D(3), D(2) / D(7), D("123.456789")]
    for _ in range(5000):
        ts += rng.choice((0.0, 1.0, 3.0, 10.0, 50.0, 150.0, 300.0))
        value = rng.choice(palette)
        assert spreads.add(value, ts)
        samples.append((ts, value))
        now = ts + rng.choice((0.0, 0.0, 1.0, 100.0, 300.0))
        inside = [v for t, v in samples if now - 300 < t <= now]
        if inside:
            with localcontext() as ctx:
                ctx.prec = 60
                total = sum(inside, D(0))
            expected = SpreadSummary(len(inside), total / len(inside), min(inside), max(inside))
        else:
            expected = SpreadSummary(0, None, None, None)
        assert spreads.stats(now) == expected
        ts = max(ts, now)
