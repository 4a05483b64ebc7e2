"""Journal schema migrations: a file at every earlier version (0 empty, 1, 2 +funding, 3 +held_orders),
built here by hand with the tables of its time and a few rows, opens at version 4 with its rows
intact and the new tables there; each step is one transaction; a newer file is refused; a file that is
not a journal (garbage, truncated) is a sqlite3.DatabaseError or a failed integrity check, nothing else."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from actors.journal import migrations
from actors.journal.migrations import SCHEMA_VERSION, STEPS, TABLE_NAMES, JournalSchemaError, Step, migrate
from actors.journal.store import JournalStore
from domain.orders import Fill, PlaceOrder
from domain.portfolio import FundingRecord

D = Decimal

# The tables as the code of each version created them (written out here, not taken from migrations).
V1 = (
    'CREATE TABLE "orders" ("client_order_id" TEXT PRIMARY KEY NOT NULL, "intent_id" TEXT NOT NULL,'
    ' "product_id" TEXT NOT NULL, "side" TEXT NOT NULL, "order_type" TEXT NOT NULL, "size" TEXT NOT NULL,'
    ' "limit_price" TEXT, "status" TEXT NOT NULL, "created_at" FLOAT, "updated_at" FLOAT)',
    'CREATE INDEX "idx_orders_intent_id" ON "orders" ("intent_id")',
    'CREATE INDEX "idx_orders_status" ON "orders" ("status")',
    'CREATE TABLE "order_events" ("id" INTEGER PRIMARY KEY, "client_order_id" TEXT NOT NULL, "venue_order_id" TEXT,'
    ' "status" TEXT NOT NULL, "filled_size" TEXT, "leaves_size" TEXT, "reason" TEXT, "ts" FLOAT)',
    'CREATE INDEX "idx_order_events_client_order_id" ON "order_events" ("client_order_id")',
    'CREATE TABLE "fills" ("trade_id" TEXT PRIMARY KEY NOT NULL, "client_order_id" TEXT NOT NULL,'
    ' "venue_order_id" TEXT, "product_id" TEXT NOT NULL, "side" TEXT NOT NULL, "price" TEXT NOT NULL,'
    ' "size" TEXT NOT NULL, "fee" TEXT NOT NULL, "liquidity" TEXT, "ts" FLOAT)',
    'CREATE INDEX "idx_fills_client_order_id" ON "fills" ("client_order_id")',
    'CREATE TABLE "positions" ("product_id" TEXT PRIMARY KEY NOT NULL, "size" TEXT NOT NULL, "entry" TEXT NOT NULL,'
    ' "realized_pnl" TEXT NOT NULL, "updated_at" FLOAT)',
    'CREATE TABLE "supervision_events" ("id" INTEGER PRIMARY KEY, "ts" FLOAT, "kind" TEXT NOT NULL, "child" TEXT,'
    ' "epoch" INTEGER, "detail" TEXT)',
    'CREATE INDEX "idx_supervision_events_child" ON "supervision_events" ("child")',
    'CREATE TABLE "decisions" ("id" INTEGER PRIMARY KEY, "ts" FLOAT, "kind" TEXT NOT NULL, "detail" TEXT)',
    'CREATE INDEX "idx_decisions_kind" ON "decisions" ("kind")',
    "INSERT INTO orders VALUES ('c1', 'i1', 'BTC-USD', 'BUY', 'limit', '0.0015', '64000.10', 'OPEN', 1.0, 2.0)",
    "INSERT INTO order_events (client_order_id, venue_order_id, status, filled_size, leaves_size, reason, ts)"
    " VALUES ('c1', 'v1', 'OPEN', '0', '0.0015', '', 2.0)",
    "INSERT INTO fills VALUES ('t1', 'c0', 'v0', 'BTC-USD', 'BUY', '64123.45', '0.0015', '0.58', 'TAKER', 0.5)",
    "INSERT INTO positions VALUES ('BTC-USD', '0.0015', '64123.45', '-0.58', 0.5)",
    "INSERT INTO supervision_events (ts, kind, child, epoch, detail) VALUES (3.0, 'restart', 'execution', 2, 'boom')",
    "INSERT INTO decisions (ts, kind, detail) VALUES (4.0, 'trading_state', 'ACTIVE: ok')",
)
V2 = (
    'CREATE TABLE "funding" ("product_id" TEXT NOT NULL, "slot" INTEGER NOT NULL, "rate" TEXT NOT NULL,'
    ' "mark" TEXT NOT NULL, "size" TEXT NOT NULL, "payment" TEXT NOT NULL, "ts" FLOAT,'
    ' PRIMARY KEY ("product_id", "slot"))',
    "INSERT INTO funding VALUES ('BIP-20DEC30-CDE', 498611, '0.0001', '86960', '-11', '0.956560', 5.0)",
)
V3 = (
    'CREATE TABLE "held_orders" ("key" TEXT PRIMARY KEY NOT NULL, "kind" TEXT NOT NULL, "body" TEXT NOT NULL,'
    ' "ts" FLOAT)',
    """INSERT INTO held_orders VALUES ('pb-1', 'stop', '{"a":1}', 6.0)""",
)
BY_VERSION = {1: V1, 2: V1 + V2, 3: V1 + V2 + V3}


def build(path: Path, version: int, wal: bool = False) -> Path:
    conn = sqlite3.connect(path)
    try:
        if wal:
            conn.execute("PRAGMA journal_mode=wal")
        for statement in BY_VERSION.get(version, ()):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
        conn.commit()
    finally:
        conn.close()
    return path


def version_of(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def shape(path: Path) -> dict[str, object]:
    """Each table's columns (name, declared-as-text?, not null, pk position) and index names."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: ([(c[1], c[2] == "TEXT", c[3], c[5]) for c in conn.execute(f"PRAGMA table_info([{t}])")],
                    sorted(r[1] for r in conn.execute(f"PRAGMA index_list([{t}])") if not r[1].startswith("sqlite_")))
                for t in tables}
    finally:
        conn.close()


