"""The market_data actor: the one owner of every L2 book, mark and bar.

Owns the MarketDataCore. Publishes BookStatus (after every applied change) to execution and
portfolio, ProductTradability (after every `status` channel entry, and to whoever asks with a
TradabilityRequest) to execution, closed Bars to strategy, and conflated BookViews to liquidity on
a timer so metrics never slow ingest. Must never send an order or trust an update that arrived
before its snapshot.
"""

from __future__ import annotations

from typing import Any

import msgspec
from loguru import logger

from actors.market_data.core import MarketDataCore
from actors.market_data.digest import book_digest
from domain.control import BooksHealth, ResyncRequest
from domain.market import Bar, BookStatus, L2Update, ProductStatus, StreamGap, TradabilityRequest, TradePrint
from domain.products import ProductSpec
from domain.queries import BookQuery, ReportQuery
from runtime.actor import SupervisedActor


class PublishViews(msgspec.Struct, frozen=True):
    """Timer message: send the conflated book views to liquidity."""


class MarketDataActor(SupervisedActor):
    def __init__(self, name: str, epoch: int, services: Any, products: dict[str, ProductSpec],
                 bar_interval_s: float, stale_after_s: float, view_interval_s: float) -> None:
        super().__init__(name, epoch, services)
        self.core = MarketDataCore(products, bar_interval_s, stale_after_s)
        self.products = tuple(products)
        self.view_interval_s = view_interval_s
        self.gaps = self.metrics.counter("feed.gaps_applied")
        self.awaiting_snapshot: set[str] = set()  # books invalidated by corruption, resync asked
        self.resync_requests = self.metrics.counter("feed.resync_requests")
        self.valid: dict[str, bool] = dict.fromkeys(self.products, False)
        self.all_valid = False

    def start_core(self) -> None:
        self.every(self.view_interval_s, PublishViews())

    def handle(self, message: Any) -> Any:
        kind = type(message)
        if kind is L2Update:
            outputs = self.core.on_l2(message)
            self._publish(outputs)
            self._resync_if_corrupt(outputs)
        elif kind is TradePrint:
            self._publish(self.core.on_trade(message))
            self.send("liquidity", message)  # the trade tape
        elif kind is PublishViews:
            for product_id in self.products:
                self.send("liquidity", self.core.view(product_id))
        elif kind is StreamGap:
            self.gaps.inc()
            self._publish(self.core.on_gap(message))
        elif kind is ProductStatus:
            self._on_status(message)
        elif kind is TradabilityRequest:
            for tradability in self.core.tradabilities():
                self.send(message.reply_to, tradability)
        elif type(message) is ReportQuery:
            return {pid: self._product_report(pid) for pid in self.products}
        elif type(message) is BookQuery:
            book = self.core.book(message.product_id)
            return book.levels("bid", book.bid_levels), book.levels("offer", book.ask_levels)
        return None

    def _on_status(self, status: ProductStatus) -> None:
        was_tradable = self.core.is_tradable(status.product_id)
        tradability, warning = self.core.on_status(status)
        if warning is not None:
            logger.warning(warning)
        if tradability is None:
            return
        if tradability.tradable != was_tradable:
            logger.warning("{} is {}tradable: status {!r} {}", status.product_id,
                           "" if tradability.tradable else "not ", status.status, status.status_message)
        self.send("execution", tradability)

    def _track_validity(self, status: BookStatus) -> None:
        """Tell the orchestrator when 'every book is valid' changes (it gates feed recovery)."""
        if self.valid.get(status.product_id) == status.valid:
            return
        self.valid[status.product_id] = status.valid
        all_valid = all(self.valid.values())
        if all_valid != self.all_valid:
            self.all_valid = all_valid
            self.tell_supervisor(BooksHealth(all_valid))

    def _product_report(self, product_id: str) -> dict[str, Any]:
        report = dict(self.core.report(product_id))
        book = self.core.book(product_id)
        report["book_sha256"] = book_digest(book.levels("bid", book.bid_levels), book.levels("offer", book.ask_levels))
        return report

    def _resync_if_corrupt(self, outputs: list[Any]) -> None:
        """A book that went invalid on a frame (crossed, locked, unreadable) needs a fresh snapshot:
        ask streaming, the owner of the subscription, once until the snapshot arrives."""
        for out in outputs:
            if type(out) is not BookStatus:
                continue
            if out.valid:
                self.awaiting_snapshot.discard(out.product_id)
            elif out.product_id not in self.awaiting_snapshot:
                self.awaiting_snapshot.add(out.product_id)
                self.resync_requests.inc()
                self.send("streaming", ResyncRequest(f"{out.product_id} book corrupt"))

    def _publish(self, outputs: list[Any]) -> None:
        # The order path first: execution's gate is sent the fresh book before strategy is sent the
        # bars it may trade on, and both are woken before portfolio and risk. Each consumer still
        # gets its messages in the core's order.
        statuses = [out for out in outputs if type(out) is BookStatus]
        bars = [out for out in outputs if type(out) is Bar]
        for status in statuses:
            self.send("execution", status)
        for bar in bars:
            self.send("strategy", bar)
        for status in statuses:
            self.send("portfolio", status)
            self._track_validity(status)
        for bar in bars:
            self.send("risk", bar)  # the volatility breaker
