"""The built-in exchange's request budgets: a token bucket per client (an address for the public
endpoints, an API key for the private ones, as Coinbase counts them) and the 429 answer with
Coinbase's body and its `x-ratelimit-*` and `retry-after` headers.

Pure: time is passed in. Must never decide what a request may do beyond its budget.
"""

from __future__ import annotations

import math

import msgspec

from exchange.rest import RestResponse, json_response

PUBLIC_RATE_PER_S = 10.0  # Coinbase's public REST limit per address
PRIVATE_RATE_PER_S = 30.0  # and its private limit per API key


class RateDecision(msgspec.Struct, frozen=True):
    """The public rate limiter's answer to one request."""

    allowed: bool
    limit: int
    remaining: int
    reset_ts: float  # when the bucket is full again (epoch seconds)
    retry_after_s: float  # 0 when allowed; else until the next request would be allowed


def rate_limited(decision: RateDecision) -> RestResponse:
    """429 with Coinbase's body and the rate-limit headers."""
    body = {"errors": [{"id": "rate_limit_exceeded", "message": "Too many requests"}]}
    return with_rate_headers(json_response(429, body), decision)


def with_rate_headers(response: RestResponse, decision: RateDecision) -> RestResponse:
    """Add `x-ratelimit-limit`, `-remaining`, `-reset` (UNIX seconds, rounded up) and, on a
    refusal, `retry-after` (whole seconds, at least 1)."""
    headers = [
        ("x-ratelimit-limit", str(decision.limit)),
        ("x-ratelimit-remaining", str(decision.remaining)),
        ("x-ratelimit-reset", str(math.ceil(decision.reset_ts))),
    ]
    if not decision.allowed:
        headers.append(("retry-after", str(max(1, math.ceil(decision.retry_after_s)))))
    return msgspec.structs.replace(response, headers=response.headers + tuple(headers))


class TokenBuckets:
    """A token bucket per client: `rate_per_s` tokens a second, holding at most `burst`."""

    _MAX_CLIENTS = 1024  # past this, buckets that have refilled are forgotten

    def __init__(self, rate_per_s: float, burst: float | None = None) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be > 0")
        self._rate = rate_per_s
        self._burst = burst if burst is not None else rate_per_s
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, as of)

    def take(self, client: str, now: float) -> RateDecision:
        """Spend one token of `client` if there is one."""
        tokens, as_of = self._buckets.get(client, (self._burst, now))
        tokens = min(self._burst, tokens + max(0.0, now - as_of) * self._rate)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        if len(self._buckets) >= self._MAX_CLIENTS and client not in self._buckets:
            self._forget_full(now)
        self._buckets[client] = (tokens, max(now, as_of))
        return RateDecision(
            allowed=allowed,
            limit=math.floor(self._burst),
            remaining=math.floor(tokens),
            reset_ts=now + (self._burst - tokens) / self._rate,
            retry_after_s=0.0 if allowed else (1 - tokens) / self._rate,
        )

    def _forget_full(self, now: float) -> None:
        for client, (tokens, as_of) in list(self._buckets.items()):
            if tokens + max(0.0, now - as_of) * self._rate >= self._burst:
                del self._buckets[client]
