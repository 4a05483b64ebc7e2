"""The accelerated soak: simulated market through the whole tree on the dispatcher, memory sampled."""

from __future__ import annotations

from collections import deque

import pytest

from actors.app.soak import _summary, collection_sizes, measure_soak_in_child, slope_per_h


def test_a_short_soak_trades_through_the_whole_tree_and_reports_its_memory_figures():
    # in a fresh process, as bench --soak runs it: this process's heap would hide the growth
    soak = measure_soak_in_child(hours=0.05, sample_every_s=30, warm_up_h=0.01)
    assert soak["simulated_h"] >= 0.05
    assert soak["frames"] > 1_000 and soak["orders"] > 0 and soak["fills"] > 0
    assert soak["rss_mb_start"] > 0 and soak["rss_mb_end"] > 0
    assert isinstance(soak["slope_mb_per_h"], float)
    assert len(soak["rss_mb_by_h"]) >= 6


def test_a_collection_still_growing_after_the_warm_up_is_named():
    samples = [(0.0, 50.0, {"a.fills": 0, "a.cache": 10}), (1.0, 60.0, {"a.fills": 100, "a.cache": 500}),
               (2.0, 61.0, {"a.fills": 400, "a.cache": 500}), (3.0, 62.0, {"a.fills": 700, "a.cache": 520})]
    summary = _summary(samples, 10, 1.0, {}, warm_up_h=1.0)
    assert summary["growing_collections"] == {"a.fills": [100, 700]}  # the cache filled, then stopped
    assert summary["slope_mb_per_h"] == pytest.approx(1.0)


def test_the_slope_is_a_least_squares_fit():
    assert slope_per_h([(1, 10.0), (2, 12.0), (3, 14.0)]) == pytest.approx(2.0)
    assert slope_per_h([(1, 10.0)]) is None


def test_the_walk_measures_collections_through_our_objects_only():
    class Holder:  # defined here: not one of our packages' types, so not walked into
        def __init__(self):
            self.items = [1, 2, 3]

    from runtime.metrics import Histogram

    hist = Histogram()
    for v in range(5):
        hist.observe(v)
    ours = type("Ours", (), {"__module__": "actors.example"})()
    ours.hist, ours.other = hist, Holder()
    assert collection_sizes({"r": ours}) == {"r.hist.samples": 5}
    ours = type("Ours", (), {"__module__": "actors.example"})()
    ours.queue = deque([1, 2])
    ours.child = type("Child", (), {"__module__": "domain.example"})()
    ours.child.seen = {"k"}
    assert collection_sizes({"x": ours}) == {"x.queue": 2, "x.child.seen": 1}
