"""Jittered exponential back-off: the delay before the next attempt, as a pure function.

Owns the arithmetic only. Must never sleep or read a clock; randomness comes from the caller's RNG
so runs with a seed are repeatable.
"""

from __future__ import annotations

import random

import msgspec


class Backoff(msgspec.Struct, frozen=True):
    base_s: float
    factor: float
    cap_s: float
    jitter: float  # +- fraction of the delay, e.g. 0.25 = +-25%

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Delay before attempt number `attempt` (1 = the first retry)."""
        raw = min(self.base_s * self.factor ** max(attempt - 1, 0), self.cap_s)
        spread = raw * self.jitter
        return max(0.0, raw + rng.uniform(-spread, spread))
