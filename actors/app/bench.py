"""`bin/perpsbot bench`: ingest throughput, tick-to-order latency and replay speed, in one run.

Owns the benchmark workloads and the bench report (its JSON keys are a contract: add, never rename;
the human table is actors.app.bench_table).
Measurement code, not an actor: it reads time.perf_counter itself, drives the real pure cores
(streaming -> market data -> liquidity) in this thread, and runs a short real paper session and a
replay of the bundled capture. Must never assert on speed, print anything in --json mode but the
one JSON object, or leave threads, sockets or data directories behind.
"""

from __future__ import annotations

import gc
import json
import math
import random
import resource
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from itertools import islice
from typing import Any, Callable

import msgspec

from actors.app.bench_ingest_before import L2UpdateBefore, MarketDataCoreBefore, StreamingCoreBefore
from actors.app.bench_recovery import RECOVERY_FILLS, measure_journal_overhead, measure_recovery
from actors.app.bench_table import render
from actors.app.report import machine
from actors.liquidity.metrics import compute_liquidity
from actors.market_data.core import MarketDataCore
from actors.streaming.codec import FrameDecoder
from actors.streaming.core import LEVEL2, StreamingCore
from domain.market import L2Update, RawFrame
from domain.products import BTC_USD, CATALOG, ProductSpec
from exchange import frames
from exchange.market import SyntheticMarket

# The ingest workload: the built-in exchange's own cadence (one market step per tick), both products.
INGEST_FRAMES = 20_000
INGEST_REPEATS = 5
MARKET_SEED = 7
MARKET_START_TS = 1_795_000_000.0
TICK_INTERVAL_S = 0.1  # config exchange.tick_interval_s
# The runtime's market_data settings the pure cores are built with.
VIEW_INTERVAL_S = 0.25
BAR_INTERVAL_S = 1.0
STALE_AFTER_S = 5.0

SNAPSHOT_LEVELS = 2_000
SNAPSHOT_REPEATS = 15
REPLAY_REPEATS = 3  # runs of the sample on each scheduler

PAPER_OVERRIDES: dict[str, Any] = {
    "run.duration_s": 25.0,
    "market_data.bar_interval_s": 0.25,  # with windows of 2 and 3 bars the crossover fires often
    "strategy.short_window": 2,
    "strategy.long_window": 3,
}


# ---------------------------------------------------------------- workloads


def l2_frames(count: int, seed: int = MARKET_SEED) -> list[tuple[str, float]]:
    """`count` l2_data frames with their timestamps: a snapshot of each product, then the updates a
    seeded SyntheticMarket produces tick by tick, encoded as the built-in exchange sends them."""
    from actors.app.soak import market_frames

    if count <= len(CATALOG):
        raise ValueError(f"count: need more than {len(CATALOG)} frames (one snapshot per product), got {count}")
    market = SyntheticMarket(CATALOG, seed=seed, start_ts=MARKET_START_TS)
    return list(islice(market_frames(market, MARKET_START_TS, math.inf, TICK_INTERVAL_S, trades=False), count))


