"""Finding backups on disk: the backup directory of a data dir, the database it belongs to, and
snapshot files the manifest does not list (a crash between a snapshot's rename and the manifest
write, or a directory written before manifests existed), and moving a database out of the way.

Owns those lookups, turning a fresh snapshot into a manifest entry, making a manifest true to
the disk (the backup actor saves the result) and `move_aside` (a rename before a restore). Must
never delete anything or write a file: beyond that rename it only reads directories, file sizes
and sidecars.
"""

from __future__ import annotations

from pathlib import Path

from actors.backup import manifest as mf
from actors.backup.snapshot import (
    SnapshotError,
    SnapshotInfo,
    list_snapshots,
    read_sidecar,
    snapshot_id,
    stamped_at,
)

BACKUP_DIR = "backups"
DEFAULT_DB_FILE = "perpsbot.db"
UNLISTED = "unlisted"


def locate(data_dir: str | Path, dir_name: str = BACKUP_DIR) -> Path | None:
    """`DIR/backups` if it exists; else the run directory under DIR (one level down) whose
    backup directory changed last (a backup taken or retired), e.g. `DIR/paper-<stamp>/backups`."""
    data = Path(data_dir)
    direct = data / dir_name
    if direct.is_dir():
        return direct
    candidates = []
    for folder in data.glob(f"*/{dir_name}"):
        try:
            if folder.is_dir():
                candidates.append((folder.stat().st_mtime, folder.parent.name, folder))
        except OSError:
            continue
    return max(candidates)[2] if candidates else None


def db_path(backup_dir: str | Path, manifest: mf.Manifest) -> Path:
    """The database these backups are of: the manifest's `db_file` in the directory holding the
    backup directory; without one, the only *.db there, else perpsbot.db."""
    home = Path(backup_dir).parent
    if manifest.db_file:
        return home / manifest.db_file
    found = sorted(home.glob("*.db"))
    return found[0] if len(found) == 1 else home / DEFAULT_DB_FILE


def entry_for(info: SnapshotInfo, tier: str, created: float, reason: str = "") -> mf.Entry:
    path = Path(info.path)
    return mf.Entry(
        id=snapshot_id(path), tier=tier, file=path.name, created=created, created_iso=mf.iso(created),
        size=info.size_bytes, sha256=info.sha256, source_bytes=info.source_bytes,
        row_counts=dict(info.row_counts), reason=reason,
    )


def unlisted(backup_dir: str | Path, manifest: mf.Manifest, tier: str = UNLISTED) -> list[mf.Entry]:
    """Snapshot files in `backup_dir` the manifest does not list and whose sidecar gives their
    digest, as entries of `tier` (created: the second in the name). Files without a usable
    sidecar cannot be vouched for and are not returned."""
    known = {e.file for e in manifest.entries}
    found = []
    for path in list_snapshots(backup_dir):
        if path.name in known:
            continue
        try:
            digest = read_sidecar(path)
            size = path.stat().st_size
        except (OSError, SnapshotError):
            continue
        created = stamped_at(path) or 0.0
        found.append(mf.Entry(
            id=snapshot_id(path), tier=tier, file=path.name, created=created, created_iso=mf.iso(created),
            size=size, sha256=digest, source_bytes=0, reason="found on disk, not in the manifest",
        ))
    return found


def reconciled(backup_dir: str | Path, manifest: mf.Manifest, tier: str) -> tuple[mf.Manifest, int, int]:
    """`manifest` made true to the disk: entries whose file is gone dropped, unlisted files with a
    sidecar adopted as `tier`. Returns (manifest, adopted, dropped)."""
    folder = Path(backup_dir)
    present = tuple(e for e in manifest.entries if (folder / e.file).is_file())
    loose = unlisted(folder, manifest, tier)
    fixed = mf.remove(manifest, {e.id for e in manifest.entries} - {e.id for e in present})
    for entry in loose:
        fixed = mf.add(fixed, entry)
    return fixed, len(loose), len(manifest.entries) - len(present)


COMPANIONS = ("-wal", "-shm", "-journal")


def move_aside(db: Path, label: str, moved: dict[Path, Path]) -> None:
    """Rename the database and its companions to `<db>.<label>[-wal|-shm]` (so the kept copy still
    opens with its WAL; never deleted), recording {original: aside} in `moved` as it goes."""
    base = db.with_name(f"{db.name}.{label}")
    n = 1
    while any(Path(f"{base}{s}").exists() for s in ("", *COMPANIONS)):
        n += 1
        base = db.with_name(f"{db.name}.{label}-{n}")
    for suffix in ("", *COMPANIONS):
        source = Path(f"{db}{suffix}")
        if source.exists():
            target = Path(f"{base}{suffix}")
            source.rename(target)
            moved[source] = target
