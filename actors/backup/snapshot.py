"""Journal snapshots: online copy, gzip, SHA-256 sidecar, verification, retention and restore.

Owns the snapshot files in one destination directory, named
`journal-<YYYYmmddTHHMMSSZ>-<NNNN>.db.gz` (UTC time from the caller's `now` plus a counter, so names
sort oldest to newest; the id of a snapshot is the part between `journal-` and `.db.gz`), each
beside a `<name>.sha256` sidecar in `sha256sum` format. The sidecar keeps a file self-describing;
the backup manifest (actors.backup.manifest) indexes the files and records the same digest.

Must never: write to the live database (it is read through its own read-only connection with
SQLite's online backup API, safe while the journal keeps writing in WAL mode), leave a file that
claims to be a good snapshot before it has been verified, or restore an unverified snapshot.
Wall-clock time is never read; perf_counter is used only to report how long a snapshot took.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import sqlite3
import tempfile
import time
import zlib
from datetime import datetime, timezone
from pathlib import Path

import msgspec

SNAPSHOT_PREFIX = "journal-"
SNAPSHOT_SUFFIX = ".db.gz"
SIDECAR_SUFFIX = ".sha256"
_NAME = re.compile(r"^journal-(\d{8}T\d{6}Z)-(\d{4})\.db\.gz$")
_STAMP = "%Y%m%dT%H%M%SZ"
_SIDECAR_LINE = re.compile(r"^([0-9a-f]{64})  (\S+)\n?$")
_MAX_COUNTER = 9999
_CHUNK = 1 << 20
_GZIP_LEVEL = 6


class SnapshotError(RuntimeError):
    """A snapshot could not be taken, failed verification, or cannot be restored."""


class SnapshotInfo(msgspec.Struct, frozen=True):
    path: str  # str, not Path, so the value can be journaled and sent as a message
    sha256: str
    size_bytes: int  # compressed file on disk
    source_bytes: int  # the consistent uncompressed copy of the database
    duration_s: float
    row_counts: dict[str, int] = {}  # per table, in the copy (the snapshot's point in time)


def sidecar_path(snapshot: str | Path) -> Path:
    snapshot = Path(snapshot)
    return snapshot.with_name(snapshot.name + SIDECAR_SUFFIX)


def snapshot_id(path: str | Path) -> str:
    """`journal-20231114T221320Z-0001.db.gz` -> `20231114T221320Z-0001`."""
    name = Path(path).name
    if _NAME.match(name) is None:
        raise ValueError(f"not a snapshot name: {name}")
    return name[len(SNAPSHOT_PREFIX) : -len(SNAPSHOT_SUFFIX)]


def stamped_at(path: str | Path) -> float | None:
    """The epoch second in a snapshot's name (its creation time, to the second), or None."""
    match = _NAME.match(Path(path).name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), _STAMP).replace(tzinfo=timezone.utc).timestamp()


def list_snapshots(dest_dir: str | Path) -> list[Path]:
    """Snapshot files in `dest_dir`, oldest first (by name). Verification is a separate question."""
    dest = Path(dest_dir)
    if not dest.is_dir():
        return []
    return sorted(p for p in dest.iterdir() if _NAME.match(p.name) and p.is_file())


