"""The execution actor: order intents -> quantized orders -> pre-trade gate -> venue.

Owns the open-order table (OrderBookkeeper), the latest book status and tradability (from the
`status` channel, via market_data) per product and the trading state it was told. Every intent gets
one deterministic client_order_id, so a repeated decision never becomes a second order. On HALTED
it cancels every open order and refuses new ones. On (re)start it rebuilds its table from the venue
before it sends any order (intents arriving earlier are refused as not_synced), forwards the fills
it missed while down, and asks market_data again which products are tradable. Must never size
positions or decide direction, and never send on an invalid or stale book.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from actors.execution.gate import GateContext, PreTradeGate
from actors.execution.messages import CancelOrder, OrderPlaced, SyncRequest
from actors.execution.orders import OrderBookkeeper, client_order_id
from actors.execution.quantize import Refusal, quantize
from actors.liquidity.messages import LiquiditySnapshot
from actors.market_data.messages import BookStatus, ProductTradability, TradabilityRequest
from actors.market_data.staleness import is_stale
from actors.orchestrator.messages import ACTIVE, HALTED, Decision, TradingStateChanged
from actors.portfolio.messages import PortfolioUpdate
from actors.products import ProductSpec
from actors.risk.projection import maintenance_margin
from actors.strategy.messages import OrderIntent
from actors.venue.messages import Fill, OrderUpdate, VenueSnapshot
from runtime.actor import SupervisedActor

_ZERO = Decimal(0)


class ExecutionActor(SupervisedActor):
    def __init__(self, name: str, epoch: int, services: Any, products: dict[str, ProductSpec], config: Any,
                 stale_after_s: float, risk: Any = None) -> None:
        super().__init__(name, epoch, services)
        self.products = products
        self.gate = PreTradeGate.from_config(config, risk)
        self.stale_after_s = stale_after_s
        self.orders = OrderBookkeeper()
        self.state = ACTIVE
        self.books: dict[str, BookStatus] = {}
        self.tradable: dict[str, bool] = {}  # from the status channel; absent: tradable
        self.liquidity: dict[str, LiquiditySnapshot] = {}
        self.equity = _ZERO
        self.positions: dict[str, Decimal] = {}
        self.marks: dict[str, Decimal] = {}
        self.refusals: Counter[str] = Counter()
        self.conflicts = self.metrics.counter("execution.conflicting_updates")
        # Process-wide counters: they survive restarts, unlike the rebuilt order table's counts.
        self.orders_sent = self.metrics.counter("trading.orders")
        self.rejects = self.metrics.counter("trading.rejects")
        self.synced = False  # no order leaves before the table is rebuilt from the venue

    def start_core(self) -> None:
        self.send("venue", SyncRequest(reply_to=self.name))
        self.send("market_data", TradabilityRequest(reply_to=self.name))  # a restart must not forget

    def handle(self, message: Any) -> Any:
        kind = type(message)
        if kind is BookStatus:
            self.books[message.product_id] = message
        elif kind is LiquiditySnapshot:
            self.liquidity[message.product_id] = message
        elif kind is ProductTradability:
            self.tradable[message.product_id] = message.tradable
        elif kind is OrderIntent:
            self._on_intent(message)
        elif kind is OrderUpdate:
            self._on_update(message)
        elif kind is Fill:
            if self.orders.on_fill(message):
                self.send("portfolio", message)
                self.send("journal", message)
        elif kind is PortfolioUpdate:
            self.equity = message.equity
            self.positions = dict(message.positions)
            self.marks = dict(message.marks)
        elif kind is TradingStateChanged:
            self.state = message.state
            if message.state == HALTED:
                self._cancel_open_orders()
        elif kind is VenueSnapshot:
            self.orders.rebuild(message)
            self.synced = True
            for fill in message.fills:  # fills that arrived while we were down: both de-duplicate
                self.send("portfolio", fill)
                self.send("journal", fill)
        elif message == "report":
            return self.report()
        return None

    def _on_intent(self, intent: OrderIntent) -> None:
        self.orders.record_intent(intent)
        if not self.synced:
            return self._refuse(intent, "not_synced")
        spec = self.products.get(intent.product_id)
        if spec is None:
            return self._refuse(intent, "unknown_product")
        book = self.books.get(intent.product_id)
        mark = book.mark if book is not None else None
        quantized = quantize(intent, spec, mark)
        if isinstance(quantized, Refusal):
            return self._refuse(intent, quantized.reason)
        now = self.clock.now()
        other_gross, other_maintenance = self._other_positions(excluding=intent.product_id)
        context = GateContext(
            state=self.state,
            book_valid=book is not None and book.valid,
            book_stale=is_stale(book, now, self.stale_after_s),
            mark=mark,
            position=self.positions.get(intent.product_id, _ZERO),
            equity=self.equity,
            other_gross_exposure=other_gross,
            spec=spec,
            liquidity=self.liquidity.get(intent.product_id),
            tradable=self.tradable.get(intent.product_id, True),
            other_maintenance_margin=other_maintenance,
            open_reducing=self._open_reducing(intent.product_id),
            now=now,
            best_bid=book.best_bid if book is not None else None,
            best_ask=book.best_ask if book is not None else None,
        )
        reason = self.gate.check(quantized, context)
        if reason is not None:
            return self._refuse(intent, reason)
        order = quantized.to_place_order(client_order_id(intent.intent_id))
        if self.orders.on_submit(order, intent.intent_id, now):
            self.orders_sent.inc()
            self.send("venue", order)
            self.send("journal", OrderPlaced(order, intent.intent_id, now))

    def _on_update(self, update: OrderUpdate) -> None:
        try:
            changed = self.orders.on_update(update)
        except ValueError:
            self.conflicts.inc()  # two different final states for one order: keep the first
            return
        if changed:
            if update.status == "REJECTED":
                self.rejects.inc()
            self.send("journal", update)

    def _refuse(self, intent: OrderIntent, reason: str) -> None:
        self.refusals[reason] += 1
        self.send("journal", Decision(self.clock.now(), "refusal", f"{intent.intent_id}: {reason}"))

    def _cancel_open_orders(self) -> None:
        for record in self.orders.open_orders():
            self.send("venue", CancelOrder(record.client_order_id))

    def _other_positions(self, excluding: str) -> tuple[Decimal, Decimal]:
        """(gross exposure, maintenance margin) of every marked position but `excluding`'s, quote."""
        gross = maintenance = _ZERO
        for product_id, size in self.positions.items():
            mark = self.marks.get(product_id)
            spec = self.products.get(product_id)
            if product_id != excluding and mark is not None and spec is not None:
                gross += abs(spec.notional(size, mark))
                maintenance += maintenance_margin(spec, size, mark)
        return gross, maintenance

    def _open_reducing(self, product_id: str) -> Decimal:
        """Unfilled size of the live orders that shrink this product's position: a reduce-only
        order must leave room for them, or together they could flip it."""
        position = self.positions.get(product_id, _ZERO)
        reducing_side = "SELL" if position > 0 else "BUY" if position < 0 else ""
        return sum((max(_ZERO, r.size - r.filled_size) for r in self.orders.open_orders()
                    if r.product_id == product_id and r.side == reducing_side), _ZERO)

    def report(self) -> dict[str, Any]:
        counts = self.orders.counts
        return {
            "orders": self.orders_sent.value, "rejects": self.rejects.value, "refusals": dict(self.refusals),
            "open_orders": len(self.orders.open_orders()), "state": self.state,
            "partial_fills": counts.partial_fills, "maker_fills": counts.maker_fills,
            "taker_fills": counts.taker_fills,
        }
