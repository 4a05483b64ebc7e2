"""`bin/perpsbot ctl halt|reduce|resume`: operator control of a running paper or replay process.

Owns finding the process (the run directory named by --run, else the one the process holding
--data-dir's lock works in) and one request/reply through its control files
(actors.orchestrator.control). Prints one line: the run and the trading state after the command,
and what still holds it down; exit 0. No running process, or no answer within --timeout: one line
on stderr, exit 2. Must never change anything but through the control files.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from pathlib import Path

from actors.orchestrator.control import (
    COMMAND_SUFFIX,
    REPLY_SUFFIX,
    control_dir,
    process_alive,
    read_pid,
    write_atomically,
)
from domain.control import OPERATOR_COMMANDS
from runtime.data_dir import holder

EXIT_OK, EXIT_NOT_RUNNING = 0, 2
_POLL_S = 0.05


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=OPERATOR_COMMANDS, help="halt, reduce or resume trading")
    parser.add_argument("--data-dir", metavar="DIR", default="data",
                        help="the data dir of the process to command (found through its lock; default: data)")
    parser.add_argument("--run", metavar="RUN_DIR", help="this run directory instead")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="S", help="wait this long for the answer")
    parser.add_argument("--accept-venue", action="store_true",
                        help="with resume: adopt the venue's positions where reconciliation found them different")


def running(run_dir: Path) -> bool:
    pid = read_pid(run_dir)
    return pid is not None and process_alive(pid)


def held_run(data_dir: Path) -> Path | None:
    """The run directory of the process holding `data_dir`'s lock (a `run` uses the data dir
    itself, `paper` and `replay` a run directory inside it), whatever profile started it."""
    info = holder(data_dir)
    if info is None or not info.get("run_dir"):
        return None
    return Path(info["run_dir"])


def request(run_dir: Path, command: str, timeout_s: float, accept_venue: bool = False) -> dict | None:
    """Send one command; the reply, or None if none came within `timeout_s`."""
    request_id = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:12]}"
    folder = control_dir(run_dir)
    reply = folder / f"{request_id}{REPLY_SUFFIX}"
    write_atomically(folder / f"{request_id}{COMMAND_SUFFIX}", {"command": command, "accept_venue": accept_venue})
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while time.monotonic() < deadline:
        if reply.exists():
            try:
                data = json.loads(reply.read_text())
            except (OSError, ValueError):
                data = None
            reply.unlink(missing_ok=True)
            if data is not None:
                return data
        pause.wait(_POLL_S)
    (folder / f"{request_id}{COMMAND_SUFFIX}").unlink(missing_ok=True)  # nobody took it: withdraw it
    return None


def run(args: argparse.Namespace) -> int:
    if args.timeout <= 0:
        return _fail(f"--timeout must be positive, got {args.timeout:g}")
    if args.accept_venue and args.action != "resume":
        return _fail("--accept-venue goes with resume only")
    if args.run is not None:
        run_dir = Path(args.run)
        if not running(run_dir):
            return _fail(f"no running perpsbot process in {run_dir}")
    else:
        found = held_run(Path(args.data_dir))
        if found is None or not running(found):
            return _fail(f"no running perpsbot process holds {args.data_dir}")
        run_dir = found
    answer = request(run_dir, args.action, args.timeout, args.accept_venue)
    if answer is None:
        return _fail(f"no answer from {run_dir} within {args.timeout:g}s")
    if "error" in answer:
        return _fail(f"{run_dir.name}: {answer['error']}")
    print(f"{run_dir.name}: {answer['line']}")
    return EXIT_OK


def _fail(message: str) -> int:
    print(f"perpsbot: error: {message}", file=sys.stderr)
    return EXIT_NOT_RUNNING
