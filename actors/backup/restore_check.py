"""The test restore: prove a backup restores, by restoring it to a temporary file.

Owns the verdict on one backup: digest, gzip stream and `PRAGMA integrity_check` of the restored
copy, then per-table row counts compared with the counts recorded when the snapshot was taken
(must match exactly) and with the live database (each table restored <= live: the journal keeps
writing after the snapshot). The temporary copy is always removed.
Must never write to the live database (it is counted through a read-only connection of its own)
or read the clock (the time of the check comes in).
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from actors.backup.manifest import Entry, RestoreCheck, iso
from actors.backup.snapshot import check, count_rows


def test_restore(backup_dir: str | Path, entry: Entry, live_db: str | Path, now: float) -> RestoreCheck:
    """Restore `entry` from `backup_dir` to a temporary file beside it and judge it."""
    folder = Path(backup_dir)
    counts: dict[str, dict[str, int]] = {"snapshot": dict(entry.row_counts)}

    def verdict(ok: bool, detail: str) -> RestoreCheck:
        return RestoreCheck(at=now, at_iso=iso(now), backup_id=entry.id, ok=ok, detail=detail, row_counts=counts)

    try:
        with tempfile.TemporaryDirectory(dir=folder, prefix=".test-restore-") as tmp:
            restored = Path(tmp) / "restored.db"
            problem = check(folder / entry.file, entry.sha256, restored)
            if problem is not None:
                return verdict(False, problem)
            counts["restored"] = count_rows(restored)
    except FileNotFoundError:
        return verdict(False, f"backup file {entry.file} is missing")
    except (OSError, sqlite3.Error) as exc:
        return verdict(False, f"restore failed: {exc}")
    try:
        counts["live"] = count_rows(live_db)
    except (OSError, sqlite3.Error) as exc:
        return verdict(False, f"cannot count the live database {Path(live_db).name}: {exc}")
    problems = compare(counts["snapshot"], counts["restored"], counts["live"])
    if problems:
        return verdict(False, "; ".join(problems))
    rows = sum(counts["restored"].values())
    return verdict(True, f"integrity ok, {len(counts['restored'])} tables, {rows} rows, none above live")


test_restore.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported


def compare(snapshot: dict[str, int], restored: dict[str, int], live: dict[str, int]) -> list[str]:
    """What is wrong with the counts, one phrase each; empty if they agree. `snapshot` {} (a
    backup adopted without recorded counts) skips the exact comparison."""
    problems = []
    if snapshot and snapshot != restored:
        diff = sorted(t for t in snapshot.keys() | restored.keys() if snapshot.get(t) != restored.get(t))
        problems.append("restored counts differ from the snapshot's: " + ", ".join(
            f"{t} {restored.get(t, 'absent')} != {snapshot.get(t, 'absent')}" for t in diff))
    for table, n in sorted(restored.items()):
        if table not in live:
            problems.append(f"{table} is not in the live database")
        elif n > live[table]:
            problems.append(f"{table}: restored {n} > live {live[table]}")
    return problems
