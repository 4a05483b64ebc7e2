"""Every start of `bin/perpsbot run` is a recovery, against the built-in exchange as its own
process (the Exchange helper of test_run_live) with the dev profile.

Invariants: a clean stop leaves nothing to repair (the restart is clean, from the journal, with
nothing inferred); a broken database is kept aside and the newest verified backup restored, and
the bot's positions then equal the exchange's; a start whose positions differ from the venue's
never trades with --strict-reconcile (exit 4, the exchange's orders unchanged) and without it
holds trading at REDUCING until the operator accepts the venue's positions, after which the
bot's positions are the exchange's. Every wait has a deadline; every subprocess is stopped."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from actors.app.exchange_view import read_exchange
from actors.backup import manifest as mf
from actors.backup.snapshot import verify_problem
from actors.execution.intent_log import IntentLog, intent_log_path, read_intents
from actors.recovery.journal_file import integrity_problem
from actors.venue.coinbase_auth import Credentials
from actors.venue.coinbase_rest import RestTransport
from domain.orders import PlaceOrder
from tests.e2e.test_run_live import ENV, PERPSBOT, Exchange
from tests.support import wait_until

D = Decimal
PERP = "BIP-20DEC30-CDE"  # the dev profile's perpetual-style product
RECOVERY_KEYS = {"started_from", "journal_fills", "venue_fills_inferred", "intents_settled", "foreign_orders",
                 "position_mismatches", "seconds", "clean"}
EXIT_RECONCILE = 4


# -- the processes ---------------------------------------------------------------------------

class Run:
    """`perpsbot run --profile dev` on `data`, its output in files (a pipe could fill and block it)."""

    def __init__(self, exchange: Exchange, data: Path, tmp: Path, name: str, *extra: str) -> None:
        self.report_path = tmp / f"{name}.report.json"
        self.out_path, self.err_path = tmp / f"{name}.out", tmp / f"{name}.err"
        self.data = data
        with self.out_path.open("w") as out, self.err_path.open("w") as err:
            self.proc = subprocess.Popen([*PERPSBOT, "run", "--profile", "dev", "--data-dir", str(data), "--key-file",
                                          str(exchange.key_file), *exchange.args, "--report-json",
                                          str(self.report_path), *extra], stdout=out, stderr=err, text=True, env=ENV)

    def log(self) -> str:
        return self.err_path.read_text()[-4000:]

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"run did not end within {timeout}s:\n{self.log()}") from None

    def stop(self, timeout: float = 60) -> dict[str, Any]:
        """SIGTERM (one clean stop) and the report; the exit must be 0."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.wait(timeout)
        assert rc == 0, self.log()
        report = json.loads(self.report_path.read_text())
        assert report["stopped_by"] == "SIGTERM"
        return report

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def exchange(tmp_path):
    ex = Exchange(tmp_path)
    try:
        yield ex
    finally:
        ex.stop()


@pytest.fixture
def runs():
    started: list[Run] = []
    yield started
    for run in started:
        run.kill()


def start(runs: list[Run], exchange: Exchange, data: Path, tmp: Path, name: str, *extra: str) -> Run:
    run = Run(exchange, data, tmp, name, *extra)
    runs.append(run)
    return run


# -- reading the journal and the exchange ---------------------------------------------------

