"""The real journal actor under load and faults: consecutive writes share one commit (fewer commits
than messages, every row there), an order told twice is written once, a write refused (the
`journal:disk_full` fault) leaves nothing half-written and is one fact, reads and stops commit
first, and a crash in the middle of a batch leaves no message half-written."""

from __future__ import annotations

import math
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from actors.journal.actor import BATCH_MAX, JournalActor
from domain.control import Decision, JournalHealth
from domain.orders import Fill, HeldOrder, OrderPlaced, OrderUpdate, PlaceOrder
from domain.portfolio import FundingRecord, PositionRecord
from domain.queries import COUNTS
from domain.records import DayStartRecord, StrategyStateRecord, TradingStateRecord, WatermarkRecord
from runtime.faults import FaultPlan, parse_fault
from runtime.messages import SupervisionEvent
from runtime.supervisor import ChildSpec, Supervisor
from tests.support import Harness, wait_until

NAMES = ("journal",)
HOLD = "journal:slow:after=1:slow_s=0.3"  # the first message holds the journal while the rest queue up


class HalfWriter(JournalActor):
    """The real journal whose Decision "boom" crashes after writing its row (a bug mid-message)."""

    @staticmethod
    def _decide(store: Any, m: Decision) -> None:
        store.record_decision(m.ts, m.kind, m.detail)
        if m.kind == "boom":
            raise RuntimeError("crash after the first row of a message")

    _WRITES = {**JournalActor._WRITES, Decision: _decide}


