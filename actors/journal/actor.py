"""The journal actor: the single writer of the SQLite database.

Owns the JournalStore connection. Everything that changes state is written as it arrives:
orders, order events, fills, positions, funding settlements, supervision events and decisions;
it answers two reads: the funding history a restarted portfolio asks for, and the orders a
restarted execution held itself (armed local stops, replacements waiting for their original).
Must never be bypassed by another writer and never drop a message silently (unknown types are
counted).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actors.execution.messages import HeldOrder, HeldOrders, HeldOrdersRequest, OrderPlaced
from actors.journal.store import JournalStore
from actors.orchestrator.messages import Decision
from actors.portfolio.messages import FundingHistory, FundingHistoryRequest, FundingRecord, PositionRecord
from actors.venue.messages import Fill, OrderUpdate
from runtime.actor import SupervisedActor
from runtime.messages import SupervisionEvent


class JournalActor(SupervisedActor):
    def __init__(self, name: str, epoch: int, services: Any, db_path: str) -> None:
        super().__init__(name, epoch, services)
        self.db_path = db_path
        self.store: JournalStore | None = None
        self.written = self.metrics.counter("journal.written")
        self.unknown = self.metrics.counter("journal.unknown")

    def start_core(self) -> None:
        Path(self.db_path).parent.mkdir(parents=True, exist_ok=True)
        self.store = JournalStore(self.db_path)

    def stop_core(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    def handle(self, message: Any) -> Any:
        store = self.store
        kind = type(message)
        if kind is Fill:
            store.record_fill(message)
        elif kind is OrderUpdate:
            store.record_order_update(message)
        elif kind is OrderPlaced:
            store.record_place(message.order, message.intent_id, message.ts)
        elif kind is PositionRecord:
            store.upsert_position(product_id=message.product_id, size=message.size, entry=message.entry,
                                  realized_pnl=message.realized_pnl, ts=message.ts)
        elif kind is SupervisionEvent:
            store.record_supervision(message.ts, message.kind, message.child, message.epoch, message.detail)
        elif kind is Decision:
            store.record_decision(message.ts, message.kind, message.detail)
        elif kind is FundingRecord:
            store.record_funding(message)
        elif kind is HeldOrder:
            store.hold(message.key, message.kind, message.body, message.ts)
        elif kind is FundingHistoryRequest:
            self.send(message.reply_to, FundingHistory(tuple(store.funding())))
            return None  # a read, not a write
        elif kind is HeldOrdersRequest:
            self.send(message.reply_to, HeldOrders(tuple(HeldOrder(*row) for row in store.held())))
            return None
        elif message == "counts":
            return store.counts()
        else:
            self.unknown.inc()
            return None
        self.written.inc()
        return None
