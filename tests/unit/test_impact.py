"""Impact estimate, impact guard and the liquidity snapshot: values worked out by hand."""

from __future__ import annotations

from decimal import Decimal as D
from decimal import localcontext

import msgspec
import pytest

from actors.liquidity.metrics import compute_liquidity
from actors.liquidity.snapshot import snapshot_of
from actors.liquidity.tape import SpreadStats, TradeTape
from domain.impact import CONDITION_FACTORS, estimate_impact_bps, impact_guard
from domain.market import LiquiditySnapshot

DEEP = D(10**9)  # a band deep enough that the depth factor never applies


def test_base_term_spread_and_condition_hand_worked():
    # sqrt(10,000 / 250,000) = sqrt(0.04) = 0.2 -> 20 bps; spread 5 -> x 1.005 = 20.1; good x 1.0
    assert estimate_impact_bps(D(10_000), D(250_000), DEEP, D(5), "good") == D("20.1")


def test_depth_factor_hand_worked():
    # 20 bps x sqrt(10,000 / 5,000) = 20 x 1.41421356237309504880168872... = 28.2842712474619...
    # x 1.005 = 28.42569260369921... (good: x 1.0)
    got = estimate_impact_bps(D(10_000), D(250_000), D(5_000), D(5), "good")
    assert abs(got - D("28.425692603699210480913943")) < D("1e-24")


def test_depth_factor_applies_only_beyond_the_band():
    # notional equal to depth: not "greater than", so no factor: 20 x 1 x 1
    assert estimate_impact_bps(D(10_000), D(250_000), D(10_000), D(0), "good") == D(20)
    # 10,000 over 2,500 of depth: x sqrt(4) = 2 -> 40
    assert estimate_impact_bps(D(10_000), D(250_000), D(2_500), D(0), "good") == D(40)


@pytest.mark.parametrize(
    "condition, expected",
    [("excellent", "10.05"), ("good", "20.1"), ("fair", "30.15"), ("poor", "40.2"),
     ("critical", "60.3")],
)
def test_condition_factors(condition, expected):
    assert estimate_impact_bps(D(10_000), D(250_000), DEEP, D(5), condition) == D(expected)


def test_quiet_tape_counts_as_1000():
    # volume below 1,000 is floored: sqrt(10 / 1,000) = 0.1 -> 10 bps
    assert estimate_impact_bps(D(10), D(0), DEEP, D(0), "good") == D(10)
    assert estimate_impact_bps(D(10), D(999), DEEP, D(0), "good") == D(10)
    # above the floor it is used: sqrt(10 / 4,000) = 0.05 -> 5 bps
    assert estimate_impact_bps(D(10), D(4_000), DEEP, D(0), "good") == D(5)


def test_empty_band_counts_as_one_quote_unit():
    # sqrt(100 / 1,000,000) = 0.01 -> 1 bps; depth 0 -> 1: x sqrt(100 / 1) = 10 -> 10 bps
    assert estimate_impact_bps(D(100), D(10**6), D(0), D(0), "good") == D(10)
    # an order of one quote unit does not exceed it: no factor, sqrt(1 / 1,000) x 100
    got = estimate_impact_bps(D(1), D(0), D(0), D(0), "good")
    assert got == (D(1) / D(1_000)).sqrt() * 100


def test_zero_order_and_bad_inputs():
    assert estimate_impact_bps(D(0), D(0), D(0), D(10_000), "critical") == 0
    with pytest.raises(ValueError):
        estimate_impact_bps(D(-1), D(0), D(0), D(0), "good")
    with pytest.raises(ValueError):
        estimate_impact_bps(D(1), D(0), D(0), D(0), "splendid")
    assert set(CONDITION_FACTORS) == {"excellent", "good", "fair", "poor", "critical"}


def test_result_does_not_depend_on_the_callers_context():
    expected = estimate_impact_bps(D(10_000), D(250_000), D(5_000), D(5), "good")
    with localcontext() as ctx:
        ctx.prec = 5
        assert estimate_impact_bps(D(10_000), D(250_000), D(5_000), D(5), "good") == expected


def test_impact_guard():
    assert impact_guard(D(50)) is None  # at the maximum: allowed
    assert impact_guard(D("50.0001")) == "impact"
    assert impact_guard(D(0)) is None
    assert impact_guard(D(21), max_bps=D(20)) == "impact"
    assert impact_guard(D(20), max_bps=D(20)) is None


def _snapshot() -> LiquiditySnapshot:
    # the book of test_liquidity's hand-worked case: spread 10 bps, depth_5pct 10,000, good
    def levels(*pairs):
        return tuple((D(p), D(s)) for p, s in pairs)

    bids = levels(("99.95", 10), ("99.5", 20), ("98.9", 10), ("94.9", 1000))
    asks = levels(("100.05", 10), ("101.05", 10), ("105.05", 40), ("105.06", 1000))
    metrics = compute_liquidity(bids, asks)
    tape = TradeTape()
    tape.add_trade(D(100), D(1_000), 0.0)  # 100,000, leaves the 1m and 5m windows by 400
    tape.add_trade(D(100), D(1_500), 350.0)  # 150,000
    spreads = SpreadStats()
    spreads.add(D(12), 350.0)
    spreads.add(D(10), 400.0)
    return snapshot_of("BTC-USD", 400.0, metrics, tape.stats(400.0), spreads.stats(400.0))


def test_snapshot_joins_metrics_tape_and_spreads():
    snap = _snapshot()
    assert (snap.spread_bps, snap.depth_1pct, snap.depth_5pct) == (D(10), D(5_000), D(10_000))
    assert (snap.score, snap.condition, snap.imbalance) == (D("67.5"), "good", D("-0.2"))
    assert (snap.volume_1m, snap.volume_5m, snap.volume_15m) == (D(150_000), D(150_000), D(250_000))
    assert (snap.trades_15m, snap.avg_trade_size_15m) == (2, D(1_250))
    assert (snap.spread_avg_5m, snap.spread_min_5m, snap.spread_max_5m) == (D(11), D(10), D(12))


def test_snapshot_impact():
    snap = _snapshot()
    # sqrt(10,000 / 250,000) x 100 = 20; depth 10,000 not exceeded; spread 10 -> x 1.01; good
    assert snap.impact_bps(D(10_000)) == D("20.2")
    # 40,000: sqrt(0.16) x 100 = 40; x sqrt(40,000 / 10,000) = 2 -> 80; x 1.01 = 80.8 -> rejected
    assert snap.impact_bps(D(40_000)) == D("80.8")
    assert impact_guard(snap.impact_bps(D(40_000))) == "impact"


def test_snapshot_is_a_frozen_value_that_round_trips():
    snap = _snapshot()
    with pytest.raises(AttributeError):
        snap.score = D(0)  # type: ignore[misc]
    wire = msgspec.json.encode(snap)
    assert msgspec.json.decode(wire, type=LiquiditySnapshot) == snap
