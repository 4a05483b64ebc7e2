"""The reconciler: the scheduled comparison of the bot's books with the venue's, while running.

Owns the schedule (`reconcile.interval_s`, and at once after the `user` stream reconnects:
PrivateStreamBack from the gateway): it asks the venue for a snapshot (SyncRequest, the same
snapshot a restarted actor rebuilds from: open orders and every fill; on the paper venue also its
positions), and hands the venue's fills to portfolio (RepairFills: applied once by key, each one it
had missed counted and logged) and to the journal (Fill: written once by trade id), so a fill lost
on its way to either (a crash or a dropped message) is repaired within one interval; then, where
the venue states positions, portfolio compares its own with them (after the fills: mailbox order)
and tells the orchestrator of a difference (PositionMismatch: REDUCING until an operator decides).
Must never send an order, rebuild execution's order table, or decide what a difference means.
"""

from __future__ import annotations

from typing import Any

import msgspec
from loguru import logger

from domain.control import JournalRestarted
from domain.orders import OrderState, PrivateStreamBack, SyncRequest, VenueSnapshot
from domain.portfolio import CheckPositions, RepairFills
from domain.queries import ReportQuery
from runtime.actor import SupervisedActor


class ReconcileNow(msgspec.Struct, frozen=True):
    """Timer message: ask the venue for its snapshot."""


class ReconcilerActor(SupervisedActor):
    def __init__(self, name: str, epoch: int, services: Any, products: tuple[str, ...], interval_s: float) -> None:
        super().__init__(name, epoch, services)
        self.products = frozenset(products)
        self.interval_s = interval_s
        self.runs = self.metrics.counter("reconcile.runs")
        self.answered = self.metrics.counter("reconcile.answered")
        self.after_reconnect = self.metrics.counter("reconcile.after_reconnect")

    def start_core(self) -> None:
        self.every(self.interval_s, ReconcileNow())

    def handle(self, message: Any) -> Any:
        kind = type(message)
        if kind is ReconcileNow or kind is JournalRestarted or kind is PrivateStreamBack:
            if kind is PrivateStreamBack:
                self.after_reconnect.inc()
                logger.info("reconcile: {}: comparing the books with the venue now", message.reason)
            self.runs.inc()
            self.send("venue", SyncRequest(reply_to=self.name, positions=True))
        elif kind is VenueSnapshot:
            self.answered.inc()
            fills = tuple(f for f in message.fills if f.product_id in self.products)
            self.send("portfolio", RepairFills(fills, self.clock.now()))
            for fill in fills:
                self.send("journal", fill)
            for order in message.orders:  # an order state the journal missed (OrderState writes only a change)
                if order.product_id in self.products:
                    self.send("journal", OrderState(order, from_venue=True))
            if message.positions is not None:
                self.send("portfolio", CheckPositions(message.positions, "scheduled", message.positions_cover))
        elif type(message) is ReportQuery:
            return {"runs": self.runs.value, "answered": self.answered.value,
                    "after_reconnect": self.after_reconnect.value}
        return None
