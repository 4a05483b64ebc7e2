"""The backup actor: on a schedule, a verified, compressed snapshot of the journal database.

Owns the snapshot schedule and retention. Reads the database only through SQLite's online backup
API (its own read connection), so the journal stays the single writer. Must never write to the
live database. A snapshot takes tens of milliseconds for a small journal: acceptable on this
actor's own thread, which nothing else waits on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loguru import logger

from actors.backup.snapshot import SnapshotError, take_snapshot
from runtime.actor import SupervisedActor


class BackupDue:
    """Timer message: time for a snapshot."""


class BackupActor(SupervisedActor):
    def __init__(self, name: str, epoch: int, services: Any, db_path: str, dest_dir: str,
                 interval_s: float, keep: int) -> None:
        super().__init__(name, epoch, services)
        self.db_path = db_path
        self.dest_dir = dest_dir
        self.interval_s = interval_s
        self.keep = keep
        self.taken = self.metrics.counter("backup.snapshots")
        self.failed = self.metrics.counter("backup.failures")
        self.last = self.metrics.gauge("backup.last_sha256")

    def start_core(self) -> None:
        self.every(self.interval_s, BackupDue())

    def handle(self, message: Any) -> Any:
        if type(message) is BackupDue or message == "backup_now":
            return self.snapshot()
        return None

    def snapshot(self) -> str | None:
        if not Path(self.db_path).exists():
            return None
        try:
            info = take_snapshot(self.db_path, self.dest_dir, self.clock.now(), self.keep)
        except (SnapshotError, OSError) as exc:
            self.failed.inc()
            logger.error("backup failed: {}", exc)
            return None
        self.taken.inc()
        self.last.set(info.sha256)
        logger.info("backup {} ({} bytes, sha256 {}…) verified", Path(info.path).name, info.size_bytes, info.sha256[:12])
        return info.path
