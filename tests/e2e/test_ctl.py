"""`bin/perpsbot ctl` against a running paper process: each command changes the trading state,
answers with one line, is journaled; with no process running it is one line and exit 2."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]
PERPSBOT = [sys.executable, str(ROOT / "bin" / "perpsbot")]
ENV = {k: v for k, v in os.environ.items() if not k.startswith("COINBASE_")}  # the in-process venue


def ctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PERPSBOT, "ctl", *args], capture_output=True, text=True, timeout=30, env=ENV)


def test_ctl_halts_reduces_and_resumes_a_running_paper_session(tmp_path):
    data = tmp_path / "data"
    report_path = tmp_path / "report.json"
    paper = subprocess.Popen([*PERPSBOT, "paper", "--duration", "120", "--data-dir", str(data),
                              "--report-json", str(report_path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        pid_file = wait_until(lambda: next(data.glob("*/control/pid"), None), timeout=30, what="paper running")
        run_dir = pid_file.parent.parent

        halt = ctl("halt", "--data-dir", str(data))
        assert halt.returncode == 0, halt.stderr
        assert halt.stdout.strip().splitlines() == [f"{run_dir.name}: HALTED after halt; held by operator HALTED"
                                                    " (operator halt)"]
        reduce = ctl("reduce", "--run", str(run_dir))  # the run named explicitly
        assert reduce.returncode == 0, reduce.stderr
        assert reduce.stdout.startswith(f"{run_dir.name}: REDUCING after reduce")
        resume = ctl("resume", "--data-dir", str(data))
        assert resume.returncode == 0, resume.stderr
        assert resume.stdout.strip() == f"{run_dir.name}: ACTIVE after resume"
    finally:
        paper.send_signal(signal.SIGINT)  # a clean stop, with its report
        out, err = paper.communicate(timeout=60)
    assert paper.returncode == 0, err[-2000:]
    report = json.loads(report_path.read_text())
    assert report["trading"]["state"] == "ACTIVE" and report["risk"]["holds"] == {}
    assert report["risk"]["level"] in ("OK", "WARN")

    with sqlite3.connect(run_dir / "perpsbot.db") as db:
        rows = db.execute("SELECT kind, detail FROM decisions WHERE kind IN ('operator', 'trading_state')"
                          " ORDER BY id").fetchall()
    assert [r for r in rows if r[0] == "operator"] == [("operator", "halt"), ("operator", "reduce"),
                                                       ("operator", "resume")]
    assert [r[1] for r in rows if r[0] == "trading_state"][-3:] == [
        "HALTED: operator halt", "REDUCING: operator reduce", "ACTIVE: operator resume"]

    gone = ctl("halt", "--data-dir", str(data))
    assert gone.returncode == 2 and gone.stdout == ""
    assert gone.stderr.strip().splitlines() == [f"perpsbot: error: no running perpsbot process holds {data}"]
    assert not (run_dir / "control" / "pid").exists()


def test_ctl_with_nothing_running_is_one_line_and_exit_2(tmp_path):
    for args in (("halt", "--data-dir", str(tmp_path / "nowhere")), ("resume", "--run", str(tmp_path))):
        result = ctl(*args)
        assert result.returncode == 2 and result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1 and "no running perpsbot process" in result.stderr


def test_ctl_bad_arguments_exit_2(tmp_path):
    result = ctl("pause", "--data-dir", str(tmp_path))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and "pause" in result.stderr


def test_a_dead_process_is_not_running(tmp_path):
    # A pid file left behind by a killed process: that pid no longer exists.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    folder = tmp_path / "paper-x" / "control"
    folder.mkdir(parents=True)
    (folder / "pid").write_text(dead.stdout)
    result = ctl("halt", "--data-dir", str(tmp_path))
    assert result.returncode == 2 and "no running perpsbot process" in result.stderr
