"""The read-only journal reader: finding the journal in a data dir, reading each section exactly,
surviving an older schema, and never writing to the database."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from decimal import Decimal

import pytest

from actors.journal.reader import JournalNotFound, JournalUnreadable, iso, locate, read_journal
from actors.journal.store import SCHEMA_VERSION, JournalStore
from domain.orders import Fill, OrderUpdate, PlaceOrder

T0 = 1_700_000_000.0


def journal(path, decisions=()):
    with JournalStore(path) as store:
        for ts, kind, detail in decisions:
            store.record_decision(ts, kind, detail)
    return path


def test_locate_prefers_a_journal_directly_in_the_data_dir(tmp_path):
    journal(tmp_path / "prod.db")
    (tmp_path / "paper-20240101T000000-seed1").mkdir()
    journal(tmp_path / "paper-20240101T000000-seed1" / "perpsbot.db")
    found = locate(tmp_path)
    assert found.db == tmp_path / "prod.db" and found.note == ""


def test_locate_takes_the_most_recently_modified_of_several_and_says_so(tmp_path):
    older, newer = journal(tmp_path / "a.db"), journal(tmp_path / "b.db")
    os.utime(newer, (T0, T0))  # b's own file is older, but its WAL moved later
    os.utime(older, (T0 + 10, T0 + 10))
    (tmp_path / "b.db-wal").write_bytes(b"")
    os.utime(tmp_path / "b.db-wal", (T0 + 20, T0 + 20))
    found = locate(tmp_path)
    assert found.db == newer and found.note == f"newest of 2 journals in {tmp_path}"


def test_locate_falls_back_to_the_newest_run_directory(tmp_path):
    runs = [tmp_path / f"paper-2024010{n}T000000-seed1" for n in (1, 2, 3)]
    for n, run in enumerate(runs):
        run.mkdir()
        journal(run / "perpsbot.db")
        os.utime(run / "perpsbot.db", (T0 + n, T0 + n))
    (tmp_path / "backups").mkdir()
    os.utime(runs[0] / "perpsbot.db", (T0 + 99, T0 + 99))
    found = locate(tmp_path)
    assert found.db == runs[0] / "perpsbot.db" and runs[0].name in found.note and "3 run directories" in found.note


def test_locate_prefers_the_running_process_run_dir(tmp_path):
    run = tmp_path / "replay-20240101T000000-seed1"
    run.mkdir()
    journal(run / "perpsbot.db")
    os.utime(run / "perpsbot.db", (T0, T0))
    journal(tmp_path / "perpsbot.db")
    assert locate(tmp_path, run_dir=run).db == run / "perpsbot.db"
    assert locate(tmp_path, run_dir=tmp_path / "gone").db == tmp_path / "perpsbot.db"


def test_locate_names_what_is_missing(tmp_path):
    with pytest.raises(JournalNotFound, match="does not exist"):
        locate(tmp_path / "nowhere")
    (tmp_path / "empty-run").mkdir()
    with pytest.raises(JournalNotFound, match="no journal"):
        locate(tmp_path)


def test_sections_are_exact_and_terminal_orders_are_not_open(tmp_path):
    db = tmp_path / "perpsbot.db"
    with JournalStore(db) as store:
        store.record_decision(T0, "trading_state", "RECOVERING: start: reconciling")
        store.record_place(PlaceOrder("c1", "BIP-20DEC30-CDE", "SELL", "limit", Decimal("3"), Decimal("101.25")),
                           "i1", T0 + 1)
        store.record_place(PlaceOrder("c2", "BTC-USD", "BUY", "market", Decimal("0.5")), "i2", T0 + 2)
        store.record_order_update(OrderUpdate("c2", "v2", "BTC-USD", "REJECTED", Decimal(0), Decimal(0), "funds",
                                              T0 + 3))
        store.record_order_update(OrderUpdate("c2", "v2", "BTC-USD", "OPEN", Decimal(0), Decimal("0.5"), "",
                                              T0 + 4))  # late: stays REJECTED
        store.upsert_position(product_id="BIP-20DEC30-CDE", size=Decimal("-3.000"), entry=Decimal("101.25"),
                              realized_pnl=Decimal("0"), ts=T0 + 5)
        store.upsert_position(product_id="BTC-USD", size=Decimal("0E-8"), entry=Decimal("0"),
                              realized_pnl=Decimal("1.10"), ts=T0 + 6)
        store.hold("c1", "replacement", "not json", T0 + 7)
    view = read_journal(db)
    assert (view["trading_state"], view["state_reason"], view["state_since"]) == (
        "RECOVERING", "start: reconciling", T0)
    assert [(o["client_order_id"], o["status"], o["limit_price"], o["filled_size"]) for o in view["open_orders"]] == [
        ("c1", "PENDING", "101.25", None)]
    assert view["positions"] == {"BIP-20DEC30-CDE": {"size": "-3.000", "entry": "101.25", "realized_pnl": "0",
                                                     "updated_at": T0 + 5}}
    assert set(read_journal(db, include_flat=True)["positions"]) == {"BIP-20DEC30-CDE", "BTC-USD"}
    assert view["held_orders"] == [{"key": "c1", "kind": "replacement", "ts": T0 + 7, "time": iso(T0 + 7),
                                    "body": "not json"}]
    assert [(e["source"], e["kind"]) for e in view["events"]] == [
        ("decision", "trading_state"), ("order", "REJECTED"), ("order", "OPEN")]
    assert view["problems"] == [] and view["schema_version"] == SCHEMA_VERSION


def test_events_are_the_newest_merged_by_time_newest_last(tmp_path):
    db = tmp_path / "perpsbot.db"
    with JournalStore(db) as store:
        for n in range(30):
            store.record_fill(Fill(f"t{n}", "c", "v", "BTC-USD", "BUY", Decimal("1"), Decimal("2"), Decimal("0"),
                                   "MAKER", T0 + 2 * n))
            store.record_supervision(T0 + 2 * n + 1, "restart", "execution", n)
        store.record_decision(T0 + 58, "cancel_all", "daily loss limit")  # same ts as the last fill
    events = read_journal(db, events=5)["events"]
    assert [(e["source"], e["ts"]) for e in events] == [  # at equal times: decision, supervision, order, fill
        ("fill", T0 + 56), ("supervision", T0 + 57), ("decision", T0 + 58), ("fill", T0 + 58),
        ("supervision", T0 + 59)]
    assert events[2]["text"] == "daily loss limit" and events[2]["time"] == "2023-11-14T22:14:18.000Z"
    assert events[3]["text"] == "BTC-USD BUY 2 @ 1 fee 0 MAKER c trade t29"
    assert events[4]["text"] == "execution epoch 29"


def test_an_older_schema_is_read_with_the_missing_table_named(tmp_path):
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE decisions (id INTEGER PRIMARY KEY, ts FLOAT, kind TEXT, detail TEXT)")
        conn.execute("INSERT INTO decisions (ts, kind, detail) VALUES (?, 'trading_state', 'ACTIVE: ok')", (T0,))
    conn.close()
    view = read_journal(db)
    assert view["trading_state"] == "ACTIVE" and view["schema_version"] == 0
    assert any("held_orders" in p for p in view["problems"]) and view["held_orders"] == []


def test_a_missing_or_corrupt_file_is_an_error_not_a_traceback(tmp_path):
    with pytest.raises(JournalNotFound):
        read_journal(tmp_path / "none.db")
    (tmp_path / "bad.db").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(JournalUnreadable, match="unreadable"):
        read_journal(tmp_path / "bad.db")


def test_reading_never_writes_the_journal(tmp_path):
    db = journal(tmp_path / "perpsbot.db", [(T0, "trading_state", "ACTIVE: x")])
    before = hashlib.sha256(db.read_bytes()).hexdigest(), db.stat().st_mtime_ns
    read_journal(db)
    assert (hashlib.sha256(db.read_bytes()).hexdigest(), db.stat().st_mtime_ns) == before
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_iso_is_utc_with_milliseconds():
    assert iso(T0 + 0.25) == "2023-11-14T22:13:20.250Z"
    assert iso(None) is None
