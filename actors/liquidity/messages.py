"""Messages the liquidity actor publishes: one product's liquidity snapshot, for execution.

A snapshot joins the book metrics (metrics.py), the trade tape and the spread history (tape.py)
at one moment, and answers the impact estimate (impact.py) for any order size.
Must never: hold references to mutable state; it is a value that can be journaled and replayed.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from actors.liquidity.impact import estimate_impact_bps
from actors.liquidity.metrics import LiquidityMetrics
from actors.liquidity.tape import SpreadSummary, TapeStats


class LiquiditySnapshot(msgspec.Struct, frozen=True, tag=True):
    product_id: str
    ts: float  # clock time the snapshot was taken
    spread_bps: Decimal
    depth_1pct: Decimal  # quote currency
    depth_5pct: Decimal  # quote currency
    imbalance: Decimal  # -1 .. +1
    score: Decimal  # 0 .. 100
    condition: str  # excellent / good / fair / poor / critical
    volume_1m: Decimal  # traded notional, quote currency
    volume_5m: Decimal
    volume_15m: Decimal
    trades_15m: int
    avg_trade_size_15m: Decimal  # base units
    spread_avg_5m: Decimal | None  # None when no spread was sampled in the window
    spread_min_5m: Decimal | None
    spread_max_5m: Decimal | None

    @classmethod
    def of(
        cls,
        product_id: str,
        ts: float,
        metrics: LiquidityMetrics,
        tape: TapeStats,
        spreads: SpreadSummary,
    ) -> LiquiditySnapshot:
        """Join the three pure results taken at `ts` into one snapshot."""
        return cls(
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

    def impact_bps(self, notional: Decimal) -> Decimal:
        """Estimated impact in bps of an order of `notional` quote currency, at this moment."""
        return estimate_impact_bps(
            notional, self.volume_15m, self.depth_5pct, self.spread_bps, self.condition
        )
