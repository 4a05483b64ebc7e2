"""IntentLog: execution's write-ahead of every order, an append-only file beside the journal.

Owns one file, `<journal>-intents`: before an order is sent, one JSON line (its client id, intent
id, the order as sent, when) is written with a single os.write on a descriptor opened O_APPEND.
Once os.write returns the line is in the kernel's page cache, so a kill -9 of the process an
instant later cannot lose it: the same durability as the journal itself (SQLite in WAL mode with
synchronous=NORMAL survives a process kill, not a power cut). It costs one system call on the order
path instead of a hand-off to the journal's thread and back. A write the OS refuses raises OSError:
the order must then not be sent. At every start, recovery moves the lines into the journal's
`intents` table (JournalStore.import_intents) and empties the file (read_intents, clear).

Must never: be written by anyone but the execution actor, be read while it is written (recovery
runs before the tree starts), or stop a read at a torn or malformed line (skipped, counted).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import msgspec

from domain.orders import PlaceOrder

SUFFIX = "-intents"  # beside SQLite's own "-wal" and "-shm"


class LoggedIntent(msgspec.Struct, frozen=True):
    """One line of the log: an order execution was about to send."""

    intent_id: str
    order: PlaceOrder
    ts: float


_ENCODE = msgspec.json.Encoder()
_DECODE = msgspec.json.Decoder(LoggedIntent)


def intent_log_path(db_path: str | Path) -> Path:
    return Path(f"{db_path}{SUFFIX}")


class IntentLog:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.full = False  # the `execution:disk_full` fault drill: every append refused

    def append(self, order: PlaceOrder, intent_id: str, ts: float) -> None:
        """Write the intent of `order`; raises OSError if it could not be written whole."""
        if self._fd is None:
            raise OSError(errno.EBADF, "the intent log is closed")
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device (intent log)")
        line = _ENCODE.encode(LoggedIntent(intent_id, order, ts)) + b"\n"
        if os.write(self._fd, line) != len(line):  # a short write: the disk filled mid-line
            raise OSError(errno.ENOSPC, "No space left on device (intent log, short write)")

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_intents(path: str | Path) -> tuple[list[LoggedIntent], int]:
    """Every intent the log holds, oldest first, and the count of lines that could not be read (a
    line torn by a crash of the machine, or garbage). A missing file holds none."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return [], 0
    intents, unreadable = [], 0
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            intents.append(_DECODE.decode(line))
        except msgspec.DecodeError:
            unreadable += 1
    return intents, unreadable


def clear(path: str | Path) -> None:
    """Empty the log once its intents are committed to the journal."""
    try:
        os.truncate(path, 0)
    except FileNotFoundError:
        pass
