"""The metrics registry: counters, gauges and histograms that the run report reads.

Owns metric values. Trading metrics have one writing actor (the name says whose), so increments
need no lock; readers take a snapshot. A few diagnostic counters (`undeliverable.*`,
`*.stale_dropped`) are bumped from several threads and may, rarely, lose an increment under
contention: they tell an operator that something happened, never how much money moved.
Must never block or allocate per increment beyond the histogram's bounded sample buffer.
"""

from __future__ import annotations

import math


class Counter:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self, n: int = 1) -> None:
        self.value += n


class Gauge:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: float | str | None = None

    def set(self, value: float | str | None) -> None:
        self.value = value


class Histogram:
    """Keeps up to `capacity` samples (then every other one is dropped, halving the resolution
    of the tail) and answers percentiles by nearest rank."""

    __slots__ = ("samples", "count", "capacity", "_stride", "_skip")

    def __init__(self, capacity: int = 200_000) -> None:
        self.samples: list[float] = []
        self.count = 0
        self.capacity = capacity
        self._stride = 1
        self._skip = 0

    def observe(self, value: float) -> None:
        self.count += 1
        self._skip += 1
        if self._skip < self._stride:
            return
        self._skip = 0
        self.samples.append(value)
        if len(self.samples) >= self.capacity:
            self.samples = self.samples[::2]
            self._stride *= 2

    def percentile(self, p: float) -> float | None:
        if not self.samples:
            return None
        ordered = sorted(self.samples)
        rank = max(1, math.ceil(p / 100 * len(ordered)))
        return ordered[rank - 1]


class Registry:
    def __init__(self) -> None:
        self._counters: dict[str, Counter] = {}
        self._gauges: dict[str, Gauge] = {}
        self._histograms: dict[str, Histogram] = {}

    # get-then-setdefault: a lookup on the hot path, and no lost metric if two threads create one
    def counter(self, name: str) -> Counter:
        metric = self._counters.get(name)
        return metric if metric is not None else self._counters.setdefault(name, Counter())

    def gauge(self, name: str) -> Gauge:
        metric = self._gauges.get(name)
        return metric if metric is not None else self._gauges.setdefault(name, Gauge())

    def histogram(self, name: str) -> Histogram:
        metric = self._histograms.get(name)
        return metric if metric is not None else self._histograms.setdefault(name, Histogram())

    def value(self, name: str, default: int = 0) -> int:
        counter = self._counters.get(name)
        return default if counter is None else counter.value

    def counters(self, prefix: str = "") -> dict[str, int]:
        return {k: c.value for k, c in list(self._counters.items()) if k.startswith(prefix)}

    def gauges(self, prefix: str = "") -> dict[str, float | str | None]:
        return {k: g.value for k, g in list(self._gauges.items()) if k.startswith(prefix)}
