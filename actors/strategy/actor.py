"""The strategy actor: turns closed bars into order intents through the crossover core, and keeps
a trailing protective stop under each position (ProtectiveStops).

Owns the CrossoverCore (bar history, signal state and the sizing inputs the stops read too) and
the ProtectiveStops core. Emits nothing while TradingState is HALTED (REDUCING is enforced by the
execution gate).
Must never size against anything but the portfolio's published equity and positions, and never
talk to a venue.
"""

from __future__ import annotations

from typing import Any

from actors.market_data.messages import Bar
from actors.orchestrator.messages import HALTED, TradingStateChanged
from actors.portfolio.messages import PortfolioUpdate
from actors.products import ProductSpec
from actors.strategy.crossover import CrossoverCore
from actors.strategy.protective import ProtectiveStops
from runtime.actor import SupervisedActor


class StrategyActor(SupervisedActor):
    def __init__(self, name: str, epoch: int, services: Any, config: Any, products: dict[str, ProductSpec]) -> None:
        super().__init__(name, epoch, services)
        self.core = CrossoverCore.from_config(config, products)
        self.stops = ProtectiveStops(config.stop_loss_bps)
        self.intents = self.metrics.counter("trading.intents")

    def handle(self, message: Any) -> Any:
        kind = type(message)
        if kind is Bar:
            intent = self.core.on_bar(message)
            if intent is not None:
                self.intents.inc()
                self.send("execution", intent)
            if self.core.enabled and self.core.trades(message.product_id):
                for stop in self.stops.on_bar(message, self.core.position(message.product_id)):
                    self.send("execution", stop)
        elif kind is PortfolioUpdate:
            self.core.on_portfolio(message.equity, dict(message.positions))
        elif kind is TradingStateChanged:
            self.core.set_enabled(message.state != HALTED)
        return None
