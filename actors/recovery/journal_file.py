"""The journal database at a start: checked before anything reads it, replaced if it is broken.

Owns the decision where a start begins (`empty`: no database or nothing in it, `journal`: the
database passed SQLite's integrity check, `backup`: it failed, or is not a database at all, so it
was moved aside as `<db>.corrupt-<UTC stamp>` and the newest backup that verifies was restored
in its place; with no good backup the start is `empty` and says so). Must never delete a
database, never restore over one that is open, and never restore a backup that fails to verify.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import msgspec
from loguru import logger

from actors.backup import catalog
from actors.backup import manifest as mf
from actors.backup.snapshot import SnapshotError, restore_snapshot, verify_problem

EMPTY, JOURNAL, BACKUP = "empty", "journal", "backup"


class Opened(msgspec.Struct, frozen=True):
    started_from: str  # EMPTY / JOURNAL / BACKUP
    detail: str = ""  # why it was not the journal as it was
    moved_aside: str = ""  # the broken database's new name
    restored: str = ""  # the backup's id


def integrity_problem(db: Path) -> str | None:
    """None if `db` opens and passes `PRAGMA integrity_check`, else what is wrong."""
    try:
        conn = sqlite3.connect(db.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    verdict = "; ".join(str(r[0]) for r in rows)
    return None if verdict == "ok" else verdict[:300]


def _has_rows(db: Path) -> bool:
    conn = sqlite3.connect(db.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return any(conn.execute(f"SELECT 1 FROM [{t}] LIMIT 1").fetchone() for t in ("fills", "orders", "decisions")
                   if t in tables)
    finally:
        conn.close()


def open_journal(db: Path, backup_dir_name: str = catalog.BACKUP_DIR) -> Opened:
    """Check `db` and, if it is broken, put the newest verified backup in its place."""
    if not db.exists():
        return Opened(EMPTY, "no database yet")
    problem = integrity_problem(db)
    if problem is None:
        return Opened(JOURNAL) if _has_rows(db) else Opened(EMPTY, "the database holds nothing yet")
    moved: dict[Path, Path] = {}
    catalog.move_aside(db, f"corrupt-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}", moved)
    aside = str(moved.get(db, ""))
    logger.error("recovery: the journal {} failed its integrity check ({}); moved aside as {}", db, problem, aside)
    backup = _restore_newest(db, backup_dir_name)
    if backup is None:
        logger.error("recovery: no backup verifies: starting from an empty journal, the venue's state rebuilds it")
        return Opened(EMPTY, f"corrupt journal ({problem}), no verified backup", aside)
    logger.warning("recovery: restored backup {} into {}", backup, db)
    return Opened(BACKUP, f"corrupt journal ({problem})", aside, backup)


def _restore_newest(db: Path, backup_dir_name: str) -> str | None:
    backup_dir = db.parent / backup_dir_name
    if not backup_dir.is_dir():
        return None
    try:
        manifest = mf.load(backup_dir)
    except mf.ManifestError as exc:
        logger.warning("recovery: backups manifest unreadable ({}); looking at the files alone", exc)
        manifest = mf.Manifest()
    entries = sorted((*manifest.entries, *catalog.unlisted(backup_dir, manifest)), key=lambda e: e.created,
                     reverse=True)
    for entry in entries:
        problem = verify_problem(backup_dir / entry.file, work_dir=db.parent, sha256=entry.sha256 or None)
        if problem is not None:
            logger.warning("recovery: backup {} does not verify: {}", entry.id, problem)
            continue
        try:
            restore_snapshot(backup_dir / entry.file, db, sha256=entry.sha256 or None)
        except (SnapshotError, OSError) as exc:
            logger.warning("recovery: backup {} could not be restored: {}", entry.id, exc)
            continue
        return entry.id
    return None
