"""`bin/perpsbot backups list|verify|restore ID --data-dir DIR [--json]`: the backups of a data dir.

Owns finding the backup directory (DIR/backups if it exists, else the run directory under DIR
whose backups changed last, e.g. DIR/paper-<stamp>/backups) and the three actions. `list` shows
each backup's tier, time, size and checksum state (the file's SHA-256 against the manifest) and
the last test restore; `verify` fully re-checks every backup (digest, gzip, integrity_check),
exit 1 if any fails; both only read, so they work while a process holds the data dir. `restore`
refuses while a process holds the data dir (its lock, or a run's live control pid), else holds the
lock itself, verifies the backup, moves the current database and its -wal/-shm aside to
`<db>.before-restore-<UTC stamp>` (never deletes them) and restores. Exit 0 ok, 1 a bad backup,
2 bad arguments / no backups / held data dir / unknown id, with one line on stderr.
Must never write to a data dir a process holds, or to the backup directory at all.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from actors.app.session import private_files
from actors.backup import catalog
from actors.backup import manifest as mf
from actors.backup.snapshot import (
    SnapshotError,
    file_digest,
    restore_snapshot,
    verify_problem,
)
from actors.orchestrator.control import process_alive, read_pid
from runtime.data_dir import DataDirBusy, DataDirError, DataDirLock, holder

EXIT_OK, EXIT_BAD, EXIT_USAGE = 0, 1, 2
ACTIONS = ("list", "verify", "restore")


class _Fail(Exception):
    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS, help="list, verify, or restore ID")
    parser.add_argument("backup_id", nargs="?", metavar="ID", help="restore: the backup's id (from list)")
    parser.add_argument("--data-dir", metavar="DIR", default="data",
                        help="the data dir: its backups/, else its newest run's (default: data)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    try:
        if args.action == "restore":
            if not args.backup_id:
                raise _Fail("backups restore needs the ID of a backup (see: backups list)")
        elif args.backup_id:
            raise _Fail(f"backups {args.action} takes no ID (got {args.backup_id})")
        data_dir = Path(args.data_dir)
        if args.action == "restore":
            _refuse_if_held(data_dir)  # first: whatever else is wrong, a held data dir is the news
        backup_dir = catalog.locate(data_dir)
        if backup_dir is None:
            raise _Fail(f"no backups under {data_dir}")
        try:
            manifest = mf.load(backup_dir)
        except mf.ManifestError as exc:
            raise _Fail(str(exc)) from None
        entries = (*manifest.entries, *catalog.unlisted(backup_dir, manifest))
        if args.action == "list":
            return _list(backup_dir, manifest, entries, args.json)
        if args.action == "verify":
            return _verify(backup_dir, entries, args.json)
        return _restore(data_dir, backup_dir, manifest, entries, args.backup_id, args.json)
    except _Fail as exc:
        print(f"perpsbot: error: {exc}", file=sys.stderr)
        return exc.code


# -- list -----------------------------------------------------------------------------------


def checksum_state(backup_dir: Path, entry: mf.Entry) -> str:
    """ok / BAD / missing: the file's bytes against the recorded digest (no decompression)."""
    try:
        return "ok" if file_digest(backup_dir / entry.file) == entry.sha256 else "BAD"
    except FileNotFoundError:
        return "missing"
    except OSError:
        return "unreadable"


def _list(backup_dir: Path, manifest: mf.Manifest, entries: tuple[mf.Entry, ...], as_json: bool) -> int:
    rows: list[dict[str, Any]] = [{"id": e.id, "tier": e.tier, "created": e.created, "created_iso": e.created_iso, "size": e.size,
             "sha256": e.sha256, "checksum": checksum_state(backup_dir, e)} for e in entries]
    rows = _drop_retired(backup_dir, entries, rows, lambda r: r["checksum"] == "ok")
    check = manifest.last_test_restore
    db = catalog.db_path(backup_dir, manifest)
    if as_json:
        print(json.dumps({"backup_dir": str(backup_dir), "db": str(db), "backups": rows,
                          "last_test_restore": mf.to_dict(check)}))
        return EXIT_OK
    print(f"{backup_dir} ({len(rows)} backups of {db.name})")
    for r in rows:
        print(f"{r['id']}  {r['tier']:<10}  {r['created_iso']}  {r['size']:>10}  {r['checksum']:<8}"
              f"  {r['sha256'][:12]}")
    print(f"last test restore: {_describe_check(check)}")
    return EXIT_OK


def _describe_check(check: mf.RestoreCheck | None) -> str:
    if check is None:
        return "never"
    return f"{check.at_iso} {check.backup_id} {'ok' if check.ok else 'FAILED'}: {check.detail}"


