"""Request budgets for Coinbase REST: one token bucket per limit (private, public) and the venue's
HTTP 429 back-off.

Owns the arithmetic of pacing: how long a request must wait before it may go, given the budget
and any back-off a 429 imposed (until `x-ratelimit-reset` when the venue sent it, else a jittered
exponential pause), and the counters an operator reads (granted, throttled, delayed).
Pure: time comes in as an argument and the jitter from an injected random source. Must never
sleep, send a request or decide what a request is for.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

PRIVATE = "private"
PUBLIC = "public"

# Coinbase documents 30 private requests/s per user and 10 public per IP; budget well under both.
DEFAULT_PRIVATE_PER_S = 15.0
DEFAULT_PUBLIC_PER_S = 8.0
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
_EPSILON = 1e-9  # clock readings are floats: a token refilled to 0.9999999999 is a token


class TokenBucket:
    """`rate` tokens per second, at most `burst` held; one request costs one token."""

    __slots__ = ("rate", "burst", "_tokens", "_at")

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1, got {self.burst}")
        self._tokens = self.burst
        self._at: float | None = None

    def _refill(self, now: float) -> None:
        if self._at is not None and now > self._at:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        if self._at is None or now > self._at:
            self._at = now

    def wait(self, now: float) -> float:
        """Seconds until one token is available (0.0: now)."""
        self._refill(now)
        return 0.0 if self._tokens >= 1 - _EPSILON else (1 - self._tokens) / self.rate

    def take(self, now: float) -> bool:
        """Spend one token if one is available now."""
        self._refill(now)
        if self._tokens < 1 - _EPSILON:
            return False
        self._tokens = max(0.0, self._tokens - 1)
        return True


class RateLimiter:
    """The budgets of one venue connection. Ask `delay(kind, now)` before a request; when it is
    0.0, `acquire` spends the token. Tell it about every 429 with `throttled(...)`."""

    def __init__(
        self,
        private_per_s: float = DEFAULT_PRIVATE_PER_S,
        public_per_s: float = DEFAULT_PUBLIC_PER_S,
        rng: random.Random | None = None,
        backoff_base_s: float = BACKOFF_BASE_S,
        backoff_cap_s: float = BACKOFF_CAP_S,
    ) -> None:
        self.buckets = {PRIVATE: TokenBucket(private_per_s), PUBLIC: TokenBucket(public_per_s)}
        self._rng = rng or random.Random(0)
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._blocked_until = {PRIVATE: 0.0, PUBLIC: 0.0}
        self._consecutive_429 = {PRIVATE: 0, PUBLIC: 0}
        self.granted = 0
        self.throttled_responses = 0  # HTTP 429s received
        self.delayed = 0  # requests that had to wait for budget or back-off

    def delay(self, kind: str, now: float) -> float:
        """Seconds the next request of `kind` must wait (0.0: it may go now)."""
        blocked = self._blocked_until[kind] - now
        return max(blocked, self.buckets[kind].wait(now), 0.0)

    def acquire(self, kind: str, now: float) -> bool:
        """Spend budget for one request if it may go now; False (and counted) when it must wait."""
        if self._blocked_until[kind] > now or not self.buckets[kind].take(now):
            self.delayed += 1
            return False
        self.granted += 1
        return True

    def throttled(self, kind: str, now: float, headers: Mapping[str, str] | None = None) -> float:
        """A 429 arrived: block `kind` until the venue's reset time, or for a jittered exponential
        pause when it gave none. Returns the seconds blocked."""
        self.throttled_responses += 1
        self._consecutive_429[kind] += 1
        pause = reset_delay(headers or {}, now)
        if pause is None:
            n = self._consecutive_429[kind]
            pause = min(self._backoff_cap_s, self._backoff_base_s * 2 ** (n - 1))
            pause *= 1 + self._rng.uniform(-0.25, 0.25)
        self._blocked_until[kind] = max(self._blocked_until[kind], now + pause)
        return pause

    def succeeded(self, kind: str) -> None:
        """A response that was not a 429: the back-off sequence starts over."""
        self._consecutive_429[kind] = 0

    def counters(self) -> dict[str, int]:
        return {"granted": self.granted, "throttled": self.throttled_responses, "delayed": self.delayed}


def reset_delay(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds until `x-ratelimit-reset`, which Coinbase sends as epoch seconds; a small value
    (under a day) is read as seconds from now. None when absent or unreadable."""
    lowered = {k.lower(): v for k, v in headers.items()}
    text = lowered.get("x-ratelimit-reset")
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    if value != value or value < 0:  # NaN or negative
        return None
    seconds = value - now if value > 86_400 else value
    return max(0.0, min(seconds, BACKOFF_CAP_S * 10))
