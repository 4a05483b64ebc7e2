"""JournalConnection: the journal SQLite database's one connection and its transactions.

Owns opening the file (a file from a newer schema is refused before WAL mode changes it) through
one sqlite-utils connection in WAL mode with synchronous=NORMAL, migrated forward (the schema and
its migrations live in actors.journal.migrations); the health pragmas and integrity check; the
transactions, nested or held open across calls for the journal actor's group commit; the
disk-full drill; the table counts; closing. What is written, and how, is actors.journal.store's.

Must never: be opened by more than one owner (the journal actor), know the journal's records (it
imports nothing of actors.journal.store), or swallow a write error (it raises; a logical change
made in one transaction() is rolled back whole, a failed COMMIT included).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import sqlite_utils

from actors.journal.migrations import TABLE_NAMES, migrate, refuse_newer, user_version

__all__ = ["JournalConnection"]


class JournalConnection:
    """The journal database's connection. Not thread-safe: one owner uses it at a time.

    The connection is opened with check_same_thread=False only so the owner may create the store
    on one thread and use it on another (a Pykka actor's __init__ runs on the caller's thread).
    Opening a file that is not a SQLite database raises sqlite3.DatabaseError (nothing else);
    `found_version` is the schema version the file had before it was migrated forward.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        conn = sqlite3.connect(str(self.path), check_same_thread=False)
        try:
            refuse_newer(conn, str(self.path))  # before WAL mode changes the file
            self._db = sqlite_utils.Database(conn)
            self._db.enable_wal()
            self._db.execute("PRAGMA synchronous=NORMAL")
            self.found_version = migrate(conn, str(self.path))
        except BaseException:
            conn.close()
            raise
        self._closed = False
        self._unfrozen_pages: int | None = None  # max_page_count before freeze_size()

    # -- schema and health ------------------------------------------------------------------

    def _pragma(self, name: str) -> int | str:
        return self._db.execute(f"PRAGMA {name}").fetchone()[0]

    def schema_version(self) -> int:
        return user_version(self._db.conn)

    def journal_mode(self) -> str:
        return str(self._pragma("journal_mode"))

    def synchronous(self) -> int:
        """SQLite's numeric level: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA."""
        return int(self._pragma("synchronous"))

    def integrity_ok(self) -> tuple[bool, str]:
        """PRAGMA integrity_check: (True, "ok"), or (False, what SQLite found or why it could not
        check: a corrupt or truncated file)."""
        try:
            found = [str(row[0]) for row in self._db.execute("PRAGMA integrity_check").fetchall()]
        except sqlite3.DatabaseError as exc:
            return False, str(exc) or type(exc).__name__
        if found == ["ok"]:
            return True, "ok"
        lines = [line for row in found for line in row.splitlines() if line and not line.startswith("***")]
        more = f" (and {len(lines) - 3} more)" if len(lines) > 3 else ""
        return False, "; ".join(lines[:3]) + more  # one line, SQLite's words

    # -- transactions -----------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Self]:
        """Group writes into one commit (rolled back whole on an exception, a failed COMMIT
        included). Nests safely: inside begin() or another transaction() it is a SAVEPOINT, so
        an exception undoes exactly what was written inside it."""
        with self._db.atomic():
            yield self

    @property
    def in_transaction(self) -> bool:
        return self._db.conn.in_transaction

    def begin(self) -> None:
        """Open a transaction that stays open across calls until commit() or rollback() (the
        journal actor's group commit). Refused while one is open."""
        if self._db.conn.in_transaction:
            raise RuntimeError("a transaction is already open")
        self._db.conn.execute("BEGIN")

    def commit(self) -> None:
        """Commit the open transaction (nothing if none is open); a failed COMMIT is rolled back
        whole and raises."""
        if not self._db.conn.in_transaction:
            return
        try:
            self._db.conn.execute("COMMIT")
        except BaseException:
            self._db.rollback()
            raise

    def rollback(self) -> None:
        self._db.rollback()

    def freeze_size(self, frozen: bool = True) -> None:
        """Let the database grow no further on this connection (SQLite's max_page_count): a write
        that needs a new page then fails with sqlite's own "database or disk is full". The
        `journal:disk_full` fault drill; frozen=False lifts it."""
        if frozen:
            if self._unfrozen_pages is None:
                self._unfrozen_pages = int(self._pragma("max_page_count"))
            self._pragma(f"max_page_count={int(self._pragma('page_count'))}")
        elif self._unfrozen_pages is not None:
            self._pragma(f"max_page_count={self._unfrozen_pages}")
            self._unfrozen_pages = None

    # -- housekeeping -----------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        return {name: int(self._db.execute(f"SELECT count(*) FROM [{name}]").fetchone()[0]) for name in TABLE_NAMES}

    def close(self) -> None:
        """Close the connection; an open transaction is rolled back. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._db.rollback()
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