# -- verify ---------------------------------------------------------------------------------


def _verify(backup_dir: Path, entries: tuple[mf.Entry, ...], as_json: bool) -> int:
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="perpsbot-verify-") as work:  # not in the backup dir: read-only
        for e in entries:
            problem = verify_problem(backup_dir / e.file, work_dir=work, sha256=e.sha256)
            results.append({"id": e.id, "tier": e.tier, "ok": problem is None, "problem": problem})
    results = _drop_retired(backup_dir, entries, results, lambda r: r["ok"])
    bad = [r for r in results if not r["ok"]]
    if as_json:
        print(json.dumps({"backup_dir": str(backup_dir), "ok": not bad, "checked": len(results),
                          "bad": [r["id"] for r in bad], "results": results}))
    else:
        for r in results:
            print(f"{r['id']}  {r['tier']:<10}  {'ok' if r['ok'] else 'BAD: ' + r['problem']}")
        print(f"{len(results)} backups checked, {len(bad)} bad")
    return EXIT_BAD if bad else EXIT_OK


def _drop_retired(backup_dir: Path, entries: tuple[mf.Entry, ...], rows: list[dict], good) -> list[dict]:
    """A running process may retire a backup while we look: gone from the manifest and from the
    disk is not a bad backup, so its row goes."""
    if all(good(r) for r in rows):
        return rows
    try:
        still = {e.id for e in mf.load(backup_dir).entries}
    except mf.ManifestError:
        return rows
    files = {e.id: e.file for e in entries}
    return [r for r in rows if good(r) or r["id"] in still or (backup_dir / files[r["id"]]).exists()]


# -- restore --------------------------------------------------------------------------------


def _refuse_if_held(data_dir: Path) -> None:
    try:
        busy = holder(data_dir)
    except DataDirError as exc:
        raise _Fail(str(exc)) from None
    if busy is not None:
        raise _Fail(f"data dir {data_dir} is in use by pid {busy.get('pid', '?')} ({busy.get('mode') or 'perpsbot'});"
                    " stop it before restoring")


def _running_run(backup_dir: Path) -> int | None:
    """The pid of a live process whose run directory holds these backups (a paper/replay run
    that announces itself with control/pid), or None."""
    pid = read_pid(backup_dir.parent)
    return pid if pid is not None and process_alive(pid) else None


def _restore(data_dir: Path, backup_dir: Path, manifest: mf.Manifest, entries: tuple[mf.Entry, ...],
             key: str, as_json: bool) -> int:
    entry = next((e for e in entries if key in (e.id, e.file)), None)
    if entry is None:
        raise _Fail(f"no backup {key} in {backup_dir} (see: backups list)")
    if backup_dir.parent.resolve() != data_dir.resolve():
        _refuse_if_held(backup_dir.parent)  # a run whose data dir sits inside this one
    running = _running_run(backup_dir)
    if running is not None:
        raise _Fail(f"run {backup_dir.parent} is in use by pid {running}; stop it before restoring")
    try:
        lock = DataDirLock(data_dir).acquire("backups-restore", backup=entry.id)
    except DataDirBusy as exc:
        raise _Fail(f"{exc}; stop it before restoring") from None
    except DataDirError as exc:
        raise _Fail(str(exc)) from None
    with lock, private_files():  # the restored journal holds positions and orders: owner only
        db = catalog.db_path(backup_dir, manifest)
        problem = verify_problem(backup_dir / entry.file, work_dir=db.parent, sha256=entry.sha256)
        if problem is not None:
            raise _Fail(f"refusing to restore {entry.id}: {problem}", EXIT_BAD)
        aside: dict[Path, Path] = {}
        try:
            catalog.move_aside(db, f"before-restore-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}", aside)
            restore_snapshot(backup_dir / entry.file, db, sha256=entry.sha256)
        except (SnapshotError, OSError) as exc:
            _put_back(db, aside)
            raise _Fail(f"restore of {entry.id} failed, {db.name} left as it was: {exc}", EXIT_BAD) from None
    kept = str(aside[db]) if db in aside else None
    if as_json:
        print(json.dumps({"restored": entry.id, "tier": entry.tier, "created_iso": entry.created_iso,
                          "db": str(db), "previous": kept}))
    else:
        before = f"; the previous database is kept as {Path(kept).name}" if kept else ""
        print(f"restored {entry.id} ({entry.tier}, {entry.created_iso}) into {db}{before}")
    return EXIT_OK


def _put_back(db: Path, moved: dict[Path, Path]) -> None:
    for original, aside in moved.items():
        if not original.exists():
            aside.rename(original)
