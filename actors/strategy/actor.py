"""The strategy actor: turns closed bars into order intents through the crossover core, and keeps
a trailing protective stop under each position (ProtectiveStops).

Owns the CrossoverCore (bar history, signal state and the sizing inputs the stops read too) and
the ProtectiveStops core; journals each product's crossover state after every bar and, at a
`run` start (not a supervised restart), takes it back (StrategyStart) with the protective stops
execution holds armed. A window whose last bar is older than the long window is not taken back:
it is no history of now.
Emits nothing while TradingState is HALTED (REDUCING is enforced by the pre-trade gate).
Must never size against anything but the portfolio's published equity and positions, and never
talk to a venue.
"""

from __future__ import annotations

from typing import Any

from loguru import logger

from actors.strategy.crossover import CrossoverCore
from actors.strategy.protective import ProtectiveStops
from actors.strategy.state import CROSSOVER_KEY, StrategyStart, encode_snapshot
from config.schema import StrategyConfig
from domain.control import HALTED, TradingStateChanged
from domain.market import Bar
from domain.portfolio import PortfolioUpdate
from domain.products import ProductSpec
from domain.records import StrategyStateRecord
from runtime.actor import SupervisedActor


class StrategyActor(SupervisedActor):
    def __init__(self, name: str, epoch: int, services: Any, config: StrategyConfig, products: dict[str, ProductSpec],
                 restored: StrategyStart | None = None) -> None:
        super().__init__(name, epoch, services)
        self.core = CrossoverCore.from_config(config, products)
        self.stops = ProtectiveStops(config.stop_loss_bps)
        self.long_window = config.long_window
        self.intents = self.metrics.counter("trading.intents")
        if restored is not None and epoch == 1:  # the process start; a supervised restart starts empty
            self._restore(restored)

    def handle(self, message: Any) -> Any:
        kind = type(message)
        if kind is Bar:
            intent = self.core.on_bar(message)
            if intent is not None:
                self.intents.inc()
                self.send("execution", intent)
            if self.core.trades(message.product_id):
                if self.core.enabled:
                    for stop in self.stops.on_bar(message, self.core.position(message.product_id)):
                        self.send("execution", stop)
                snapshot = self.core.snapshot(message)
                assert snapshot is not None  # a traded product has a state
                self.send("journal", StrategyStateRecord(f"{CROSSOVER_KEY}{message.product_id}",
                                                         encode_snapshot(snapshot), snapshot.bar_end))
        elif kind is PortfolioUpdate:
            self.core.on_portfolio(message.equity, dict(message.positions))
        elif kind is TradingStateChanged:
            self.core.set_enabled(message.state != HALTED)
        return None

    def _restore(self, restored: StrategyStart) -> None:
        now = self.clock.now()
        for product_id, snapshot in restored.crossover:
            age = now - snapshot.bar_end
            if age > self.long_window * snapshot.interval_s:
                logger.info("strategy: {}'s bar window ended {:.0f}s ago, older than its {} bars: starting it empty",
                            product_id, age, self.long_window)
            elif self.core.restore(product_id, snapshot):
                logger.info("strategy: {} restored: {} closes, signal {}", product_id, len(snapshot.closes),
                            snapshot.last_sign)
        for stop in restored.stops:
            if self.core.trades(stop.product_id):
                self.stops.restore(stop.product_id, stop.intent_id, stop.side, stop.size, stop.stop_price)
                logger.info("strategy: {}'s protective stop {} restored at {}", stop.product_id, stop.intent_id,
                            stop.stop_price)
