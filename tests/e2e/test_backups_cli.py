"""`bin/perpsbot backups list|verify|restore` as a subprocess, on a data dir made by the real
journal and backup actors: with no process, while a process holds the data dir (and keeps taking
backups), after that process is killed -9; a flipped byte makes verify exit 1."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from actors.backup import manifest as mf
from actors.backup.actor import BackupActor
from actors.journal.actor import JournalActor
from config.schema import BackupConfig
from domain.control import BackupNow, Decision
from runtime.supervisor import ChildSpec
from tests.support import Harness, wait_until

ROOT = Path(__file__).resolve().parents[2]
PERPSBOT = [sys.executable, str(ROOT / "bin" / "perpsbot")]
ENV = {k: v for k, v in os.environ.items() if not k.startswith("COINBASE_")}

# A process that holds a data dir until its stdin closes; with "run" it also runs the journal and
# backup actors on the wall clock (a backup every 0.2 s, a test restore every second) and writes.
HOLDER = r"""
import sys, threading
sys.path.insert(0, sys.argv[3])
from pathlib import Path
from runtime.data_dir import DataDirLock
data, mode = Path(sys.argv[1]), sys.argv[2]
lock = DataDirLock(data).acquire("test-holder")
if mode == "run":
    from actors.backup.actor import BackupActor
    from actors.journal.actor import JournalActor
    from domain.control import Decision
    from config.schema import BackupConfig
    from runtime.clock import WallClock
    from runtime.scheduler import Scheduler
    from runtime.services import Services
    from runtime.supervisor import ChildSpec, Supervisor, SupervisorConfig
    clock = WallClock()
    scheduler = Scheduler(clock)
    scheduler.start()
    services = Services(clock, scheduler)
    db = str(data / "perpsbot.db")
    config = BackupConfig(interval_s=0.2, keep=3, test_restore_interval_s=1.0)
    Supervisor.start([ChildSpec("journal", JournalActor, {"db_path": db}),
                      ChildSpec("backup", BackupActor, {"db_path": db, "dest_dir": str(data / "backups"),
                                                        "config": config})], SupervisorConfig(), services)
    def write():
        i = 0
        while not threading.Event().wait(0.02):
            services.send("journal", Decision(clock.now(), "tick", str(i)))
            i += 1
    threading.Thread(target=write, daemon=True).start()
