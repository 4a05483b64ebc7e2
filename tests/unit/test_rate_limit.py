"""Request budgets: token buckets, 429 back-off and the reset header."""

from __future__ import annotations

import random

import pytest

from actors.wire.rate_limit import PRIVATE, PUBLIC, RateLimiter, TokenBucket, reset_delay


def test_bucket_grants_its_burst_then_refills_at_its_rate():
    bucket = TokenBucket(rate=10, burst=3)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.wait(100.0) == pytest.approx(0.1)
    assert not bucket.take(100.05)  # half a token
    assert bucket.take(100.1)
    assert bucket.take(200.0) and bucket.take(200.0) and bucket.take(200.0) and not bucket.take(200.0)  # capped


def test_bucket_ignores_a_clock_that_goes_backwards():
    bucket = TokenBucket(rate=1, burst=1)
    assert bucket.take(50.0)
    assert not bucket.take(49.0)
    assert bucket.wait(49.0) == pytest.approx(1.0)


def test_bucket_rejects_nonsense():
    with pytest.raises(ValueError):
        TokenBucket(rate=0)
    with pytest.raises(ValueError):
        TokenBucket(rate=5, burst=0.5)


def test_requests_over_any_window_never_exceed_the_budget():
    limiter = RateLimiter(private_per_s=15, public_per_s=8)
    granted: list[float] = []
    t = 0.0
    while t < 10.0:  # a client hammering every millisecond
        if limiter.acquire(PRIVATE, t):
            granted.append(t)
        t = round(t + 0.001, 6)
    # at most burst + rate * window in any one-second window
    for start in granted:
        assert sum(1 for g in granted if start <= g < start + 1.0) <= 15 + 15
    assert 150 <= len(granted) <= 15 + 150
    assert limiter.counters()["granted"] == len(granted)


def test_private_and_public_budgets_are_separate():
    limiter = RateLimiter(private_per_s=2, public_per_s=1)
    assert limiter.acquire(PUBLIC, 0.0) and not limiter.acquire(PUBLIC, 0.0)
    assert limiter.acquire(PRIVATE, 0.0) and limiter.acquire(PRIVATE, 0.0)
    assert limiter.delay(PUBLIC, 0.0) == pytest.approx(1.0)


def test_a_429_with_a_reset_header_blocks_until_that_time():
    limiter = RateLimiter()
    now = 1_795_000_000.0
    paused = limiter.throttled(PRIVATE, now, {"X-RateLimit-Reset": str(int(now) + 3)})
    assert paused == pytest.approx(3.0)
    assert limiter.delay(PRIVATE, now + 1) == pytest.approx(2.0)
    assert not limiter.acquire(PRIVATE, now + 2.9)
    assert limiter.acquire(PRIVATE, now + 3.0)
    assert limiter.delay(PUBLIC, now) == 0.0  # the other budget is unaffected
    assert limiter.counters() == {"granted": 1, "throttled": 1, "delayed": 1}


def test_a_429_storm_without_headers_backs_off_exponentially_with_jitter_and_resets_on_success():
    limiter = RateLimiter(rng=random.Random(3), backoff_base_s=0.5, backoff_cap_s=4.0)
    pauses = [limiter.throttled(PRIVATE, 0.0) for _ in range(6)]
    for n, pause in enumerate(pauses):
        nominal = min(4.0, 0.5 * 2**n)
        assert nominal * 0.75 <= pause <= nominal * 1.25
    limiter.succeeded(PRIVATE)
    assert 0.375 <= limiter.throttled(PRIVATE, 100.0) <= 0.625


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"x-ratelimit-reset": "1795000005"}, 5.0),  # UNIX seconds, as Coinbase and our exchange send
        ({"x-ratelimit-reset": "2"}, 2.0),  # a small value: seconds from now
        ({"x-ratelimit-reset": "1794999990"}, 0.0),  # already past
        ({"x-ratelimit-reset": "soon"}, None),
        ({"x-ratelimit-reset": "nan"}, None),
        ({}, None),
    ],
)
def test_reset_header_readings(headers, expected):
    assert reset_delay(headers, 1_795_000_000.0) == expected
