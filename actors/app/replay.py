"""Replays: the same actor tree over a capture file, deterministic for a capture, config and seed.

Owns the replay driver. The clock is manual and set from each frame's own timestamp; the next
frame is fed only when the tree is quiescent (every mailbox empty, no handler running), so every
actor sees the same order of events on every run and the fills, hence the fingerprint, repeat.
By default the tree runs on the single-threaded dispatcher (runtime/dispatcher.py), driven from
this thread; `--threads` runs it on Pykka threads, as live, and waits for quiescence by counting
messages in flight. Both give the same fingerprint.
The data dir is checked, held and private (umask 077) for the whole replay; SIGINT/SIGTERM stops
between two frames. Must never feed a frame while the tree is still busy with the previous one
(except after a bounded wait, which is counted: only a hung actor causes it).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from loguru import logger

from actors.app.paper import exit_status, run_dir_for
from actors.app.progress import Progress
from actors.app.report import collect
from actors.app.session import held_data_dir, private_files
from actors.app.signals import StopSignals
from actors.app.tree import Tree
from actors.streaming.capture import SAMPLE, frame_time, read_capture
from config.schema import Profile
from domain.market import RawFrame
from runtime.clock import ManualClock
from runtime.data_dir import DataDirLock
from runtime.dispatcher import Dispatcher
from runtime.faults import BLOCKING_FAULTS, FaultPlan, FaultSpec
from runtime.quiescence import InflightTracker
from runtime.scheduler import Scheduler
from runtime.services import Services

QUIESCENCE_TIMEOUT_S = 2.0


class CaptureError(Exception):
    pass


def load_capture(path: str | Path | None) -> tuple[Path, list[str | bytes]]:
    """The capture's frames, one a line (a line that is not UTF-8 stays bytes: one malformed
    frame, never a refused file); CaptureError when the file cannot be read at all."""
    capture = Path(path) if path is not None else SAMPLE
    if not capture.is_file():
        raise CaptureError(f"capture file not found: {capture}")
    try:
        lines = list(read_capture(capture))
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise CaptureError(f"capture file {capture} cannot be read: {exc}") from None
    if not lines:
        raise CaptureError(f"capture file is empty: {capture}")
    return capture, lines


def run_replay(profile: Profile, capture: Path, lines: list[str | bytes], faults: list[FaultSpec],
               show_progress: bool = False, threads: bool = False) -> tuple[dict[str, Any], int]:
    """Replay `lines` through a fresh tree; returns (report, exit status). The data dir is checked
    and held first (PreflightError, DataDirBusy: nothing has started); SIGINT or SIGTERM between
    two frames ends the replay cleanly with the report of the frames fed so far. `show_progress`:
    a progress line on stderr (the CLI asks for it on a terminal, without --quiet). `threads`:
    every actor on its own Pykka thread, as live, instead of the single-threaded dispatcher (a
    hang or slow fault, which blocks a handler, needs threads and gets them)."""
    if not threads and any(spec.kind in BLOCKING_FAULTS for spec in faults):
        logger.info("a hang or slow fault blocks its handler: this replay runs on threads")
        threads = True
    progress = Progress("replay", len(lines), sys.stderr, enabled=show_progress)
    with private_files(), held_data_dir(profile.run.data_dir, "replay") as lock, StopSignals() as stop:
        return _replay(profile, capture, lines, faults, lock, stop, progress, threads)


def _replay(profile: Profile, capture: Path, lines: list[str | bytes], faults: list[FaultSpec],
            lock: DataDirLock, stop: StopSignals, progress: Progress, threads: bool) -> tuple[dict[str, Any], int]:
    stamps = [frame_time(line) for line in lines]
    known = [s for s in stamps if s is not None]
    first = known[0] if known else 1_795_000_000.0
    clock = ManualClock(first)
    scheduler = Scheduler(clock)
    tree_done = _Threads(InflightTracker()) if threads else Dispatched(Dispatcher())
    services = Services(clock, scheduler, faults=FaultPlan(faults), tracker=tree_done.tracker,
                        dispatcher=tree_done.dispatcher)
    run_dir = run_dir_for(profile, "replay")
    lock.update(run_dir=str(run_dir))
    late = fed = 0
    tree = None
    scheduler.start()
    try:
        tree = Tree(profile, services, run_dir, feed_url=None)
        wait_started(tree, tree_done)
        started = time.perf_counter()
        for line, stamp in zip(lines, stamps):
            if stop.is_set():
                break
            if stamp is not None:
                clock.advance_to(stamp)
            services.send("streaming", RawFrame(line, 1, time.perf_counter_ns()))
            fed += 1
            if not tree_done.settle(QUIESCENCE_TIMEOUT_S):
                late += 1
            progress.update(fed)
        progress.finish()
        wall = time.perf_counter() - started
        if fed < len(lines):
            logger.warning("replay stopped after {} of {} frames", fed, len(lines))
        report = collect(tree, "replay", clock.now() - first, {
            "capture": str(capture), "data_dir": str(run_dir), "stopped_by": stop.signal_name,
            "replay": {"frames": fed, "frames_in_capture": len(lines), "wall_s": round(wall, 3),
                       "events_per_s": round(fed / wall) if wall > 0 else None,
                       "scheduler": "threads" if threads else "dispatcher",
                       "quiescence_timeouts": late},
        })
    finally:
        if tree is not None:
            tree.stop()
        else:
            scheduler.stop()
    if late:
        logger.warning("{} frames were fed before the tree was quiescent (a hung actor)", late)
    return report, exit_status(report)


class _Threads:
    """The tree on Pykka threads: a frame has settled when no message is in flight."""

    dispatcher = None

    def __init__(self, tracker: InflightTracker) -> None:
        self.tracker = tracker

    def settle(self, timeout_s: float) -> bool:
        return self.tracker.wait_quiescent(timeout_s)


class Dispatched:
    """The tree on this thread's dispatcher: a frame has settled when the queue is empty."""

    tracker = None

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    def settle(self, timeout_s: float) -> bool:
        self.dispatcher.run_until_idle()
        return True


def wait_started(tree: Tree, tree_done: _Threads | Dispatched) -> None:
    deadline = time.monotonic() + 10
    while True:
        bound = tree.all_bound()
        if tree_done.settle(0.05) and bound:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("the actor tree did not start within 10 s")