print("held", flush=True)
sys.stdin.read()
"""


def backups(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PERPSBOT, "backups", *args], capture_output=True, text=True, timeout=30, env=ENV)


def make_data_dir(home: Path, decisions: int = 4) -> Path:
    """A journal with `decisions` rows and four backups (daily, frequent, shutdown, escalation),
    made by the real actors, plus one test restore."""
    db = str(home / "perpsbot.db")
    config = BackupConfig(interval_s=30.0, keep=3, test_restore_interval_s=3600.0)
    h = Harness([ChildSpec("journal", JournalActor, {"db_path": db}),
                 ChildSpec("backup", BackupActor, {"db_path": db, "dest_dir": str(home / "backups"),
                                                   "config": config})])
    try:
        wait_until(lambda: h.bound("journal") and h.bound("backup"), what="started")
        for i in range(decisions):
            h.ask("journal", Decision(h.clock.now(), "tick", str(i)))
        h.tick(30)  # the scheduled tick: a daily and the first test restore
        wait_until(lambda: mf.load(home / "backups").last_test_restore, what="test restore")
        for tier in ("frequent", "shutdown", "escalation"):
            h.clock.advance(1)
            assert h.ask("backup", BackupNow(tier, "test")).ok
    finally:
        h.stop()
    return home


def decisions_in(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM decisions").fetchone()[0]
    finally:
        conn.close()


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def start_holder(data: Path, mode: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(data), mode, str(ROOT)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout.readline().strip() == "held", proc.stderr.read()
    return proc


def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        stream.close()


def test_list_verify_and_a_corrupted_backup(tmp_path):
    data = make_data_dir(tmp_path / "data")
    listed = backups("list", "--data-dir", str(data), "--json")
    assert listed.returncode == 0, listed.stderr
    report = json.loads(listed.stdout)
    assert report["backup_dir"] == str(data / "backups") and report["db"] == str(data / "perpsbot.db")
    assert [b["tier"] for b in report["backups"]] == ["daily", "frequent", "shutdown", "escalation"]
    assert {b["checksum"] for b in report["backups"]} == {"ok"}
    assert report["last_test_restore"]["ok"] is True
    assert report["last_test_restore"]["backup_id"] == report["backups"][0]["id"]

    text = backups("list", "--data-dir", str(data))
    assert text.returncode == 0
    lines = text.stdout.splitlines()
    assert lines[0] == f"{data / 'backups'} (4 backups of perpsbot.db)"
    assert [line.split()[1] for line in lines[1:5]] == ["daily", "frequent", "shutdown", "escalation"]
    assert lines[-1].startswith("last test restore: ") and " ok: integrity ok" in lines[-1]

    ok = backups("verify", "--data-dir", str(data))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.splitlines()[-1] == "4 backups checked, 0 bad"

    victim = report["backups"][1]
    flip_a_byte(data / "backups" / f"journal-{victim['id']}.db.gz")
    bad = backups("verify", "--data-dir", str(data), "--json")
    assert bad.returncode == 1
    result = json.loads(bad.stdout)
    assert result["ok"] is False and result["bad"] == [victim["id"]] and result["checked"] == 4
    assert "sha256" in next(r["problem"] for r in result["results"] if r["id"] == victim["id"])
    assert backups("verify", "--data-dir", str(data)).returncode == 1
    relisted = json.loads(backups("list", "--data-dir", str(data), "--json").stdout)
    assert [b["checksum"] for b in relisted["backups"]] == ["ok", "BAD", "ok", "ok"]
    refused = backups("restore", victim["id"], "--data-dir", str(data))
    assert refused.returncode == 1 and refused.stderr.startswith("perpsbot: error: refusing to restore")
    assert decisions_in(data / "perpsbot.db") == 4  # untouched
    assert not list(data.glob("perpsbot.db.before-restore-*"))


def test_restore_keeps_the_current_database_aside(tmp_path):
    data = make_data_dir(tmp_path / "data", decisions=4)
    with sqlite3.connect(data / "perpsbot.db") as conn:  # the journal moved on after the backups
        conn.execute("INSERT INTO decisions (ts, kind, detail) VALUES (1, 'later', 'x')")
    conn.close()
    first = json.loads(backups("list", "--data-dir", str(data), "--json").stdout)["backups"][0]
    done = backups("restore", first["id"], "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    (aside,) = data.glob("perpsbot.db.before-restore-*")
    assert done.stdout.strip() == (f"restored {first['id']} (daily, {first['created_iso']})"
                                   f" into {data / 'perpsbot.db'}; the previous database is kept as {aside.name}")
    assert decisions_in(data / "perpsbot.db") == 4 and decisions_in(aside) == 5
    assert not (data / "perpsbot.db-wal").exists()
    # Bad arguments and unknown ids: one line, exit 2.
    for args, message in ((("restore", "nope"), "no backup nope"), (("restore",), "needs the ID"),
                          (("list", first["id"]), "takes no ID")):
        r = backups(*args, "--data-dir", str(data))
        assert r.returncode == 2 and r.stderr.startswith("perpsbot: error: ") and message in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    empty = backups("list", "--data-dir", str(tmp_path / "empty"))
    assert empty.returncode == 2 and empty.stderr.strip() == f"perpsbot: error: no backups under {tmp_path / 'empty'}"


def test_a_held_data_dir_refuses_restore_until_its_holder_is_killed(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    holder = start_holder(data, "run")  # a live process: journal writing, a backup every 0.2 s
    try:
        wait_until(lambda: len(mf.load(data / "backups").entries) >= 3
                   and mf.load(data / "backups").last_test_restore, timeout=10, what="backups while running")
        for _ in range(2):  # list and verify while backups are being taken and retired
            listed = backups("list", "--data-dir", str(data), "--json")
            assert listed.returncode == 0, listed.stderr
            verified = backups("verify", "--data-dir", str(data))
            assert verified.returncode == 0, verified.stdout + verified.stderr
        report = json.loads(listed.stdout)
        assert report["last_test_restore"]["ok"] is True
        target = report["backups"][0]["id"]
        refused = backups("restore", target, "--data-dir", str(data))
        assert refused.returncode == 2
        assert refused.stderr.strip().splitlines() == [
            f"perpsbot: error: data dir {data} is in use by pid {holder.pid} (test-holder); stop it before restoring"]
    finally:
        kill(holder)  # kill -9: the kernel drops the lock
    report = json.loads(backups("list", "--data-dir", str(data), "--json").stdout)
    target = [b for b in report["backups"] if b["tier"] != "unlisted"][-1]  # a kill may leave one unlisted
    done = backups("restore", target["id"], "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    assert list(data.glob("perpsbot.db.before-restore-*"))
    conn = sqlite3.connect(data / "perpsbot.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
    recorded = mf.find(mf.load(data / "backups"), target["id"])
    assert recorded is not None and decisions_in(data / "perpsbot.db") == recorded.row_counts["decisions"]


def test_a_paper_run_layout_and_its_live_control_pid(tmp_path):
    data = tmp_path / "data"
    run_dir = make_data_dir(data / "paper-20240101T000000-seed1")
    listed = backups("list", "--data-dir", str(data), "--json")
    assert listed.returncode == 0, listed.stderr
    report = json.loads(listed.stdout)
    assert report["backup_dir"] == str(run_dir / "backups")
    # A run announcing a live pid in its control directory holds its backups too.
    (tmp_path / "elsewhere").mkdir()
    other = start_holder(tmp_path / "elsewhere", "lock")
    try:
        (run_dir / "control").mkdir()
        (run_dir / "control" / "pid").write_text(f"{other.pid}\n")
        refused = backups("restore", report["backups"][0]["id"], "--data-dir", str(data))
        assert refused.returncode == 2 and f"in use by pid {other.pid}" in refused.stderr
    finally:
        kill(other)
