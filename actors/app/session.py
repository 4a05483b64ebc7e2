"""What every trading session (run, paper, replay) holds while it lasts: its data dir, checked and
locked for this process alone, and private file modes.

Owns the session-wide process state: the umask (077, so the data dir and everything in it are
0700 / 0600) and the data dir's lock (runtime.data_dir), both given back at exit. Must never
start anything that trades: callers take these first, before any connection.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from actors.app.preflight import check_data_dir
from runtime.data_dir import DataDirLock


@contextmanager
def private_files() -> Iterator[None]:
    """umask 077 while a run lasts: the data dir and every file in it are private (0700 / 0600).
    The umask is the process's: the previous one is back at exit."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


@contextmanager
def held_data_dir(path: str | Path, mode: str, **info: Any) -> Iterator[DataDirLock]:
    """The data dir checked (PreflightError) and held by this process for `mode` (DataDirBusy,
    naming the holder's pid, if another has it); released at exit. `lock.update(run_dir=...)`
    once the run directory exists, so `ctl` and `status` find it."""
    lock = DataDirLock(check_data_dir(path)).acquire(mode, **info)
    try:
        yield lock
    finally:
        lock.release()
