"""JournalStore: the one writer of the journal SQLite database.

Owns every write to it (orders and their intents, order events, fills, positions, funding, held
orders, supervision events, decisions, trading state, day start, watermarks, strategy state) and
reading them back, on the connection actors.journal.connection opens (WAL mode, synchronous=NORMAL,
its transactions); the schema and its migrations live in actors.journal.migrations. Money is
stored as TEXT holding the exact Decimal string, never REAL. An intent is written before its order
is sent and settled by the venue's first answer for its client id (an order event or a fill, in
the same transaction) or explicitly.

Must never: be written by more than one owner (the journal actor), store a float as money, take
time from the wall clock (timestamps come in as arguments), or swallow a write error (it raises;
a logical change made in one transaction() is rolled back whole).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from decimal import Decimal

import msgspec

from actors.journal.connection import JournalConnection
from actors.journal.migrations import SCHEMA_VERSION, TABLE_NAMES, JournalSchemaError
from domain.orders import Fill, OrderUpdate, PlaceOrder
from domain.portfolio import FundingRecord
from domain.records import Intent

__all__ = ["JournalSchemaError", "JournalStore", "SCHEMA_VERSION", "TABLE_NAMES", "TERMINAL_STATUSES"]

# A late or duplicated update must not move an order out of a final state.
TERMINAL_STATUSES = frozenset({"FILLED", "CANCELLED", "REJECTED", "EXPIRED", "FAILED"})
_TERMINAL = tuple(sorted(TERMINAL_STATUSES))
_NOT_TERMINAL = f"status NOT IN ({', '.join('?' * len(_TERMINAL))})"

_FILL_COLUMNS = "trade_id, client_order_id, venue_order_id, product_id, side, price, size, fee, liquidity, ts"
_ORDER_BODY = msgspec.json.Decoder(PlaceOrder)
_HOLDS = msgspec.json.Decoder(dict[str, str])


def _money(value: Decimal | int) -> str:
    """Exact text for a Decimal (or int); a float here is a bug upstream, so refuse it."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise TypeError(f"money must be Decimal or int, got {type(value).__name__}: {value!r}")
    value = Decimal(value)
    if not value.is_finite():
        raise ValueError(f"money must be finite, got {value}")
    return str(value)


def _optional_money(value: Decimal | int | None) -> str | None:
    return None if value is None else _money(value)


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be text, got {type(value).__name__}: {value!r}")
    return value


def _detail_text(detail: object) -> str:
    """Strings stay as they are; structs, dicts and the like become JSON (Decimals as strings)."""
    if isinstance(detail, str):
        return detail
    return msgspec.json.encode(detail).decode()


