"""bin/perpsbot as a user runs it: exit codes, one-line errors, replays and a short paper run."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PERPSBOT = [sys.executable, str(ROOT / "bin" / "perpsbot")]


def run(*args: str, timeout: float = 120, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*PERPSBOT, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line]
    return lines[-1] if lines else ""


@pytest.mark.parametrize("args,needle", [
    (["paper", "--duration", "abc"], "--duration"),
    (["paper", "--duration", "-5"], "--duration"),
    (["paper", "--fault", "nobody:crash"], "unknown actor 'nobody'"),
    (["paper", "--fault", "execution:explode"], "unknown kind 'explode'"),
    (["paper", "--profile", "missing"], "missing"),
    (["replay", "/no/such/capture.jsonl"], "capture file not found"),
    (["frobnicate"], "frobnicate"),
])
def test_bad_arguments_exit_2_with_one_line(args, needle):
    result = run(*args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert needle in result.stderr


def test_a_capture_that_is_not_what_its_name_says_is_a_one_line_error(tmp_path):
    fake = tmp_path / "capture.jsonl.gz"
    fake.write_text('{"channel": "heartbeats"}\n')  # plain text named .gz
    result = run("replay", str(fake))
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "cannot be read" in result.stderr


def test_bad_config_names_the_key_and_the_file(tmp_path):
    profile = tmp_path / "bad.toml"
    profile.write_text("[strategy]\nshort_window = 5\nfoo = 1\n")
    result = run("paper", "--profile", str(profile))
    assert result.returncode == 2
    assert "bad.toml" in result.stderr and "strategy.foo" in result.stderr
    profile.write_text("[run]\nduration_s = -1\n")
    result = run("paper", "--profile", str(profile))
    assert result.returncode == 2 and "run.duration_s" in result.stderr


def _replay_on_a_terminal(*args: str) -> tuple[int, str]:
    """bin/perpsbot replay with stderr on a pseudo-terminal: (exit status, what the terminal got)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([*PERPSBOT, "replay", *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=slave)
    os.close(slave)
    seen = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    return proc.wait(timeout=120), seen.decode(errors="replace")


def test_replay_of_the_bundled_sample_is_deterministic_and_trades(tmp_path):
    """Also: a replay shows its progress line on a terminal, and none when stderr is not one or with
    --quiet."""
    reports = []
    status, terminal = _replay_on_a_terminal("--data-dir", str(tmp_path / "data"), "--report-json",
                                             str(tmp_path / "r0.json"))
    assert status == 0, terminal[-2000:]
    assert "\rreplay  " in terminal and " frames  " in terminal and "ETA" in terminal
    reports.append(json.loads((tmp_path / "r0.json").read_text()))
    for args in ((), ("--quiet",)):
        out = tmp_path / f"r{len(reports)}.json"
        result = run("replay", *args, "--data-dir", str(tmp_path / "data"), "--report-json", str(out))
        assert result.returncode == 0, result.stderr[-2000:]
        assert "\r" not in result.stderr and "ETA" not in result.stderr  # not a terminal: no progress line
        reports.append(json.loads(out.read_text()))
    assert reports[0]["fingerprint"] == reports[2]["fingerprint"]
    reports = reports[1:]
    first, second = reports
    assert first["trading"]["fills"] >= 1
    assert first["fingerprint"] == second["fingerprint"]
    assert first["trading"]["fills"] == second["trading"]["fills"]
    assert first["positions"] == second["positions"]
    for key in ("mode", "seed", "duration_s", "fingerprint", "feed", "products", "trading", "positions",
                "supervision", "latency_us"):
        assert key in first
    assert set(first["feed"]) >= {"frames", "malformed", "error_frames", "unknown", "gaps", "reconnects",
                                  "stalls", "resyncs", "rest_fallbacks", "heartbeat_gaps"}
    for product in first["products"].values():
        assert set(product) >= {"best_bid", "best_ask", "mark", "bid_levels", "ask_levels", "resyncs", "liquidity"}
        assert set(product["liquidity"]) >= {"spread_bps", "depth_1pct", "depth_5pct", "imbalance", "score",
                                             "condition", "volume_15m", "impact_bps_10k"}
    assert set(first["trading"]) >= {"blocked_stale", "blocked_impact", "state", "intents", "orders", "fills",
                                     "rejects", "realized_pnl",
                                     "unrealized_pnl", "fees", "funding", "equity"}
    assert set(first["supervision"]) >= {"restarts", "escalations"}
    assert set(first["latency_us"]["tick_to_order"]) == {"n", "p50", "p99"}


def test_short_paper_session_streams_over_loopback_and_stops_cleanly(tmp_path):
    out = tmp_path / "paper.json"
    result = run("paper", "--profile", "dev", "--duration", "8", "--data-dir", str(tmp_path / "data"),
                 "--report-json", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["mode"] == "paper"
    assert report["feed"]["frames"] > 50 and report["feed"]["gaps"] == 0
    for product in report["products"].values():
        assert product["best_bid"] is not None and product["bid_levels"] > 0
    assert "perpsbot paper run" in result.stdout
    assert list((tmp_path / "data").glob("paper-*/perpsbot.db")), "journal written"


def test_poison_fault_ends_halted_with_exit_3(tmp_path):
    out = tmp_path / "halted.json"
    # the sixth crash escalates about 1.6 s in (measured): 5 s leaves room on a loaded box
    result = run("paper", "--profile", "dev", "--duration", "5", "--fault", "strategy:crash:every=1",
                 "--data-dir", str(tmp_path / "data"), "--report-json", str(out))
    assert result.returncode == 3, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["trading"]["state"] == "HALTED"
    assert report["supervision"]["escalations"] == 1
    assert report["trading"]["open_orders"] == 0
