"""Execution's pure core: order intents -> quantized orders -> pre-trade gate -> sends to the venue.

Owns the open-order table (OrderBookkeeper), the stops the venue does not hold (LocalStops, fired
from book marks into gated market orders), the cancel-and-replace requests waiting for their
original to end (PendingReplacements), the latest book status and tradability (from the `status`
channel, via market_data) per product and the trading state it was told. Every intent gets one
deterministic client_order_id, so a repeated decision never becomes a second order. On HALTED it
cancels every open order, disarms the local stops, drops waiting replacements and refuses new ones.
On (re)start it rebuilds its table from the venue before it sends any order (intents arriving
earlier are refused as not_synced), forwards the fills it missed while down, and asks market_data
again which products are tradable. A restarted venue gateway asks it which orders are live and
what was filled (OrdersRequest): execution is the owner; it also asks again for a sync not answered
yet and re-sends the cancels it still wants. It logs each order sent, refused and ended and each
distinct fill once (actors.execution.log_lines). The gate sees what actors.execution.exposure
holds: portfolio's positions, the fills on their way to it and the open size of the live orders,
so orders sent in a row are judged together.

`handle(message, now)` returns the effects (Send, TellSupervisor) in the order they must happen;
the actor (actors.execution.actor) performs them. Must never size positions or decide direction,
never send on an invalid or stale book, and never read a clock or touch the runtime: time is
given, and its only I/O is the write-ahead intent log, which must come before the order's Send.
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
    FILLED,
    PENDING,
    TERMINAL,
    VENUE_STATUS,
    OrderBookkeeper,
    OrderRecord,
    client_order_id,
)
from actors.execution.replace import PendingReplacements, replacement_intent
from actors.risk.gate import PreTradeGate
from actors.risk.gate_context import GateContext
from config.schema import ExecutionConfig, RiskConfig
from domain.control import (
    ACTIVE,
    HALTED,
    RECOVERING,
    Decision,
    JournalHealth,
    JournalRestarted,
    PositionMismatch,
    Synced,
    TradingStateChanged,
)
from domain.market import BookStatus, LiquiditySnapshot, ProductTradability, TradabilityRequest
from domain.orders import (
    CancelIntent,
    CancelOrder,
    Fill,
    HeldOrder,
    HeldOrders,
    HeldOrdersRequest,
    KnownOrder,
    KnownOrders,
    OrderIntent,
    OrderPlaced,
    OrdersRequest,
    OrderState,
    OrderUpdate,
    PlaceOrder,
    QueryOrders,
    ReplaceIntent,
    SyncRequest,
    VenueSnapshot,
)
from domain.portfolio import PortfolioUpdate
from domain.products import ProductSpec
from domain.quantize import LOCAL_STOP, QuantizedOrder, Refusal, quantize
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


class ExecutionCore:
    """Execution's decisions: `handle(message, now)` returns the messages to send, in order.
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

    def _handle(self, message: Any) -> None:
        kind = type(message)
        if kind is BookStatus:
            self.books[message.product_id] = message
            if len(self.stops) and message.valid and message.mark is not None and self.synced \
                    and self.state != RECOVERING and message.product_id not in self.disputed:
                # a stop waits while the venue has not confirmed the position it protects
                self._fire_stops(message.product_id, message.mark)
        elif kind is LiquiditySnapshot:
            self.liquidity[message.product_id] = message
        elif kind is ProductTradability:
            self.tradable[message.product_id] = message.tradable
        elif kind is OrderIntent:
            self._on_intent(message)
        elif kind is ReplaceIntent:
            self._on_replace(message)
        elif kind is CancelIntent:
            self._on_cancel(message)
        elif kind is OrderUpdate:
            self._on_update(message)
            self._settle_replacement(message.client_order_id)
        elif kind is Fill:
            before = self.orders.get(message.client_order_id)
            if self.orders.on_fill(message):
                log_lines.fill(message)
                if self._log_end(before, message.client_order_id):  # the fill ended it: the journal's row too
                    self._journal_state(message.client_order_id)
                self.exposure.forwarded(message)
                self.send("portfolio", message)
                self.send("journal", message)
                self._settle_replacement(message.client_order_id)
        elif kind is PortfolioUpdate:
            self.exposure.on_portfolio(message)
        elif kind is TradingStateChanged:
            self.state = message.state
            if message.state == HALTED:
                self._cancel_open_orders()
                self._disarm_all("halted")
        elif kind is VenueSnapshot:
            diff = self.orders.rebuild(message)
            log_lines.synced(len(message.open_orders), len(message.fills), diff, recovering=not self.synced)
            self.synced = True
            self.tell_supervisor(Synced(self.name))
            self.filled_at_sync = {}
            for fill in message.fills:  # fills that arrived while we were down: both de-duplicate
                self.send("portfolio", fill)
                self.send("journal", fill)
                coid = fill.client_order_id
                self.filled_at_sync[coid] = self.filled_at_sync.get(coid, _ZERO) + fill.size
            self._resume_replacements()
        elif kind is HeldOrders:
            self._restore(message)
        elif kind is CheckInflight:
            self._query_unanswered()
        elif kind is JournalRestarted:
            self._journal_again()
        elif kind is PositionMismatch:  # from the orchestrator; an empty one: the operator decided
            self.disputed = frozenset(pid for pid, _, _ in message.positions)
        elif kind is OrdersRequest:
            self.send(message.reply_to, KnownOrders(tuple(
                KnownOrder(r.client_order_id, r.venue_order_id, r.is_live, r.order, r.fills_size, r.fills_notional,
                           r.fees)
                for r in self.orders.records() if r.is_live or r.fills_size > 0)))
            if not self.synced:  # the venue restarted: our SyncRequest may have died with it
                self.send("venue", SyncRequest(reply_to=self.name))
            for record in self.orders.open_orders():  # and so may the cancels we still want
                if self.state == HALTED or record.client_order_id in self.replacing:
                    self.send("venue", CancelOrder(record.client_order_id))

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

    def _on_intent(self, intent: OrderIntent) -> None:
        self.orders.record_intent(intent)
        quantized = self._quantize(intent)
        if quantized is None:
            return
        if quantized.order_type == LOCAL_STOP:
            self._arm(quantized)
        else:
            self._gate_and_send(quantized)

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

    # -- local stops -----------------------------------------------------------------------

    def _arm(self, stop: QuantizedOrder) -> None:
        if self.state == HALTED:
            self._refuse(stop, "halted")
            return
        coid = client_order_id(stop.intent_id)
        now = self.now
        if coid in self.orders or not self.stops.arm(coid, stop, now):
            return  # the same decision again: armed already, or fired already
        self.send("journal", HeldOrder(coid, "stop", msgspec.json.encode(stop).decode(), now))
        self._decide("stop_armed", f"{stop.intent_id}: {stop.side} {stop.size} {stop.product_id} "
                                   f"at {stop.stop_price} ({stop.stop_direction})")

    def _disarm(self, coid: str, kind: str, detail: str) -> bool:
        stop = self.stops.disarm(coid)
        if stop is None:
            return False
        self._release(coid, "stop")
        self._decide(kind, f"{stop.order.intent_id}: {detail}")
        return True

    def _release(self, key: str, kind: str) -> None:
        self.send("journal", HeldOrder(key, kind, "", self.now))

    def _fire_stops(self, product_id: str, mark: Decimal) -> None:
        for stop in self.stops.fire(product_id, mark):
            self.stops_fired.inc()
            self._release(stop.client_order_id, "stop")
            self._decide("stop_triggered", f"{stop.order.intent_id}: mark {mark} reached {stop.order.stop_price}")
            self._gate_and_send(stop.order.as_triggered())

    def _disarm_all(self, reason: str) -> None:
        for stop in self.stops.armed():
            self._disarm(stop.client_order_id, "stop_disarmed", reason)
        for original in self.replacing.originals():
            self._release(original, "replacement")
        if self.replacing.clear():
            self._decide("replace_dropped", f"every waiting replacement: {reason}")

    def _restore(self, held: HeldOrders) -> None:
        """After a restart: re-arm the stops and wait again for the replacements we held."""
        for item in held.items:
            if item.kind == "stop":
                stop = msgspec.json.decode(item.body, type=QuantizedOrder)
                if item.key not in self.orders and self.stops.arm(item.key, stop, item.ts):
                    self._decide("stop_restored", f"{stop.intent_id}: at {stop.stop_price}")
            elif item.kind == "replacement":
                if self.replacing.add(item.key, msgspec.json.decode(item.body, type=OrderIntent)):
                    self._decide("replace_restored", item.key)
        self._resume_replacements()

    def _resume_replacements(self) -> None:
        """Restored replacements, once the venue said what is live: a live original is asked to
        cancel again (the first cancel may have died with us); an ended one releases its replacement."""
        if not self.synced:
            return
        for original in self.replacing.originals():
            record = self.orders.get(original)
            if record is not None and record.is_live:
                self.send("venue", CancelOrder(original))
            else:
                self._settle_replacement(original, self.filled_at_sync.get(original, _ZERO))

    # -- cancel and cancel-and-replace -----------------------------------------------------

    def _on_cancel(self, cancel: CancelIntent) -> None:
        coid = client_order_id(cancel.intent_id)
        if self._disarm(coid, "stop_disarmed", cancel.reason or "cancelled"):
            return
        record = self.orders.get(coid)
        if record is not None and record.is_live:
            self.send("venue", CancelOrder(coid))
        else:
            self._decide("cancel_not_live", cancel.intent_id)

    def _on_replace(self, replace: ReplaceIntent) -> None:
        coid = client_order_id(replace.replaces)
        armed = self.stops.get(coid)
        if armed is not None:  # a local stop: re-arm it as asked, no venue involved
            intent = replacement_intent(armed.order, replace)
            self.orders.record_intent(intent)
            stop = self._quantize(intent)
            if stop is not None:
                self._disarm(coid, "replace", f"replaced by {replace.intent_id}")
                self.replaced.inc()
                self._arm(stop)
            return
        record = self.orders.get(coid)
        if record is None or not record.is_live:
            return self._refuse(replace, "replace_not_live")
        if record.order is None:
            return self._refuse(replace, "replace_unknown_order")  # adopted: side unknown
        if coid in self.replacing:
            return self._refuse(replace, "replace_pending")
        intent = replacement_intent(record.order, replace)
        if self._quantize(intent) is None:
            return  # refused now, not after the original is gone
        self.replacing.add(coid, intent)
        self.send("journal", HeldOrder(coid, "replacement", msgspec.json.encode(intent).decode(), self.now))
        self._decide("replace", f"{replace.intent_id} replaces {replace.replaces}: cancelling it first")
        self.send("venue", CancelOrder(coid))

    def _settle_replacement(self, coid: str, filled_unrecorded: Decimal | None = None) -> None:
        """The original of a waiting replacement ended: send what is left, once. An original the
        table no longer has (it ended while we were down) settles with `filled_unrecorded`."""
        if coid not in self.replacing:
            return
        record = self.orders.get(coid)
        if record is None and filled_unrecorded is None or record is not None and record.is_live:
            return
        if record is not None:
            finished, filled = record.state == FILLED, record.filled_size
        else:
            assert filled_unrecorded is not None  # returned above otherwise
            finished, filled = False, filled_unrecorded
        intent = self.replacing.settle(coid, finished, filled)
        self._release(coid, "replacement")
        if intent is None:
            self._decide("replace_dropped", f"{record.intent_id if record else coid}: ended with {filled} filled")
            return
        self.replaced.inc()
        self._on_intent(intent)

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
