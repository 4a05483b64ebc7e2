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
the actor (actors.execution.actor) performs them. The path of one order (quantize, gate, write
ahead, send, the answers) is actors.execution.order_flow's OrderFlow, which this builds on; here
are the routing of every message, the local stops, cancel-and-replace and the restart. Must never
size positions or decide direction, never send on an invalid or stale book, and never read a
clock or touch the runtime: time is given, and its only I/O is the write-ahead intent log, which
must come before the order's Send.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from actors.execution import log_lines
from actors.execution.order_flow import CheckInflight, OrderFlow
from actors.execution.orders import FILLED, client_order_id
from actors.execution.replace import replacement_intent
from domain.control import HALTED, RECOVERING, JournalRestarted, PositionMismatch, Synced, TradingStateChanged
from domain.market import BookStatus, LiquiditySnapshot, ProductTradability
from domain.orders import (
    CancelIntent,
    CancelOrder,
    Fill,
    HeldOrder,
    HeldOrders,
    KnownOrder,
    KnownOrders,
    OrderIntent,
    OrdersRequest,
    OrderUpdate,
    ReplaceIntent,
    SyncRequest,
    VenueSnapshot,
)
from domain.portfolio import PortfolioUpdate
from domain.quantize import LOCAL_STOP, QuantizedOrder

_ZERO = Decimal(0)


class ExecutionCore(OrderFlow):
    """Execution's decisions: `handle(message, now)` returns the messages to send, in order."""

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

    def _on_intent(self, intent: OrderIntent) -> None:
        self.orders.record_intent(intent)
        quantized = self._quantize(intent)
        if quantized is None:
            return
        if quantized.order_type == LOCAL_STOP:
            self._arm(quantized)
        else:
            self._gate_and_send(quantized)

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
