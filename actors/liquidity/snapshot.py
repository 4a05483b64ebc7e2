"""Joining liquidity's three pure results into the snapshot it publishes.

Owns `snapshot_of`: the book metrics (metrics.py), the trade tape and the spread history (tape.py)
at one moment, as one `LiquiditySnapshot` (domain.market), which answers the impact estimate for
any order size. Must never hold state.
"""

from __future__ import annotations

from actors.liquidity.metrics import LiquidityMetrics
from actors.liquidity.tape import SpreadSummary, TapeStats
from domain.market import LiquiditySnapshot


def snapshot_of(product_id: str, ts: float, metrics: LiquidityMetrics, tape: TapeStats,
                spreads: SpreadSummary) -> LiquiditySnapshot:
    """Join the three pure results taken at `ts` into one snapshot."""
    return LiquiditySnapshot(
        product_id=product_id,
        ts=ts,
        spread_bps=metrics.spread_bps,
        depth_1pct=metrics.depth_1pct,
        depth_5pct=metrics.depth_5pct,
        imbalance=metrics.imbalance,
        score=metrics.score,
        condition=metrics.condition,
        volume_1m=tape.volume_1m,
        volume_5m=tape.volume_5m,
        volume_15m=tape.volume_15m,
        trades_15m=tape.trades_15m,
        avg_trade_size_15m=tape.avg_trade_size_15m,
        spread_avg_5m=spreads.avg_bps,
        spread_min_5m=spreads.min_bps,
        spread_max_5m=spreads.max_bps,
    )
