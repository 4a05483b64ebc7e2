"""The risk actor: runs the runtime guards on a timer and tells the orchestrator when they change.

Owns a RiskMonitor fed with portfolio updates (equity, margins, positions) and closed bars (the
volatility breaker). Every `interval_s` it evaluates the guards; when the verdicts change it tells
the orchestrator a RiskVerdict and journals the change. After a restart it starts afresh (the
start-of-day equity is the first it sees; the orchestrator keeps a daily-loss breach latched until
the UTC roll). Must never change the trading state or cancel orders itself.
"""

from __future__ import annotations

from typing import Any

from actors.market_data.messages import Bar
from actors.orchestrator.messages import Decision
from actors.portfolio.messages import PortfolioUpdate
from actors.products import ProductSpec
from actors.risk.monitor import RiskMonitor
from runtime.actor import SupervisedActor


class EvaluateRisk:
    """Timer message: run the guards."""


class RiskActor(SupervisedActor):
    def __init__(self, name: str, epoch: int, services: Any, products: dict[str, ProductSpec], config: Any,
                 bar_interval_s: float) -> None:
        super().__init__(name, epoch, services)
        self.interval_s = config.interval_s
        self.monitor = RiskMonitor(products, config, bar_interval_s)

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
            if verdict is not None:
                self.tell_supervisor(verdict)
                held = [f"{v.guard} {v.level}: {v.reason}" for v in verdict.verdicts if v.level != "OK"]
                self.send("journal", Decision(verdict.ts, "risk", f"{verdict.level}" +
                                              (f" ({'; '.join(held)})" if held else "")))
        elif message == "report":
            return self.monitor.report()
        return None
