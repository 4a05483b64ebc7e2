"""`bin/perpsbot bench --soak`: memory over hours of simulated market, in minutes of wall time.

Owns the accelerated soak: the built-in exchange's synthetic market (level2 and trades, both
products, tick by tick) fed through the whole paper tree on the single-threaded dispatcher, the
clock set from each frame's time, as a replay does. Every SAMPLE_EVERY_S of simulated time it reads
the process's resident memory and the length of every long-lived collection the actors hold
(lists, dicts, sets, deques found by walking their attributes). The report: the RSS slope after
the first simulated hour (least squares, MB per simulated hour), and each collection still
growing through the last hours, which would be unbounded. Must never assert anything (it
measures), and never write outside its temporary data dir.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from actors.app.paper import run_dir_for
from actors.app.replay import QUIESCENCE_TIMEOUT_S, Dispatched, wait_started
from actors.app.tree import Tree
from domain.market import RawFrame
from domain.products import CATALOG
from domain.queries import REPORT
from exchange import frames
from exchange.market import SyntheticMarket
from runtime.clock import ManualClock
from runtime.dispatcher import Dispatcher
from runtime.scheduler import Scheduler
from runtime.services import Services

SOAK_HOURS = 4.0
SAMPLE_EVERY_S = 600.0  # simulated seconds between two samples
WARM_UP_H = 1.0  # the slope is fitted after this: caches fill during the first hour
TICK_S = 0.25  # market steps: the exchange's own cadence is 0.1 s; the soak asks for hours, not detail
MAX_LEVELS_PER_FRAME = 10
START_TS = 1_795_000_000.0
SEED = 7
_OUR_PACKAGES = ("actors.", "domain.", "runtime.", "exchange.")
_WALK_DEPTH = 4
_MIN_GROWTH = 64  # a collection that grew by fewer items over the last hours is noise, not a leak


def market_frames(market: SyntheticMarket, start_ts: float, end_ts: float, tick_s: float = TICK_S,
                  trades: bool = True) -> Iterator[tuple[str, float]]:
    """Frames as the built-in exchange sends them: a snapshot of each product, then each step's
    level changes (and trades), one sequence over both channels; a step every `tick_s`."""
    seq = 0
    for product_id, spec in CATALOG.items():
        bids, offers = market.book(product_id)
        seq += 1
        yield frames.l2_snapshot(start_ts, spec, bids, offers, start_ts).render(seq), start_ts
    ts = start_ts
    while ts < end_ts:
        ts += tick_s
        step = market.step(ts)
        for product in step.products:
            spec = CATALOG[product.product_id]
            changes = product.changes
            for i in range(0, len(changes), MAX_LEVELS_PER_FRAME):
                seq += 1
                yield frames.l2_update(ts, spec, changes[i:i + MAX_LEVELS_PER_FRAME], step.ts).render(seq), ts
            if trades and product.trades:
                seq += 1
                yield frames.market_trades(ts, "update", spec, product.trades).render(seq), ts


def rss_mb() -> float:
    """Resident memory now (not the peak), from /proc; 0.0 where there is no /proc."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def collection_sizes(roots: dict[str, Any]) -> dict[str, int]:
    """len() of every list, dict, set and deque reachable from `roots` through the attributes of
    our own objects (not through the elements of a collection), by attribute path."""
    sizes: dict[str, int] = {}
    seen: set[int] = set()

    def walk(obj: Any, path: str, depth: int) -> None:
        if id(obj) in seen or depth > _WALK_DEPTH:
            return
        seen.add(id(obj))
        for name, value in _attributes(obj):
            where = f"{path}.{name}"
            if isinstance(value, (list, dict, set, deque)):
                sizes[where] = len(value)
            elif type(value).__module__.startswith(_OUR_PACKAGES):
                walk(value, where, depth + 1)

    for name, root in roots.items():
        walk(root, name, 0)
    return sizes


def _attributes(obj: Any) -> Iterator[tuple[str, Any]]:
    names = list(getattr(obj, "__dict__", {}))
    for cls in type(obj).__mro__:
        names.extend(getattr(cls, "__slots__", ()))
    for name in dict.fromkeys(names):
        if name.startswith("__") or name in ("services", "metrics", "clock", "_directory", "_fault_plan"):
            continue  # the shared services are the runtime's, sampled once through the supervisor
        try:
            yield name, getattr(obj, name)
        except AttributeError:
            continue