class FactsSupervisor(Supervisor):
    """Keeps the facts children tell it (JournalHealth); ask "facts" for them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.facts: list[Any] = []

    def on_fact(self, message: Any) -> Any:
        if isinstance(message, str) and message == "facts":
            return list(self.facts)
        self.facts.append(message)
        return None


def rig(tmp_path: Path, *faults: str, journal: type = JournalActor) -> Harness:
    db = str(tmp_path / "journal.db")
    h = Harness([ChildSpec("journal", journal, {"db_path": db})],
                faults=FaultPlan([parse_fault(f, NAMES) for f in faults]), supervisor_class=FactsSupervisor)
    wait_until(lambda: h.bound("journal"), what="the journal started")
    h.db = Path(db)  # type: ignore[attr-defined]
    return h


@pytest.fixture
def stop():
    harnesses: list[Harness] = []
    yield harnesses.append
    for h in harnesses:
        h.stop()


def metric(h: Harness, name: str) -> int:
    return h.services.metrics.counter(name).value


def rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def order(n: int) -> PlaceOrder:
    return PlaceOrder(f"c{n:04d}", "BTC-USD", "BUY", "limit", Decimal("0.001"), Decimal("50000.01"))


def placed(h: Harness, count: int, start: int = 0) -> list[str]:
    for n in range(start, start + count):
        h.services.send("journal", OrderPlaced(order(n), f"i{n}", float(n)))
    return [order(n).client_order_id for n in range(start, start + count)]


def one_of_each(n: int) -> list[Any]:
    d = Decimal
    return [
        OrderPlaced(order(n), f"i{n}", 1.0),
        OrderUpdate(order(n).client_order_id, f"v{n}", "BTC-USD", "OPEN", d(0), d("0.001"), ts=2.0),
        Fill(f"t{n}", order(n).client_order_id, f"v{n}", "BTC-USD", "BUY", d("50000.01"), d("0.001"), d("0.02"),
             "MAKER", 3.0),
        PositionRecord(f"P{n}", d("0.001"), d("50000.01"), d(0), 3.0),
        FundingRecord("BIP-20DEC30-CDE", n, d("0.0001"), d("86960"), d("-11"), d("0.95656"), 4.0),
        HeldOrder(f"h{n}", "stop", '{"x":1}', 4.0),
        SupervisionEvent(5.0, "started", "execution", n),
        Decision(5.0, "tick", str(n)),
        TradingStateRecord(6.0, "ACTIVE", "ok", (("start", "ACTIVE: ok"),), None),
        DayStartRecord(20_000 + n, d("10000.5"), 6.0),
        WatermarkRecord(f"w{n}", str(n), 7.0),
        StrategyStateRecord(f"s{n}", "{}", 7.0),
    ]


def test_many_messages_told_at_once_end_in_fewer_commits_with_every_row_there(tmp_path, stop):
    h = rig(tmp_path, HOLD)
    stop(h)
    messages = [m for n in range(50) for m in one_of_each(n)]  # 600 messages, 12 kinds
    for message in messages:
        h.services.send("journal", message)
    wait_until(lambda: metric(h, "journal.written") == len(messages), what="every message written")
    commits = metric(h, "journal.commits")
    assert commits <= math.ceil(len(messages) / BATCH_MAX) + 1 < len(messages), commits
    counts = h.ask("journal", COUNTS)
    assert counts == {"orders": 50, "order_events": 50, "fills": 50, "positions": 50, "funding": 50,
                      "held_orders": 50, "supervision_events": 50, "decisions": 50, "intents": 50,
                      "trading_state": 50, "day_start": 50, "watermarks": 50, "strategy_state": 50}
    assert rows(h.db, "SELECT count(*) FROM intents WHERE state = 'settled'") == [(50,)], "answered by the venue"
    assert metric(h, "journal.write_errors") == 0 and metric(h, "journal.unknown") == 0


def test_an_order_told_twice_is_one_intent_and_one_row(tmp_path, stop):
    h = rig(tmp_path)
    stop(h)
    placed(h, 300)
    placed(h, 5)  # told again (as to a restarted journal): written once
    wait_until(lambda: metric(h, "journal.written") == 305, what="every OrderPlaced handled")
    assert rows(h.db, "SELECT count(*), min(status), max(status) FROM orders") == [(300, "PENDING", "PENDING")]
    assert rows(h.db, "SELECT count(*), min(state) FROM intents") == [(300, "written")]
    assert metric(h, "journal.commits") < 305


def test_a_direct_ask_is_committed_on_return(tmp_path, stop):
    h = rig(tmp_path)
    stop(h)
    h.ask("journal", OrderPlaced(order(1), "i1", 1.0))
    assert rows(h.db, "SELECT client_order_id, state FROM intents") == [("c0001", "written")]


def test_under_disk_full_a_refused_order_is_not_half_written_and_is_one_fact(tmp_path, stop):
    h = rig(tmp_path, "journal:disk_full:on=OrderPlaced")
    stop(h)
    sent = placed(h, 300)
    wait_until(lambda: metric(h, "journal.written") + metric(h, "journal.write_errors") == 300,
               what="every OrderPlaced written or refused")
    written = [cid for (cid,) in rows(h.db, "SELECT client_order_id FROM intents ORDER BY rowid")]
    assert metric(h, "journal.write_errors") == 300 - len(written) >= 1
    assert written, "the writes that fit the pages there were got through"
    assert set(sent) - set(written), "some were refused"
    assert {cid for (cid,) in rows(h.db, "SELECT client_order_id FROM orders")} == set(written), "never half-written"
    facts = [f for f in h.ref.ask("facts", timeout=5) if type(f) is JournalHealth and not f.ok]
    assert facts == [JournalHealth(False, "database or disk is full")], "one fact for the condition"


def test_reads_and_stop_commit_what_came_before(tmp_path, stop):
    h = rig(tmp_path, HOLD)
    stop(h)
    for n in range(100):
        h.services.send("journal", Decision(float(n), "tick", str(n)))
    assert h.ask("journal", COUNTS)["decisions"] == 100
    assert rows(h.db, "SELECT count(*) FROM decisions") == [(100,)], "committed before the answer"
    h.services.faults.arm(parse_fault(HOLD, NAMES))  # hold it again while the next batch and a stop queue up
    for n in range(100, 150):
        h.services.send("journal", Decision(float(n), "tick", str(n)))
    journal = h.services.directory.get("journal").ref
    journal.stop(block=False)  # behind the tells: the last write still sees it waiting, stop_core commits
    wait_until(lambda: not journal.is_alive(), what="the journal stopped")
    assert rows(h.db, "SELECT count(*) FROM decisions") == [(150,)]
    assert metric(h, "journal.written") == 150 and metric(h, "journal.write_errors") == 0


def half_written(db: Path) -> list[str]:
    """Orders with an intent and no order row or the other way round, and what
    integrity_check finds."""
    problems = [r for (r,) in rows(db, "PRAGMA integrity_check") if r != "ok"]
    problems += [f"intent {c} without its order" for (c,) in rows(
        db, "SELECT client_order_id FROM intents WHERE client_order_id NOT IN (SELECT client_order_id FROM orders)")]
    problems += [f"order {c} without its intent" for (c,) in rows(
        db, "SELECT client_order_id FROM orders WHERE client_order_id NOT IN (SELECT client_order_id FROM intents)")]
    return problems


def test_a_crash_fault_mid_batch_leaves_whole_messages_only(tmp_path, stop):
    h = rig(tmp_path, HOLD, "journal:crash:after=40")
    stop(h)
    sent = placed(h, 100)
    wait_until(lambda: not h.bound("journal"), what="the journal crashed")  # restarts wait for the clock
    written = [cid for (cid,) in rows(h.db, "SELECT client_order_id FROM intents ORDER BY rowid")]
    assert 1 <= len(written) < 100 and written == sent[:len(written)], "the messages before the crash, whole"
    assert half_written(h.db) == []
    assert any(e.kind == "failed" and e.child == "journal" for e in h.status()["events"])


def test_a_message_that_crashes_half_written_is_undone_and_the_batch_before_it_kept(tmp_path, stop):
    h = rig(tmp_path, HOLD, journal=HalfWriter)
    stop(h)
    sent = placed(h, 20)
    h.services.send("journal", Decision(1.0, "boom", "half"))
    h.services.send("journal", Decision(2.0, "after", "lost with the crashed actor"))
    wait_until(lambda: not h.bound("journal"), what="the journal crashed")
    assert rows(h.db, "SELECT kind FROM decisions") == [], "the crashing message's first row is gone"
    assert [c for (c,) in rows(h.db, "SELECT client_order_id FROM intents ORDER BY rowid")] == sent
    assert half_written(h.db) == []
