"""JournalStore: schema, WAL, exact money, idempotent fills and orders, intents and their settlement,
the recovery tables (trading state, day start, watermarks, strategy state), transactions."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

import msgspec
import pytest
import sqlite_utils

from actors.journal.store import TABLE_NAMES, JournalStore
from domain.orders import Fill, OrderUpdate, PlaceOrder


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
            "intents": ["client_order_id"],
            "trading_state": ["id"],
            "day_start": ["utc_day"],
            "watermarks": ["name"],
            "strategy_state": ["key"],
        }
        money_columns = {
            ("orders", "size"), ("orders", "limit_price"), ("fills", "price"),
            ("fills", "size"), ("fills", "fee"), ("positions", "realized_pnl"),
            ("order_events", "filled_size"), ("positions", "entry"), ("funding", "payment"),
            ("funding", "rate"), ("funding", "mark"), ("intents", "size"), ("intents", "limit_price"),
            ("intents", "stop_price"), ("day_start", "equity"),
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
    from domain.portfolio import FundingRecord

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


# -- intents: the write-ahead of every order ---------------------------------------------------

def stop_order(cid: str = "c1", **changes) -> PlaceOrder:
    order = PlaceOrder(cid, "BIP-20DEC30-CDE", "SELL", "stop_limit", Decimal("3"), Decimal("99.50"),
                       stop_price=Decimal("100.00"), reduce_only=True, leverage=Decimal("2"))
    return msgspec.structs.replace(order, **changes)


def test_an_intent_is_written_once_with_its_order_as_sent_and_read_back_exactly(store, tmp_path):
    order = stop_order()
    assert store.record_intent(order, "i1", 10.0) is True
    assert store.record_intent(msgspec.structs.replace(order, size=Decimal("9")), "i2", 11.0) is False
    (intent,) = store.unsettled_intents()
    assert (intent.client_order_id, intent.intent_id, intent.order, intent.ts) == ("c1", "i1", order, 10.0)
    raw = sqlite3.connect(tmp_path / "journal.db")
    try:
        row = raw.execute("SELECT product_id, side, order_type, size, limit_price, stop_price, reduce_only, state,"
                          " settled_reason, ts, settled_at FROM intents").fetchone()
    finally:
        raw.close()
    assert row == ("BIP-20DEC30-CDE", "SELL", "stop_limit", "3", "99.50", "100.00", 1, "written", None, 10.0, None)
    assert store.counts()["orders"] == 0, "an intent alone is not an order row"


def test_a_write_ahead_writes_the_intent_and_the_pending_order_together_or_not_at_all(store):
    assert store.record_write_ahead(stop_order("c1"), "i1", 1.0) is True
    assert store.order_status("c1") == "PENDING" and store.intent_state("c1") == ("written", None)
    assert store.record_write_ahead(stop_order("c1"), "i1", 2.0) is False
    store._db.execute("CREATE TEMP TRIGGER refuse BEFORE INSERT ON orders BEGIN SELECT RAISE(ABORT, 'refused'); END")
    with pytest.raises(sqlite3.DatabaseError, match="refused"):
        store.record_write_ahead(stop_order("c2"), "i2", 3.0)
    assert store.intent_state("c2") is None and store.order_status("c2") is None
    assert [i.client_order_id for i in store.unsettled_intents()] == ["c1"]


def test_the_venues_first_answer_settles_an_intent_an_update_or_a_fill(store):
    for cid, ts in (("c1", 1.0), ("c2", 2.0), ("c3", 3.0), ("c4", 4.0)):
        store.record_write_ahead(stop_order(cid), "i-" + cid, ts)
    store.record_order_update(OrderUpdate("c1", "v1", "BIP-20DEC30-CDE", "REJECTED", Decimal(0), Decimal(0),
                                          "INSUFFICIENT_FUNDS", 5.0))
    store.record_fill(make_fill("t9", client_order_id="c2", ts=6.0))
    assert store.settle_intent("c3", "never sent: venue does not know it", 7.0) is True
    assert store.settle_intent("c3", "again", 8.0) is False
    store.record_order_update(OrderUpdate("c1", "v1", "BIP-20DEC30-CDE", "OPEN", Decimal(0), Decimal(3), ts=9.0))
    assert store.intent_state("c1") == ("settled", "order REJECTED"), "the first answer's reason stays"
    assert store.intent_state("c2") == ("settled", "fill t9")
    assert store.intent_state("c3") == ("settled", "never sent: venue does not know it")
    assert [(i.client_order_id, i.ts) for i in store.unsettled_intents()] == [("c4", 4.0)]


def test_an_intent_journaled_after_its_answer_is_written_settled_and_an_import_is_idempotent(store):
    store.record_order_update(OrderUpdate("c1", "v1", "BIP-20DEC30-CDE", "OPEN", Decimal(0), Decimal(3), ts=1.0))
    store.record_fill(make_fill("t2", client_order_id="c2", ts=1.5))
    logged = [(stop_order(cid), "i-" + cid, ts) for cid, ts in (("c1", 0.5), ("c2", 0.6), ("c3", 0.7))]
    assert store.import_intents(logged) == 3
    assert store.import_intents(logged) == 0, "imported again: nothing new"
    assert store.intent_state("c1") == ("settled", "answered before it was journaled")
    assert store.intent_state("c2") == ("settled", "answered before it was journaled")
    assert [i.client_order_id for i in store.unsettled_intents()] == ["c3"], "only the unanswered one is asked for"
    assert store.order_status("c3") == "PENDING"


def test_an_order_event_and_its_settlement_move_together_or_not_at_all(store):
    store.record_write_ahead(stop_order("c1"), "i1", 1.0)
    store._db.execute("CREATE TEMP TRIGGER refuse BEFORE UPDATE ON intents BEGIN SELECT RAISE(ABORT, 'refused'); END")
    with pytest.raises(sqlite3.DatabaseError, match="refused"):
        store.record_order_update(OrderUpdate("c1", "v1", "BIP-20DEC30-CDE", "OPEN", Decimal(0), Decimal(3), ts=2.0))
    with pytest.raises(sqlite3.DatabaseError, match="refused"):
        store.record_fill(make_fill("t1", client_order_id="c1"))
    assert store.counts()["order_events"] == 0 and store.counts()["fills"] == 0
    assert store.order_status("c1") == "PENDING" and store.intent_state("c1") == ("written", None)


# -- what a restart resumes from -----------------------------------------------------------------

def test_trading_state_is_an_append_only_log_read_back_latest_first(store):
    assert store.last_trading_state() is None
    store.record_trading_state(1.0, "RECOVERING", "start: reconciling", {"start": "RECOVERING: reconciling"})
    store.record_trading_state(2.0, "HALTED", "daily loss limit",
                               (("risk", "HALTED: daily loss limit"), ("start", "RECOVERING: reconciling")), 20_000)
    assert store.last_trading_state() == (
        "HALTED", "daily loss limit", {"risk": "HALTED: daily loss limit", "start": "RECOVERING: reconciling"}, 20_000)
    store.record_trading_state(3.0, "ACTIVE", "operator resume", {})
    assert store.last_trading_state() == ("ACTIVE", "operator resume", {}, None)
    assert store.counts()["trading_state"] == 3


def test_day_start_first_one_per_day_wins_and_is_exact(store):
    assert store.day_start(20_000) is None
    assert store.record_day_start(20_000, Decimal("10000.000001"), 1.0) is True
    assert store.record_day_start(20_000, Decimal("1"), 2.0) is False
    assert store.record_day_start(20_001, Decimal("9990.5"), 3.0) is True
    assert store.day_start(20_000) == Decimal("10000.000001") and str(store.day_start(20_001)) == "9990.5"
    with pytest.raises(TypeError):
        store.record_day_start(20_002, 9990.5, 4.0)
    with pytest.raises(TypeError):
        store.record_day_start(20_002.0, Decimal(1), 4.0)


def test_watermarks_and_strategy_state_keep_the_latest_value_per_name(store):
    store.set_watermark("fills.newest_ts", "1700000000.123456", 1.0)
    store.set_watermark("fills.cursor", "abc", 2.0)
    store.set_watermark("fills.cursor", "def", 3.0)
    assert store.watermarks() == {"fills.cursor": "def", "fills.newest_ts": "1700000000.123456"}
    with pytest.raises(TypeError):
        store.set_watermark("fills.newest_ts", 1700000000.5, 4.0)
    store.save_strategy_state("sma:BTC-USD", '{"closes":["1.5"]}', 1.0)
    store.save_strategy_state("sma:BTC-USD", '{"closes":["1.5","2"]}', 2.0)
    store.save_strategy_state("sma:ETH-USD", "{}", 2.0)
    assert store.strategy_state() == {"sma:BTC-USD": '{"closes":["1.5","2"]}', "sma:ETH-USD": "{}"}


# -- fills at scale, transactions across calls, integrity ---------------------------------------

def test_fills_keep_each_texts_own_decimal_and_fill_count_counts(store):
    prices = ["1.0", "1.00", "1", "1E+2", "100"]  # equal values, different exact texts
    for i, price in enumerate(prices * 20):
        store.record_fill(make_fill(f"t{i}", price=Decimal(price), ts=float(i)))
    fills = store.fills()
    assert store.fill_count() == len(fills) == 100
    assert [str(f.price) for f in fills[:5]] == prices
    assert fills == [make_fill(f"t{i}", price=Decimal(p), ts=float(i)) for i, p in enumerate(prices * 20)]


def test_begin_keeps_one_transaction_across_calls_and_transaction_inside_it_is_a_savepoint(store, tmp_path):
    store.begin()
    with pytest.raises(RuntimeError, match="already open"):
        store.begin()
    store.record_fill(make_fill("a"))
    with pytest.raises(ValueError), store.transaction():
        store.record_fill(make_fill("b"))
        raise ValueError("undo b only")
    with store.transaction():
        store.record_decision(1.0, "kept")
    assert store.in_transaction
    with sqlite3.connect(tmp_path / "journal.db") as other:
        assert other.execute("SELECT count(*) FROM fills").fetchone() == (0,), "nothing visible before commit"
    other.close()
    store.commit()
    store.commit()  # nothing open: nothing to do
    assert [f.trade_id for f in store.fills()] == ["a"] and store.counts()["decisions"] == 1
    store.begin()
    store.record_fill(make_fill("c"))
    store.rollback()
    assert store.fill_count() == 1 and not store.in_transaction


def test_integrity_ok_on_a_sound_journal_and_a_damaged_one(tmp_path):
    path = tmp_path / "journal.db"
    with JournalStore(path) as store:
        with store.transaction():
            for i in range(3000):
                store.record_fill(make_fill(f"t{i}", ts=float(i)))
        assert store.integrity_ok() == (True, "ok")
        size = int(store._pragma("page_size"))
    data = bytearray(path.read_bytes())
    page = len(data) // size // 2  # a fills leaf in the middle: its cell offsets zeroed
    data[page * size + 100: page * size + 200] = bytes(100)
    path.write_bytes(bytes(data))
    with JournalStore(path) as damaged:
        ok, reason = damaged.integrity_ok()
    assert ok is False and reason and "\n" not in reason, reason


def test_an_order_state_told_again_writes_an_event_only_where_the_journal_is_behind(store):
    order = PlaceOrder("c9", "BTC-USD", "BUY", "limit", Decimal("1"), Decimal("100"))
    store.record_place(order, "i9", 1.0)
    state = OrderUpdate("c9", "v9", "BTC-USD", "OPEN", Decimal(0), Decimal(1), "", 2.0)
    assert store.record_order_state(state) is True and store.order_status("c9") == "OPEN"
    assert store.record_order_state(state) is False, "told twice: nothing more written"
    filled = OrderUpdate("c9", "v9", "BTC-USD", "FILLED", Decimal(1), Decimal(0), "", 3.0)
    assert store.record_order_state(filled) is True
    late = OrderUpdate("c9", "v9", "BTC-USD", "OPEN", Decimal(0), Decimal(1), "", 4.0)
    assert store.record_order_state(late) is False and store.order_status("c9") == "FILLED", "final stays final"
    assert store.record_order_state(OrderUpdate("nope", "", "BTC-USD", "OPEN", Decimal(0), Decimal(1), "", 5.0)) \
        is False, "an order the journal never had is not invented from a status"
    assert store.counts()["order_events"] == 2
