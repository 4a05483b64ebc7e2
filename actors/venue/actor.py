"""The paper venue actor: the in-process stand-in for the exchange in paper runs.

Owns the PaperVenue core (the bot's orders at the venue and the mirror of the streamed market it
matches them against). Receives the same level2 and trade stream as market_data, orders from
execution and cancel-all from the orchestrator; reports order updates and fills to execution.
Measures tick-to-order latency where an order leaves the bot. Orders and cancels then travel for
a seeded, jittered latency (a timer on the injected clock, so replays stay deterministic) and meet
the book as it stands when they arrive; a cancel can overtake its order, as on a real venue.
Must never read the bot's books or decide what to trade.
"""

from __future__ import annotations

import random
import time
from decimal import Decimal
from typing import Any

import msgspec

from actors.venue.paper import PaperVenue
from domain.market import L2Update, TradePrint
from domain.orders import (
    NEVER_REACHED,
    CancelAll,
    CancelOrder,
    OrderUpdate,
    PlaceOrder,
    QueryOrders,
    SyncRequest,
    VenueSnapshot,
    net_positions,
)
from domain.products import ProductSpec
from domain.queries import FillsQuery, OpenOrdersQuery, OrderQuery
from runtime.actor import SupervisedActor


class Arrival(msgspec.Struct, frozen=True):
    """Timer message: an order or cancel reaches the venue after its latency."""

    message: PlaceOrder | CancelOrder


class PaperVenueActor(SupervisedActor):
    def __init__(self, name: str, epoch: int, services: Any, products: dict[str, ProductSpec],
                 maker_fee_rate: Decimal, taker_fee_rate: Decimal, latency_ms: float = 0.0,
                 latency_jitter: float = 0.0, seed: int = 0, core: PaperVenue | None = None) -> None:
        """`core`: the venue's books and accounts, given by the tree so that they outlive a restart of
        this actor (a real venue does not forget its orders when our connection to it breaks)."""
        super().__init__(name, epoch, services)
        self.core = core if core is not None else PaperVenue(products, maker_fee_rate, taker_fee_rate)
        self.latency_s = latency_ms / 1000
        self.latency_jitter = latency_jitter
        self.rng = random.Random(seed * 7919 + epoch)
        self.tick_to_order = self.metrics.histogram("latency.tick_to_order_us")
        self.cancel_alls = self.metrics.counter("venue.cancel_all")

    def handle(self, message: Any) -> Any:
        kind = type(message)
        now = self.clock.now()
        if kind is L2Update:
            self._route(self.core.apply_levels(message.product_id, message.is_snapshot, message.levels,
                                               message.ts, message.plain))
        elif kind is TradePrint:
            self._route(self.core.apply_trade(message.product_id, message.price, message.size, message.side,
                                              message.ts))
        elif kind is PlaceOrder:
            if message.origin_ns:
                self.tick_to_order.observe((time.perf_counter_ns() - message.origin_ns) / 1000)
            self._travel(message)
        elif kind is CancelOrder:
            self._travel(message)
        elif kind is Arrival:
            self._arrive(message.message, now)
        elif kind is CancelAll:
            self.cancel_alls.inc()
            self._route(self.core.cancel_all(now))
        elif kind is QueryOrders:
            for cid, product_id in message.orders:
                known = self.core.order(cid)
                self.send("execution", known if known is not None else
                          OrderUpdate(cid, "", product_id, "FAILED", Decimal(0), Decimal(0), NEVER_REACHED, now))
        elif kind is SyncRequest:
            fills = self.core.fills()
            snapshot = VenueSnapshot(self.core.open_orders(), fills, net_positions(fills))
            if message.positions:  # a reconciliation: every order too
                snapshot = msgspec.structs.replace(snapshot, orders=self.core.orders())
            self.send(message.reply_to, snapshot)
        elif kind is FillsQuery:
            return self.core.fills()
        elif kind is OpenOrdersQuery:
            return self.core.open_orders()
        elif kind is OrderQuery:
            return self.core.order(message.client_order_id)
        return None

    def _travel(self, message: PlaceOrder | CancelOrder) -> None:
        if self.latency_s <= 0:
            return self._arrive(message, self.clock.now())
        jitter = self.latency_jitter
        self.later(self.latency_s * (1 + self.rng.uniform(-jitter, jitter)), Arrival(message))

    def _arrive(self, message: PlaceOrder | CancelOrder, now: float) -> None:
        if type(message) is PlaceOrder:
            self._route(self.core.place(message, now))
        else:
            self._route(self.core.cancel(message.client_order_id, now))

    def _route(self, events: list[Any]) -> None:
        for event in events:
            self.send("execution", event)
