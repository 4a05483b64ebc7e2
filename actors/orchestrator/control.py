"""Operator control of a running process through files in its run directory.

Owns the control protocol and the actor that serves it. A running process has
`RUN_DIR/control/pid` (its process id). `bin/perpsbot ctl` writes a command as
`control/<request id>.cmd` (JSON {"command": ...}, written to a temporary name and renamed, so
it is never read half-written); the control actor polls the directory on a scheduler timer, hands
each command to the orchestrator (an OperatorCommand) and writes the orchestrator's OperatorReply
as `control/<request id>.reply` (also renamed into place). Files, not a socket: no listener
thread, no socket-path length limit, and a command survives a restart of this actor.
The actor must never decide anything about trading (the orchestrator does) and never block: a
poll reads a few small local files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import msgspec
from loguru import logger

from domain.control import OPERATOR_COMMANDS, OperatorCommand, OperatorReply
from runtime.actor import SupervisedActor

CONTROL_DIR = "control"
PID_FILE = "pid"
COMMAND_SUFFIX = ".cmd"
REPLY_SUFFIX = ".reply"
POLL_INTERVAL_S = 0.2


def control_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / CONTROL_DIR


def write_atomically(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to `path` so a reader sees the whole file or none of it."""
    _replace_with_text(path, json.dumps(data) + "\n")


def _replace_with_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_pid(run_dir: str | Path) -> int | None:
    try:
        return int((control_dir(run_dir) / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


class PollControl(msgspec.Struct, frozen=True):
    """Timer message: look for command files."""


class ControlActor(SupervisedActor):
    def __init__(self, name: str, epoch: int, services: Any, run_dir: str,
                 poll_interval_s: float = POLL_INTERVAL_S) -> None:
        super().__init__(name, epoch, services)
        self.dir = control_dir(run_dir)
        self.poll_interval_s = poll_interval_s
        self.pid = os.getpid()
        self.commands = self.metrics.counter("control.commands")

    def start_core(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        _replace_with_text(self.dir / PID_FILE, f"{self.pid}\n")  # never seen empty: `ctl` reads it
        self.every(self.poll_interval_s, PollControl())

    def stop_core(self) -> None:
        pid_file = self.dir / PID_FILE
        try:
            if pid_file.read_text().strip() == str(self.pid):
                pid_file.unlink()
        except OSError:
            pass

    def handle(self, message: Any) -> Any:
        kind = type(message)
        if kind is PollControl:
            self._poll()
        elif kind is OperatorReply:
            self._write_reply(message.request_id, {"state": message.state, "line": message.line,
                                                   "holds": list(message.holds)})
        return None

    def _poll(self) -> None:
        try:
            names = sorted(p.name for p in self.dir.iterdir() if p.name.endswith(COMMAND_SUFFIX))
        except OSError:
            return
        for name in names:
            path = self.dir / name
            request_id = name.removesuffix(COMMAND_SUFFIX)
            try:
                data = json.loads(path.read_text())
                path.unlink()
            except (OSError, ValueError) as exc:
                logger.warning("control: unreadable command {}: {}", name, exc)
                path.unlink(missing_ok=True)
                self._write_reply(request_id, {"error": f"unreadable command: {exc}"})
                continue
            command = data.get("command") if isinstance(data, dict) else None
            if command not in OPERATOR_COMMANDS:
                self._write_reply(request_id, {"error": f"unknown command {command!r}"})
                continue
            self.commands.inc()
            self.tell_supervisor(OperatorCommand(command, request_id, accept_venue=data.get("accept_venue") is True))

    def _write_reply(self, request_id: str, data: dict[str, Any]) -> None:
        if not request_id or "/" in request_id:
            return
        try:
            write_atomically(self.dir / f"{request_id}{REPLY_SUFFIX}", data)
        except OSError as exc:
            logger.warning("control: cannot write the reply to {}: {}", request_id, exc)
