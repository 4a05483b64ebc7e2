"""JournalStore: the one writer of the journal SQLite database.

Owns the schema (orders, order events, fills, positions, funding, the orders execution holds
itself, supervision events, decisions) and every
write to it, through one sqlite-utils connection in WAL mode with synchronous=NORMAL. Money is
stored as TEXT holding the exact Decimal string, never REAL.

Must never: be written by more than one owner (the journal actor), store a float as money, take
time from the wall clock (timestamps come in as arguments), or swallow a write error (it raises;
a logical change made in one transaction() is rolled back whole).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import msgspec
import sqlite_utils

from actors.execution.messages import PlaceOrder
from actors.portfolio.messages import FundingRecord
from actors.venue.messages import Fill, OrderUpdate

SCHEMA_VERSION = 3  # 2: funding, 3: held_orders

# A late or duplicated update must not move an order out of a final state.
TERMINAL_STATUSES = frozenset({"FILLED", "CANCELLED", "REJECTED", "EXPIRED", "FAILED"})

_TABLES: dict[str, dict] = {
    "orders": {
        "columns": {
            "client_order_id": str,
            "intent_id": str,
            "product_id": str,
            "side": str,
            "order_type": str,
            "size": str,
            "limit_price": str,
            "status": str,
            "created_at": float,
            "updated_at": float,
        },
        "pk": "client_order_id",
        "not_null": {
            "client_order_id", "intent_id", "product_id", "side", "order_type", "size", "status"
        },
        "indexes": (("intent_id",), ("status",)),
    },
    "order_events": {
        "columns": {
            "id": int,
            "client_order_id": str,
            "venue_order_id": str,
            "status": str,
            "filled_size": str,
            "leaves_size": str,
            "reason": str,
            "ts": float,
        },
        "pk": "id",
        "not_null": {"client_order_id", "status"},
        "indexes": (("client_order_id",),),
    },
    "fills": {
        "columns": {
            "trade_id": str,
            "client_order_id": str,
            "venue_order_id": str,
            "product_id": str,
            "side": str,
            "price": str,
            "size": str,
            "fee": str,
            "liquidity": str,
            "ts": float,
        },
        "pk": "trade_id",
        "not_null": {"trade_id", "client_order_id", "product_id", "side", "price", "size", "fee"},
        "indexes": (("client_order_id",),),
    },
    "positions": {
        "columns": {
            "product_id": str,
            "size": str,
            "entry": str,
            "realized_pnl": str,
            "updated_at": float,
        },
        "pk": "product_id",
        "not_null": {"product_id", "size", "entry", "realized_pnl"},
        "indexes": (),
    },
    "funding": {
        "columns": {
            "product_id": str,
            "slot": int,
            "rate": str,
            "mark": str,
            "size": str,
            "payment": str,
            "ts": float,
        },
        "pk": ("product_id", "slot"),
        "not_null": {"product_id", "slot", "rate", "mark", "size", "payment"},
        "indexes": (),
    },
    "held_orders": {  # what execution holds instead of the venue: local stops, waiting replacements
        "columns": {"key": str, "kind": str, "body": str, "ts": float},
        "pk": "key",
        "not_null": {"key", "kind", "body"},
        "indexes": (),
    },
    "supervision_events": {
        "columns": {
            "id": int,
            "ts": float,
            "kind": str,
            "child": str,
            "epoch": int,
            "detail": str,
        },
        "pk": "id",
        "not_null": {"kind"},
        "indexes": (("child",),),
    },
    "decisions": {
        "columns": {"id": int, "ts": float, "kind": str, "detail": str},
        "pk": "id",
        "not_null": {"kind"},
        "indexes": (("kind",),),
    },
}

TABLE_NAMES: tuple[str, ...] = tuple(_TABLES)


class JournalSchemaError(RuntimeError):
    """The database on disk was written by a newer schema than this code knows."""


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


def _detail_text(detail: object) -> str:
    """Strings stay as they are; structs, dicts and the like become JSON (Decimals as strings)."""
    if isinstance(detail, str):
        return detail
    return msgspec.json.encode(detail).decode()


class JournalStore:
    """Single-writer access to the journal database. Not thread-safe: one owner uses it at a time.

    The connection is opened with check_same_thread=False only so the owner may create the store
    on one thread and use it on another (a Pykka actor's __init__ runs on the caller's thread).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        conn = sqlite3.connect(str(self.path), check_same_thread=False)
        self._db = sqlite_utils.Database(conn)
        self._closed = False
        self._unfrozen_pages: int | None = None  # max_page_count before freeze_size()
        self._db.enable_wal()
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._create_schema()

    # -- schema -----------------------------------------------------------------------------

    def _create_schema(self) -> None:
        version = self._pragma("user_version")
        if version > SCHEMA_VERSION:
            raise JournalSchemaError(
                f"{self.path}: schema version {version} is newer than supported {SCHEMA_VERSION}"
            )
        with self._db.atomic():
            for name, spec in _TABLES.items():
                table = self._db.table(name)
                table.create(
                    spec["columns"],
                    pk=spec["pk"],
                    not_null=spec["not_null"],
                    if_not_exists=True,
                )
                for columns in spec["indexes"]:
                    table.create_index(columns, if_not_exists=True)
            if version < SCHEMA_VERSION:
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _pragma(self, name: str) -> int | str:
        return self._db.execute(f"PRAGMA {name}").fetchone()[0]

    def journal_mode(self) -> str:
        return str(self._pragma("journal_mode"))

    def synchronous(self) -> int:
        """SQLite's numeric level: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA."""
        return int(self._pragma("synchronous"))

    # -- transactions -----------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[JournalStore]:
        """Group writes into one commit (rolled back whole on an exception, a failed COMMIT
        included). Nests safely."""
        with self._db.atomic():
            yield self

    def freeze_size(self, frozen: bool = True) -> None:
        """Let the database grow no further on this connection (SQLite's max_page_count): a write
        that needs a new page then fails with sqlite's own "database or disk is full". The
        `journal:disk_full` fault drill; frozen=False lifts it."""
        if frozen:
            if self._unfrozen_pages is None:
                self._unfrozen_pages = int(self._pragma("max_page_count"))
            self._pragma(f"max_page_count={int(self._pragma('page_count'))}")
        elif self._unfrozen_pages is not None:
            self._pragma(f"max_page_count={self._unfrozen_pages}")
            self._unfrozen_pages = None

    # -- orders -----------------------------------------------------------------------------

    def record_order(
        self,
        *,
        client_order_id: str,
        intent_id: str,
        product_id: str,
        side: str,
        order_type: str,
        size: Decimal,
        limit_price: Decimal | None,
        status: str,
        ts: float,
    ) -> bool:
        """Insert an order row; a second call with the same client_order_id changes nothing.
        Returns whether the row was new."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO orders (client_order_id, intent_id, product_id, side,"
            " order_type, size, limit_price, status, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                client_order_id,
                intent_id,
                product_id,
                side,
                order_type,
                _money(size),
                _optional_money(limit_price),
                status,
                ts,
                ts,
            ),
        )
        return cursor.rowcount == 1

    def record_place(
        self, order: PlaceOrder, intent_id: str, ts: float, status: str = "PENDING"
    ) -> bool:
        """Journal an order as it is sent to the venue."""
        return self.record_order(
            client_order_id=order.client_order_id,
            intent_id=intent_id,
            product_id=order.product_id,
            side=order.side,
            order_type=order.order_type,
            size=order.size,
            limit_price=order.limit_price,
            status=status,
            ts=ts,
        )

    def record_order_event(
        self,
        *,
        client_order_id: str,
        venue_order_id: str,
        status: str,
        filled_size: Decimal,
        leaves_size: Decimal,
        reason: str,
        ts: float,
    ) -> int:
        """Append an order event and move the order's status, unless the order is already in a
        terminal state. Returns the event id."""
        with self._db.atomic():
            cursor = self._db.execute(
                "INSERT INTO order_events (client_order_id, venue_order_id, status, filled_size,"
                " leaves_size, reason, ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    client_order_id,
                    venue_order_id,
                    status,
                    _money(filled_size),
                    _money(leaves_size),
                    reason,
                    ts,
                ),
            )
            event_id = cursor.lastrowid
            terminal = sorted(TERMINAL_STATUSES)
            self._db.execute(
                "UPDATE orders SET status = ?, updated_at = ? WHERE client_order_id = ?"
                f" AND status NOT IN ({', '.join('?' * len(terminal))})",
                (status, ts, client_order_id, *terminal),
            )
        return int(event_id)

    def record_order_update(self, update: OrderUpdate) -> int:
        return self.record_order_event(
            client_order_id=update.client_order_id,
            venue_order_id=update.venue_order_id,
            status=update.status,
            filled_size=update.filled_size,
            leaves_size=update.leaves_size,
            reason=update.reason,
            ts=update.ts,
        )

    def order_status(self, client_order_id: str) -> str | None:
        row = self._db.execute(
            "SELECT status FROM orders WHERE client_order_id = ?", (client_order_id,)
        ).fetchone()
        return None if row is None else row[0]

    # -- fills and positions ----------------------------------------------------------------

    def record_fill(self, fill: Fill) -> bool:
        """Insert a fill; a duplicate trade_id never makes a second row. Returns whether new."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO fills (trade_id, client_order_id, venue_order_id, product_id,"
            " side, price, size, fee, liquidity, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                fill.trade_id,
                fill.client_order_id,
                fill.venue_order_id,
                fill.product_id,
                fill.side,
                _money(fill.price),
                _money(fill.size),
                _money(fill.fee),
                fill.liquidity,
                fill.ts,
            ),
        )
        return cursor.rowcount == 1

    def fills(self) -> list[Fill]:
        """Every fill, in the order it was first recorded."""
        rows = self._db.execute(
            "SELECT trade_id, client_order_id, venue_order_id, product_id, side, price, size,"
            " fee, liquidity, ts FROM fills ORDER BY rowid"
        ).fetchall()
        return [
            Fill(
                trade_id=trade_id,
                client_order_id=client_order_id,
                venue_order_id=venue_order_id,
                product_id=product_id,
                side=side,
                price=Decimal(price),
                size=Decimal(size),
                fee=Decimal(fee),
                liquidity=liquidity,
                ts=ts,
            )
            for (
                trade_id,
                client_order_id,
                venue_order_id,
                product_id,
                side,
                price,
                size,
                fee,
                liquidity,
                ts,
            ) in rows
        ]

    def upsert_position(
        self,
        *,
        product_id: str,
        size: Decimal,
        entry: Decimal,
        realized_pnl: Decimal,
        ts: float,
    ) -> None:
        self._db.execute(
            "INSERT INTO positions (product_id, size, entry, realized_pnl, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT(product_id) DO UPDATE SET size = excluded.size,"
            " entry = excluded.entry, realized_pnl = excluded.realized_pnl,"
            " updated_at = excluded.updated_at",
            (product_id, _money(size), _money(entry), _money(realized_pnl), ts),
        )

    def positions(self) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
        """product_id -> (size, entry, realized_pnl) as last upserted."""
        rows = self._db.execute(
            "SELECT product_id, size, entry, realized_pnl FROM positions ORDER BY product_id"
        ).fetchall()
        return {p: (Decimal(s), Decimal(e), Decimal(r)) for p, s, e, r in rows}

    def record_funding(self, record: FundingRecord) -> bool:
        """Insert one settlement; the same (product, slot) never makes a second row."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO funding (product_id, slot, rate, mark, size, payment, ts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (record.product_id, record.slot, _money(record.rate), _money(record.mark), _money(record.size),
             _money(record.payment), record.ts),
        )
        return cursor.rowcount == 1

    def funding(self) -> list[FundingRecord]:
        rows = self._db.execute(
            "SELECT product_id, slot, rate, mark, size, payment, ts FROM funding ORDER BY ts, product_id"
        ).fetchall()
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

    # -- supervision and decisions ----------------------------------------------------------

    def record_supervision(
        self, ts: float, kind: str, child: str, epoch: int, detail: object = ""
    ) -> int:
        cursor = self._db.execute(
            "INSERT INTO supervision_events (ts, kind, child, epoch, detail)"
            " VALUES (?, ?, ?, ?, ?)",
            (ts, kind, child, epoch, _detail_text(detail)),
        )
        return int(cursor.lastrowid)

    def record_decision(self, ts: float, kind: str, detail: object = "") -> int:
        """A trading-state change or a refusal. `detail` is text, or any msgspec-encodable value."""
        cursor = self._db.execute(
            "INSERT INTO decisions (ts, kind, detail) VALUES (?, ?, ?)",
            (ts, kind, _detail_text(detail)),
        )
        return int(cursor.lastrowid)

    # -- housekeeping -----------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        return {
            name: int(self._db.execute(f"SELECT count(*) FROM [{name}]").fetchone()[0])
            for name in TABLE_NAMES
        }

    def close(self) -> None:
        """Close the connection; an open transaction is rolled back. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._db.rollback()
        self._db.close()

    def __enter__(self) -> JournalStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
