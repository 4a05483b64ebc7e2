"""Backup health at a glance, for `status` and the `backups` command: what the manifest says,
how old the newest backup is, and the problems worth a line each.

Owns the judgement of "healthy" (a readable manifest listing every snapshot file, a newest backup
younger than 3 frequent intervals, files present, the last test restore passed and not overdue).
Snapshot files the manifest does not list are counted (tier `unlisted`) and named as a problem.
Must never write anything or read the clock (`now` comes in); it reads the manifest, sidecars and
file names only, never the snapshot contents (that is `verify`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actors.backup import catalog, plan
from actors.backup import manifest as mf

STALE_INTERVALS = 3  # newest older than this many intervals: a problem


def backup_health(backup_dir: Path, now: float) -> dict[str, Any]:
    folder = Path(backup_dir)
    report: dict[str, Any] = {
        "count": 0, "newest_id": None, "newest_at": None, "newest_age_s": None,
        "per_tier": {}, "last_test_restore": None, "problems": [],
    }
    problems: list[str] = report["problems"]
    if not folder.is_dir():
        problems.append(f"no backup directory {folder}")
        return report
    try:
        manifest = mf.load(folder)
    except mf.ManifestError as exc:
        problems.append(f"manifest unreadable: {exc}")
        return report
    loose = catalog.unlisted(folder, manifest)
    if loose:
        problems.append(f"{len(loose)} backup file(s) not in the manifest (tier {catalog.UNLISTED})")
    entries = (*manifest.entries, *loose)
    report["count"] = len(entries)
    per_tier: dict[str, int] = {}
    for e in entries:
        per_tier[e.tier] = per_tier.get(e.tier, 0) + 1
    report["per_tier"] = per_tier
    newest = plan.newest(entries)
    if newest is None:
        problems.append("no backups yet")
    else:
        age = now - newest.created
        report.update(newest_id=newest.id, newest_at=newest.created, newest_age_s=age)
        if manifest.interval_s and age > STALE_INTERVALS * manifest.interval_s:
            problems.append(f"newest backup {newest.id} is {age:.0f}s old"
                            f" (more than {STALE_INTERVALS}x the {manifest.interval_s:g}s interval)")
    missing = [e.id for e in entries if not (folder / e.file).is_file()]
    if missing:
        problems.append(f"{len(missing)} backup file(s) missing: {', '.join(missing[:3])}"
                        + (" ..." if len(missing) > 3 else ""))
    check = manifest.last_test_restore
    report["last_test_restore"] = mf.to_dict(check)
    if check is not None and not check.ok:
        problems.append(f"last test restore ({check.backup_id} at {check.at_iso}) failed: {check.detail}")
    if entries and manifest.test_restore_interval_s:
        overdue = STALE_INTERVALS * max(manifest.test_restore_interval_s, manifest.interval_s or 0)
        if check is None and newest is not None and now - entries[0].created > overdue:
            problems.append("no test restore recorded")
        elif check is not None and now - check.at > overdue:
            problems.append(f"last test restore is {now - check.at:.0f}s old")
    return report
