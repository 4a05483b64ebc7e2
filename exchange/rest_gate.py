"""The gate every REST request of the built-in exchange passes, whichever way it arrived.

Public endpoints are `rest.py`'s, rate limited per client address. Private ones (`private_rest.py`)
need a JWT (`auth.py`) and run against the API client (`client_orders.py`), whose orders trade on
the synthetic market's engines; they are rate limited per API key (Coinbase's private limit), and
chaos's REST windows are checked per request: rest_429 answers 429 until the window's end,
rest_5xx answers 503 (with accept=1 an order write is carried out first), rest_timeout carries an
order write out and says its answer must be held (the transport holds it). Owns the rate limiters
and the private REST counters of `rest_counts()`.

Must never hold an answer itself or touch a socket (the transport does both), and never check a
JWT while holding the server lock.
"""

from __future__ import annotations

import math
import threading
from typing import Callable

from exchange import private_rest, rate_limit, rest
from exchange.auth import Authenticator
from exchange.chaos import REST_5XX, REST_429
from exchange.chaos_effects import ChaosEffects
from exchange.client_orders import ClientOrders
from exchange.ws_session import abort


class RestGate:
    """Answers one REST request at a time on the caller's thread; takes the lock as it needs it."""

    def __init__(
        self,
        lock: threading.Lock,
        clock: Callable[[], float],
        auth: Authenticator,
        client: ClientOrders,
        chaos: ChaosEffects,
        market_view: Callable[[], rest.MarketView],
        publish_user_changes: Callable[[float], None],
        counts: dict[str, int],
        public_rate_per_s: float,
        private_rate_per_s: float,
    ) -> None:
        """`market_view` and `publish_user_changes` run with the lock held; `counts` is the
        server's rest_counts() dict."""
        self._lock = lock
        self._clock = clock
        self._auth = auth
        self._client = client
        self._chaos = chaos
        self._market_view = market_view
        self._publish_user_changes = publish_user_changes
        self._counts = counts
        self._rate_limiter = rate_limit.TokenBuckets(public_rate_per_s)
        self._private_rate_limiter = rate_limit.TokenBuckets(private_rate_per_s)
        self._private_rate_per_s = private_rate_per_s

    def answer(self, method: str, target: str, authorization: str | None, body: bytes,
               client: str) -> tuple[rest.RestResponse, bool]:
        """Answer one REST request; the flag says the answer must be held (chaos rest_timeout)."""
        path = target.split("?", 1)[0]
        found = private_rest.route(path)
        if found is None:
            with self._lock:
                decision = self._rate_limiter.take(client, self._clock())
                view = self._market_view() if decision.allowed else None
            if view is None:
                return rate_limit.rate_limited(decision), False
            return rate_limit.with_rate_headers(rest.handle_get(method, target, view), decision), False
        with self._lock:
            now = self._clock()
            aborted = self._chaos.apply(now)
            self._count("requests")
        for session in aborted:
            abort(session.ws)
        refusal = self._auth.rest_refusal(authorization, now, method, path.rstrip("/") or "/")
        if refusal:
            with self._lock:
                self._count("unauthenticated")
            return rest.error(401, "UNAUTHENTICATED", refusal), False
        chaos = self._chaos
        with self._lock:
            now = self._clock()
            decision = self._private_rate_limiter.take(self._auth.key_name(authorization), now)  # per key
            if not decision.allowed:
                self._count("throttled")
                return rate_limit.rate_limited(decision), False
            if now < chaos.rest_429_until:
                self._count(REST_429)
                limit = math.floor(self._private_rate_per_s)
                storm = rate_limit.RateDecision(False, limit, 0, chaos.rest_429_until, chaos.rest_429_until - now)
                return rate_limit.rate_limited(storm), False
            accepting = chaos.rest_5xx_accept and found.is_write and method == found.method
            if now < chaos.rest_5xx_until and not accepting:
                self._count(REST_5XX)
                return rest.error(503, "UNAVAILABLE", "service unavailable (chaos)"), False
            answer = private_rest.handle(found, method, target, body, self._client, self._market_view(), now)
            self._publish_user_changes(now)
            if now < chaos.rest_5xx_until:
                self._count("rest_5xx_after_accept")
                return rest.error(503, "UNAVAILABLE", "service unavailable (chaos)"), False
            hold = found.is_write and method == found.method and now < chaos.rest_timeout_until
            if hold:
                self._count("held")
        return rate_limit.with_rate_headers(answer, decision), hold

    def _count(self, what: str, n: int = 1) -> None:
        self._counts[what] = self._counts.get(what, 0) + n
