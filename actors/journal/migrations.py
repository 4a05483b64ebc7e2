"""The journal's schema and its forward migrations, one explicit step per version.

Owns the DDL of every table and the `user_version` pragma that says which steps a file has had.
STEPS[n] takes a file from version n to n + 1 (0 is an empty file); `migrate` runs the missing
steps in order, each in its own IMMEDIATE transaction that also sets user_version, so a failed
step leaves the file exactly at the version before it. Tables are created IF NOT EXISTS, because
code before version 4 created every table it knew whatever the file's version said.

Must never: edit a step once released (a new change is a new step), skip or reorder steps, open a
file written by a newer schema (JournalSchemaError), or write anything but schema.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple


class JournalSchemaError(RuntimeError):
    """The database on disk was written by a newer schema than this code knows."""


class Step(NamedTuple):
    version: int  # the version a file has after this step
    summary: str
    statements: tuple[str, ...]


def _table(name: str, columns: str, *indexes: tuple[str, str]) -> tuple[str, ...]:
    """CREATE TABLE (and its indexes) IF NOT EXISTS; indexes are (index name suffix, columns)."""
    sql = [f'CREATE TABLE IF NOT EXISTS "{name}" ({columns})']
    sql += [f'CREATE INDEX IF NOT EXISTS "idx_{name}_{suffix}" ON "{name}" ({on})' for suffix, on in indexes]
    return tuple(sql)


STEPS: tuple[Step, ...] = (
    Step(1, "orders, order events, fills, positions, supervision events, decisions", (
        *_table("orders",
                '"client_order_id" TEXT PRIMARY KEY NOT NULL, "intent_id" TEXT NOT NULL,'
                ' "product_id" TEXT NOT NULL, "side" TEXT NOT NULL, "order_type" TEXT NOT NULL,'
                ' "size" TEXT NOT NULL, "limit_price" TEXT, "status" TEXT NOT NULL, "created_at" REAL,'
                ' "updated_at" REAL',
                ("intent_id", '"intent_id"'), ("status", '"status"')),
        *_table("order_events",
                '"id" INTEGER PRIMARY KEY, "client_order_id" TEXT NOT NULL, "venue_order_id" TEXT,'
                ' "status" TEXT NOT NULL, "filled_size" TEXT, "leaves_size" TEXT, "reason" TEXT, "ts" REAL',
                ("client_order_id", '"client_order_id"')),
        *_table("fills",
                '"trade_id" TEXT PRIMARY KEY NOT NULL, "client_order_id" TEXT NOT NULL, "venue_order_id" TEXT,'
                ' "product_id" TEXT NOT NULL, "side" TEXT NOT NULL, "price" TEXT NOT NULL, "size" TEXT NOT NULL,'
                ' "fee" TEXT NOT NULL, "liquidity" TEXT, "ts" REAL',
                ("client_order_id", '"client_order_id"')),
        *_table("positions",
                '"product_id" TEXT PRIMARY KEY NOT NULL, "size" TEXT NOT NULL, "entry" TEXT NOT NULL,'
                ' "realized_pnl" TEXT NOT NULL, "updated_at" REAL'),
        *_table("supervision_events",
                '"id" INTEGER PRIMARY KEY, "ts" REAL, "kind" TEXT NOT NULL, "child" TEXT, "epoch" INTEGER,'
                ' "detail" TEXT',
                ("child", '"child"')),
        *_table("decisions", '"id" INTEGER PRIMARY KEY, "ts" REAL, "kind" TEXT NOT NULL, "detail" TEXT',
                ("kind", '"kind"')),
    )),
    Step(2, "funding settlements, one per product and interval", _table(
        "funding",
        '"product_id" TEXT NOT NULL, "slot" INTEGER NOT NULL, "rate" TEXT NOT NULL, "mark" TEXT NOT NULL,'
        ' "size" TEXT NOT NULL, "payment" TEXT NOT NULL, "ts" REAL, PRIMARY KEY ("product_id", "slot")')),
    Step(3, "orders execution holds itself (armed local stops, waiting replacements)", _table(
        "held_orders", '"key" TEXT PRIMARY KEY NOT NULL, "kind" TEXT NOT NULL, "body" TEXT NOT NULL, "ts" REAL')),
    Step(4, "intents (the write-ahead of orders), trading state, day start, watermarks, strategy state", (
        *_table("intents",
                '"client_order_id" TEXT PRIMARY KEY NOT NULL, "intent_id" TEXT NOT NULL,'
                ' "product_id" TEXT NOT NULL, "side" TEXT NOT NULL, "order_type" TEXT NOT NULL,'
                ' "size" TEXT NOT NULL, "limit_price" TEXT, "stop_price" TEXT,'
                ' "reduce_only" INTEGER NOT NULL DEFAULT 0, "body" TEXT NOT NULL,'
                ' "state" TEXT NOT NULL DEFAULT \'written\' CHECK ("state" IN (\'written\', \'settled\')),'
                ' "settled_reason" TEXT, "ts" REAL, "settled_at" REAL',
                ("intent_id", '"intent_id"')),
        'CREATE INDEX IF NOT EXISTS "idx_intents_written" ON "intents" ("ts") WHERE "state" = \'written\'',
        *_table("trading_state",
                '"id" INTEGER PRIMARY KEY, "ts" REAL, "state" TEXT NOT NULL, "reason" TEXT NOT NULL DEFAULT \'\','
                ' "holds" TEXT NOT NULL DEFAULT \'{}\', "daily_loss_day" INTEGER'),
        *_table("day_start", '"utc_day" INTEGER PRIMARY KEY NOT NULL, "equity" TEXT NOT NULL, "ts" REAL'),
        *_table("watermarks", '"name" TEXT PRIMARY KEY NOT NULL, "value" TEXT NOT NULL, "ts" REAL'),
        *_table("strategy_state", '"key" TEXT PRIMARY KEY NOT NULL, "body" TEXT NOT NULL, "ts" REAL'),
    )),
)

SCHEMA_VERSION = STEPS[-1].version
assert [s.version for s in STEPS] == list(range(1, SCHEMA_VERSION + 1)), "steps must be contiguous"

TABLE_NAMES: tuple[str, ...] = (  # every table of the current schema, in creation order
    "orders", "order_events", "fills", "positions", "funding", "held_orders", "supervision_events", "decisions",
    "intents", "trading_state", "day_start", "watermarks", "strategy_state",
)


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def refuse_newer(conn: sqlite3.Connection, label: str = "journal") -> int:
    """The file's version; JournalSchemaError if it is newer than this code (check before changing
    anything about the file, its journal mode included)."""
    found = user_version(conn)
    if found > SCHEMA_VERSION:
        raise JournalSchemaError(f"{label}: schema version {found} is newer than supported {SCHEMA_VERSION}")
    return found


def migrate(conn: sqlite3.Connection, label: str = "journal") -> int:
    """Bring the file behind `conn` to SCHEMA_VERSION; returns the version it was found at.

    Each missing step is one transaction (BEGIN IMMEDIATE .. user_version .. COMMIT), rolled back
    whole if any statement fails (the error propagates). A file already current is only read, so a
    read-only current file opens. Raises JournalSchemaError for a file newer than this code."""
    found = refuse_newer(conn, label)
    if conn.in_transaction:
        raise RuntimeError(f"{label}: migrate needs a connection with no open transaction")
    version = found
    while version < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = refuse_newer(conn, label)  # another connection may have migrated meanwhile
            if version < SCHEMA_VERSION:
                step = STEPS[version]
                for statement in step.statements:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {step.version}")
                version = step.version
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return found
