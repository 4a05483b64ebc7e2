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
from operator import ge, itemgetter, le

import msgspec

Level = tuple[Decimal, Decimal]  # (price, size in base units)
_PRICE = itemgetter(0)
_SIZE = itemgetter(1)

_ZERO = Decimal(0)
_ONE = Decimal(1)
_TWO = Decimal(2)
_BPS = Decimal(10_000)
_HUNDRED = Decimal(100)
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
    return max(_ZERO, _HUNDRED - 200 * abs(imbalance))


def condition_of(score: Decimal) -> str:
    for bound, name in _CONDITIONS:
        if score >= bound:
            return name
    return CRITICAL


def _size_within(levels: tuple[Level, ...], lo: Decimal, hi: Decimal) -> Decimal:
    return sum((size for price, size in levels if lo <= price <= hi), _ZERO)


# Best-first levels make each band a prefix: find its end by bisection and add the prefix in C,
# the 5% sum carrying on from the 1% one. They are the same additions in the same order as
# _size_within's, so the same Decimals; levels that are not best-first take _size_within itself.


def _prefix_sums(levels: tuple[Level, ...], k_1: int, k_5: int) -> tuple[Decimal, Decimal]:
    size_1 = sum(map(_SIZE, levels[:k_1]), _ZERO)
    if k_1 <= k_5:
        return size_1, sum(map(_SIZE, levels[k_1:k_5]), size_1)
    return size_1, sum(map(_SIZE, levels[:k_5]), _ZERO)


def _bid_sizes(bids: tuple[Level, ...], width_1: Decimal, width_5: Decimal) -> tuple[Decimal, Decimal]:
    """Bid size priced in [best - width, best] for both widths."""
    best = bids[0][0]
    prices = list(map(_PRICE, bids))
    if not all(map(ge, prices, prices[1:])):
        return _size_within(bids, best - width_1, best), _size_within(bids, best - width_5, best)
    prices.reverse()
    n = len(prices)
    return _prefix_sums(
        bids, n - bisect_left(prices, best - width_1), n - bisect_left(prices, best - width_5)
    )


def _ask_sizes(asks: tuple[Level, ...], width_1: Decimal, width_5: Decimal) -> tuple[Decimal, Decimal]:
    """Ask size priced in [best, best + width] for both widths."""
    best = asks[0][0]
    prices = list(map(_PRICE, asks))
    if not all(map(le, prices, prices[1:])):
        return _size_within(asks, best, best + width_1), _size_within(asks, best, best + width_5)
    return _prefix_sums(asks, bisect_right(prices, best + width_1), bisect_right(prices, best + width_5))


def compute_liquidity(bids: tuple[Level, ...], asks: tuple[Level, ...]) -> LiquidityMetrics:
    """Metrics of best-first (price, base size) levels, e.g. a BookView's bids and asks."""
    if not bids and not asks:
        return LiquidityMetrics(EMPTY_SIDE_SPREAD_BPS, _ZERO, _ZERO, _ZERO, _ZERO, CRITICAL, None)
    best_bid = bids[0][0] if bids else None
    best_ask = asks[0][0] if asks else None
    if best_bid is not None and best_ask is not None:
        mid: Decimal | None = (best_bid + best_ask) / _TWO
        ref = mid
    else:
        mid = None
        ref = best_bid if best_bid is not None else best_ask

    width_1 = BAND_1PCT * ref
    width_5 = BAND_5PCT * ref
    bid_1, bid_5 = _bid_sizes(bids, width_1, width_5) if bids else (_ZERO, _ZERO)
    ask_1, ask_5 = _ask_sizes(asks, width_1, width_5) if asks else (_ZERO, _ZERO)
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
    ) / 4
    return LiquidityMetrics(
        spread_bps, depth_1pct, depth_5pct, imbalance, score, condition_of(score), mid
    )
