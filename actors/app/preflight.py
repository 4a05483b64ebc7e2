"""Checks that run before a command starts anything: bad input is one line and exit 2, never a
traceback and never after trading began.

Owns the rules for the inputs every long-running command shares: durations, output files (the
report, a capture), ports, the data dir, credentials. Each check returns quietly (or the value it
normalised) or raises PreflightError with one line naming the flag or key and the problem. Must
never start, bind (beyond a probe it closes at once), create anything other than the data dir,
or put key material in a message.
"""

from __future__ import annotations

import errno
import math
import os
import socket
import time
from pathlib import Path
from typing import Any

from runtime.data_dir import DataDirError, prepare

MAX_PORT = 65535
# What the JWT probe signs: the request a live start makes first (any fixed REST uri would do).
PROBE_URI = "GET api.coinbase.com/api/v3/brokerage/accounts"


class PreflightError(Exception):
    """An input a run cannot use; the message is one line naming it."""


def check_duration(seconds: float | None, flag: str = "--duration") -> None:
    """None (no limit given) is fine; otherwise a finite number of seconds above zero."""
    if seconds is None:
        return
    if not math.isfinite(seconds):
        raise PreflightError(f"{flag} must be a finite number of seconds, got {seconds:g}")
    if seconds <= 0:
        raise PreflightError(f"{flag} must be positive, got {seconds:g}")


def check_output_file(path: str | Path | None, flag: str) -> None:
    """A file the command will write at its end: its folder exists and is a writable directory,
    and the path itself is not a directory (and, if it exists, can be overwritten)."""
    if path is None:
        return
    target = Path(path).expanduser()
    if target.is_dir():
        raise PreflightError(f"{flag} {path} is a directory, not a file")
    folder = target.parent
    if not folder.exists():
        raise PreflightError(f"{flag} {path}: folder {folder} does not exist")
    if not folder.is_dir():
        raise PreflightError(f"{flag} {path}: {folder} is not a directory")
    if target.exists() and not os.access(target, os.W_OK):
        raise PreflightError(f"{flag} {path} is not writable")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PreflightError(f"{flag} {path}: folder {folder} is not writable")


def check_report_path(path: str | Path | None, flag: str = "--report-json") -> None:
    """Where the JSON report goes (None: nowhere); see `check_output_file`."""
    check_output_file(path, flag)


def check_port(port: int, host: str = "127.0.0.1", flag: str = "--port") -> None:
    """0 (the OS picks a free port) is fine; else 1..65535 and free to listen on at `host`.
    The probe binds the way the exchange does (socket.create_server, SO_REUSEADDR on, as
    websockets' `serve` calls it), so a port that passes is one the server can bind (a port in
    TIME_WAIT passes for both; one another socket holds fails for both)."""
    if not 0 <= port <= MAX_PORT:
        raise PreflightError(f"{flag} must be 0..{MAX_PORT}, got {port}")
    if port == 0:
        return
    try:
        probe = socket.create_server((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PreflightError(f"{flag} {port} is already in use on {host}") from None
        raise PreflightError(f"{flag} {port}: cannot listen on {host}: {exc.strerror or exc}") from None
    probe.close()


def check_data_dir(path: str | Path) -> Path:
    """The data dir, checked and created private (0700) if missing (runtime.data_dir.prepare:
    not under /proc, /sys or /dev, not a file, writable)."""
    try:
        return prepare(path)
    except DataDirError as exc:
        raise PreflightError(str(exc)) from None


def check_credentials(credentials: Any) -> None:
    """None (no key) is fine; else the key must sign a JWT. Names the key, never its material."""
    if credentials is None:
        return
    name = getattr(credentials, "key_name", "?")
    try:
        token = credentials.make_jwt(time.time(), PROBE_URI)
    except Exception as exc:  # any failure of a third-party signer is the key's problem
        raise PreflightError(f"the API key {name!r} cannot sign a JWT ({type(exc).__name__})") from None
    if not isinstance(token, str) or token.count(".") != 2:
        raise PreflightError(f"the API key {name!r} did not produce a JWT")
