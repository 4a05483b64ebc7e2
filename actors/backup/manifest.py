"""The backup manifest: `manifest.json` in the backup directory, the index of its backups.

Owns the file's format and its atomic replacement (a temp file beside it, fsync, os.replace,
fsync of the directory), so a reader (the `backups` command, `status`) sees the old or the new
manifest, never half of one. One entry per backup (id, tier, file, created as epoch and ISO UTC,
size, sha256, source_bytes, row counts at snapshot time) plus the last test restore. The backup
actor is its only writer; the edit functions are pure and return a new value.
Must never read the clock (times come in) or touch the snapshot files themselves.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import msgspec

MANIFEST_FILE = "manifest.json"
VERSION = 1


class ManifestError(Exception):
    """The manifest exists but cannot be read; the message is one line naming the problem."""


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    tier: str
    file: str  # name inside the backup directory
    created: float  # epoch seconds (the taker's clock)
    created_iso: str
    size: int  # compressed bytes on disk
    sha256: str  # of the compressed file
    source_bytes: int  # the uncompressed database copy
    row_counts: dict[str, int] = {}  # per table at snapshot time ({} for an adopted old file)
    reason: str = ""


class RestoreCheck(msgspec.Struct, frozen=True, kw_only=True):
    """The result of one test restore. `row_counts` has `snapshot` (recorded when it was taken),
    `restored` (the restored copy) and `live` (the database, read-only, just after)."""

    at: float
    at_iso: str
    backup_id: str
    ok: bool
    detail: str
    row_counts: dict[str, dict[str, int]] = {}


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    version: int = VERSION
    db_file: str = ""  # the journal file, in the directory that holds the backup directory
    interval_s: float | None = None  # the frequent tier's period, for health checks
    test_restore_interval_s: float | None = None
    entries: tuple[Entry, ...] = ()  # oldest first
    last_test_restore: RestoreCheck | None = None


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def path_of(backup_dir: str | Path) -> Path:
    return Path(backup_dir) / MANIFEST_FILE


_decoder = msgspec.json.Decoder(Manifest)


def load(backup_dir: str | Path) -> Manifest:
    """The manifest in `backup_dir`; an empty one if there is none. Raises ManifestError."""
    path = path_of(backup_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Manifest()
    except OSError as exc:
        raise ManifestError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        manifest = _decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ManifestError(f"{path} is not a valid manifest: {exc}") from None
    if manifest.version > VERSION:
        raise ManifestError(f"{path}: manifest version {manifest.version} is newer than {VERSION}")
    return manifest


def save(backup_dir: str | Path, manifest: Manifest) -> None:
    """Replace the manifest atomically and durably."""
    folder = Path(backup_dir)
    folder.mkdir(parents=True, exist_ok=True)
    data = msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".manifest-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path_of(folder))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# -- pure edits -----------------------------------------------------------------------------


def add(manifest: Manifest, entry: Entry) -> Manifest:
    if any(e.id == entry.id for e in manifest.entries):
        raise ValueError(f"backup {entry.id} is already in the manifest")
    entries = sorted((*manifest.entries, entry), key=lambda e: (e.created, e.id))
    return msgspec.structs.replace(manifest, entries=tuple(entries))


def remove(manifest: Manifest, ids: frozenset[str] | set[str] | tuple[str, ...]) -> Manifest:
    gone = set(ids)
    return msgspec.structs.replace(manifest, entries=tuple(e for e in manifest.entries if e.id not in gone))


def with_test_restore(manifest: Manifest, result: RestoreCheck) -> Manifest:
    return msgspec.structs.replace(manifest, last_test_restore=result)


def find(manifest: Manifest, key: str) -> Entry | None:
    """The entry whose id or file name is `key`."""
    return next((e for e in manifest.entries if key in (e.id, e.file)), None)


def to_dict(value: msgspec.Struct | None) -> dict | None:
    return None if value is None else msgspec.to_builtins(value)
