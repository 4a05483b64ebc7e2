"""The liquidity actor: computes each product's liquidity metrics from conflated book views.

Owns the latest LiquidityMetrics per product and publishes them as gauges for the report.
Must never read a book it does not own: it sees only the immutable BookViews market_data sends.
"""

from __future__ import annotations

from typing import Any

from actors.liquidity.metrics import LiquidityMetrics, compute_liquidity
from actors.market_data.messages import BookView
from runtime.actor import SupervisedActor


class LiquidityActor(SupervisedActor):
    def __init__(self, name: str, epoch: int, services: Any) -> None:
        super().__init__(name, epoch, services)
        self.latest: dict[str, LiquidityMetrics] = {}

    def handle(self, message: Any) -> Any:
        if type(message) is BookView:
            if message.valid:
                self.latest[message.product_id] = compute_liquidity(message.bids, message.asks)
            else:
                self.latest.pop(message.product_id, None)  # no metrics for a book being resynced
        elif message == "report":
            return dict(self.latest)
        return None
