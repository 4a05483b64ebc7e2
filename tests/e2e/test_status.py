"""`bin/perpsbot status` as an operator runs it: from the journal with and without a process
holding the data dir, in the one-database and the per-run layouts, while the journal is written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

from actors.backup.snapshot import take_snapshot
from actors.journal.store import SCHEMA_VERSION, JournalStore
from domain.orders import Fill, OrderUpdate, PlaceOrder
from runtime.data_dir import holder
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]
PERPSBOT = [sys.executable, str(ROOT / "bin" / "perpsbot")]
T0 = 1_700_000_000.0


def status(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PERPSBOT, "status", *args], capture_output=True, text=True, timeout=30)


def status_json(*args: str) -> dict:
    result = status(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def fill(n: int, coid: str = "c-filled", ts: float | None = None) -> Fill:
    return Fill(f"t{n}", coid, "v-filled", "BTC-USD", "BUY", Decimal("50000.5"), Decimal("0.001"),
                Decimal("0.02"), "TAKER", T0 + 50 + n if ts is None else ts)


def build_journal(db: Path) -> None:
    """A journal with a state history, three orders (one open), a held stop, positions and 30 events."""
    with JournalStore(db) as store:
        store.record_decision(T0, "trading_state", "ACTIVE: started")
        store.record_place(PlaceOrder("c-open", "BTC-USD", "BUY", "limit", Decimal("0.01"), Decimal("49000.10")),
                           "i-open", T0 + 1)
        store.record_order_update(OrderUpdate("c-open", "v-open", "BTC-USD", "OPEN", Decimal(0), Decimal("0.01"),
                                              "", T0 + 2))
        store.record_place(PlaceOrder("c-filled", "BTC-USD", "BUY", "market", Decimal("0.02")), "i-filled", T0 + 3)
        store.record_order_update(OrderUpdate("c-filled", "v-filled", "BTC-USD", "FILLED", Decimal("0.02"),
                                              Decimal(0), "", T0 + 4))
        store.record_place(PlaceOrder("c-gone", "ETH-USD", "SELL", "limit", Decimal("1"), Decimal("3000")),
                           "i-gone", T0 + 5)
        store.record_order_update(OrderUpdate("c-gone", "v-gone", "ETH-USD", "CANCELLED", Decimal(0), Decimal(0),
                                              "user", T0 + 6))
        store.upsert_position(product_id="BTC-USD", size=Decimal("0.02"), entry=Decimal("50000.5"),
                              realized_pnl=Decimal("-0.04"), ts=T0 + 7)
        store.upsert_position(product_id="ETH-USD", size=Decimal("0"), entry=Decimal("0"),
                              realized_pnl=Decimal("12.5"), ts=T0 + 8)
        store.hold("c-stop", "stop", json.dumps({"product_id": "BTC-USD", "side": "SELL", "size": "0.02",
                                                 "stop_price": "48000"}), T0 + 9)
        store.record_supervision(T0 + 10, "restart", "strategy", 2, "crash")
        store.record_decision(T0 + 11, "operator", "reduce")
        store.record_decision(T0 + 11, "trading_state", "REDUCING: operator reduce")
        for n in range(20):
            store.record_fill(fill(n))
        store.record_decision(T0 + 80, "operator", "halt")
        store.record_decision(T0 + 80, "trading_state", "HALTED: operator halt")


def check_journal_view(view: dict) -> None:
    assert view["trading_state"] == "HALTED" and view["state_reason"] == "operator halt"
    assert [h["state"] for h in view["state_history"]] == ["ACTIVE", "REDUCING", "HALTED"]
    assert view["positions"] == {"BTC-USD": {"size": "0.02", "entry": "50000.5", "realized_pnl": "-0.04",
                                             "updated_at": T0 + 7}}
    assert [(o["client_order_id"], o["status"], o["size"], o["limit_price"]) for o in view["open_orders"]] == [
        ("c-open", "OPEN", "0.01", "49000.10")]
    assert [(h["key"], h["kind"], h["body"]["stop_price"]) for h in view["held_orders"]] == [
        ("c-stop", "stop", "48000")]
    events = view["events"]
    assert len(events) == 20
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)
    assert (events[-2]["kind"], events[-2]["text"]) == ("operator", "halt")  # newest last
    assert (events[-1]["kind"], events[-1]["text"]) == ("trading_state", "HALTED: operator halt")
    assert events[-1]["time"] == "2023-11-14T22:14:40.000Z"
    assert view["schema_version"] == SCHEMA_VERSION


def test_status_without_a_process(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    build_journal(data / "perpsbot.db")
    for n in range(2):
        take_snapshot(data / "perpsbot.db", data / "backups", now=T0 + 100 + n, keep=10)
    newest = sorted(p.name for p in (data / "backups").glob("journal-*.db.gz"))[-1]

    view = status_json("--data-dir", str(data))
    check_journal_view(view)
    assert view["pid"] is None and view["holder"] is None
    assert view["db"] == str(data / "perpsbot.db") and view["data_dir"] == str(data)
    assert view["backups"]["count"] == 2 and view["backups"]["newest_id"] in newest
    assert status_json("--data-dir", str(data), "--all")["positions"]["ETH-USD"]["realized_pnl"] == "12.5"
    assert status_json("--db", str(data / "perpsbot.db"))["trading_state"] == "HALTED"


def test_text_output_leads_with_the_state_then_the_pid(tmp_path):
    build_journal(tmp_path / "perpsbot.db")
    result = status("--data-dir", str(tmp_path))
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["state", "HALTED:", "operator"]
    assert lines[1].split()[0] == "pid" and f"no process holds {tmp_path}" in lines[1]
    assert any("c-open" in line and "OPEN" in line for line in lines)
    assert any("c-stop" in line and "held locally" in line for line in lines)
    assert lines[-1].endswith("trading_state    HALTED: operator halt")


HOLD = ("import sys; sys.path.insert(0, sys.argv[1]); from runtime.data_dir import DataDirLock;"
        " DataDirLock(sys.argv[2]).acquire('run', run_dir=sys.argv[2]); print('held', flush=True);"
        " sys.stdin.read()")


def test_status_names_the_holder_and_forgets_it_after_kill_9(tmp_path):
    build_journal(tmp_path / "perpsbot.db")
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(ROOT), str(tmp_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: holder(tmp_path), timeout=10, what="the holder to take the lock")
        view = status_json("--data-dir", str(tmp_path))
        assert view["pid"] == proc.pid
        assert view["holder"]["mode"] == "run" and view["holder"]["run_dir"] == str(tmp_path)
        check_journal_view(view)
        text = status("--data-dir", str(tmp_path)).stdout.splitlines()
        assert text[1].split()[:2] == ["pid", str(proc.pid)] and f"holds {tmp_path}" in text[1]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    assert status_json("--data-dir", str(tmp_path))["pid"] is None
    assert f"no process holds {tmp_path}" in status("--data-dir", str(tmp_path)).stdout


def test_per_run_layout_reads_the_newest_run(tmp_path):
    old_run, new_run = tmp_path / "paper-20240101T000000-seed1", tmp_path / "paper-20240102T000000-seed1"
    for run in (old_run, new_run):
        run.mkdir()
    with JournalStore(old_run / "perpsbot.db") as store:
        store.record_decision(T0, "trading_state", "ACTIVE: old run")
    build_journal(new_run / "perpsbot.db")
    os.utime(old_run / "perpsbot.db", (T0, T0))
    take_snapshot(new_run / "perpsbot.db", new_run / "backups", now=T0 + 100, keep=10)

    view = status_json("--data-dir", str(tmp_path))
    assert view["db"] == str(new_run / "perpsbot.db") and new_run.name in view["db_note"]
    check_journal_view(view)
    assert view["backups"]["count"] == 1


def test_no_journal_or_a_bad_one_is_one_line_and_exit_2(tmp_path):
    for args, needle in (((("--data-dir", str(tmp_path / "nowhere"))), "does not exist"),
                         (("--data-dir", str(tmp_path)), "no journal"),
                         (("--db", str(tmp_path / "missing.db")), "not found")):
        result = status(*args)
        assert result.returncode == 2 and result.stdout == "", result.stderr
        assert result.stderr.strip().splitlines() == [result.stderr.strip()] and needle in result.stderr
        assert result.stderr.startswith("perpsbot: error: ")
    (tmp_path / "perpsbot.db").write_text("not a database\n")
    result = status("--data-dir", str(tmp_path), "--json")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and "unreadable" in result.stderr
    assert any("unreadable" in p for p in json.loads(result.stdout)["problems"])  # what could be shown is


def test_status_while_the_journal_is_being_written(tmp_path):
    db = tmp_path / "perpsbot.db"
    build_journal(db)
    stop, written = threading.Event(), []

    def writer() -> None:
        with JournalStore(db) as store:
            for n in range(100, 20_000):  # bounded, whatever happens to the test
                if stop.is_set():
                    return
                store.record_fill(fill(n, ts=T0 + 1000 + n))
                written.append(n)

    thread = threading.Thread(target=writer, name="journal-writer")
    thread.start()
    try:
        wait_until(lambda: written, what="the writer to start")
        views = [status_json("--data-dir", str(tmp_path)) for _ in range(2)]
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    for view in views:
        assert view["trading_state"] == "HALTED" and len(view["events"]) == 20
        assert [e["ts"] for e in view["events"]] == sorted(e["ts"] for e in view["events"])
    last = status_json("--data-dir", str(tmp_path))["events"][-1]
    assert (last["source"], last["ts"]) == ("fill", T0 + 1000 + written[-1])
