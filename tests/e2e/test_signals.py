"""SIGTERM is a clean stop like SIGINT for every long-running command: the report printed and
written (or the capture complete), no pid file left, exit 0; a second signal during the stop
forces the process out with 130.

The forced exit is tested on a small script around StopSignals, not on `paper`: a paper stop takes
~60 ms, so a second signal sent after the first one's log line would land inside or after the stop
depending on scheduling. The script's stop waits, so the second signal always lands inside it.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from actors.app import replay as replay_module
from actors.app.replay import load_capture, run_replay
from actors.app.signals import EXIT_FORCED, StopSignals
from config.loader import apply_overrides, load_profile
from runtime.data_dir import holder
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]
PERPSBOT = [sys.executable, str(ROOT / "bin" / "perpsbot")]
ENV = {k: v for k, v in os.environ.items() if not k.startswith("COINBASE_")}  # the in-process venue


class Running:
    """A subprocess whose stdout and stderr lines are collected as they come (threads, joined)."""

    def __init__(self, argv: list[str], cwd: Path | None = None) -> None:
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=ENV, cwd=cwd)
        self.out: list[str] = []
        self.err: list[str] = []
        self._pumps = [threading.Thread(target=self._pump, args=(self.proc.stdout, self.out)),
                       threading.Thread(target=self._pump, args=(self.proc.stderr, self.err))]
        for pump in self._pumps:
            pump.start()

    @staticmethod
    def _pump(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)

    def line(self, lines: list[str], needle: str, timeout: float = 30.0) -> str:
        def found() -> str | None:
            if self.proc.poll() is not None and not any(needle in line for line in lines):
                raise AssertionError(f"exited {self.proc.returncode} before {needle!r}: {''.join(self.err)[-2000:]}")
            return next((line for line in list(lines) if needle in line), None)
        return wait_until(found, timeout=timeout, interval=0.02, what=needle)

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout=timeout)
        for pump in self._pumps:
            pump.join(timeout=10)
        return code

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


def perpsbot(*args: str, cwd: Path | None = None) -> Running:
    return Running([*PERPSBOT, *args], cwd=cwd)


def test_sigterm_stops_paper_cleanly_with_its_report(tmp_path):
    data = tmp_path / "data"
    report_path = tmp_path / "report.json"
    with perpsbot("paper", "--duration", "60", "--data-dir", str(data), "--report-json", str(report_path)) as paper:
        paper.line(paper.err, "supervision: started control", timeout=30)
        pid_file = wait_until(lambda: next(data.glob("paper-*/control/pid"), None), timeout=10, what="pid file")
        assert pid_file.read_text().strip() == str(paper.proc.pid)
        assert holder(data)["pid"] == paper.proc.pid and holder(data)["run_dir"] == str(pid_file.parent.parent)

        # one process per data dir: a second paper or replay on it is refused before it starts
        for command in ("paper", "replay"):
            second = subprocess.run([*PERPSBOT, command, "--data-dir", str(data)], capture_output=True,
                                    text=True, timeout=30, env=ENV)
            assert second.returncode == 2 and second.stdout == "", second.stderr[-2000:]
            assert second.stderr.strip() == (f"perpsbot: error: data dir {data} is in use by pid"
                                             f" {paper.proc.pid} (paper); one process per data dir")

        paper.signal(signal.SIGTERM)
        code = paper.wait(timeout=60)
    stdout, stderr = "".join(paper.out), "".join(paper.err)
    assert code == 0, stderr[-2000:]
    assert "SIGTERM: stopping cleanly (a second signal forces it)" in stderr and "Traceback" not in stderr
    assert "perpsbot paper run" in stdout
    report = json.loads(report_path.read_text())
    assert report["mode"] == "paper" and report["stopped_by"] == "SIGTERM"
    assert report["duration_s"] < 60
    assert not pid_file.exists(), "the control actor removes its pid file on a clean stop"
    assert holder(data) is None, "the data dir lock is released"
    # umask 077 for the run: the data dir and everything in it are private
    for path in [data, *data.rglob("*")]:
        assert path.stat().st_mode & 0o077 == 0, f"{path} is {oct(path.stat().st_mode)}"


def test_sigterm_stops_record_with_a_complete_capture_and_the_exchange_with_exit_0(tmp_path):
    out = tmp_path / "capture.jsonl.gz"
    with perpsbot("exchange", "--port", "0") as exchange:
        url = exchange.line(exchange.out, "exchange listening on ", timeout=30).split()[-1]
        with perpsbot("record", "--url", url, "--duration", "60", "--out", str(out),
                      "--products", "BTC-USD", "--channels", "level2", "heartbeats") as record:
            record.line(record.err, "recording ", timeout=30)
            # frames on disk (the recorder flushes every second): recording is under way
            wait_until(lambda: out.stat().st_size > 200, timeout=30, interval=0.05, what="frames written")
            record.signal(signal.SIGTERM)
            record_code = record.wait(timeout=30)
        exchange.signal(signal.SIGTERM)
        exchange_code = exchange.wait(timeout=30)
    assert record_code == 0, "".join(record.err)[-2000:]
    printed = [line for line in record.out if line.startswith("recorded ")]
    assert len(printed) == 1 and printed[0].strip().endswith(f"frames to {out}")
    count = int(printed[0].split()[1])
    with gzip.open(out, "rt", encoding="utf-8") as handle:  # a complete gzip stream: no EOFError
        lines = handle.read().splitlines()
    assert count > 0 and len(lines) == count
    assert all(json.loads(line)["channel"] in ("l2_data", "heartbeats", "subscriptions") for line in lines)
    assert "Traceback" not in "".join(record.err)
    assert exchange_code == 0, "".join(exchange.err)[-2000:]
    assert "SIGTERM: stopping cleanly" in "".join(exchange.err)


FORCED_SCRIPT = """
import sys, threading
sys.path.insert(0, sys.argv[1])
from actors.app.signals import StopSignals
with StopSignals() as stop:
    print("ready", flush=True)
    stop.wait(60)
    print("stopping", stop.signal_name, flush=True)
    threading.Event().wait(60)  # a stop that takes long