def slope_per_h(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (hours, value); None with fewer than two points."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if var == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var


def measure_soak_in_child(hours: float = SOAK_HOURS, sample_every_s: float = SAMPLE_EVERY_S,
                          warm_up_h: float = WARM_UP_H) -> dict[str, Any]:
    """The soak in a fresh interpreter: in the bench's own process the heap the earlier workloads
    grew (the 100,000-fill recovery above all) would hide the soak's growth inside memory already
    resident (measured: a flat 94 MB, slope 0.0, where a fresh process shows 52 -> 70 MB)."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(root), os.environ.get("PYTHONPATH"))))}
    args = [str(hours), str(sample_every_s), str(warm_up_h)]
    done = subprocess.run([sys.executable, "-m", "actors.app.soak", *args], capture_output=True, text=True,
                          env=env, timeout=3600)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["the soak process failed"])[-1]}
    return json.loads(done.stdout)


def measure_soak(hours: float = SOAK_HOURS, sample_every_s: float = SAMPLE_EVERY_S,
                 warm_up_h: float = WARM_UP_H) -> dict[str, Any]:
    from actors.app.bench import _paper_profile

    with tempfile.TemporaryDirectory(prefix="perpsbot-soak-") as data_dir:
        return _soak(_paper_profile(data_dir), hours, sample_every_s, warm_up_h)


def _soak(profile: Any, hours: float, sample_every_s: float, warm_up_h: float) -> dict[str, Any]:
    clock = ManualClock(START_TS)
    scheduler = Scheduler(clock)
    driver = Dispatched(Dispatcher())
    services = Services(clock, scheduler, dispatcher=driver.dispatcher)
    market = SyntheticMarket(CATALOG, seed=SEED, start_ts=START_TS)
    samples: list[tuple[float, float, dict[str, int]]] = []
    scheduler.start()
    tree = Tree(profile, services, run_dir_for(profile, "soak"), feed_url=None)
    started = time.perf_counter()
    fed = 0
    try:
        wait_started(tree, driver)
        next_sample = START_TS
        for text, ts in market_frames(market, START_TS, START_TS + hours * 3600):
            clock.advance_to(ts)
            services.send("streaming", RawFrame(text, 1, time.perf_counter_ns()))
            driver.settle(QUIESCENCE_TIMEOUT_S)
            fed += 1
            if ts >= next_sample:
                samples.append(_sample(tree, (ts - START_TS) / 3600))
                next_sample += sample_every_s
        samples.append(_sample(tree, (clock.now() - START_TS) / 3600))
        trading = tree.ask("execution", REPORT, default={}) or {}
    finally:
        tree.stop()
    return _summary(samples, fed, time.perf_counter() - started, trading, warm_up_h)


def _sample(tree: Tree, hour: float) -> tuple[float, float, dict[str, int]]:
    gc.collect()
    roots: dict[str, Any] = {"orchestrator": getattr(tree.orchestrator, "_actor", None)}
    for name in tree.names():
        entry = tree.services.directory.get(name)
        if entry is not None and entry.ref is not None:
            roots[name] = getattr(entry.ref, "_actor", None)
    return hour, rss_mb(), collection_sizes({k: v for k, v in roots.items() if v is not None})


def _summary(samples: list[tuple[float, float, dict[str, int]]], frames_fed: int, wall_s: float,
             trading: dict[str, Any], warm_up_h: float) -> dict[str, Any]:
    after = [(h, rss) for h, rss, _ in samples if h >= warm_up_h]
    slope = slope_per_h(after)
    growing: dict[str, list[int]] = {}
    if after:
        first = next(sizes for h, _, sizes in samples if h >= warm_up_h)
        last = samples[-1][2]
        for path, size in last.items():
            before = first.get(path, 0)
            if size - before >= _MIN_GROWTH:
                growing[path] = [before, size]
    return {
        "simulated_h": round(samples[-1][0], 2) if samples else 0.0,
        "rss_mb_start": round(samples[0][1], 1) if samples else None,
        "rss_mb_end": round(samples[-1][1], 1) if samples else None,
        "slope_mb_per_h": None if slope is None else round(slope, 3),
        "rss_mb_by_h": [[round(h, 2), round(rss, 1)] for h, rss, _ in samples],
        "growing_collections": growing,
        "frames": frames_fed,
        "wall_s": round(wall_s, 1),
        "orders": trading.get("orders"),
        "fills": trading.get("fills"),
    }


if __name__ == "__main__":  # the child measure_soak_in_child runs: one JSON object on stdout
    from runtime.logging import setup_logging

    setup_logging("WARNING")
    print(json.dumps(measure_soak(*(float(a) for a in sys.argv[1:4]))))
