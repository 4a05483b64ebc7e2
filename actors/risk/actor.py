"""The risk actor: runs the runtime guards on a timer and tells the orchestrator when they change.

Owns a RiskMonitor fed with portfolio updates (equity, margins, positions) and closed bars (the
volatility breaker). Every `interval_s` it evaluates the guards; when the verdicts change it tells
the orchestrator a RiskVerdict and journals the change, and journals each UTC day's start-of-day
equity (DayStartRecord). A `run` restarted mid-day starts from the journaled one (`day_start`), so
the day's loss before the restart still counts; otherwise the start of day is the first equity it
sees (the orchestrator keeps a daily-loss breach latched until the UTC roll either way). Must never
change the trading state or cancel orders itself.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from actors.risk.monitor import RiskMonitor
from config.schema import RiskConfig
from domain.control import Decision
from domain.market import Bar
from domain.portfolio import PortfolioUpdate
from domain.products import ProductSpec
from domain.queries import ReportQuery
from domain.records import DayStartRecord
from runtime.actor import SupervisedActor


class EvaluateRisk(msgspec.Struct, frozen=True):
    """Timer message: run the guards."""


class RiskActor(SupervisedActor):
    def __init__(self, name: str, epoch: int, services: Any, products: dict[str, ProductSpec], config: RiskConfig,
                 bar_interval_s: float, day_start: tuple[int, Decimal] | None = None) -> None:
        """`day_start`: (UTC day, equity) as the journal has it, for a `run` that restarts mid-day."""
        super().__init__(name, epoch, services)
        self.interval_s = config.interval_s
        self.monitor = RiskMonitor(products, config, bar_interval_s)
        if day_start is not None:
            self.monitor.daily_loss.restore(*day_start)
        self.journaled_day: int | None = None

    def start_core(self) -> None:
        self.every(self.interval_s, EvaluateRisk())

    def handle(self, message: Any) -> Any:
        kind = type(message)
        if kind is PortfolioUpdate:
            self.monitor.on_portfolio(message)
        elif kind is Bar:
            self.monitor.on_bar(message, self.clock.now())
        elif kind is EvaluateRisk:
            verdict = self.monitor.evaluate(self.clock.now())
            guard = self.monitor.daily_loss
            if guard.day is not None and guard.day != self.journaled_day and guard.start_equity is not None:
                self.journaled_day = guard.day  # the first one per day wins in the journal
                self.send("journal", DayStartRecord(guard.day, guard.start_equity, self.clock.now()))
            if verdict is not None:
                self.tell_supervisor(verdict)
                held = [f"{v.guard} {v.level}: {v.reason}" for v in verdict.verdicts if v.level != "OK"]
                self.send("journal", Decision(verdict.ts, "risk", f"{verdict.level}" +
                                              (f" ({'; '.join(held)})" if held else "")))
        elif type(message) is ReportQuery:
            return self.monitor.report()
        return None