def query(db: Path, sql: str, *args: Any) -> list[tuple]:
    try:
        conn = sqlite3.connect(db.resolve().as_uri() + "?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError:  # no file or no tables yet
        return []


def perp_fills(db: Path) -> int:
    rows = query(db, "SELECT count(*) FROM fills WHERE product_id = ?", PERP)
    return rows[0][0] if rows else 0


def journal_position(db: Path, product_id: str) -> Decimal:
    rows = query(db, "SELECT side, size FROM fills WHERE product_id = ?", product_id)
    return sum((D(size) if side == "BUY" else -D(size) for side, size in rows), D(0))


def last_decision_id(db: Path) -> int:
    rows = query(db, "SELECT max(id) FROM decisions")
    return rows[0][0] or 0 if rows else 0


def states_since(db: Path, after_id: int) -> list[str]:
    return [d for (d,) in query(db, "SELECT detail FROM decisions WHERE kind = 'trading_state' AND id > ?"
                                    " ORDER BY id", after_id)]


def venue_held(exchange: Exchange) -> dict[str, Any]:
    transport = RestTransport(exchange.rest_url, Credentials.from_key_file(exchange.key_file), timeout_s=5)
    try:
        held = read_exchange(transport)
    finally:
        transport.close()
    assert "error" not in held, held
    return held


def perp_sizes(report: dict[str, Any]) -> dict[str, Decimal]:
    return {pid: D(p["size"]) for pid, p in report["positions"].items() if pid.endswith("-CDE") and D(p["size"])}


def nonzero(positions: dict[str, Decimal]) -> dict[str, Decimal]:
    return {pid: size for pid, size in positions.items() if size}


def first_run(runs: list[Run], exchange: Exchange, data: Path, tmp: Path) -> dict[str, Any]:
    """A run until it has a fill in the perpetual, stopped by SIGTERM; its report."""
    run = start(runs, exchange, data, tmp, "first")
    db = data / "perpsbot.db"
    wait_until(lambda: perp_fills(db) >= 1 or run.proc.poll() is not None, timeout=30, interval=0.2,
               what="a fill in the perpetual")
    assert run.proc.poll() is None, run.log()
    report = run.stop()
    assert report["exchange"]["matches"] is True, report["exchange"]
    return report


# -- (a) a clean stop, a clean start ---------------------------------------------------------

def test_a_restart_after_a_clean_stop_recovers_from_the_journal_with_nothing_to_repair(exchange, runs, tmp_path):
    data = tmp_path / "data"
    db = data / "perpsbot.db"
    first = first_run(runs, exchange, data, tmp_path)
    assert set(first["recovery"]) >= RECOVERY_KEYS and first["recovery"]["started_from"] == "empty"
    journaled, mark = query(db, "SELECT count(*) FROM fills")[0][0], last_decision_id(db)
    assert journaled >= 1
    # each traded product's crossover state is journaled after each bar
    assert (f"crossover:{PERP}",) in query(db, "SELECT key FROM strategy_state")

    second = start(runs, exchange, data, tmp_path, "second")
    wait_until(lambda: any(s.startswith("ACTIVE") for s in states_since(db, mark)) or second.proc.poll() is not None,
               timeout=20, interval=0.1, what="the restart to be ACTIVE")
    report = second.stop()

    recovery = report["recovery"]
    assert set(recovery) >= RECOVERY_KEYS, recovery
    assert recovery["started_from"] == "journal"
    assert recovery["clean"] is True and recovery["position_mismatches"] == {}
    assert recovery["venue_fills_inferred"] == 0 and recovery["intents_settled"] == 0
    assert recovery["foreign_orders"] == 0
    assert recovery["journal_fills"] == journaled  # it read every fill the first run journaled
    # the venue's fills were read from the journal's watermark (an hour before its newest fill), not all
    assert re.search(r"recovery: \d+ fills read from the venue since \d{4}-\d\d-\d\dT", second.log()), second.log()
    # the strategy took its bar window back, or said why not (dev bars are 0.25 s: a slow restart outlives them)
    assert re.search(rf"strategy: {PERP}( restored: \d+ closes|'s bar window ended)", second.log()), second.log()
    assert isinstance(recovery["seconds"], (int, float)) and 0 <= recovery["seconds"] < 10
    # it started RECOVERING and became ACTIVE only once execution and portfolio had synced
    states = states_since(db, mark)
    assert states and states[0].startswith("ACTIVE: recovered"), states
    assert report["exchange"]["matches"] is True, report["exchange"]
    assert perp_sizes(report) == nonzero(exchange.positions())


def test_an_intent_only_the_intent_log_holds_is_asked_for_and_ends_failed_never_resent(exchange, runs, tmp_path):
    """The process died after execution wrote an intent and before the journal committed its order
    (and, here, before the order left): the next start takes the intent from the log, asks the
    venue by client id, and ends it FAILED; nothing is sent for it."""
    data = tmp_path / "data"
    db = data / "perpsbot.db"
    first_run(runs, exchange, data, tmp_path)
    log = intent_log_path(db)
    ghost = PlaceOrder("pb-" + "0" * 23 + "1", PERP, "BUY", "market", D("1"))
    writer = IntentLog(log)
    writer.append(ghost, "ghost:1", time.time())  # as a killed execution left it
    writer.close()

    second = start(runs, exchange, data, tmp_path, "second")
    wait_until(lambda: query(db, "SELECT state FROM intents WHERE client_order_id = ?", ghost.client_order_id)
               == [("settled",)] or second.proc.poll() is not None, timeout=20, interval=0.1,
               what="the ghost intent settled")
    report = second.stop()
    recovery = report["recovery"]
    assert recovery["intents_settled"] == 1 and recovery["clean"] is True, recovery
    assert query(db, "SELECT status FROM orders WHERE client_order_id = ?", ghost.client_order_id) == [("FAILED",)]
    assert read_intents(log) == ([], 0), "the log is emptied once the journal holds its intents"
    held = venue_held(exchange)
    assert ghost.client_order_id not in str(held), "never sent"
    assert "1 intents of the intent log were not in the journal" in second.log()


# -- (b) a broken database, a verified backup ------------------------------------------------

def _garbage(db: Path) -> None:
    db.write_bytes(b"\x00this is not a SQLite database\xff" * 512)


def _truncate(db: Path) -> None:
    with db.open("r+b") as f:
        f.truncate(db.stat().st_size // 2)


@pytest.mark.parametrize("breaks", [_garbage, _truncate], ids=["garbage", "truncated"])
def test_a_broken_database_is_kept_aside_and_the_newest_verified_backup_restored(exchange, runs, tmp_path, breaks):
    data = tmp_path / "data"
    db = data / "perpsbot.db"
    first_run(runs, exchange, data, tmp_path)
    backups = data / "backups"
    entries = mf.load(backups).entries
    assert entries, "the clean stop left no backup"
    newest = max(entries, key=lambda e: e.created)
    assert verify_problem(backups / newest.file, sha256=newest.sha256) is None
    for companion in ("-wal", "-shm"):  # a clean stop leaves one self-contained file to break
        Path(f"{db}{companion}").unlink(missing_ok=True)
    breaks(db)
    broken = db.read_bytes()
    assert integrity_problem(db) is not None  # the fault is in place
    Path(f"{db}-wal").unlink(missing_ok=True)  # what the check itself may have left
    Path(f"{db}-shm").unlink(missing_ok=True)

    run = start(runs, exchange, data, tmp_path, "after-break", "--duration", "3")
    assert run.wait() == 0, run.log()
    report = json.loads(run.report_path.read_text())

    recovery = report["recovery"]
    assert set(recovery) >= RECOVERY_KEYS, recovery
    assert recovery["started_from"] == "backup", recovery
    assert "corrupt journal" in recovery["detail"]
    assert recovery["journal_fills"] == newest.row_counts["fills"]  # the newest verified backup's content
    assert recovery["clean"] is True and recovery["position_mismatches"] == {}
    aside = [p for p in data.glob("perpsbot.db.corrupt-*") if not p.name.endswith(("-wal", "-shm", "-journal"))]
    assert len(aside) == 1 and aside[0].read_bytes() == broken  # kept, byte for byte
    assert integrity_problem(db) is None
    assert report["exchange"]["matches"] is True, report["exchange"]
    assert perp_sizes(report) == nonzero(exchange.positions())


# -- (c) a position mismatch -----------------------------------------------------------------

FAKE_SIZE = D(3)


def plant_fake_fill(db: Path, side: str) -> None:
    """A fill the exchange never made, under a venue order id it does not know."""
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO fills (trade_id, client_order_id, venue_order_id, product_id, side, price, size,"
                     " fee, liquidity, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     ("planted-trade-1", "pb-planted", "planted-order-not-at-the-exchange", PERP, side, "87000",
                      str(FAKE_SIZE), "0", "TAKER", time.time()))
    conn.close()


def mismatched_journal(runs: list[Run], exchange: Exchange, data: Path, tmp: Path) -> tuple[Decimal, Decimal]:
    """A first run, then a planted fill: (the journal's position, the exchange's) in PERP. The fill
    goes the way of the venue's position, so the journal believes a larger position than the venue
    holds (the side where a reduction sized on the journal overshoots the venue's position)."""
    db = data / "perpsbot.db"
    first_run(runs, exchange, data, tmp)
    venue = exchange.positions().get(PERP, D(0))
    side = "BUY" if venue >= 0 else "SELL"
    plant_fake_fill(db, side)
    mine = journal_position(db, PERP)
    assert mine == venue + (FAKE_SIZE if side == "BUY" else -FAKE_SIZE) and abs(mine) > abs(venue)  # the fault
    return mine, venue


def test_strict_reconcile_refuses_to_start_on_a_position_mismatch_and_trades_nothing(exchange, runs, tmp_path):
    data = tmp_path / "data"
    db = data / "perpsbot.db"
    mine, venue = mismatched_journal(runs, exchange, data, tmp_path)
    before = venue_held(exchange)
    orders_before = query(db, "SELECT client_order_id, status FROM orders ORDER BY client_order_id")

    run = start(runs, exchange, data, tmp_path, "strict", "--strict-reconcile")
    assert run.wait(30) == EXIT_RECONCILE, run.log()
    report = json.loads(run.report_path.read_text())

    recovery = report["recovery"]
    assert set(recovery) >= RECOVERY_KEYS, recovery
    assert recovery["clean"] is False and recovery["started_from"] == "journal"
    assert set(recovery["position_mismatches"]) == {PERP}
    named = recovery["position_mismatches"][PERP]
    assert (D(named["journal"]), D(named["venue"])) == (mine, venue)
    # nothing was traded: the exchange holds the same orders and fills, the journal the same orders
    after = venue_held(exchange)
    assert (after["orders"], after["fills"], after["positions"]) == (before["orders"], before["fills"],
                                                                      before["positions"])
    assert query(db, "SELECT client_order_id, status FROM orders ORDER BY client_order_id") == orders_before
    assert "trading" not in report


def _poll(condition, timeout: float, interval: float = 0.1) -> bool:
    """Poll until `condition` holds or the deadline passes; whether it held (no failure)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        if condition():
            return True
        pause.wait(interval)
    return bool(condition())


def test_a_mismatch_holds_trading_reducing_until_the_operator_accepts_the_venue(exchange, runs, tmp_path):
    data = tmp_path / "data"
    db = data / "perpsbot.db"
    mine, venue = mismatched_journal(runs, exchange, data, tmp_path)
    mark, started = last_decision_id(db), time.time()

    run = start(runs, exchange, data, tmp_path, "held")
    wait_until(lambda: any("position mismatch" in s for s in states_since(db, mark)) or run.proc.poll() is not None,
               timeout=20, interval=0.1, what="trading REDUCING on the position mismatch")
    assert run.proc.poll() is None, run.log()
    reducing = [s for s in states_since(db, mark) if "position mismatch" in s]
    assert reducing[0].startswith("REDUCING: position mismatch") and PERP in reducing[0], reducing
    assert not any(s.startswith("ACTIVE") for s in states_since(db, mark))  # never ACTIVE before the operator
    status = subprocess.run([*PERPSBOT, "status", "--data-dir", str(data), "--json"], capture_output=True,
                            text=True, timeout=30, env=ENV)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["trading_state"] == "REDUCING"

    # The operator takes a moment to decide; meanwhile the strategy keeps deciding (REDUCING lets it
    # only reduce). Wait (bounded) for an order sent under the hold to have reached the exchange.
    orders_before = venue_held(exchange)["orders"]
    seen: list[Decimal] = []

    def sent_under_the_hold() -> int:
        rows = query(db, "SELECT count(*) FROM orders WHERE created_at > ? AND product_id = ?", started, PERP)
        return rows[0][0] if rows else 0

    def settled_at_the_exchange() -> bool:
        seen.append(exchange.positions().get(PERP, D(0)))
        sent = sent_under_the_hold()
        return sent > 0 and venue_held(exchange)["orders"] >= orders_before + sent

    _poll(settled_at_the_exchange, timeout=6, interval=0.25)
    at_resume = exchange.positions().get(PERP, D(0))
    seen.append(at_resume)
    sent_while_reducing = sent_under_the_hold()

    resume = subprocess.run([*PERPSBOT, "ctl", "resume", "--accept-venue", "--data-dir", str(data)],
                            capture_output=True, text=True, timeout=30, env=ENV)
    assert resume.returncode == 0, resume.stderr
    assert "ACTIVE after resume" in resume.stdout, resume.stdout
    wait_until(lambda: any(s.startswith("ACTIVE") for s in states_since(db, mark)), timeout=10, interval=0.1,
               what="trading ACTIVE after the operator accepted the venue")
    accepted = query(db, "SELECT detail FROM decisions WHERE id > ? AND kind = 'accept_venue'", mark)
    assert accepted and PERP in accepted[0][0], accepted
    report = run.stop()

    assert report["recovery"]["position_mismatches"] == {PERP: {"journal": str(mine), "venue": str(venue)}}
    problems = []
    # While held by the mismatch, the bot must not have moved the venue's position away from what
    # it was (a "reduction" of the journal's wrong size opens or flips a position at the venue).
    moved = [s for s in seen if s * venue < 0 or abs(s) > abs(venue)]  # flipped, or grown
    if moved:
        problems.append(f"while REDUCING on the mismatch ({sent_while_reducing} order(s) sent) the exchange's"
                        f" {PERP} position went from {venue} to {moved[0]} (the journal said {mine})")
    bot, held = perp_sizes(report), nonzero(exchange.positions())
    if bot != held:
        problems.append(f"after ctl resume --accept-venue the bot holds {bot}, the exchange {held}"
                        f" (venue at resume: {at_resume})")
    if report["exchange"]["matches"] is not True:
        problems.append(f"report exchange section does not match: {report['exchange']}")
    assert not problems, "; ".join(problems)
