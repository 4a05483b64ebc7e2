"""JournalStore: schema, WAL, exact money, idempotent fills and orders, transactions."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

import msgspec
import pytest
import sqlite_utils

from actors.execution.messages import PlaceOrder
from actors.journal.store import TABLE_NAMES, JournalStore
from actors.venue.messages import Fill, OrderUpdate


def make_fill(trade_id: str = "t1", **changes) -> Fill:
    fill = Fill(
        trade_id=trade_id,
        client_order_id="c1",
        venue_order_id="v1",
        product_id="BTC-USD",
        side="BUY",
        price=Decimal("64123.45"),
        size=Decimal("0.0015"),
        fee=Decimal("0.58"),
        liquidity="TAKER",
        ts=1_700_000_000.25,
    )
    return msgspec.structs.replace(fill, **changes)


@pytest.fixture
def store(tmp_path):
    s = JournalStore(tmp_path / "journal.db")
    yield s
    s.close()


def test_tables_exist_with_primary_keys(store, tmp_path):
    db = sqlite_utils.Database(tmp_path / "journal.db")
    try:
        assert set(TABLE_NAMES) <= set(db.table_names())
        pks = {name: db[name].pks for name in TABLE_NAMES}
        assert pks == {
            "orders": ["client_order_id"],
            "order_events": ["id"],
            "fills": ["trade_id"],
            "positions": ["product_id"],
            "funding": ["product_id", "slot"],
            "held_orders": ["key"],
            "supervision_events": ["id"],
            "decisions": ["id"],
        }
        money_columns = {
            ("orders", "size"), ("orders", "limit_price"), ("fills", "price"),
            ("fills", "size"), ("fills", "fee"), ("positions", "realized_pnl"),
            ("order_events", "filled_size"), ("positions", "entry"), ("funding", "payment"),
            ("funding", "rate"), ("funding", "mark"),
        }
        for table, column in money_columns:
            assert db[table].columns_dict[column] is str, (table, column)
    finally:
        db.close()
    assert store.counts() == dict.fromkeys(TABLE_NAMES, 0)


def test_wal_mode_synchronous_normal_and_reopen_is_idempotent(tmp_path):
    path = tmp_path / "journal.db"
    with JournalStore(path) as first:
        assert first.journal_mode() == "wal"
        assert first.synchronous() == 1  # NORMAL
        first.record_fill(make_fill())
    with JournalStore(path) as second:
        assert second.journal_mode() == "wal"
        assert second.counts()["fills"] == 1


def test_decimal_round_trip_is_exact_and_stored_as_text(store, tmp_path):
    # None of these survive a trip through a binary float.
    fill = make_fill(
        price=Decimal("12345678901234567.123456789"),
        size=Decimal("0.10000000000000000001"),
        fee=Decimal("-0.0000000001"),
    )
    assert store.record_fill(fill) is True
    assert store.fills() == [fill]
    raw = sqlite3.connect(tmp_path / "journal.db")
    try:
        row = raw.execute(
            "SELECT typeof(price), price, typeof(size), size, typeof(fee), fee FROM fills"
        ).fetchone()
    finally:
        raw.close()
    assert row == (
        "text", "12345678901234567.123456789",
        "text", "0.10000000000000000001",
        "text", "-1E-10",
    )


def test_duplicate_fill_is_ignored_and_first_version_kept(store):
    assert store.record_fill(make_fill("t1")) is True
    assert store.record_fill(make_fill("t1")) is False
    assert store.record_fill(make_fill("t1", price=Decimal("1"))) is False
    assert store.counts()["fills"] == 1
    assert store.fills()[0].price == Decimal("64123.45")


def test_fills_come_back_in_insertion_order(store):
    for trade_id in ("z", "a", "m"):
        store.record_fill(make_fill(trade_id))
    assert [f.trade_id for f in store.fills()] == ["z", "a", "m"]


def test_float_money_is_refused_and_writes_nothing(store):
    with pytest.raises(TypeError):
        store.record_fill(make_fill(price=64123.45))
    with pytest.raises(ValueError):
        store.record_fill(make_fill(fee=Decimal("NaN")))
    assert store.counts()["fills"] == 0


def test_order_lifecycle_and_terminal_status_is_sticky(store):
    order = PlaceOrder(
        client_order_id="c1", product_id="BTC-USD", side="BUY", order_type="limit",
        size=Decimal("0.0015"), limit_price=Decimal("64000.10"),
    )
    assert store.record_place(order, intent_id="i1", ts=10.0) is True
    assert store.record_place(order, intent_id="i1", ts=11.0) is False
    assert store.order_status("c1") == "PENDING"

    def update(status: str, filled: str, leaves: str, ts: float) -> OrderUpdate:
        return OrderUpdate(
            client_order_id="c1", venue_order_id="v1", product_id="BTC-USD", status=status,
            filled_size=Decimal(filled), leaves_size=Decimal(leaves), ts=ts,
        )

    first = store.record_order_update(update("OPEN", "0", "0.0015", 12.0))
    store.record_order_update(update("FILLED", "0.0015", "0", 13.0))
    assert store.order_status("c1") == "FILLED"
    # A late OPEN is journaled as an event but does not resurrect the order.
    last = store.record_order_update(update("OPEN", "0", "0.0015", 14.0))
    assert last == first + 2
    assert store.order_status("c1") == "FILLED"
    assert store.counts()["orders"] == 1
    assert store.counts()["order_events"] == 3


def test_position_upsert_keeps_one_row_with_latest_values(store):
    store.upsert_position(
        product_id="BTC-USD", size=Decimal("0.002"), entry=Decimal("64000"),
        realized_pnl=Decimal("0"), ts=1.0,
    )
    store.upsert_position(
        product_id="BTC-USD", size=Decimal("0.001"), entry=Decimal("64000"),
        realized_pnl=Decimal("1.25"), ts=2.0,
    )
    assert store.counts()["positions"] == 1
    assert store.positions() == {
        "BTC-USD": (Decimal("0.001"), Decimal("64000"), Decimal("1.25"))
    }


def test_supervision_and_decisions_store_text_or_json_detail(store, tmp_path):
    assert store.record_supervision(5.0, "restart", "market_data", 2, "boom") == 1
    assert store.record_decision(6.0, "refused", {"max_notional": Decimal("100.5")}) == 1
    assert store.record_decision(7.0, "halt", "intensity exceeded") == 2
    raw = sqlite3.connect(tmp_path / "journal.db")
    try:
        assert raw.execute("SELECT ts, kind, child, epoch, detail FROM supervision_events")\
            .fetchall() == [(5.0, "restart", "market_data", 2, "boom")]
        assert raw.execute("SELECT detail FROM decisions ORDER BY id").fetchall() == [
            ('{"max_notional":"100.5"}',), ("intensity exceeded",),
        ]
    finally:
        raw.close()


def test_transaction_commits_together_or_not_at_all(store):
    with store.transaction():
        store.record_fill(make_fill("a"))
        store.record_fill(make_fill("b"))
    assert store.counts()["fills"] == 2
    with pytest.raises(RuntimeError), store.transaction():
        store.record_fill(make_fill("c"))
        store.record_decision(1.0, "x")
        raise RuntimeError("abort")
    assert store.counts()["fills"] == 2
    assert store.counts()["decisions"] == 0


def test_thousands_of_individually_committed_rows(store):
    for i in range(3000):
        store.record_fill(make_fill(f"t{i}", ts=float(i)))
    assert store.counts()["fills"] == 3000
    assert store.fills()[-1].trade_id == "t2999"


def test_close_is_idempotent(tmp_path):
    s = JournalStore(tmp_path / "j.db")
    s.close()
    s.close()


def test_funding_is_recorded_once_per_product_and_interval_and_read_back_exactly(store):
    from actors.portfolio.messages import FundingRecord

    D = Decimal
    first = FundingRecord("BIP-20DEC30-CDE", 498_611, D("0.0001"), D("86960"), D("-11"), D("0.956560"), 1.0)
    assert store.record_funding(first)
    assert not store.record_funding(msgspec.structs.replace(first, payment=D("99"), ts=2.0))
    assert store.funding() == [first]


def test_held_orders_are_kept_replaced_and_forgotten_by_key(store):
    store.hold("pb-1", "stop", '{"a":1}', 1.0)
    store.hold("pb-2", "replacement", '{"b":2}', 2.0)
    store.hold("pb-1", "stop", '{"a":3}', 3.0)  # re-armed: the later body wins
    assert store.held() == [("pb-2", "replacement", '{"b":2}', 2.0), ("pb-1", "stop", '{"a":3}', 3.0)]
    store.hold("pb-2", "replacement", "", 4.0)
    assert store.held() == [("pb-1", "stop", '{"a":3}', 3.0)]


def test_a_transaction_the_full_database_refuses_is_rolled_back_whole(store, tmp_path):
    store.record_fill(make_fill("before"))
    store.freeze_size()  # sqlite's own "database or disk is full" once a write needs a new page
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"), store.transaction():
        for i in range(2000):  # the first rows fit the pages there are: they must go too
            store.record_fill(make_fill(f"t{i}"))
    assert [f.trade_id for f in store.fills()] == ["before"]
    assert not store._db.conn.in_transaction, "nothing left open to capture the next write"
    with sqlite3.connect(tmp_path / "journal.db") as other:
        assert other.execute("SELECT count(*) FROM fills").fetchone() == (1,)
    other.close()
    store.freeze_size(False)
    store.record_fill(make_fill("after"))
    assert [f.trade_id for f in store.fills()] == ["before", "after"]


def test_an_order_event_and_its_status_move_together_or_not_at_all(store):
    store.record_place(PlaceOrder("c1", "BTC-USD", "BUY", "limit", Decimal("0.01"), Decimal("100")), "i1", 1.0)
    # The event's INSERT succeeds, then the status UPDATE is refused: the event must go with it.
    store._db.execute("CREATE TEMP TRIGGER refuse BEFORE UPDATE ON orders BEGIN SELECT RAISE(ABORT, 'refused'); END")
    with pytest.raises(sqlite3.DatabaseError, match="refused"):
        store.record_order_event(client_order_id="c1", venue_order_id="v1", status="CANCELLED",
                                 filled_size=Decimal(0), leaves_size=Decimal(0), reason="x", ts=2.0)
    assert store.order_status("c1") == "PENDING" and store.counts()["order_events"] == 0
    assert not store._db.conn.in_transaction
