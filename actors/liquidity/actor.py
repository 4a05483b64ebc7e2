"""The liquidity actor: each product's liquidity metrics, trade tape and spread history.

Owns one TradeTape and SpreadStats per product and the latest LiquiditySnapshot. Book metrics are
computed from the conflated BookViews market_data sends (so metrics never slow ingest), the tape
from the trades market_data forwards. Every new snapshot goes to execution for its impact guard.
Must never read a book it does not own: it sees only immutable views and trade prints.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from actors.liquidity.metrics import compute_liquidity
from actors.liquidity.snapshot import snapshot_of
from actors.liquidity.tape import SpreadStats, TradeTape
from domain.market import BookView, LiquiditySnapshot, TradePrint
from domain.products import ProductSpec
from domain.queries import ReportQuery
from runtime.actor import SupervisedActor


class LiquidityActor(SupervisedActor):
    def __init__(self, name: str, epoch: int, services: Any, products: dict[str, ProductSpec]) -> None:
        super().__init__(name, epoch, services)
        self.products = products
        self.tapes = {pid: TradeTape() for pid in products}
        self.spreads = {pid: SpreadStats() for pid in products}
        self.latest: dict[str, LiquiditySnapshot] = {}
        self.bad_trades = self.metrics.counter("liquidity.bad_trades")

    def handle(self, message: Any) -> Any:
        kind = type(message)
        if kind is BookView:
            self._on_view(message)
        elif kind is TradePrint:
            self._on_trade(message)
        elif type(message) is ReportQuery:
            return dict(self.latest)
        return None

    def _on_view(self, view: BookView) -> None:
        if view.product_id not in self.products:
            return
        if not view.valid:
            self.latest.pop(view.product_id, None)  # no metrics for a book being resynced
            return
        metrics = compute_liquidity(view.bids, view.asks)
        spreads = self.spreads[view.product_id]
        spreads.add(metrics.spread_bps, view.ts)
        snapshot = snapshot_of(view.product_id, view.ts, metrics, self.tapes[view.product_id].stats(view.ts),
                                        spreads.stats(view.ts))
        self.latest[view.product_id] = snapshot
        self.send("execution", snapshot)

    def _on_trade(self, trade: TradePrint) -> None:
        spec = self.products.get(trade.product_id)
        if spec is None:
            return
        try:
            accepted = self.tapes[trade.product_id].add_trade(Decimal(trade.price), spec.base_units(Decimal(trade.size)),
                                                              trade.ts)
        except InvalidOperation:
            accepted = False
        if not accepted:
            self.bad_trades.inc()