def test_steps_are_explicit_ordered_and_end_at_version_4():
    assert SCHEMA_VERSION == 4
    assert [s.version for s in STEPS] == [1, 2, 3, 4]
    assert all(s.summary and s.statements for s in STEPS)


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_every_earlier_version_migrates_forward_with_its_rows(tmp_path, version):
    path = build(tmp_path / "old.db", version, wal=version == 2)
    with JournalStore(path) as store:
        assert store.found_version == version and store.schema_version() == SCHEMA_VERSION
        assert store.journal_mode() == "wal"
        counts = store.counts()
        assert set(counts) == set(TABLE_NAMES)
        if version >= 1:
            assert store.order_status("c1") == "OPEN" and counts["order_events"] == 1
            assert store.fills() == [Fill("t1", "c0", "v0", "BTC-USD", "BUY", D("64123.45"), D("0.0015"), D("0.58"),
                                          "TAKER", 0.5)]
            assert store.positions() == {"BTC-USD": (D("0.0015"), D("64123.45"), D("-0.58"))}
            assert counts["supervision_events"] == counts["decisions"] == 1
        else:
            assert set(counts.values()) == {0}
        if version >= 2:
            assert store.funding() == [FundingRecord("BIP-20DEC30-CDE", 498_611, D("0.0001"), D("86960"), D("-11"),
                                                     D("0.956560"), 5.0)]
        if version >= 3:
            assert store.held() == [("pb-1", "stop", '{"a":1}', 6.0)]
        # The new tables work, and an old order row takes a new event as before.
        order = PlaceOrder("c2", "BTC-USD", "BUY", "limit", D("0.01"), D("100"))
        assert store.record_write_ahead(order, "i2", 7.0)
        assert [i.order for i in store.unsettled_intents()] == [order]
        store.record_trading_state(8.0, "RECOVERING", "start", {})
        store.record_day_start(20_000, D("100"), 8.0)
        store.set_watermark("fills.cursor", "x", 8.0)
        store.save_strategy_state("k", "{}", 8.0)
        assert store.counts()["orders"] == (2 if version >= 1 else 1)
    assert version_of(path) == SCHEMA_VERSION
    with JournalStore(path) as again:  # reopening a current file changes nothing
        assert again.found_version == SCHEMA_VERSION and again.counts()["intents"] == 1