def _inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid the INSERT just run on `cursor` gave (sqlite3 types lastrowid as optional: it is
    None only before any INSERT)."""
    row_id = cursor.lastrowid
    assert row_id is not None
    return row_id


class JournalStore(JournalConnection):
    """Single-writer access to the journal database. Not thread-safe: one owner uses it at a time.

    Its connection, transactions, health and closing are JournalConnection's.
    """

    # -- orders and their intents -----------------------------------------------------------

    def record_order(self, *, client_order_id: str, intent_id: str, product_id: str, side: str,
                     order_type: str, size: Decimal, limit_price: Decimal | None, status: str, ts: float) -> bool:
        """Insert an order row; a second call with the same client_order_id changes nothing.
        Returns whether the row was new."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO orders (client_order_id, intent_id, product_id, side, order_type, size,"
            " limit_price, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (client_order_id, intent_id, product_id, side, order_type, _money(size),
             _optional_money(limit_price), status, ts, ts))
        return cursor.rowcount == 1

    def record_place(self, order: PlaceOrder, intent_id: str, ts: float, status: str = "PENDING") -> bool:
        """Journal an order as it is sent to the venue."""
        return self.record_order(
            client_order_id=order.client_order_id, intent_id=intent_id, product_id=order.product_id,
            side=order.side, order_type=order.order_type, size=order.size, limit_price=order.limit_price,
            status=status, ts=ts)

    def record_intent(self, order: PlaceOrder, intent_id: str, ts: float) -> bool:
        """The write-ahead of an order about to be sent (state 'written'); idempotent by client
        id: a second call changes nothing. Returns whether the intent was new."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO intents (client_order_id, intent_id, product_id, side, order_type, size,"
            " limit_price, stop_price, reduce_only, body, state, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " 'written', ?)",
            (order.client_order_id, intent_id, order.product_id, order.side, order.order_type, _money(order.size),
             _optional_money(order.limit_price), _optional_money(order.stop_price), int(order.reduce_only),
             msgspec.json.encode(order).decode(), ts))
        return cursor.rowcount == 1

    def record_write_ahead(self, order: PlaceOrder, intent_id: str, ts: float) -> bool:
        """The intent and its order row (PENDING) together; returns whether the intent was new. An
        intent whose order the venue has answered for already (an OrderPlaced told again, or
        imported from execution's intent log after its events were written) is written settled."""
        with self._db.atomic():
            new = self.record_intent(order, intent_id, ts)
            self.record_place(order, intent_id, ts)
            if new and self._answered(order.client_order_id):
                self.settle_intent(order.client_order_id, "answered before it was journaled", ts)
        return new

    def import_intents(self, intents: Iterable[tuple[PlaceOrder, str, float]]) -> int:
        """Execution's intent log (actors.execution.intent_log) moved in at a start: (order,
        intent id, ts) each, one transaction. Returns how many the journal did not have."""
        with self._db.atomic():
            return sum(self.record_write_ahead(order, intent_id, ts) for order, intent_id, ts in intents)

    def _answered(self, client_order_id: str) -> bool:
        return self._db.execute(
            "SELECT EXISTS (SELECT 1 FROM order_events WHERE client_order_id = ?)"
            " OR EXISTS (SELECT 1 FROM fills WHERE client_order_id = ?)",
            (client_order_id, client_order_id)).fetchone()[0] == 1

    def settle_intent(self, client_order_id: str, reason: str, ts: float) -> bool:
        """The venue answered for it (or it is known never to have been sent). Returns whether an
        unsettled intent was settled; the first settlement's reason stays."""
        cursor = self._db.execute(
            "UPDATE intents SET state = 'settled', settled_reason = ?, settled_at = ?"
            " WHERE client_order_id = ? AND state = 'written'", (reason, ts, client_order_id))
        return cursor.rowcount == 1

    def unsettled_intents(self) -> list[Intent]:
        """Intents written and not yet answered for, oldest first, each with its order as sent."""
        rows = self._db.execute(
            "SELECT client_order_id, intent_id, body, ts FROM intents WHERE state = 'written'"
            " ORDER BY ts, rowid").fetchall()
        return [Intent(cid, intent_id, _ORDER_BODY.decode(body), ts) for cid, intent_id, body, ts in rows]

    def intent_state(self, client_order_id: str) -> tuple[str, str | None] | None:
        """(state, settled_reason) of one intent, or None if there is none."""
        row = self._db.execute("SELECT state, settled_reason FROM intents WHERE client_order_id = ?",
                               (client_order_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    def record_order_event(self, *, client_order_id: str, venue_order_id: str, status: str,
                           filled_size: Decimal, leaves_size: Decimal, reason: str, ts: float) -> int:
        """Append an order event, move the order's status unless it is already terminal, and settle
        its intent: one transaction. Returns the event id."""
        with self._db.atomic():
            cursor = self._db.execute(
                "INSERT INTO order_events (client_order_id, venue_order_id, status, filled_size, leaves_size,"
                " reason, ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (client_order_id, venue_order_id, status, _money(filled_size), _money(leaves_size), reason, ts))
            event_id = _inserted_id(cursor)
            self._db.execute(f"UPDATE orders SET status = ?, updated_at = ? WHERE client_order_id = ?"
                             f" AND {_NOT_TERMINAL}", (status, ts, client_order_id, *_TERMINAL))
            self.settle_intent(client_order_id, f"order {status}", ts)
        return event_id

    def record_order_update(self, update: OrderUpdate) -> int:
        return self.record_order_event(
            client_order_id=update.client_order_id, venue_order_id=update.venue_order_id, status=update.status,
            filled_size=update.filled_size, leaves_size=update.leaves_size, reason=update.reason, ts=update.ts)

    def record_order_state(self, update: OrderUpdate, from_venue: bool = False) -> bool:
        """Where an order stands, told again (by execution to a restarted journal, or from the
        venue's listing by a reconciliation): an event only where the journaled status differs and
        is not final, so telling it twice writes nothing. `from_venue`: an order the journal has no
        row for (its record was lost) gets one, side and type unknown."""
        status = self.order_status(update.client_order_id)
        if status is None and from_venue and update.client_order_id:
            self.record_order(client_order_id=update.client_order_id, intent_id="venue", product_id=update.product_id,
                              side="", order_type="", size=update.filled_size + update.leaves_size,
                              limit_price=None, status="PENDING", ts=update.ts)
            status = "PENDING"
        if status is None or status == update.status or status in TERMINAL_STATUSES:
            return False
        self.record_order_update(update)
        return True

    def order_status(self, client_order_id: str) -> str | None:
        row = self._db.execute("SELECT status FROM orders WHERE client_order_id = ?", (client_order_id,)).fetchone()
        return None if row is None else row[0]

    # -- fills and positions ----------------------------------------------------------------

    def record_fill(self, fill: Fill) -> bool:
        """Insert a fill and settle its intent (one transaction); a duplicate trade_id never makes a
        second row. Returns whether the fill was new."""
        with self._db.atomic():
            cursor = self._db.execute(
                f"INSERT OR IGNORE INTO fills ({_FILL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (fill.trade_id, fill.client_order_id, fill.venue_order_id, fill.product_id, fill.side,
                 _money(fill.price), _money(fill.size), _money(fill.fee), fill.liquidity, fill.ts))
            self.settle_intent(fill.client_order_id, f"fill {fill.trade_id}", fill.ts)
        return cursor.rowcount == 1

    def fills(self) -> list[Fill]:
        """Every fill, in the order it was first recorded: one SELECT, positional construction, and
        one Decimal per distinct text (Decimals are immutable; prices, sizes and fees repeat)."""
        decimals: dict[str, Decimal] = {}

        def exact(text: str) -> Decimal:
            value = decimals.get(text)
            if value is None:
                value = decimals[text] = Decimal(text)
            return value

        return [Fill(trade_id, cid, vid, product_id, side, exact(price), exact(size), exact(fee), liquidity, ts)
                for trade_id, cid, vid, product_id, side, price, size, fee, liquidity, ts
                in self._db.execute(f"SELECT {_FILL_COLUMNS} FROM fills ORDER BY rowid")]

    def fill_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM fills").fetchone()[0])

    def upsert_position(self, *, product_id: str, size: Decimal, entry: Decimal, realized_pnl: Decimal,
                        ts: float) -> None:
        self._db.execute(
            "INSERT INTO positions (product_id, size, entry, realized_pnl, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(product_id) DO UPDATE SET size = excluded.size, entry = excluded.entry,"
            " realized_pnl = excluded.realized_pnl, updated_at = excluded.updated_at",
            (product_id, _money(size), _money(entry), _money(realized_pnl), ts))

    def positions(self) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
        """product_id -> (size, entry, realized_pnl) as last upserted."""
        rows = self._db.execute(
            "SELECT product_id, size, entry, realized_pnl FROM positions ORDER BY product_id").fetchall()
        return {p: (Decimal(s), Decimal(e), Decimal(r)) for p, s, e, r in rows}

    def record_funding(self, record: FundingRecord) -> bool:
        """Insert one settlement; the same (product, slot) never makes a second row."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO funding (product_id, slot, rate, mark, size, payment, ts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (record.product_id, record.slot, _money(record.rate), _money(record.mark), _money(record.size),
             _money(record.payment), record.ts))
        return cursor.rowcount == 1

    def funding(self) -> list[FundingRecord]:
        rows = self._db.execute(
            "SELECT product_id, slot, rate, mark, size, payment, ts FROM funding ORDER BY ts, product_id").fetchall()
        return [FundingRecord(p, slot, Decimal(r), Decimal(m), Decimal(z), Decimal(pay), ts)
                for p, slot, r, m, z, pay, ts in rows]

    # -- orders execution holds itself -------------------------------------------------------

    def hold(self, key: str, kind: str, body: str, ts: float) -> None:
        """Remember a held order (a later body for the same key replaces it); "" forgets it."""
        if body:
            self._db.execute("INSERT OR REPLACE INTO held_orders (key, kind, body, ts) VALUES (?, ?, ?, ?)",
                             (key, kind, body, ts))
        else:
            self._db.execute("DELETE FROM held_orders WHERE key = ?", (key,))

    def held(self) -> list[tuple[str, str, str, float]]:
        """(key, kind, body, ts) of every order still held, oldest first."""
        return [tuple(row) for row in self._db.execute(
            "SELECT key, kind, body, ts FROM held_orders ORDER BY ts, key").fetchall()]

    # -- what a restart resumes from: trading state, day start, watermarks, strategy state ----

    def record_trading_state(self, ts: float, state: str, reason: str,
                             holds: Mapping[str, str] | Iterable[tuple[str, str]] = (),
                             daily_loss_day: int | None = None) -> int:
        """Append a TradingState change; `holds` maps a source to "STATE: reason"."""
        body = msgspec.json.encode(dict(holds)).decode()
        cursor = self._db.execute(
            "INSERT INTO trading_state (ts, state, reason, holds, daily_loss_day) VALUES (?, ?, ?, ?, ?)",
            (ts, state, reason, body, daily_loss_day))
        return _inserted_id(cursor)

    def last_trading_state(self) -> tuple[str, str, dict[str, str], int | None] | None:
        """(state, reason, holds, daily_loss_day) of the latest change, or None if none was written."""
        row = self._db.execute(
            "SELECT state, reason, holds, daily_loss_day FROM trading_state ORDER BY id DESC LIMIT 1").fetchone()
        return None if row is None else (row[0], row[1], _HOLDS.decode(row[2]), row[3])

    def record_day_start(self, day: int, equity: Decimal, ts: float) -> bool:
        """The equity UTC day `day` started with; the first one per day wins. Returns whether new."""
        if isinstance(day, bool) or not isinstance(day, int):
            raise TypeError(f"day must be an int (UTC days since the epoch), got {day!r}")
        cursor = self._db.execute("INSERT OR IGNORE INTO day_start (utc_day, equity, ts) VALUES (?, ?, ?)",
                                  (day, _money(equity), ts))
        return cursor.rowcount == 1

    def day_start(self, day: int) -> Decimal | None:
        row = self._db.execute("SELECT equity FROM day_start WHERE utc_day = ?", (day,)).fetchone()
        return None if row is None else Decimal(row[0])

    def set_watermark(self, name: str, value: str, ts: float) -> None:
        """Remember how far something got (a later value replaces the earlier); exact text only."""
        self._db.execute(
            "INSERT INTO watermarks (name, value, ts) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
            " value = excluded.value, ts = excluded.ts", (name, _text(value, "a watermark"), ts))

    def watermarks(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT name, value FROM watermarks ORDER BY name").fetchall())

    def save_strategy_state(self, key: str, body: str, ts: float) -> None:
        """A strategy's state as JSON text; a later body for the same key replaces it."""
        self._db.execute(
            "INSERT INTO strategy_state (key, body, ts) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
            " body = excluded.body, ts = excluded.ts", (key, _text(body, "strategy state"), ts))

    def strategy_state(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, body FROM strategy_state ORDER BY key").fetchall())

    # -- supervision and decisions ----------------------------------------------------------

    def record_supervision(self, ts: float, kind: str, child: str, epoch: int, detail: object = "") -> int:
        cursor = self._db.execute(
            "INSERT INTO supervision_events (ts, kind, child, epoch, detail) VALUES (?, ?, ?, ?, ?)",
            (ts, kind, child, epoch, _detail_text(detail)))
        return _inserted_id(cursor)

    def record_decision(self, ts: float, kind: str, detail: object = "") -> int:
        """A trading-state change or a refusal. `detail` is text, or any msgspec-encodable value."""
        cursor = self._db.execute("INSERT INTO decisions (ts, kind, detail) VALUES (?, ?, ?)",
                                  (ts, kind, _detail_text(detail)))
        return _inserted_id(cursor)
