"""A data directory: checked before a run uses it, created private, held by one process at a time.

Owns the data dir's lock file (`perpsbot.lock`): an OS advisory lock (flock) that the holder keeps
for its whole life and the kernel drops when it dies, so a kill -9 never leaves a stale lock. The
file's content says who holds it (pid, mode, the run directory in use, start time) for `ctl`,
`status` and a refused second process; the content alone never means "held": only the flock does.
Must never create anything in a directory that failed its checks, or follow a lock file that is
not a regular file.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

LOCK_FILE = "perpsbot.lock"
_ACQUIRE_TRIES = 10
_SPECIAL_ROOTS = ("/proc", "/sys", "/dev")


class DataDirError(Exception):
    """The data directory cannot be used; the message is one line naming the problem."""


class DataDirBusy(DataDirError):
    def __init__(self, path: Path, holder: dict[str, Any]) -> None:
        self.holder = holder
        pid = holder.get("pid", "?")
        mode = holder.get("mode") or "perpsbot"
        super().__init__(f"data dir {path} is in use by pid {pid} ({mode}); one process per data dir")


def prepare(path: str | Path) -> Path:
    """Check `path` can be a data dir and create it private (0700) if missing. Raises DataDirError."""
    data_dir = Path(path).expanduser()
    absolute = Path(os.path.abspath(data_dir))
    if any(str(absolute) == root or str(absolute).startswith(root + "/") for root in _SPECIAL_ROOTS):
        raise DataDirError(f"data dir {data_dir} is under a kernel file system ({absolute.parts[1]})")
    if data_dir.exists() and not data_dir.is_dir():
        raise DataDirError(f"data dir {data_dir} exists and is not a directory")
    if not data_dir.exists():
        try:
            data_dir.mkdir(mode=0o700, parents=True)
        except OSError as exc:
            raise DataDirError(f"cannot create data dir {data_dir}: {exc.strerror or exc}") from None
    probe = data_dir / f".perpsbot-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise DataDirError(f"data dir {data_dir} is not writable: {exc.strerror or exc}") from None
    return data_dir


def _lock_path(data_dir: Path) -> Path:
    return data_dir / LOCK_FILE


def _read(fd: int) -> dict[str, Any]:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 4096)
    try:
        data = json.loads(raw.decode() or "{}")
    except (UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _open_lock(path: Path, create: bool) -> int | None:
    flags = os.O_RDWR | os.O_NOFOLLOW | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DataDirError(f"cannot open the lock {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DataDirError(f"the lock {path} is not a regular file")
    return fd


class DataDirLock:
    """The exclusive hold of one data dir by this process, until `release` or the process ends."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = _lock_path(self.data_dir)
        self._fd: int | None = None
        self.info: dict[str, Any] = {}

    def acquire(self, mode: str, **info: Any) -> DataDirLock:
        """Take the lock or raise DataDirBusy naming the holder's pid."""
        fd = _open_lock(self.path, create=True)
        assert fd is not None
        for attempt in range(_ACQUIRE_TRIES):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _read(fd)
                # An empty lock file is held only by a reader (`holder`, a moment's shared lock),
                # never by a process that owns the dir: try again shortly.
                if holder.get("pid") is None and attempt + 1 < _ACQUIRE_TRIES:
                    time.sleep(0.02)
                    continue
                os.close(fd)
                raise DataDirBusy(self.data_dir, holder) from None
        self._fd = fd
        self.info = {"pid": os.getpid(), "mode": mode, "started": time.time(), **info}
        self._write()
        return self

    def update(self, **info: Any) -> None:
        """Add to what the lock file says (e.g. the run directory once it exists)."""
        self.info.update(info)
        self._write()

    def _write(self) -> None:
        fd = self._fd
        if fd is None:
            return
        data = (json.dumps(self.info) + "\n").encode()
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, data)
        os.fsync(fd)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)  # the file stays (unlinking would race a newcomer's open)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> DataDirLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def holder(data_dir: str | Path) -> dict[str, Any] | None:
    """Who holds `data_dir` (the lock file's content, with at least `pid`), or None if nobody does."""
    path = _lock_path(Path(data_dir))
    fd = _open_lock(path, create=False)
    if fd is None:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            info = _read(fd)
            info.setdefault("pid", None)
            return info
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
