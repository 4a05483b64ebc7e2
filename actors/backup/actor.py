"""The backup actor: tiered, verified, compressed snapshots of the journal database, their
manifest, retention and a periodic test restore.

Owns the backup directory and its manifest (the only writer of both). A timer every
`interval_s` asks the planner (actors.backup.plan) which tier is due, takes that one snapshot,
retires what retention says and, when due, test-restores the newest backup; `BackupNow` takes one
on request (a clean shutdown, an escalation). Reads the database only through SQLite's online
backup API and read-only connections of its own, so the journal stays the single writer.
Must never write to the live database. A snapshot takes tens of milliseconds for a small
journal: acceptable on this actor's own thread, which nothing else waits on.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import msgspec
import pykka
from loguru import logger

from actors.backup import catalog, plan
from actors.backup import manifest as mf
from actors.backup.restore_check import test_restore
from actors.backup.snapshot import SnapshotError, delete_snapshot, make_snapshot
from config.schema import BackupConfig
from domain.control import BackupDone, BackupNow
from runtime.actor import SupervisedActor


class BackupDue(msgspec.Struct, frozen=True, tag=True):
    """Timer message: a scheduled tick."""


class BackupActor(SupervisedActor):
    def __init__(self, name: str, epoch: int, services: Any, db_path: str, dest_dir: str,
                 config: BackupConfig) -> None:
        super().__init__(name, epoch, services)
        self.db_path = Path(db_path)
        self.dest_dir = Path(dest_dir)
        self.policy = plan.Policy.from_config(config)
        self.manifest = mf.Manifest()
        self.taken = self.metrics.counter("backup.snapshots")
        self.failed = self.metrics.counter("backup.failures")
        self.retired = self.metrics.counter("backup.retired")
        self.last = self.metrics.gauge("backup.last_sha256")
        self.last_at = self.metrics.gauge("backup.last_at")
        self.restores = self.metrics.counter("backup.test_restores")
        self.restore_failures = self.metrics.counter("backup.test_restore_failures")
        self.restore_ok = self.metrics.gauge("backup.test_restore_ok")

    def start_core(self) -> None:
        self.dest_dir.mkdir(parents=True, exist_ok=True)
        _clear_leftovers(self.dest_dir)
        try:
            loaded = mf.load(self.dest_dir)
        except mf.ManifestError as exc:
            # Start a fresh index; the files (each with its sidecar) are adopted below, and the
            # unreadable manifest is kept for a person to look at.
            logger.error("backup manifest unreadable, rebuilding it from the files: {}", exc)
            mf.path_of(self.dest_dir).replace(self.dest_dir / f"{mf.MANIFEST_FILE}.unreadable")
            loaded = mf.Manifest()
        # Files the index does not list keep tier "unlisted", which no retention rule touches: a
        # lost index must never turn daily or escalation backups into frequent ones to delete.
        manifest, adopted, dropped = catalog.reconciled(self.dest_dir, loaded, catalog.UNLISTED)
        manifest = msgspec.structs.replace(
            manifest, db_file=self.db_path.name, interval_s=self.policy.interval_s,
            test_restore_interval_s=self.policy.test_restore_interval_s)
        if adopted or dropped:
            logger.warning("backup manifest: {} unlisted files adopted, {} entries without a file dropped",
                           adopted, dropped)
        if manifest != loaded:
            mf.save(self.dest_dir, manifest)
        self.manifest = manifest
        self.every(self.policy.interval_s, BackupDue())

    def handle(self, message: Any) -> Any:
        kind = type(message)
        if kind is BackupDue:
            self.scheduled()
            return None
        if kind is BackupNow:
            return self.take(message.tier, message.reason or "requested")
        return None

    # -- timers -> planner -> perform -------------------------------------------------------
    def scheduled(self) -> None:
        now = self.clock.now()
        self.take(plan.due_tier(now, self.manifest.entries, self.policy), "scheduled")
        last = self.manifest.last_test_restore
        if plan.test_restore_due(now, last.at if last is not None else None, self.policy):
            self.test_restore(now)

    def take(self, tier: str, reason: str) -> BackupDone:
        if tier not in plan.TIERS:
            return BackupDone(ok=False, tier=tier, detail=f"unknown tier {tier!r}; one of {', '.join(plan.TIERS)}")
        if not self.db_path.exists():
            return BackupDone(ok=False, tier=tier, detail="no database yet")
        now = self.clock.now()
        try:
            info = make_snapshot(self.db_path, self.dest_dir, now)
        except (SnapshotError, OSError) as exc:
            self.failed.inc()
            logger.error("backup ({}) failed: {}", tier, exc)
            return BackupDone(ok=False, tier=tier, detail=str(exc))
        entry = catalog.entry_for(info, tier, now, reason)
        manifest = mf.add(self.manifest, entry)
        doomed = plan.retire(now, manifest.entries, self.policy, keep_ids=(entry.id,))
        files = [e.file for e in manifest.entries if e.id in set(doomed)]
        manifest = mf.remove(manifest, doomed)
        try:
            mf.save(self.dest_dir, manifest)  # the index first: a retired file is unlisted before it goes
        except OSError as exc:
            self.failed.inc()
            logger.error("backup {} taken but the manifest could not be written: {}", entry.id, exc)
            return BackupDone(ok=False, tier=tier, backup_id=entry.id, path=info.path, detail=f"manifest: {exc}")
        self.manifest = manifest
        for name in files:
            try:
                delete_snapshot(self.dest_dir / name)
                self.retired.inc()
            except OSError as exc:
                logger.warning("backup retention could not delete {}: {}", name, exc)
        self.taken.inc()
        self.metrics.counter(f"backup.snapshots.{tier}").inc()
        self.last.set(info.sha256)
        self.last_at.set(now)
        logger.info("backup {} [{}] ({} bytes, sha256 {}…) verified; {} retired", entry.id, tier, info.size_bytes,
                    info.sha256[:12], len(files))
        return BackupDone(ok=True, tier=tier, backup_id=entry.id, path=info.path, detail=reason)

    def test_restore(self, now: float) -> mf.RestoreCheck | None:
        target = plan.newest(self.manifest.entries)
        if target is None:
            return None
        result = test_restore(self.dest_dir, target, self.db_path, now)
        self.restores.inc()
        self.restore_ok.set(1 if result.ok else 0)
        if result.ok:
            logger.info("backup test restore of {}: {}", target.id, result.detail)
        else:
            self.restore_failures.inc()
            logger.error("backup test restore of {} FAILED: {}", target.id, result.detail)
        manifest = mf.with_test_restore(self.manifest, result)
        try:
            mf.save(self.dest_dir, manifest)
            self.manifest = manifest
        except OSError as exc:
            logger.error("backup test restore result could not be recorded: {}", exc)
        return result


_LEFTOVERS = (".snapshot-*", ".test-restore-*", ".verify-*", ".manifest-*.tmp")


def _clear_leftovers(folder: Path) -> None:
    """Work files of ours that a kill left behind (nothing else writes in the backup directory)."""
    for pattern in _LEFTOVERS:
        for path in folder.glob(pattern):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def shutdown_backup(services: Any, timeout_s: float, reason: str = "clean shutdown",
                    name: str = "backup") -> BackupDone:
    """For the main thread before it stops the tree: ask the running backup actor for a
    `shutdown` snapshot and wait at most `timeout_s`. Never raises; a down or slow actor is a
    BackupDone with ok False."""
    entry = services.directory.get(name)
    if entry is None or entry.ref is None:
        return BackupDone(ok=False, tier=plan.SHUTDOWN, detail=f"{name} is not running")
    try:
        return entry.ref.ask(BackupNow(plan.SHUTDOWN, reason), timeout=timeout_s)
    except pykka.Timeout:
        return BackupDone(ok=False, tier=plan.SHUTDOWN, detail=f"no answer within {timeout_s:g}s")
    except pykka.ActorDeadError:
        return BackupDone(ok=False, tier=plan.SHUTDOWN, detail=f"{name} stopped")
    except Exception as exc:  # the handler raised: the ask carries it here
        return BackupDone(ok=False, tier=plan.SHUTDOWN, detail=f"{type(exc).__name__}: {exc}")
