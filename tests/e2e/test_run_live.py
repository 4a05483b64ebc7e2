"""`bin/perpsbot run` against the built-in exchange started as its own process with a new key:
it trades, stops on SIGTERM with exit 0 and its report, its positions equal the exchange's
`cfm/positions`, a restart reuses the same database, one process per data dir (a second one is
refused naming the pid; after a kill -9 the lock is free)."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from actors.venue import coinbase_rest as rest
from actors.venue.coinbase_auth import Credentials
from actors.venue.coinbase_rest import RestTransport
from runtime.data_dir import holder
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]
PERPSBOT = [sys.executable, str(ROOT / "bin" / "perpsbot")]
ENV = {k: v for k, v in os.environ.items() if not k.startswith("COINBASE_")}


class Exchange:
    """`perpsbot exchange --new-key` as a subprocess; the URLs it prints."""

    def __init__(self, tmp: Path, *flags: str) -> None:
        self.key_file = tmp / "key.json"
        self.proc = subprocess.Popen([*PERPSBOT, "exchange", "--port", "0", "--seed", "3", "--new-key",
                                      str(self.key_file), *flags], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env=ENV)
        lines: list[str] = []
        wait_until(lambda: self._read_line(lines) and "--rest-url" in lines[-1], timeout=20, what="exchange URLs")
        self.args = lines[-1].split()
        self.rest_url = self.args[self.args.index("--rest-url") + 1]

    def _read_line(self, lines: list[str]) -> bool:
        lines.append(self.proc.stdout.readline())
        return True

    def positions(self) -> dict[str, Decimal]:
        transport = RestTransport(self.rest_url, Credentials.from_key_file(self.key_file), timeout_s=5)
        try:
            body = msgspec.json.decode(transport.send(rest.cfm_positions()).body)
        finally:
            transport.close()
        out = {}
        for p in body["positions"]:
            n = Decimal(str(p["number_of_contracts"]))
            out[p["product_id"]] = -n if p["side"] == "SHORT" else n
        return out

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def exchange(tmp_path):
    ex = Exchange(tmp_path)
    try:
        yield ex
    finally:
        ex.stop()


def start_run(exchange: Exchange, data: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([*PERPSBOT, "run", "--profile", "dev", "--data-dir", str(data), "--key-file",
                             str(exchange.key_file), *exchange.args, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def journal_fills(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT count(*) FROM fills").fetchone()[0]
    except sqlite3.OperationalError:  # the journal has not created its tables yet
        return 0


def test_run_trades_stops_on_sigterm_and_matches_the_exchange_then_restarts_on_the_same_database(exchange, tmp_path):
    data, report_path = tmp_path / "data", tmp_path / "report.json"
    run = start_run(exchange, data, "--report-json", str(report_path))
    db = data / "perpsbot.db"
    try:
        wait_until(lambda: db.exists() and journal_fills(db) >= 2, timeout=90, interval=0.5, what="two fills")
        held = holder(data)
        assert held is not None and held["pid"] == run.pid and held["mode"] == "run"

        second = subprocess.run([*PERPSBOT, "run", "--profile", "dev", "--data-dir", str(data), "--key-file",
                                 str(exchange.key_file), *exchange.args], capture_output=True, text=True,
                                timeout=30, env=ENV)
        assert second.returncode == 2
        assert second.stderr.strip().splitlines() == [second.stderr.strip()]
        assert f"pid {run.pid}" in second.stderr and "Traceback" not in second.stderr

        # ctl and status find the process through the data dir's lock, whatever its profile
        resume = subprocess.run([*PERPSBOT, "ctl", "resume", "--data-dir", str(data)], capture_output=True,
                                text=True, timeout=30, env=ENV)
        assert resume.returncode == 0 and "ACTIVE after resume" in resume.stdout, resume.stderr
        status = subprocess.run([*PERPSBOT, "status", "--data-dir", str(data), "--json"], capture_output=True,
                                text=True, timeout=30, env=ENV)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["pid"] == run.pid
    finally:
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=90)
    assert run.returncode == 0, err[-3000:]
    assert "perpsbot run run:" in out or "perpsbot run" in out
    report = json.loads(report_path.read_text())
    assert report["mode"] == "run" and report["stopped_by"] == "SIGTERM"
    assert report["trading"]["fills"] >= 2
    assert report["exchange"]["matches"] is True, report["exchange"]
    assert report["exchange"]["orders"] == report["exchange"]["client_order_ids"]  # never two orders per intent
    venue = exchange.positions()
    for product_id, position in report["positions"].items():
        if product_id.endswith("-CDE"):
            assert Decimal(position["size"]) == venue.get(product_id, Decimal(0))
    assert report["trading"]["open_orders"] == 0  # run.cancel_on_exit: cancelled at the stop
    assert holder(data) is None
    assert oct(data.stat().st_mode & 0o777) == "0o700" and oct(db.stat().st_mode & 0o777) == "0o600"

    inode, fills_before = db.stat().st_ino, journal_fills(db)
    again = start_run(exchange, data, "--duration", "4", "--report-json", str(report_path))
    out, err = again.communicate(timeout=90)
    assert again.returncode == 0, err[-3000:]
    assert db.stat().st_ino == inode and journal_fills(db) >= fills_before  # the same database, reused
    assert sorted(p.name for p in data.glob("*.db")) == ["perpsbot.db"]
    assert json.loads(report_path.read_text())["exchange"]["matches"] is True


def test_a_killed_run_leaves_no_stale_lock(exchange, tmp_path):
    data = tmp_path / "data"
    run = start_run(exchange, data)
    try:
        wait_until(lambda: (h := holder(data)) is not None and h["pid"] == run.pid, timeout=30, what="the lock")
    finally:
        run.kill()  # SIGKILL: no handler runs
        run.communicate(timeout=30)
    assert holder(data) is None
    assert re.search(r"pid", (data / "perpsbot.lock").read_text() or "pid") is not None  # the file may stay


def test_restore_refused_while_a_run_holds_the_data_dir(exchange, tmp_path):
    data = tmp_path / "data"
    run = start_run(exchange, data)
    try:
        wait_until(lambda: holder(data) is not None, timeout=30, what="the lock")
        refused = subprocess.run([*PERPSBOT, "backups", "restore", "anything", "--data-dir", str(data)],
                                 capture_output=True, text=True, timeout=30, env=ENV)
        assert refused.returncode == 2 and f"{run.pid}" in refused.stderr, refused.stderr
    finally:
        run.send_signal(signal.SIGTERM)
        run.communicate(timeout=90)
    assert run.returncode == 0
