"""The journal actor: the single writer of the SQLite database.

Owns the JournalStore connection and its group commit: every state change is written as it
arrives, consecutive writes sharing one transaction while more messages wait (committed when the
mailbox is empty, after BATCH_MAX writes, before any read or hang, on a direct ask/tell, on stop
or crash), each message a SAVEPOINT in it, so none is ever left half-written. An OrderPlaced is
written as the order's intent and its PENDING row (execution wrote the intent ahead in its own log:
actors.execution.intent_log). A write the database or the OS refuses (disk full, I/O error,
read-only) loses only its message (the rest of the batch is
written again if SQLite ended the transaction; a failed COMMIT loses the batch), each counted in
`journal.write_errors`; a change of condition is one log line and one JournalHealth fact for the
orchestrator, which halts trading (actors.journal.health). A failing read crashes the actor.
Must never be bypassed by another writer, send an order, or drop a message silently (unknown
types are counted).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, ClassVar

from loguru import logger

from actors.journal.health import Change, WriteHealth
from actors.journal.store import SCHEMA_VERSION, JournalStore
from domain.control import Decision
from domain.orders import (
    Fill,
    HeldOrder,
    HeldOrders,
    HeldOrdersRequest,
    OrderPlaced,
    OrderState,
    OrderUpdate,
)
from domain.portfolio import FundingHistory, FundingHistoryRequest, FundingRecord, PositionRecord
from domain.queries import CountsQuery, ReportQuery
from domain.records import DayStartRecord, StrategyStateRecord, TradingStateRecord, WatermarkRecord
from runtime.actor import SupervisedActor
from runtime.faults import FaultSpec
from runtime.messages import Envelope, SupervisionEvent

WRITE_ERRORS = (sqlite3.DatabaseError, OSError)  # refused by the database or the file system
BATCH_MAX = 64  # writes per commit at most


class JournalActor(SupervisedActor):
    def __init__(self, name: str, epoch: int, services: Any, db_path: str) -> None:
        super().__init__(name, epoch, services)
        self.db_path = db_path
        self.store: JournalStore | None = None
        self.written = self.metrics.counter("journal.written")
        self.commits = self.metrics.counter("journal.commits")
        self.unknown = self.metrics.counter("journal.unknown")
        self.write_errors = self.metrics.counter("journal.write_errors")
        self.health = WriteHealth()
        self._batch: list[Any] = []  # messages written in the open transaction

    def start_core(self) -> None:
        Path(self.db_path).parent.mkdir(parents=True, exist_ok=True)
        self.store = JournalStore(self.db_path)
        if self.store.found_version < SCHEMA_VERSION:
            logger.info("journal: {} migrated from schema {} to {}", self.db_path, self.store.found_version,
                        SCHEMA_VERSION)

    def stop_core(self) -> None:
        if self.store is not None:
            self._commit()  # a stop: every message in the batch was written whole, keep them
            self.store.close()
            self.store = None

    # -- when the open batch commits ----------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        if type(message) is Envelope:
            return super().on_receive(message)  # _receive commits once the mailbox is empty
        try:
            return super().on_receive(message)
        finally:
            self._commit()  # a direct ask or tell from outside the tree: written on return

    def _receive(self, envelope: Envelope) -> Any:
        try:
            result = super()._receive(envelope)
        except BaseException:
            self._commit()  # a crash: what was written whole is kept before it is reported
            raise
        # Before the in-flight tracker hears it was handled: quiet means committed.
        store = self.store
        if store is not None and store.in_transaction and (
                len(self._batch) >= BATCH_MAX or self.actor_inbox.empty()):
            self._commit()
        return result

    def _commit(self) -> None:
        store = self.store
        if store is None or not store.in_transaction:
            return
        batch, self._batch = self._batch, []
        try:
            store.commit()
        except WRITE_ERRORS as exc:
            self._failed(batch, exc)  # rolled back whole: nothing of it was written
            return
        self.commits.inc()
        if batch:
            self.written.inc(len(batch))
            self._tell(self.health.succeeded(self.clock.now()))

    # -- messages -------------------------------------------------------------------------------

    def handle(self, message: Any) -> Any:
        store = self.store
        assert store is not None  # opened in on_start, closed in on_stop: open while messages are handled
        kind = type(message)
        write = self._WRITES.get(kind)
        if write is not None:
            self._write(store, write, message)
            return None
        if kind is FundingHistoryRequest:
            self._commit()  # a read sees everything written before it
            self.send(message.reply_to, FundingHistory(tuple(store.funding())))
            return None
        if kind is HeldOrdersRequest:
            self._commit()
            self.send(message.reply_to, HeldOrders(tuple(HeldOrder(*row) for row in store.held())))
            return None
        if kind is CountsQuery:
            self._commit()
            return store.counts()
        if kind is ReportQuery:
            self._commit()
            return self.health.report()
        self.unknown.inc()
        return None

    def _write(self, store: JournalStore, write: Any, message: Any) -> None:
        try:
            if not store.in_transaction:
                store.begin()
            with store.transaction():  # a SAVEPOINT in the batch: an exception undoes this message only
                write(store, message)
        except WRITE_ERRORS as exc:
            self._failed([message], exc)
            if not store.in_transaction:  # SQLite ended the whole batch (it does on SQLITE_FULL)
                self._rewrite(self._batch)
            return  # else back to its savepoint; the batch goes on
        self._batch.append(message)

    def _rewrite(self, messages: list[Any]) -> None:
        """The batch before a message whose failure ended the transaction had been written whole:
        write it again on its own and commit, so only the failing message is lost (as without
        group commit). Each level of recursion loses at least one message."""
        self._batch = []
        store = self.store
        assert store is not None  # called from _write, with the store open
        for message in messages:
            self._write(store, self._WRITES[type(message)], message)
        self._commit()

    def _failed(self, messages: list[Any], exc: BaseException) -> None:
        reason = str(exc) or type(exc).__name__
        now = self.clock.now()
        for message in messages:
            self.write_errors.inc()
            logger.debug("journal: {} not written: {}", type(message).__name__, reason)
            self._tell(self.health.failed(reason, now))  # one fact per change of condition

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
        elif spec.kind in ("hang", "slow"):
            self._commit()  # what is written must not wait on a stuck handler
        return super()._apply_fault(spec, body)

    _WRITES: ClassVar[dict[type, Any]] = {  # message type -> its one write
        Fill: lambda store, m: store.record_fill(m),
        OrderUpdate: lambda store, m: store.record_order_update(m),
        OrderPlaced: lambda store, m: store.record_write_ahead(m.order, m.intent_id, m.ts),
        OrderState: lambda store, m: store.record_order_state(m.update, m.from_venue),
        PositionRecord: lambda store, m: store.upsert_position(
            product_id=m.product_id, size=m.size, entry=m.entry, realized_pnl=m.realized_pnl, ts=m.ts),
        SupervisionEvent: lambda store, m: store.record_supervision(m.ts, m.kind, m.child, m.epoch, m.detail),
        Decision: lambda store, m: store.record_decision(m.ts, m.kind, m.detail),
        FundingRecord: lambda store, m: store.record_funding(m),
        HeldOrder: lambda store, m: store.hold(m.key, m.kind, m.body, m.ts),
        TradingStateRecord: lambda store, m: store.record_trading_state(
            m.ts, m.state, m.reason, m.holds, m.daily_loss_day),
        DayStartRecord: lambda store, m: store.record_day_start(m.day, m.equity, m.ts),
        WatermarkRecord: lambda store, m: store.set_watermark(m.name, m.value, m.ts),
        StrategyStateRecord: lambda store, m: store.save_strategy_state(m.key, m.body, m.ts),
    }
