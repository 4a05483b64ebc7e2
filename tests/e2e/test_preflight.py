"""Everything a run needs is checked before it trades: each bad input to `bin/perpsbot` is one line
on stderr starting "perpsbot: error:", exit 2, no traceback, and it comes back at once (no run
directory, no exchange, no tree)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PERPSBOT = [sys.executable, str(ROOT / "bin" / "perpsbot")]
ENV = {k: v for k, v in os.environ.items() if not k.startswith("COINBASE_")}
QUICK_S = 15.0  # start-up and imports on a loaded 2-core machine; any run would take 60 s or more


def refused(args: list[str], cwd: Path, prefix: list[str] = ()) -> str:
    """Run `perpsbot args` (in `cwd`, so a default data dir would land there); assert the one-line
    exit 2 and return that line."""
    started = time.monotonic()
    result = subprocess.run([*prefix, *PERPSBOT, *args], capture_output=True, text=True, timeout=60,
                            cwd=cwd, env=ENV)
    elapsed = time.monotonic() - started
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("perpsbot: error: "), result.stderr
    assert result.stdout == ""
    assert elapsed < QUICK_S, f"took {elapsed:.1f}s: it ran before refusing"
    return lines[0]


@pytest.fixture
def port_in_use():
    with socket.create_server(("127.0.0.1", 0)) as held:
        yield held.getsockname()[1]


def test_exchange_port_in_use(tmp_path, port_in_use):
    line = refused(["exchange", "--port", str(port_in_use)], tmp_path)
    assert line == f"perpsbot: error: --port {port_in_use} is already in use on 127.0.0.1"


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_exchange_port_out_of_range(tmp_path, port):
    assert refused(["exchange", "--port", port], tmp_path) == f"perpsbot: error: --port must be 0..65535, got {port}"


def test_exchange_infinite_duration(tmp_path):
    assert "--duration must be a finite number" in refused(["exchange", "--duration", "inf"], tmp_path)


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_paper_duration_must_be_finite(tmp_path, value):
    line = refused(["paper", "--duration", value], tmp_path)
    assert line == f"perpsbot: error: --duration must be a finite number of seconds, got {value}"
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("command", ["paper", "replay"])
def test_report_json_folder_must_exist(tmp_path, command):
    line = refused([command, "--report-json", "/nonexistent/x.json", "--data-dir", str(tmp_path / "data")],
                   tmp_path)
    assert line == "perpsbot: error: --report-json /nonexistent/x.json: folder /nonexistent does not exist"
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("command", ["paper", "replay"])
def test_data_dir_that_is_a_file(tmp_path, command):
    (tmp_path / "data").write_text("not a directory\n")
    line = refused([command, "--data-dir", "data"], tmp_path)
    assert line == "perpsbot: error: data dir data exists and is not a directory"


def test_data_dir_under_proc(tmp_path):
    line = refused(["paper", "--data-dir", "/proc/perpsbot-data"], tmp_path)
    assert line == "perpsbot: error: data dir /proc/perpsbot-data is under a kernel file system (proc)"


def _read_only_mount_prefix(data: Path) -> list[str] | None:
    """As root, mode bits do not stop writes, so the data dir becomes a read-only tmpfs inside a
    private mount namespace that ends with the process (nothing to clean up, nothing leaks)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    prefix = [unshare, "--mount", "--propagation", "private", "sh", "-c",
              'mount -t tmpfs -o ro perpsbot-ro "$0" && exec "$@"', str(data)]
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True, timeout=20)
    return prefix if probe.returncode == 0 else None


def test_read_only_data_dir(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        mount = _read_only_mount_prefix(data)
        if mount is None:
            pytest.skip("running as root (mode 0500 does not stop root) and no private mount namespace"
                        " for a read-only tmpfs")
        prefix = mount
    else:
        data.chmod(0o500)
    try:
        line = refused(["paper", "--data-dir", str(data)], tmp_path, prefix)
    finally:
        data.chmod(0o700)
    assert line.startswith(f"perpsbot: error: data dir {data} is not writable: ")
    assert ("Read-only file system" in line) if prefix else ("Permission denied" in line)
    assert list(data.iterdir()) == []


def test_record_bad_out_and_duration(tmp_path):
    # the checks come before the connection: nothing listens on port 1
    url = ["--url", "ws://127.0.0.1:1"]
    line = refused(["record", *url, "--out", "/nonexistent/x.jsonl.gz"], tmp_path)
    assert line == "perpsbot: error: --out /nonexistent/x.jsonl.gz: folder /nonexistent does not exist"
    line = refused(["record", *url, "--out", str(tmp_path)], tmp_path)
    assert line == f"perpsbot: error: --out {tmp_path} is a directory, not a file"
    line = refused(["record", *url, "--out", str(tmp_path / "x.gz"), "--duration", "inf"], tmp_path)
    assert "--duration must be a finite number" in line
    line = refused(["record", *url, "--out", str(tmp_path / "x.gz")], tmp_path)
    assert line.startswith("perpsbot: error: cannot connect to ws://127.0.0.1:1")
    assert not (tmp_path / "x.gz").exists()