def take_snapshot(
    db_path: str | Path, dest_dir: str | Path, now: float, keep: int
) -> SnapshotInfo:
    """`make_snapshot`, then delete all but the newest `keep` snapshots in `dest_dir`."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    info = make_snapshot(db_path, dest_dir, now)
    _apply_retention(Path(dest_dir), keep, just_taken=Path(info.path))
    return info


def make_snapshot(db_path: str | Path, dest_dir: str | Path, now: float) -> SnapshotInfo:
    """Copy, compress, checksum and verify a snapshot of `db_path` into `dest_dir`; deletes
    nothing. Raises SnapshotError if the snapshot fails verification; nothing is then left under
    a snapshot name."""
    source = Path(db_path)
    if not source.is_file():
        raise SnapshotError(f"no database at {source}")
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    name = _next_name(dest, now)
    final = dest / name

    # Work happens in a hidden directory beside the destination so the final renames are atomic
    # and a failure anywhere cleans up everything it wrote.
    with tempfile.TemporaryDirectory(dir=dest, prefix=".snapshot-") as work_dir:
        work = Path(work_dir)
        copy = work / "copy.db"
        _online_copy(source, copy)
        source_bytes = copy.stat().st_size
        row_counts = count_rows(copy)
        packed = work / name
        digest = _compress(copy, packed)
        problem = check(packed, digest, work / "verify.db")
        if problem is not None:
            raise SnapshotError(f"snapshot {name} failed verification: {problem}")
        side = work / (name + SIDECAR_SUFFIX)
        side.write_text(f"{digest}  {name}\n", encoding="ascii")
        _fsync(packed)
        _fsync(side)
        # The snapshot first, its sidecar (the claim that it is good) last.
        os.replace(packed, final)
        os.replace(side, sidecar_path(final))
        _fsync(dest)
        size_bytes = final.stat().st_size

    return SnapshotInfo(
        path=str(final),
        sha256=digest,
        size_bytes=size_bytes,
        source_bytes=source_bytes,
        duration_s=time.perf_counter() - started,
        row_counts=row_counts,
    )


def delete_snapshot(path: str | Path) -> None:
    """Withdraw the claim (the sidecar) first, then the file. Missing files are fine."""
    snapshot = Path(path)
    sidecar_path(snapshot).unlink(missing_ok=True)
    snapshot.unlink(missing_ok=True)


def verify_snapshot(
    path: str | Path, work_dir: str | Path | None = None, sha256: str | None = None
) -> bool:
    """True only if the digest matches, the file decompresses and the database inside passes
    `PRAGMA integrity_check`; see `verify_problem`."""
    return verify_problem(path, work_dir, sha256) is None


def verify_problem(
    path: str | Path, work_dir: str | Path | None = None, sha256: str | None = None
) -> str | None:
    """None if the snapshot is good, else one line saying what is wrong. The expected digest is
    `sha256` (the manifest's) if given, else the sidecar's; a sidecar that is present must name
    this file and agree. `work_dir` (default: the snapshot's directory) holds the temporary
    decompressed copy."""
    snapshot = Path(path)
    try:
        digest = _expected_digest(snapshot, sha256)
        with tempfile.TemporaryDirectory(
            dir=work_dir or snapshot.parent, prefix=".verify-"
        ) as tmp:
            return check(snapshot, digest, Path(tmp) / "verify.db")
    except FileNotFoundError:
        return "missing" if not snapshot.exists() else "no checksum (sidecar missing)"
    except (OSError, SnapshotError) as exc:
        return str(exc)


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes as they are on disk."""
    with Path(path).open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def count_rows(db_path: str | Path) -> dict[str, int]:
    """Rows per table (not SQLite's own), through a read-only connection of our own."""
    conn = sqlite3.connect(Path(db_path).resolve().as_uri() + "?mode=ro", uri=True)
    try:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        return {n: int(conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names}
    finally:
        conn.close()


def restore_snapshot(
    path: str | Path, dest_db_path: str | Path, overwrite: bool = False, sha256: str | None = None
) -> None:
    """Verify `path` (against `sha256` if given, else its sidecar) and decompress it to
    `dest_db_path`. Refuses to replace an existing database unless `overwrite`; then its stale
    -wal/-shm files are removed too, since SQLite would otherwise replay them into the restored
    file. Never restore over a database that is open."""
    snapshot = Path(path)
    dest = Path(dest_db_path)
    companions = [dest.with_name(dest.name + suffix) for suffix in ("-wal", "-shm", "-journal")]
    if not overwrite and any(p.exists() for p in (dest, *companions)):
        raise SnapshotError(f"{dest} already exists; pass overwrite=True to replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        digest = _expected_digest(snapshot, sha256)
    except OSError as exc:
        raise SnapshotError(f"cannot read checksum for {snapshot}: {exc}") from exc
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".restore-") as tmp:
        restored = Path(tmp) / "restored.db"
        problem = check(snapshot, digest, restored)
        if problem is not None:
            raise SnapshotError(f"refusing to restore {snapshot}: {problem}")
        _fsync(restored)
        for companion in companions:
            companion.unlink(missing_ok=True)
        os.replace(restored, dest)
        _fsync(dest.parent)


# -- internals ------------------------------------------------------------------------------


def _next_name(dest: Path, now: float) -> str:
    stamp = datetime.fromtimestamp(now, tz=timezone.utc).strftime(_STAMP)
    used = [
        int(m.group(2))
        for p in dest.iterdir()
        if (m := _NAME.match(p.name)) is not None and m.group(1) == stamp
    ]
    counter = max(used, default=0) + 1
    if counter > _MAX_COUNTER:
        raise SnapshotError(f"more than {_MAX_COUNTER} snapshots stamped {stamp}")
    return f"{SNAPSHOT_PREFIX}{stamp}-{counter:04d}{SNAPSHOT_SUFFIX}"


def _online_copy(source: Path, out: Path) -> None:
    """A consistent copy through SQLite's backup API, from a read-only connection of our own.
    The copy is switched to rollback-journal mode so it is one self-contained file."""
    src = sqlite3.connect(source.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(out)
        try:
            src.backup(dst)  # all pages in one step: one read transaction, one point in time
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()


class _HashingWriter:
    """File-like sink that hashes exactly the bytes it writes to disk."""

    def __init__(self, file) -> None:
        self._file = file
        self.hash = hashlib.sha256()

    def write(self, data) -> int:
        self.hash.update(data)
        return self._file.write(data)

    def flush(self) -> None:
        self._file.flush()


def _compress(raw: Path, packed: Path) -> str:
    """Gzip `raw` into `packed`; returns the SHA-256 of the compressed bytes as written."""
    with raw.open("rb") as src, packed.open("wb") as out:
        sink = _HashingWriter(out)
        # mtime=0 and a fixed inner name: the same database compresses to the same bytes.
        with gzip.GzipFile(
            filename="journal.db", mode="wb", compresslevel=_GZIP_LEVEL, fileobj=sink, mtime=0
        ) as gz:
            shutil.copyfileobj(src, gz, _CHUNK)
    return sink.hash.hexdigest()


def check(packed: Path, expected_digest: str, out_db: Path) -> str | None:
    """Re-read `packed` from disk and check it: digest, gzip stream, SQLite integrity. The
    decompressed database is left at `out_db`. Returns None if good, else what is wrong."""
    actual = file_digest(packed)
    if actual != expected_digest:
        return f"sha256 {actual} does not match {expected_digest}"
    try:
        with gzip.open(packed, "rb") as gz, out_db.open("wb") as out:
            shutil.copyfileobj(gz, out, _CHUNK)
    except (OSError, EOFError, zlib.error) as exc:
        return f"cannot decompress: {exc}"
    try:
        conn = sqlite3.connect(out_db.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return f"not a usable database: {exc}"
    if rows != [("ok",)]:
        return "integrity_check: " + "; ".join(str(r[0]) for r in rows[:5])
    return None


def _expected_digest(snapshot: Path, sha256: str | None) -> str:
    if sha256 is None:
        return read_sidecar(snapshot)
    if not snapshot.exists():
        raise FileNotFoundError(snapshot)
    try:
        claimed = read_sidecar(snapshot)
    except FileNotFoundError:
        return sha256  # no sidecar (or just retired): the manifest's digest alone decides
    if claimed != sha256:
        raise SnapshotError(f"sidecar of {snapshot.name} disagrees with the manifest's sha256")
    return sha256


def read_sidecar(snapshot: Path) -> str:
    """The digest a snapshot's sidecar claims. Raises OSError (none) or SnapshotError (malformed)."""
    line = sidecar_path(snapshot).read_text(encoding="ascii", errors="replace")
    match = _SIDECAR_LINE.match(line)
    if match is None:
        raise SnapshotError(f"malformed checksum file for {snapshot.name}")
    if match.group(2) != snapshot.name:
        raise SnapshotError(f"checksum file names {match.group(2)}, not {snapshot.name}")
    return match.group(1)


def _apply_retention(dest: Path, keep: int, just_taken: Path) -> None:
    """Keep the newest `keep` snapshots by name. The one just taken always stays, even if a clock
    step made its name sort older than existing ones."""
    others = [p for p in list_snapshots(dest) if p != just_taken]
    doomed = others[: max(len(others) - (keep - 1), 0)]
    for snapshot in doomed:
        delete_snapshot(snapshot)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