print("not reached", flush=True)
"""


def test_a_second_signal_during_the_stop_forces_exit_130():
    with Running([sys.executable, "-c", FORCED_SCRIPT, str(ROOT)]) as slow:
        slow.line(slow.out, "ready")
        slow.signal(signal.SIGTERM)
        assert slow.line(slow.out, "stopping").split() == ["stopping", "SIGTERM"]
        slow.signal(signal.SIGINT)
        code = slow.wait()
    assert code == EXIT_FORCED == 130
    assert "not reached" not in "".join(slow.out)
    assert "perpsbot: SIGINT while stopping: forced exit (130), no report" in "".join(slow.err)


# ---------------------------------------------------------------- StopSignals in this process


def test_first_signal_sets_the_stop_and_the_previous_handlers_come_back(monkeypatch):
    forced: list[int] = []
    monkeypatch.setattr(os, "_exit", forced.append)
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with StopSignals() as stop:
        assert stop.installed and not stop.is_set() and stop.signal_name is None
        assert stop.wait(0.01) is False
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5) is True
        assert stop.signal_name == "SIGTERM" and forced == []
        os.kill(os.getpid(), signal.SIGINT)  # the second one forces
        wait_until(lambda: forced, timeout=5, what="forced exit")
    assert forced == [EXIT_FORCED]
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_set_from_another_thread_wakes_wait_and_is_not_a_signal():
    with StopSignals() as stop:
        threading.Timer(0.05, stop.set).start()
        assert stop.wait(10) is True
        assert stop.signal_name is None


def test_off_the_main_thread_it_is_a_plain_event():
    seen: dict[str, Any] = {}

    def body() -> None:
        with StopSignals() as stop:
            seen["installed"] = stop.installed
            stop.set()
            seen["set"] = stop.wait(1)

    before = signal.getsignal(signal.SIGTERM)
    worker = threading.Thread(target=body)
    worker.start()
    worker.join(10)
    assert seen == {"installed": False, "set": True}
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigterm_between_frames_stops_a_replay_with_what_was_replayed(tmp_path, monkeypatch):
    profile = apply_overrides(load_profile("paper"), **{"run.data_dir": str(tmp_path / "data")})
    capture, lines = load_capture(None)
    sent = [0]
    real_frame = replay_module.RawFrame

    def frame(*args: Any) -> Any:  # the 100th frame arrives with a SIGTERM
        sent[0] += 1
        if sent[0] == 100:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_frame(*args)

    monkeypatch.setattr(replay_module, "RawFrame", frame)
    report, status = run_replay(profile, capture, lines, [])
    assert status == 0 and report["stopped_by"] == "SIGTERM"
    assert 100 <= report["replay"]["frames"] < len(lines) == report["replay"]["frames_in_capture"]
    assert report["feed"]["frames"] == report["replay"]["frames"]
    assert not list((tmp_path / "data").glob("*/control/pid"))
    assert holder(tmp_path / "data") is None


@pytest.fixture(autouse=True)
def _handlers_restored():
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    assert {sig: signal.getsignal(sig) for sig in before} == before