def _timed_ingest(raws: list[tuple[RawFrame, float]], views_on: str, before: bool = False) -> tuple[float, dict[str, int]]:
    """One pass of decode -> book -> liquidity over fresh cores: (seconds, counts). `before`: the
    level path as it was before the level structs (actors.app.bench_ingest_before).

    `views_on` says when liquidity runs, over every product's valid view:
    "wall": every VIEW_INTERVAL_S of wall time, as the market_data actor's timer does in a live run;
    "frame_time": every VIEW_INTERVAL_S of frame time (a replay's clock: at the exchange's own
    cadence that is a view every few frames); "every_frame": for the changed product after every
    level2 event (the worst case)."""
    if before:
        streaming: StreamingCore = StreamingCoreBefore(tuple(CATALOG), (LEVEL2,))
        books: MarketDataCore = MarketDataCoreBefore(dict(CATALOG), BAR_INTERVAL_S, STALE_AFTER_S)
        update_type: Any = L2UpdateBefore
    else:
        streaming = StreamingCore(tuple(CATALOG), (LEVEL2,))
        books = MarketDataCore(dict(CATALOG), BAR_INTERVAL_S, STALE_AFTER_S)
        update_type = L2Update
    product_ids = tuple(CATALOG)
    on_frame, on_l2, view = streaming.on_frame, books.on_l2, books.view
    clock = time.perf_counter
    views = 0
    next_view: float | None = None
    out: Any  # an L2Update, or the old path's message
    gc.collect()
    started = clock()
    for raw, now in raws:
        for out in on_frame(raw, now).outputs:
            if type(out) is not update_type:
                continue
            on_l2(out)
            if views_on == "every_frame":
                v = view(out.product_id)
                if v.valid:
                    compute_liquidity(v.bids, v.asks)
                    views += 1
                continue
            t = clock() if views_on == "wall" else out.ts
            if next_view is None:
                next_view = t + VIEW_INTERVAL_S
            if t >= next_view:
                while t >= next_view:
                    next_view += VIEW_INTERVAL_S
                for product_id in product_ids:
                    v = view(product_id)
                    if v.valid:
                        compute_liquidity(v.bids, v.asks)
                        views += 1
    elapsed = clock() - started
    reports = [books.report(p) for p in product_ids]
    counts = {
        # every level of every final book, best first: the old and the new path must agree on it
        "books": hash(tuple(tuple(books.book(p).levels(side, 10**6)) for p in product_ids for side in ("bid", "ask"))),
        "views": views,
        "events_applied": sum(r["snapshots"] + r["updates_applied"] for r in reports),
        "dropped": streaming.dropped_updates + streaming.gaps + streaming.malformed
        + sum(r["dropped_before_snapshot"] + r["corruptions"] for r in reports),
    }
    return elapsed, counts


# msgspec's own floor on these frames: the leanest typed decode it offers for them (one struct per
# level with only the fields a book reads, no tagged union, untracked by the collector).
class _LeanLevel(msgspec.Struct, frozen=True, gc=False):
    side: str
    price_level: str
    new_quantity: str


class _LeanEvent(msgspec.Struct, frozen=True, gc=False):
    type: str
    product_id: str
    updates: tuple[_LeanLevel, ...]


class _LeanFrame(msgspec.Struct, frozen=True, gc=False):
    channel: str
    sequence_num: int
    timestamp: str
    events: tuple[_LeanEvent, ...]


def _timed_decode(texts: list[str], decode: Callable[[str], Any]) -> float:
    gc.collect()
    started = time.perf_counter()
    for text in texts:
        decode(text)
    return time.perf_counter() - started


def measure_ingest(frames: int = INGEST_FRAMES, repeats: int = 1) -> dict[str, Any]:
    """Level2 frames per second through the real cores (conflated as in a live run, on frame time
    and on every frame), the bare decode of the same frames, and msgspec's own floor for them.
    Rates are the median of `repeats` passes, interleaved so a noisy moment spreads over all."""
    workload = l2_frames(frames)
    texts = [text for text, _ in workload]
    raws = [(RawFrame(text, 1, 0), ts) for text, ts in workload]
    samples: dict[str, list[float]] = {
        k: [] for k in ("wall", "before", "frame_time", "every_frame", "decode", "lean", "raw")
    }
    decoders = {
        "decode": FrameDecoder().decode_or_raise,  # typed decode alone: no frame size or number checks
        "lean": msgspec.json.Decoder(_LeanFrame).decode,
        "raw": msgspec.json.Decoder(msgspec.Raw).decode,  # finds each frame's end, builds nothing
    }
    counts: dict[str, dict[str, int]] = {}
    for _ in range(max(1, repeats)):
        for views_on in ("wall", "frame_time", "every_frame"):
            seconds, counts[views_on] = _timed_ingest(raws, views_on)
            samples[views_on].append(frames / seconds)
            if views_on == "wall":  # the old level path right beside it
                seconds, counts["before"] = _timed_ingest(raws, views_on, before=True)
                samples["before"].append(frames / seconds)
        for name, decode in decoders.items():
            samples[name].append(frames / _timed_decode(texts, decode))
    rate = {k: statistics.median(v) for k, v in samples.items()}
    frame_time_s = workload[-1][1] - workload[0][1]
    levels = sum(text.count('"price_level"') for text in texts[len(CATALOG):])
    return {
        "frames_per_s": round(rate["wall"]),
        "frames_per_s_best": round(max(samples["wall"])),
        "before_frames_per_s": round(rate["before"]),  # the level path before the level structs
        "vs_before": round(rate["wall"] / rate["before"], 3),
        "same_book_before": all(counts["before"][k] == counts["wall"][k] for k in ("books", "events_applied", "dropped")),
        "floor_frames_per_s": round(rate["decode"]),
        "frames_per_s_liquidity_every_frame": round(rate["every_frame"]),
        "frames_per_s_views_on_frame_time": round(rate["frame_time"]),
        "vs_floor": round(rate["wall"] / rate["decode"], 4),
        "msgspec_floor_frames_per_s": round(rate["lean"]),
        "decode_vs_msgspec_floor": round(rate["lean"] / rate["decode"], 2),  # time ratio: <= 2 is the target
        "msgspec_raw_frames_per_s": round(rate["raw"]),
        "frames": frames,
        "repeats": max(1, repeats),
        "levels_per_update_frame": round(levels / (frames - len(CATALOG)), 2),
        "frame_time_s": round(frame_time_s, 3),
        "view_interval_s": VIEW_INTERVAL_S,
        "views": counts["wall"]["views"],
        "frames_per_view": round(frames / counts["wall"]["views"], 2) if counts["wall"]["views"] else None,
        "views_on_frame_time": counts["frame_time"]["views"],
        "events_applied": counts["wall"]["events_applied"],
        "dropped": counts["wall"]["dropped"],
    }


