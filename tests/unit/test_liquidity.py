"""Liquidity metrics: hand-worked values and every score boundary."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from actors.liquidity.metrics import (
    LiquidityMetrics,
    compute_liquidity,
    condition_of,
    depth_score,
    imbalance_score,
    spread_score,
)


def levels(*pairs):
    return tuple((D(p), D(s)) for p, s in pairs)


def test_hand_worked_book():
    # bid 99.95, ask 100.05 -> mid 100, spread 0.10 / 100 * 10,000 = 10 bps -> 60
    # 1% band = 1.00: bids in [98.95, 99.95] = 10 + 20, asks in [100.05, 101.05] = 10 + 10
    #   depth_1pct = 50 * 100 = 5,000 -> 50
    # 5% band = 5.00: bids in [94.95, 99.95] = 40, asks in [100.05, 105.05] = 60
    #   depth_5pct = 100 * 100 = 10,000 -> 100; imbalance (40 - 60) / 100 = -0.2 -> 60
    # score (60 + 50 + 100 + 60) / 4 = 67.5 -> good
    bids = levels(("99.95", "10"), ("99.5", "20"), ("98.9", "10"), ("94.9", "1000"))
    asks = levels(("100.05", "10"), ("101.05", "10"), ("105.05", "40"), ("105.06", "1000"))
    m = compute_liquidity(bids, asks)
    assert m == LiquidityMetrics(
        spread_bps=D(10),
        depth_1pct=D(5000),
        depth_5pct=D(10000),
        imbalance=D("-0.2"),
        score=D("67.5"),
        condition="good",
        mid=D(100),
    )


def test_tight_deep_balanced_book_is_excellent():
    # spread 0.01 / 100 * 10,000 = 1 bps -> 100; depth 200 * 100 = 20,000 -> 100 (capped); balanced -> 100
    m = compute_liquidity(levels(("99.995", "100")), levels(("100.005", "100")))
    assert (m.spread_bps, m.depth_1pct, m.depth_5pct, m.imbalance) == (D(1), D(20000), D(20000), D(0))
    assert (m.score, m.condition) == (D(100), "excellent")


def test_wide_thin_one_sided_book_is_critical():
    # bid 90, ask 110 (size 0) -> mid 100, spread 2,000 bps -> 0
    # 1% band [89, 90]: 1 -> depth 100 -> 1; 5% band [85, 90]: 1 + 1 -> depth 200 -> 2
    # imbalance (2 - 0) / 2 = 1 -> 0; score (0 + 1 + 2 + 0) / 4 = 0.75
    m = compute_liquidity(levels(("90", "1"), ("85.01", "1"), ("84.99", "9")), levels(("110", "0")))
    assert (m.spread_bps, m.depth_1pct, m.depth_5pct, m.imbalance) == (D(2000), D(100), D(200), D(1))
    assert (m.score, m.condition) == (D("0.75"), "critical")


def test_empty_side_scores_zero_critical_with_depth_from_the_other_side():
    # only bids: reference is the best bid 100; 1% band [99, 100] = 2 + 1; 5% band [95, 100] = 3 + 4
    m = compute_liquidity(levels(("100", "2"), ("99", "1"), ("95", "4"), ("94.99", "50")), ())
    assert m == LiquidityMetrics(D(10000), D(300), D(700), D(1), D(0), "critical", None)
    m = compute_liquidity((), levels(("200", "1")))
    assert (m.spread_bps, m.depth_1pct, m.imbalance, m.score, m.condition) == (
        D(10000), D(200), D(-1), D(0), "critical",
    )  # fmt: skip


def test_both_sides_empty():
    assert compute_liquidity((), ()) == LiquidityMetrics(D(10000), D(0), D(0), D(0), D(0), "critical", None)


@pytest.mark.parametrize(
    "bps, score",
    [
        ("0", 100), ("1", 100), ("1.0001", 80), ("5", 80), ("5.0001", 60), ("10", 60),
        ("10.0001", 40), ("20", 40), ("20.0001", 20), ("50", 20), ("50.0001", 0), ("10000", 0),
    ],
)  # fmt: skip
def test_spread_score_boundaries(bps, score):
    assert spread_score(D(bps)) == D(score)


@pytest.mark.parametrize(
    "depth, score", [("0", "0"), ("2500", "25"), ("9999", "99.99"), ("10000", "100"), ("1000000", "100")]
)
def test_depth_score(depth, score):
    assert depth_score(D(depth)) == D(score)


@pytest.mark.parametrize(
    "imbalance, score", [("0", "100"), ("0.1", "80"), ("-0.25", "50"), ("0.5", "0"), ("-0.75", "0"), ("1", "0")]
)
def test_imbalance_score(imbalance, score):
    assert imbalance_score(D(imbalance)) == D(score)


@pytest.mark.parametrize(
    "score, condition",
    [
        ("100", "excellent"), ("80", "excellent"), ("79.99", "good"), ("60", "good"), ("59.99", "fair"),
        ("40", "fair"), ("39.99", "poor"), ("20", "poor"), ("19.99", "critical"), ("0", "critical"),
    ],
)  # fmt: skip
def test_condition_boundaries(score, condition):
    assert condition_of(D(score)) == condition


def test_spread_boundary_through_compute():
    # bid 99.975, ask 100.025: mid 100, spread 0.05 / 100 * 10,000 = 5 bps exactly -> 80
    m = compute_liquidity(levels(("99.975", "1")), levels(("100.025", "1")))
    assert m.spread_bps == D(5)
    # 80 + depth 200/10,000*100 = 2 twice + balanced 100 -> (80 + 2 + 2 + 100) / 4 = 46 -> fair
    assert (m.score, m.condition) == (D(46), "fair")


def test_band_edges_are_inclusive():
    # bid 99.5, ask 100.5 -> mid 100, spread 1 / 100 * 10,000 = 100 bps -> 0
    # 1% band = 1.00: bids in [98.5, 99.5] = 1 + 2, asks in [100.5, 101.5] = 1 + 2 -> depth 600 -> 6
    # 5% band = 5.00: bids in [94.5, 99.5] = 1 + 2 + 4 + 8, asks likewise -> depth 3,000 -> 30
    # balanced -> 100; score (0 + 6 + 30 + 100) / 4 = 34 -> poor
    bids = levels(("99.5", "1"), ("98.5", "2"), ("98.49", "4"), ("94.5", "8"), ("94.49", "16"))
    asks = levels(("100.5", "1"), ("101.5", "2"), ("101.51", "4"), ("105.5", "8"), ("105.51", "16"))
    assert compute_liquidity(bids, asks) == LiquidityMetrics(
        D(100), D(600), D(3000), D(0), D(34), "poor", D(100)
    )


def test_levels_not_best_first_are_filtered_one_by_one():
    # the first level is the reference: bid 99, ask 101 -> mid 100, spread 200 bps -> 0
    # bids in [98, 99] (1%) and [94, 99] (5%): 99 and 98.5, not 100 (above the first bid) -> 3
    # asks: 101 -> 1; depths 4 * 100 = 400 -> 4 each; imbalance (3 - 1) / 4 = 0.5 -> 0
    # score (0 + 4 + 4 + 0) / 4 = 2 -> critical
    bids = levels(("99", "1"), ("100", "5"), ("98.5", "2"))
    asks = levels(("101", "1"), ("100.9", "7"))  # 100.9 is below the first ask: not counted
    assert compute_liquidity(bids, asks) == LiquidityMetrics(
        D(200), D(400), D(400), D("0.5"), D(2), "critical", D(100)
    )


def test_order_after_the_best_level_does_not_change_the_metrics():
    bids = levels(("99.95", "10"), ("99.5", "20"), ("98.9", "10"), ("94.9", "1000"), ("97", "3"))
    asks = levels(("100.05", "10"), ("101.05", "10"), ("105.05", "40"), ("105.06", "1000"), ("102", "1"))
    best_first = (bids[:1] + tuple(sorted(bids[1:], reverse=True)), asks[:1] + tuple(sorted(asks[1:])))
    shuffled = (bids[:1] + bids[:0:-1], asks[:1] + asks[:0:-1])
    assert compute_liquidity(*best_first) == compute_liquidity(*shuffled) == compute_liquidity(bids, asks)
