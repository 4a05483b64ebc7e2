"""The path of one order through execution: an intent quantized onto its product's grids, judged by
risk's pre-trade gate on the state execution holds, written ahead to the intent log, sent; the
venue's answers applied to the open-order table and journaled; the orders the venue has not
answered for asked about again; everything re-told to a restarted journal.

`OrderFlow` holds the state (the order table, books, tradability, liquidity, exposure, trading
state, the held stops and replacements) and the effects buffer; actors.execution.core's
ExecutionCore builds on it with the message routing, the local stops, cancel-and-replace and the
restart. Must never size positions or decide direction, never send on an invalid or stale book,
and never read a clock or touch the runtime: time is given, and its only I/O is the write-ahead
intent log, which must come before the order's Send.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any, Union

import msgspec
from loguru import logger

from actors.execution import log_lines
from actors.execution.exposure import Exposure
from actors.execution.intent_log import IntentLog
from actors.execution.local_stops import LocalStops
from actors.execution.orders import (
    PENDING,
    TERMINAL,
    VENUE_STATUS,
    OrderBookkeeper,
    OrderRecord,
    client_order_id,
)
from actors.execution.replace import PendingReplacements
from actors.risk.gate import PreTradeGate
from actors.risk.gate_context import GateContext
from config.schema import ExecutionConfig, RiskConfig
from domain.control import (
    ACTIVE,
    Decision,
    JournalHealth,
)
from domain.market import BookStatus, LiquiditySnapshot, TradabilityRequest
from domain.orders import (
    CancelOrder,
    HeldOrder,
    HeldOrdersRequest,
    OrderIntent,
    OrderPlaced,
    OrderState,
    OrderUpdate,
    PlaceOrder,
    QueryOrders,
    ReplaceIntent,
    SyncRequest,
)
from domain.products import ProductSpec
from domain.quantize import QuantizedOrder, Refusal, quantize
from domain.staleness import is_stale
from runtime.metrics import Registry

_ZERO = Decimal(0)


class CheckInflight(msgspec.Struct, frozen=True):
    """Timer message: ask the venue about orders it has not answered for."""


class Send(msgspec.Struct, frozen=True):
    """Tell `message` to the actor named `to`."""

    to: str
    message: Any


class TellSupervisor(msgspec.Struct, frozen=True):
    """A fact for the orchestrator (Synced, JournalHealth)."""

    message: Any


Effect = Union[Send, TellSupervisor]


class OrderFlow:
    """The order path and execution's state; `handle` routes through `_handle` (ExecutionCore's).
    `intent_log` (set by the actor once its file is open) is the one I/O it performs itself: an
    order's intent is on disk before the order's Send exists."""

    def __init__(self, products: dict[str, ProductSpec], config: ExecutionConfig, stale_after_s: float,
                 risk: RiskConfig | None = None, inflight_s: float = 10.0, metrics: Registry | None = None,
                 name: str = "execution") -> None:
        self.name = name
        self.metrics = metrics or Registry()
        self.now = 0.0
        self._out: list[Effect] = []
        self.intent_log: IntentLog | None = None
        self.log_failing: str | None = None  # the reason while intents cannot be written
        self.inflight_s = inflight_s
        self.queried: dict[str, float] = {}  # client id -> when we last asked the venue about it
        self.inflight_queries = self.metrics.counter("execution.inflight_queries")
        self.products = products
        self.gate = PreTradeGate.from_config(config, risk)
        self.stale_after_s = stale_after_s
        self.orders = OrderBookkeeper()
        self.stops = LocalStops()
        self.replacing = PendingReplacements()
        self.state = ACTIVE
        self.books: dict[str, BookStatus] = {}
        self.tradable: dict[str, bool] = {}  # from the status channel; absent: tradable
        self.liquidity: dict[str, LiquiditySnapshot] = {}
        self.exposure = Exposure(products)
        self.disputed: frozenset[str] = frozenset()  # products whose position the venue disputes
        self.refusals: Counter[str] = Counter()
        self.conflicts = self.metrics.counter("execution.conflicting_updates")
        # Process-wide counters: they survive restarts, unlike the rebuilt order table's counts.
        self.orders_sent = self.metrics.counter("trading.orders")
        self.rejects = self.metrics.counter("trading.rejects")
        self.stops_fired = self.metrics.counter("trading.stops_triggered")
        self.replaced = self.metrics.counter("trading.replaced")
        self.synced = False  # no order leaves before the table is rebuilt from the venue
        self.filled_at_sync: dict[str, Decimal] = {}  # client_order_id -> filled, per the venue's last snapshot

    def start(self, now: float) -> list[Effect]:
        """What a (re)started execution asks first: the venue's orders, the held stops and
        replacements, the products' tradability."""
        self._begin(now)
        self.send("venue", SyncRequest(reply_to=self.name))
        self.send("journal", HeldOrdersRequest(reply_to=self.name))  # stops and replacements survive us
        self.send("market_data", TradabilityRequest(reply_to=self.name))  # a restart must not forget
        return self._end()

    def handle(self, message: Any, now: float) -> list[Effect]:
        self._begin(now)
        self._handle(message)
        return self._end()

    def _handle(self, message: Any) -> None:
        raise NotImplementedError  # ExecutionCore routes

    def send(self, to: str, message: Any) -> None:
        self._out.append(Send(to, message))

    def tell_supervisor(self, message: Any) -> None:
        self._out.append(TellSupervisor(message))

    def _begin(self, now: float) -> None:
        self.now = now
        self._out = []

    def _end(self) -> list[Effect]:
        out, self._out = self._out, []
        return out

    def _journal_again(self) -> None:
        """A restarted journal lost what was in its mailbox: tell it again all we know (each write
        is idempotent by key: the order row, its status, the orders we hold)."""
        now = self.now
        for r in self.orders.records():
            if r.order is not None:
                self.send("journal", OrderPlaced(r.order, r.intent_id, r.updated_at))
            if r.state != PENDING:
                self._journal_state(r.client_order_id)
        for stop in self.stops.armed():
            self.send("journal", HeldOrder(stop.client_order_id, "stop", msgspec.json.encode(stop.order).decode(),
                                           stop.armed_at))
        for original in self.replacing.originals():
            intent = self.replacing.waiting(original)
            self.send("journal", HeldOrder(original, "replacement", msgspec.json.encode(intent).decode(), now))

    def _query_unanswered(self) -> None:
        """Orders sent `inflight_s` ago with no word from the venue (their PlaceOrder or its answer
        may have been lost): ask the venue, once per `inflight_s` each."""
        now = self.now
        due = self.inflight_s
        ask = [r for r in self.orders.open_orders() if r.state == PENDING and now - r.updated_at >= due
               and now - self.queried.get(r.client_order_id, -due) >= due]
        if not ask:
            return
        for record in ask:
            self.queried[record.client_order_id] = now
            logger.warning("order {}: no answer from the venue in {:.0f}s: asking it", record.client_order_id,
                           now - record.updated_at)
        self.inflight_queries.inc(len(ask))
        self.send("venue", QueryOrders(tuple((r.client_order_id, r.product_id) for r in ask)))

    def _quantize(self, intent: OrderIntent) -> QuantizedOrder | None:
        """The intent on its product's grids, or None (refused, with the reason recorded)."""
        if not self.synced:
            self._refuse(intent, "not_synced")
            return None
        spec = self.products.get(intent.product_id)
        if spec is None:
            self._refuse(intent, "unknown_product")
            return None
        book = self.books.get(intent.product_id)
        quantized = quantize(intent, spec, book.mark if book is not None else None)
        if isinstance(quantized, Refusal):
            self._refuse(intent, quantized.reason)
            return None
        return quantized

    def _gate_and_send(self, quantized: QuantizedOrder) -> None:
        """Run the pre-trade checks on the current state; send the order if all pass."""
        spec = self.products[quantized.product_id]
        book = self.books.get(quantized.product_id)
        now = self.now
        live = self.orders.open_orders()
        other_gross, other_maintenance = self.exposure.others(live, excluding=quantized.product_id)
        context = GateContext(
            state=self.state,
            book_valid=book is not None and book.valid,
            book_stale=is_stale(book, now, self.stale_after_s),
            mark=book.mark if book is not None else None,
            position=self.exposure.position(quantized.product_id),
            equity=self.exposure.equity,
            other_gross_exposure=other_gross,
            spec=spec,
            liquidity=self.liquidity.get(quantized.product_id),
            tradable=self.tradable.get(quantized.product_id, True),
            other_maintenance_margin=other_maintenance,
            open_reducing=self.exposure.open_reducing(live, quantized.product_id),
            open_same_side=self.exposure.open_size(live, quantized.product_id, quantized.side),
            disputed=quantized.product_id in self.disputed,
            now=now,
            best_bid=book.best_bid if book is not None else None,
            best_ask=book.best_ask if book is not None else None,
        )
        reason = self.gate.check(quantized, context)
        if reason is not None:
            self._refuse(quantized, reason)
            return
        order = quantized.to_place_order(client_order_id(quantized.intent_id))
        if self.orders.on_submit(order, quantized.intent_id, now):
            if not self._write_ahead(order, quantized.intent_id, now):
                return
            self.orders_sent.inc()
            self.send("venue", order)
            self.send("journal", OrderPlaced(order, quantized.intent_id, now))
            log_lines.order_sent(order, quantized.intent_id)

    def _write_ahead(self, order: PlaceOrder, intent_id: str, now: float) -> bool:
        """The intent in the log before the order leaves; one the OS refuses is never sent: the
        order ends FAILED and the orchestrator halts trading (as for a journal write error)."""
        if self.intent_log is None:
            return True
        try:
            self.intent_log.append(order, intent_id, now)
            self.log_failing = None
            return True
        except OSError as exc:
            reason = f"intent log: {exc.strerror or exc or type(exc).__name__}"
        if reason != self.log_failing:
            self.log_failing = reason
            logger.error("execution: {} not sent: its intent could not be written ({}): trading HALTED until"
                         " `ctl resume`", order.client_order_id, reason)
        self._on_update(OrderUpdate(order.client_order_id, "", order.product_id, "FAILED", _ZERO, _ZERO,
                                    f"not journaled, not sent: {reason}", now))
        self.tell_supervisor(JournalHealth(False, reason, writer="intent_log"))
        return False

    def _on_update(self, update: OrderUpdate) -> None:
        before = self.orders.get(update.client_order_id)
        try:
            changed = self.orders.on_update(update)
        except ValueError:
            self.conflicts.inc()  # two different final states for one order: keep the first
            return
        if changed:
            if update.status == "REJECTED":
                self.rejects.inc()
            self._log_end(before, update.client_order_id)
            self.send("journal", update)

    def _log_end(self, before: OrderRecord | None, coid: str) -> bool:
        """Log the order's end once: when this update or fill took it into a terminal state."""
        after = self.orders.get(coid)
        if after is not None and after.state in TERMINAL and (before is None or before.state != after.state):
            log_lines.order_ended(after)
            return True
        return False

    def _journal_state(self, coid: str) -> None:
        r = self.orders.get(coid)
        if r is not None:
            leaves = max(_ZERO, r.size - r.filled_size) if r.is_live else _ZERO
            self.send("journal", OrderState(OrderUpdate(r.client_order_id, r.venue_order_id, r.product_id,
                                                        VENUE_STATUS[r.state], r.filled_size, leaves, r.reason,
                                                        self.now)))

    def _refuse(self, order: OrderIntent | QuantizedOrder | ReplaceIntent, reason: str) -> None:
        self.refusals[reason] += 1
        log_lines.order_refused(order, client_order_id(order.intent_id), reason)
        self._decide("refusal", f"{order.intent_id}: {reason}")

    def _decide(self, kind: str, detail: str) -> None:
        self.send("journal", Decision(self.now, kind, detail))

    def _cancel_open_orders(self) -> None:
        for record in self.orders.open_orders():
            self.send("venue", CancelOrder(record.client_order_id))

    def report(self) -> dict[str, Any]:
        counts = self.orders.counts
        return {
            "orders": self.orders_sent.value, "rejects": self.rejects.value, "refusals": dict(self.refusals),
            "open_orders": len(self.orders.open_orders()), "state": self.state,
            "fills": counts.fills, "partial_fills": counts.partial_fills, "maker_fills": counts.maker_fills,
            "taker_fills": counts.taker_fills,
            "stops_armed": len(self.stops), "stops_triggered": self.stops_fired.value,
            "replaced": self.replaced.value,
        }
