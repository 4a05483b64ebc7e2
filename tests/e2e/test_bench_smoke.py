"""`bin/perpsbot bench`: the fast ingest measurement in-process, and the whole command (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from actors.app.bench import measure_ingest, measure_snapshot
from actors.app.bench_table import render

ROOT = Path(__file__).resolve().parents[2]
BENCH_TIMEOUT_S = 180


def test_measure_ingest_runs_every_frame_through_the_real_cores():
    result = measure_ingest(300)

    assert result["frames_per_s"] > 0
    assert result["floor_frames_per_s"] > 0
    assert result["frames_per_s_liquidity_every_frame"] > 0
    # one l2_data event per frame, all applied: two snapshots then updates, none dropped
    assert result["events_applied"] == 300
    assert result["dropped"] == 0
    assert result["views_on_frame_time"] > 0  # liquidity ran (300 frames take less than one wall-clock view)
    assert result["decode_vs_msgspec_floor"] > 0
    assert 1 <= result["levels_per_update_frame"] <= 10
    # the old level path ran beside it over the same frames and built the same books
    assert result["before_frames_per_s"] > 0 and result["vs_before"] > 0
    assert result["same_book_before"] is True


def test_measure_snapshot_applies_every_level():
    assert measure_snapshot(levels=200, repeats=1) > 0  # raises if the book lacks a level


def test_table_names_the_floor_it_compares_with():
    result = {
        "ingest": {**measure_ingest(50), "snapshot_2000_ms": 9.5},
        "tick_to_order_us": {"n": 3, "p50": 1500.0, "p99": 4000.0, "session_s": 25.0},
        "journal_overhead": {"p50_write_ahead_us": 1500.0, "p50_without_us": 1400.0, "ratio": 1.071,
                             "n_write_ahead": 3, "n_without": 3},
        "recovery": {"fills": 100_000, "seconds": 1.25},
        "replay": {"events_per_s": 8000, "threads_events_per_s": 1600, "dispatcher_vs_threads": 5.0,
                   "same_fingerprint": True, "repeats": 3, "frames": 1600, "wall_s": 0.2,
                   "capture": "sample_capture.jsonl"},
        "memory": {"peak_rss_mb": 80.0},
        "soak": {"simulated_h": 4.0, "frames": 258_000, "orders": 1048, "fills": 2333, "wall_s": 124.2,
                 "rss_mb_start": 52.2, "rss_mb_end": 70.7, "slope_mb_per_h": 1.762,
                 "growing_collections": {"execution.orders._orders": [246, 1048]}},
        "bench_wall_s": 60.0,
        "machine": {"cores": 2, "python": "3.11.0", "platform": "Linux"},
    }
    table = render(result)
    assert "floor: msgspec's leanest typed decode" in table
    assert "the level path before its level structs" in table and "(same books)" in table
    assert "4,000 us" in table
    assert "8,000 events/s" in table and "1,600 events/s" in table and "5.0x; the same fingerprint" in table
    assert "1.762 MB/h" in table and "execution.orders._orders 246->1048" in table
    assert "1.071x" in table and "100,000 fills" in table and "1.25 s" in table


def test_recovery_rebuilds_from_a_journal_of_fills_and_checks_what_it_rebuilt():
    from actors.app.bench_recovery import measure_recovery

    result = measure_recovery(2_000)
    assert result["fills"] == 2_000 and result["seconds"] > 0


@pytest.mark.slow
@pytest.mark.timeout(BENCH_TIMEOUT_S + 60)
def test_bench_json_prints_one_object_with_positive_figures():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bin" / "perpsbot"), "bench", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=BENCH_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)  # the whole of stdout is one JSON object

    ingest = result["ingest"]
    assert ingest["frames_per_s"] > 0
    assert ingest["floor_frames_per_s"] > 0
    assert ingest["frames_per_s_liquidity_every_frame"] > 0
    assert ingest["snapshot_2000_ms"] > 0
    assert ingest["dropped"] == 0
    latency = result["tick_to_order_us"]
    assert latency["n"] > 0
    assert 0 < latency["p50"] <= latency["p99"]
    assert result["replay"]["events_per_s"] > 0
    assert result["recovery"]["fills"] == 100_000 and result["recovery"]["seconds"] > 0
    overhead = result["journal_overhead"]
    assert overhead["p50_write_ahead_us"] > 0 and overhead["p50_without_us"] > 0 and overhead["ratio"] > 0
    assert result["machine"]["cores"] >= 1
    assert result["machine"]["python"]