@pytest.mark.parametrize("version", [1, 2, 3])
def test_a_migrated_file_has_the_same_shape_as_a_new_one(tmp_path, version):
    JournalStore(tmp_path / "new.db").close()
    old = build(tmp_path / "old.db", version)
    JournalStore(old).close()
    assert shape(old) == shape(tmp_path / "new.db")


def test_a_zero_byte_file_and_a_missing_file_are_version_0(tmp_path):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    for path in (empty, tmp_path / "missing.db"):
        with JournalStore(path) as store:
            assert store.found_version == 0 and store.schema_version() == SCHEMA_VERSION


def test_a_newer_schema_is_refused_and_left_as_it_was(tmp_path):
    path = build(tmp_path / "new.db", 3)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(JournalSchemaError, match=f"schema version {SCHEMA_VERSION + 1} is newer"):
        JournalStore(path)
    assert version_of(path) == SCHEMA_VERSION + 1 and path.read_bytes() == before


def test_each_step_is_one_transaction_a_failed_step_leaves_the_version_before_it(tmp_path, monkeypatch):
    broken = Step(3, "held orders, then a statement that fails", STEPS[2].statements + ("CREATE TABLE broken (",))
    monkeypatch.setattr(migrations, "STEPS", (STEPS[0], STEPS[1], broken, STEPS[3]))
    path = tmp_path / "j.db"
    with pytest.raises(sqlite3.OperationalError):
        JournalStore(path)
    assert version_of(path) == 2, "steps 1 and 2 committed, step 3 rolled back whole"
    tables = set(shape(path))
    assert {"orders", "funding"} <= tables and "held_orders" not in tables
    monkeypatch.undo()
    with JournalStore(path) as store:  # the fixed code carries on from where it stopped
        assert store.found_version == 2 and store.schema_version() == SCHEMA_VERSION


def test_migrate_refuses_a_connection_with_an_open_transaction(tmp_path):
    conn = sqlite3.connect(tmp_path / "j.db")
    try:
        conn.execute("BEGIN")
        with pytest.raises(RuntimeError, match="open transaction"):
            migrate(conn)
    finally:
        conn.close()


def checked(path: Path) -> tuple[bool, str]:
    """What a caller sees of a damaged file: a DatabaseError at open, or a failed integrity check."""
    try:
        store = JournalStore(path)
    except sqlite3.DatabaseError as exc:
        return False, str(exc)
    with store:
        return store.integrity_ok()


def test_a_garbage_file_is_a_database_error_and_is_not_touched(tmp_path):
    path = tmp_path / "garbage.db"
    path.write_bytes(b"not a journal, not a database: just bytes\n" * 200)
    with pytest.raises(sqlite3.DatabaseError, match="not a database"):
        JournalStore(path)
    assert path.read_bytes() == b"not a journal, not a database: just bytes\n" * 200
    assert checked(path) == (False, "file is not a database")


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_a_truncated_journal_is_a_database_error_or_a_failed_check(tmp_path, keep):
    path = tmp_path / "journal.db"
    with JournalStore(path) as store, store.transaction():
        for i in range(2000):
            store.record_fill(Fill(f"t{i}", "c", "v", "BTC-USD", "BUY", D("1"), D("2"), D("0"), "MAKER", float(i)))
    assert not Path(str(path) + "-wal").exists(), "checkpointed on close: the main file holds everything"
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    ok, reason = checked(path)
    assert ok is False and reason, reason
