"""Liquidity metrics of one book view: spread, depth, imbalance, and the liquidity score.

Owns: the exact definitions below, computed in Decimal from best-first (price, base size) levels.
  mid        = (best bid + best ask) / 2
  spread_bps = (ask - bid) / mid * 10,000
  depth_b    = (bid size priced in [bid - b*mid, bid] + ask size priced in [ask, ask + b*mid]) * mid,
               for b = 1% and 5%, in quote currency
  imbalance  = (bid size - ask size) / (bid size + ask size), inside the 5% band (0 when empty)
  scores     spread 100/80/60/40/20/0 at <= 1/5/10/20/50 bps / above; each depth
             min(depth / 10,000, 1) * 100; imbalance max(0, 100 - 200 * |imbalance|);
             score = mean of the four; condition excellent/good/fair/poor/critical at
             >= 80/60/40/20/below.
  An empty side: spread 10,000 bps, score 0, critical; depths and imbalance from the side that
  exists (its best price stands in for the mid), or 0.
Must never: use floats, read a book directly (it takes a copy: a BookView's levels), or keep state.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from decimal import Decimal
from operator import ge, le

import msgspec

Level = tuple[Decimal, Decimal]  # (price, size in base units)

_ZERO = Decimal(0)
_ONE = Decimal(1)
_TWO = Decimal(2)
_BPS = Decimal(10_000)
_FOUR = Decimal(4)
_HUNDRED = Decimal(100)
_TWO_HUNDRED = Decimal(200)
_DEPTH_FULL = Decimal(10_000)  # quote currency of depth that scores 100
BAND_1PCT = Decimal("0.01")
BAND_5PCT = Decimal("0.05")
EMPTY_SIDE_SPREAD_BPS = Decimal(10_000)

# (upper bound in bps, score), checked in order; above the last bound scores 0
_SPREAD_SCORES: tuple[tuple[Decimal, Decimal], ...] = (
    (Decimal(1), Decimal(100)),
    (Decimal(5), Decimal(80)),
    (Decimal(10), Decimal(60)),
    (Decimal(20), Decimal(40)),
    (Decimal(50), Decimal(20)),
)
# (lower bound of the score, condition), checked in order
_CONDITIONS: tuple[tuple[Decimal, str], ...] = (
    (Decimal(80), "excellent"),
    (Decimal(60), "good"),
    (Decimal(40), "fair"),
    (Decimal(20), "poor"),
)
CRITICAL = "critical"


class LiquidityMetrics(msgspec.Struct, frozen=True):
    spread_bps: Decimal
    depth_1pct: Decimal  # quote currency
    depth_5pct: Decimal
    imbalance: Decimal  # -1 (all asks) .. +1 (all bids)
    score: Decimal  # 0 .. 100
    condition: str
    mid: Decimal | None  # None when a side is empty


def spread_score(spread_bps: Decimal) -> Decimal:
    for bound, score in _SPREAD_SCORES:
        if spread_bps <= bound:
            return score
    return _ZERO


def depth_score(depth: Decimal) -> Decimal:
    return min(depth / _DEPTH_FULL, _ONE) * _HUNDRED


def imbalance_score(imbalance: Decimal) -> Decimal:
    return max(_ZERO, _HUNDRED - _TWO_HUNDRED * abs(imbalance))


def condition_of(score: Decimal) -> str:
    for bound, name in _CONDITIONS:
        if score >= bound:
            return name
    return CRITICAL


def _size_within(levels: tuple[Level, ...], lo: Decimal, hi: Decimal) -> Decimal:
    return sum((size for price, size in levels if lo <= price <= hi), _ZERO)


def _prefix_sums(sizes: tuple[Decimal, ...], k_1: int, k_5: int) -> tuple[Decimal, Decimal]:
    """Sizes of the first k_1 and first k_5 levels, the second sum carrying on from the first when
    it can: left to right like _size_within, so the very same Decimal additions."""
    size_1 = sum(sizes[:k_1], _ZERO)
    if k_1 <= k_5:
        return size_1, sum(sizes[k_1:k_5], size_1)
    return size_1, sum(sizes[:k_5], _ZERO)


def compute_liquidity(bids: tuple[Level, ...], asks: tuple[Level, ...]) -> LiquidityMetrics:
    """Metrics of best-first (price, base size) levels, e.g. a BookView's bids and asks.

    Best-first levels make each band a prefix of its side, found by bisection and added up in C;
    a side that is not best-first is filtered level by level instead. Same results either way.
    """
    if not bids and not asks:
        return LiquidityMetrics(EMPTY_SIDE_SPREAD_BPS, _ZERO, _ZERO, _ZERO, _ZERO, CRITICAL, None)
    if bids:
        bid_prices, bid_sizes = zip(*bids)
        best_bid = bid_prices[0]
    else:
        best_bid = None
    if asks:
        ask_prices, ask_sizes = zip(*asks)
        best_ask = ask_prices[0]
    else:
        best_ask = None
    if best_bid is not None and best_ask is not None:
        mid: Decimal | None = (best_bid + best_ask) / _TWO
        ref = mid
    else:
        mid = None
        ref = best_bid if best_bid is not None else best_ask
    assert ref is not None  # at least one side is non-empty

    width_1 = BAND_1PCT * ref
    width_5 = BAND_5PCT * ref
    if best_bid is None:
        bid_1 = bid_5 = _ZERO
    else:
        lo_1 = best_bid - width_1
        lo_5 = best_bid - width_5
        if all(map(ge, bid_prices, bid_prices[1:])):
            ascending = bid_prices[::-1]
            n = len(ascending)
            bid_1, bid_5 = _prefix_sums(
                bid_sizes, n - bisect_left(ascending, lo_1), n - bisect_left(ascending, lo_5)
            )
        else:
            bid_1 = _size_within(bids, lo_1, best_bid)
            bid_5 = _size_within(bids, lo_5, best_bid)
    if best_ask is None:
        ask_1 = ask_5 = _ZERO
    else:
        hi_1 = best_ask + width_1
        hi_5 = best_ask + width_5
        if all(map(le, ask_prices, ask_prices[1:])):
            ask_1, ask_5 = _prefix_sums(ask_sizes, bisect_right(ask_prices, hi_1), bisect_right(ask_prices, hi_5))
        else:
            ask_1 = _size_within(asks, best_ask, hi_1)
            ask_5 = _size_within(asks, best_ask, hi_5)
    depth_1pct = (bid_1 + ask_1) * ref
    depth_5pct = (bid_5 + ask_5) * ref
    total_5 = bid_5 + ask_5
    imbalance = (bid_5 - ask_5) / total_5 if total_5 else _ZERO

    if mid is None:
        return LiquidityMetrics(
            EMPTY_SIDE_SPREAD_BPS, depth_1pct, depth_5pct, imbalance, _ZERO, CRITICAL, None
        )
    spread_bps = (best_ask - best_bid) / mid * _BPS
    score = (
        spread_score(spread_bps)
        + depth_score(depth_1pct)
        + depth_score(depth_5pct)
        + imbalance_score(imbalance)
    ) / _FOUR
    return LiquidityMetrics(
        spread_bps, depth_1pct, depth_5pct, imbalance, score, condition_of(score), mid
    )
