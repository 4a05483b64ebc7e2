"""The runtime risk monitor: the guards of actors.risk.guards fed from portfolio updates and bars.

Owns one DailyLossGuard, one LiquidationBufferGuard, a VolatilityBreaker per product and the
concentration check, the latest inputs they read, and the last verdict set it reported. Volatility
thresholds are configured for a one-minute horizon and scaled to the bar interval (per-bar
threshold = threshold x sqrt(bar_interval_s / 60)), so one setting fits 1 s and 60 s bars.
Pure: time comes in as an argument. Must never change the trading state or cancel orders (it
reports; the orchestrator decides).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from actors.risk.guards import (
    DailyLossGuard,
    LiquidationBufferGuard,
    VolatilityBreaker,
    concentration,
    worst,
)
from config.schema import RiskConfig
from domain.control import OK, RiskVerdict, Verdict, utc_day
from domain.market import Bar
from domain.portfolio import PortfolioUpdate
from domain.products import ProductSpec

_MINUTE = Decimal(60)
_HUNDREDTH = Decimal("0.01")


def per_bar(threshold_1m: Decimal, bar_interval_s: float) -> Decimal:
    """A one-minute-horizon volatility threshold (bps) for bars of `bar_interval_s` seconds."""
    return threshold_1m * (Decimal(str(bar_interval_s)) / _MINUTE).sqrt()


class RiskMonitor:
    def __init__(self, products: dict[str, ProductSpec], config: RiskConfig, bar_interval_s: float) -> None:
        self.products = products
        self.config = config
        self.daily_loss = DailyLossGuard(config.max_daily_loss_pct)
        self.buffer = LiquidationBufferGuard(config.liquidation_buffer_pct)
        self.breakers = {
            pid: VolatilityBreaker(pid, config.volatility_window,
                                   per_bar(config.volatility_warn_bps, bar_interval_s),
                                   per_bar(config.volatility_reducing_bps, bar_interval_s),
                                   per_bar(config.volatility_halted_bps, bar_interval_s),
                                   config.volatility_cooldown_s)
            for pid in products
        }
        self.portfolio: PortfolioUpdate | None = None
        self.volatility: dict[str, Verdict] = {}  # the latest verdict of each product's breaker
        self.verdicts: tuple[Verdict, ...] = ()
        self._reported: tuple | None = None

    def on_portfolio(self, update: PortfolioUpdate) -> None:
        self.portfolio = update

    def on_bar(self, bar: Bar, now: float) -> None:
        breaker = self.breakers.get(bar.product_id)
        if breaker is not None:
            self.volatility[bar.product_id] = breaker.on_bar(bar.close, now)

    def evaluate(self, now: float) -> RiskVerdict | None:
        """Run every guard; the verdict set if it differs from the last one reported (by worst
        level, the guards not OK and their levels, or the UTC day), else None. Nothing before
        the first portfolio update."""
        update = self.portfolio
        if update is None:
            return None
        verdicts = [
            self.daily_loss.on_equity(update.equity, now),
            self.buffer.check(update.equity, update.maintenance_margin),
            *(self.volatility[pid] for pid in self.products if pid in self.volatility),
            *concentration(self._exposures(update), self.config.max_concentration_pct),
        ]
        self.verdicts = tuple(verdicts)
        level = worst(verdicts)
        key = (level, tuple((v.guard, v.level) for v in verdicts if v.level != OK), utc_day(now))
        if key == self._reported:
            return None
        self._reported = key
        return RiskVerdict(level, self.verdicts, now)

    def _exposures(self, update: PortfolioUpdate) -> dict[str, Decimal]:
        marks = dict(update.marks)
        out: dict[str, Decimal] = {}
        for pid, size in update.positions:
            spec, mark = self.products.get(pid), marks.get(pid)
            if spec is not None and mark is not None:
                out[pid] = abs(spec.notional(size, mark))
        return out

    def report(self) -> dict[str, Any]:
        return {
            "level": worst(list(self.verdicts)),
            "verdicts": {v.guard: {"level": v.level, "reason": v.reason} for v in self.verdicts},
            "daily_loss_pct": self.daily_loss.loss_pct.quantize(_HUNDREDTH),
            "start_of_day_equity": self.daily_loss.start_equity,
        }
