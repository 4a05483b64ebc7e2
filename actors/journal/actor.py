"""The journal actor: the single writer of the SQLite database.

Owns the JournalStore connection. Everything that changes state is written as it arrives:
orders, order events, fills, positions, funding settlements, supervision events and decisions;
it answers two reads: the funding history a restarted portfolio asks for, and the orders a
restarted execution held itself (armed local stops, replacements waiting for their original).
Each write message is one transaction. A write the database refuses (sqlite's error or the OS's:
disk full, I/O error, read-only file system) does not crash the actor: it is rolled back, counted
(`journal.write_errors`), and a change of condition is one log line and one JournalHealth fact for
the orchestrator, which halts trading (actors.journal.health). The refused write is lost, which is
why the orchestrator keeps trading HALTED until an operator resumes. A failing read still crashes
the actor (its requester waits with a timeout; a restart reopens the connection).
Must never be bypassed by another writer and never drop a message silently (unknown types are
counted, refused writes counted and told).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, ClassVar

from loguru import logger

from actors.execution.messages import HeldOrder, HeldOrders, HeldOrdersRequest, OrderPlaced
from actors.journal.health import Change, WriteHealth
from actors.journal.store import JournalStore
from actors.orchestrator.messages import Decision
from actors.portfolio.messages import FundingHistory, FundingHistoryRequest, FundingRecord, PositionRecord
from actors.venue.messages import Fill, OrderUpdate
from runtime.actor import SupervisedActor
from runtime.faults import FaultSpec
from runtime.messages import SupervisionEvent

WRITE_ERRORS = (sqlite3.DatabaseError, OSError)  # refused by the database or the file system


class JournalActor(SupervisedActor):
    def __init__(self, name: str, epoch: int, services: Any, db_path: str) -> None:
        super().__init__(name, epoch, services)
        self.db_path = db_path
        self.store: JournalStore | None = None
        self.written = self.metrics.counter("journal.written")
        self.unknown = self.metrics.counter("journal.unknown")
        self.write_errors = self.metrics.counter("journal.write_errors")
        self.health = WriteHealth()

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
        if kind is FundingHistoryRequest:
            self.send(message.reply_to, FundingHistory(tuple(store.funding())))
            return None  # a read, not a write
        if kind is HeldOrdersRequest:
            self.send(message.reply_to, HeldOrders(tuple(HeldOrder(*row) for row in store.held())))
            return None
        if kind is str:
            if message == "counts":
                return store.counts()
            if message == "report":
                return self.health.report()
        write = self._WRITES.get(kind)
        if write is None:
            self.unknown.inc()
            return None
        try:
            with store.transaction():
                write(store, message)
        except WRITE_ERRORS as exc:
            self.write_errors.inc()
            logger.debug("journal: {} not written: {}", kind.__name__, exc)
            self._tell(self.health.failed(str(exc) or type(exc).__name__, self.clock.now()))
            return None
        self.written.inc()
        self._tell(self.health.succeeded(self.clock.now()))
        return None

    def _tell(self, change: Change | None) -> None:
        if change is None:
            return
        if change.level:
            logger.log(change.level, change.line)
        self.tell_supervisor(change.fact)

    def _apply_fault(self, spec: FaultSpec, body: Any) -> Any:
        # The one kind only the journal performs; the base then handles the message as usual.
        if spec.kind == "disk_full" and self.store is not None:
            self.store.freeze_size()
        return super()._apply_fault(spec, body)

    _WRITES: ClassVar[dict[type, Any]] = {  # message type -> its one write
        Fill: lambda store, m: store.record_fill(m),
        OrderUpdate: lambda store, m: store.record_order_update(m),
        OrderPlaced: lambda store, m: store.record_place(m.order, m.intent_id, m.ts),
        PositionRecord: lambda store, m: store.upsert_position(
            product_id=m.product_id, size=m.size, entry=m.entry, realized_pnl=m.realized_pnl, ts=m.ts),
        SupervisionEvent: lambda store, m: store.record_supervision(m.ts, m.kind, m.child, m.epoch, m.detail),
        Decision: lambda store, m: store.record_decision(m.ts, m.kind, m.detail),
        FundingRecord: lambda store, m: store.record_funding(m),
        HeldOrder: lambda store, m: store.hold(m.key, m.kind, m.body, m.ts),
    }
