"""Replays: the same actor tree over a capture file, deterministic for a capture, config and seed.

Owns the replay driver. The clock is manual and set from each frame's own timestamp; the next
frame is fed only when the tree is quiescent (every mailbox empty, no handler running), so every
actor sees the same order of events on every run and the fills, hence the fingerprint, repeat.
Must never feed a frame while the tree is still busy with the previous one (except after a
bounded wait, which is counted: only a hung actor causes it).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from loguru import logger

from actors.app.paper import exit_status, run_dir_for
from actors.app.report import collect
from actors.app.tree import Tree
from actors.streaming.capture import SAMPLE, frame_time, read_capture
from actors.streaming.messages import RawFrame
from config.schema import Profile
from runtime.clock import ManualClock
from runtime.faults import FaultPlan, FaultSpec
from runtime.quiescence import InflightTracker
from runtime.scheduler import Scheduler
from runtime.services import Services

QUIESCENCE_TIMEOUT_S = 2.0


class CaptureError(Exception):
    pass


def load_capture(path: str | Path | None) -> tuple[Path, list[str]]:
    capture = Path(path) if path is not None else SAMPLE
    if not capture.is_file():
        raise CaptureError(f"capture file not found: {capture}")
    try:
        lines = list(read_capture(capture))
    except (OSError, EOFError, UnicodeDecodeError) as exc:  # gzip.BadGzipFile is an OSError
        raise CaptureError(f"capture file {capture} cannot be read: {exc}") from None
    if not lines:
        raise CaptureError(f"capture file is empty: {capture}")
    return capture, lines


def run_replay(profile: Profile, capture: Path, lines: list[str], faults: list[FaultSpec]) -> tuple[dict[str, Any], int]:
    stamps = [frame_time(line) for line in lines]
    known = [s for s in stamps if s is not None]
    first = known[0] if known else 1_795_000_000.0
    clock = ManualClock(first)
    scheduler = Scheduler(clock)
    scheduler.start()
    tracker = InflightTracker()
    services = Services(clock, scheduler, faults=FaultPlan(faults), tracker=tracker)
    run_dir = run_dir_for(profile, "replay")
    tree = Tree(profile, services, run_dir, feed_url=None)
    late = 0
    try:
        _wait_started(tree, tracker)
        started = time.perf_counter()
        for line, stamp in zip(lines, stamps):
            if stamp is not None:
                clock.advance_to(stamp)
            services.send("streaming", RawFrame(line, 1, time.perf_counter_ns()))
            if not tracker.wait_quiescent(QUIESCENCE_TIMEOUT_S):
                late += 1
        wall = time.perf_counter() - started
        report = collect(tree, "replay", clock.now() - first, {
            "capture": str(capture), "data_dir": str(run_dir),
            "replay": {"frames": len(lines), "wall_s": round(wall, 3),
                       "events_per_s": round(len(lines) / wall) if wall > 0 else None,
                       "quiescence_timeouts": late},
        })
    finally:
        tree.stop()
    if late:
        logger.warning("{} frames were fed before the tree was quiescent (a hung actor)", late)
    return report, exit_status(report)


def _wait_started(tree: Tree, tracker: InflightTracker) -> None:
    deadline = time.monotonic() + 10
    while True:
        bound = tree.all_bound()
        if tracker.wait_quiescent(0.05) and bound:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("the actor tree did not start within 10 s")