def deep_snapshot(spec: ProductSpec, levels: int, seed: int = MARKET_SEED) -> str:
    """One l2_data snapshot frame with `levels` levels, half each side, gaps of 1-4 ticks."""
    rng = random.Random(seed)
    tick, lot = spec.price_increment, spec.base_increment
    mid_ticks = round(Decimal(90_000) / tick)
    bids, offers = [], []
    bid_ticks, ask_ticks = mid_ticks - 1, mid_ticks + 1
    for _ in range(levels // 2):
        bids.append((tick * bid_ticks, lot * rng.randint(100_000, 200_000_000)))
        offers.append((tick * ask_ticks, lot * rng.randint(100_000, 200_000_000)))
        bid_ticks -= rng.randint(1, 4)
        ask_ticks += rng.randint(1, 4)
    return frames.l2_snapshot(MARKET_START_TS, spec, bids, offers, MARKET_START_TS).render(1)


def measure_snapshot(levels: int = SNAPSHOT_LEVELS, repeats: int = SNAPSHOT_REPEATS) -> float:
    """Median milliseconds to take one `levels`-level snapshot frame from RawFrame to an applied
    book (decode, streaming, market data), on fresh cores each time."""
    raw = RawFrame(deep_snapshot(BTC_USD, levels), 1, 0)
    samples: list[float] = []
    for _ in range(max(1, repeats)):
        streaming = StreamingCore((BTC_USD.product_id,), (LEVEL2,))
        books = MarketDataCore({BTC_USD.product_id: BTC_USD}, BAR_INTERVAL_S, STALE_AFTER_S)
        gc.collect()
        started = time.perf_counter()
        for out in streaming.on_frame(raw, MARKET_START_TS).outputs:
            if type(out) is L2Update:
                books.on_l2(out)
        samples.append((time.perf_counter() - started) * 1000)
        book = books.book(BTC_USD.product_id)
        if not book.valid or book.bid_levels + book.ask_levels != levels:
            raise RuntimeError(f"snapshot bench: book has {book.bid_levels}+{book.ask_levels} levels")
    return round(statistics.median(samples), 3)


def _paper_profile(data_dir: str, **overrides: Any) -> Any:
    from config.loader import apply_overrides, load_profile

    return apply_overrides(load_profile("paper"), **{"run.data_dir": data_dir, **overrides})


def measure_tick_to_order(duration_s: float = PAPER_OVERRIDES["run.duration_s"],
                          overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Tick-to-order latency of a short real paper session (frame in -> order at the venue)."""
    from actors.app.paper import run_paper

    with tempfile.TemporaryDirectory(prefix="perpsbot-bench-") as data_dir:
        profile = _paper_profile(data_dir, **{**PAPER_OVERRIDES, "run.duration_s": duration_s, **(overrides or {})})
        report, _ = run_paper(profile, [])
    latency = report["latency_us"]["tick_to_order"]
    return {
        "n": latency["n"],
        "p50": latency["p50"],
        "p99": latency["p99"],
        "session_s": report["duration_s"],
        "orders": report["trading"]["orders"],
        "frames": report["feed"]["frames"],
    }


def measure_replay(repeats: int = REPLAY_REPEATS) -> dict[str, Any]:
    """Frames per second of a replay of the bundled sample capture on each scheduler: the
    single-threaded dispatcher (what `replay` runs) and Pykka threads (`replay --threads`, the
    only scheduler before the dispatcher), `repeats` runs of each, interleaved so a noisy moment
    spreads over both; the medians, and their ratio. Both must give the same fingerprint."""
    from actors.app.replay import CaptureError, load_capture, run_replay

    try:
        capture, lines = load_capture(None)
    except CaptureError as exc:
        return {"events_per_s": None, "error": str(exc)}
    rates: dict[str, list[float]] = {"dispatcher": [], "threads": []}
    fingerprints: set[str] = set()
    last: dict[str, Any] = {}
    for _ in range(max(1, repeats)):
        for scheduler in rates:
            with tempfile.TemporaryDirectory(prefix="perpsbot-bench-") as data_dir:
                report, _ = run_replay(_paper_profile(data_dir), capture, lines, [], threads=scheduler == "threads")
            last[scheduler] = report["replay"]
            rates[scheduler].append(report["replay"]["frames"] / report["replay"]["wall_s"])
            fingerprints.add(report["fingerprint"])
    dispatcher, threads = (statistics.median(rates[k]) for k in ("dispatcher", "threads"))
    return {
        "events_per_s": round(dispatcher),
        "threads_events_per_s": round(threads),
        "dispatcher_vs_threads": round(dispatcher / threads, 2),
        "same_fingerprint": len(fingerprints) == 1,
        "frames": last["dispatcher"]["frames"],
        "wall_s": last["dispatcher"]["wall_s"],
        "threads_wall_s": last["threads"]["wall_s"],
        "repeats": max(1, repeats),
        "quiescence_timeouts": last["threads"]["quiescence_timeouts"],
        "capture": capture.name,
    }


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


# ---------------------------------------------------------------- the command


def run_bench(as_json: bool, soak: bool = False) -> int:
    from runtime.logging import setup_logging

    setup_logging("WARNING")
    started = time.perf_counter()
    progress = (lambda _: None) if as_json else (lambda text: print(text, file=sys.stderr, flush=True))

    progress(f"ingest: {INGEST_FRAMES} level2 frames x {INGEST_REPEATS} ...")
    ingest = measure_ingest(INGEST_FRAMES, INGEST_REPEATS)
    ingest["snapshot_2000_ms"] = measure_snapshot()
    progress(f"tick-to-order: a {PAPER_OVERRIDES['run.duration_s']:g} s paper session ...")
    latency = measure_tick_to_order()
    progress("journal overhead: the same session without the write-ahead intent log, then with it again ...")
    overhead = measure_journal_overhead(latency, measure_tick_to_order)
    progress(f"replay: the bundled sample capture, {REPLAY_REPEATS} times on each scheduler ...")
    replay = measure_replay()
    memory = {"peak_rss_mb": _peak_rss_mb()}  # before the recovery workload holds 100,000 fills
    progress(f"recovery: rebuilding from a journal of {RECOVERY_FILLS:,} fills ...")
    recovery = measure_recovery()
    recovery["peak_rss_mb"] = _peak_rss_mb()
    extra: dict[str, Any] = {}
    if soak:
        from actors.app.soak import SOAK_HOURS, measure_soak_in_child

        progress(f"soak: {SOAK_HOURS:g} simulated hours of market through the whole tree, in a fresh process ...")
        extra["soak"] = measure_soak_in_child()
    result = {
        "ingest": ingest,
        "tick_to_order_us": latency,
        "journal_overhead": overhead,
        "recovery": recovery,
        "replay": replay,
        "memory": memory,
        **extra,
        "bench_wall_s": round(time.perf_counter() - started, 1),
        "machine": machine(),
    }
    print(json.dumps(result) if as_json else render(result), flush=True)
    return 0
