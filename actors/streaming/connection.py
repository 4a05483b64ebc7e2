"""The streaming connection's decisions, as a pure policy: when to connect, to which endpoint, when
a socket is dead, how long to wait before the next attempt, and when the feed is up or down.

Owns the connection number, the endpoint in use (alternating with a failover endpoint after
`failover_after` failures in a row, back to the primary when a stable failover connection is
lost), the failed attempts in a row (reset after `stable_period_s` connected), the watchdog
deadlines (no connection, no frame, no heartbeat), the level2 snapshots seen on this connection and
the health edges: healthy (connected, every book snapshotted) stops the REST fallback; unhealthy
starts it; `reduce_after_attempts` failures in a row report the feed down (trading goes REDUCING)
and the next healthy edge reports it up. Every decision comes back as effects for the actor to
perform. Must never touch a socket, a thread or a clock (`now` is given), and never give up: past
the cap it keeps retrying at the capped delay.
"""

from __future__ import annotations

import random
from typing import Union

import msgspec

from config.schema import StreamingConfig
from runtime.backoff import Backoff


class Connect(msgspec.Struct, frozen=True):
    """Open connection number `conn` to `url`."""

    conn: int
    url: str


class Close(msgspec.Struct, frozen=True):
    """Close the current socket (its reader thread ends by itself)."""


class Later(msgspec.Struct, frozen=True):
    """Ask for `reconnect_due` after `delay_s` (attempt number `attempt`)."""

    delay_s: float
    attempt: int


class ReportFeed(msgspec.Struct, frozen=True):
    """Tell the orchestrator the market feed is up or down (down: after `attempts` failures)."""

    up: bool
    reason: str
    attempts: int = 0


class Fallback(msgspec.Struct, frozen=True):
    """Run (`on`) or stop the REST book fallback."""

    on: bool


class Note(msgspec.Struct, frozen=True):
    """A log line and the counter it bumps ("" for none): `stalls`, `reconnects`, `failovers`."""

    level: str
    text: str
    counter: str = ""


Effect = Union[Connect, Close, Later, ReportFeed, Fallback, Note]


class ConnectionPolicy:
    def __init__(self, config: StreamingConfig, url: str | None, epoch: int, rng: random.Random,
                 level2_products: frozenset[str], failover_url: str | None = None, failover_after: int = 3,
                 fallback: bool = False, reports_feed: bool = True, name: str = "streaming") -> None:
        """`url` None: no socket (a replay feeds the frames). `fallback`: a REST book poller exists.
        `reports_feed` False: a private stream, whose failures say nothing of market data."""
        self.config = config
        self.name = name
        self.epoch = epoch
        self.rng = rng
        self.backoff = Backoff(config.reconnect_base_s, config.reconnect_factor, config.reconnect_cap_s,
                               config.reconnect_jitter)
        self.url = url
        self.primary_url = url
        self.failover_url = failover_url if failover_url != url else None
        self.failover_after = max(1, failover_after)
        self.level2_products = level2_products
        self.fallback = fallback
        self.reports_feed = reports_feed
        self.conn = 0
        self.attempt = 0  # failed connections in a row
        self.url_failures = 0  # failed connections in a row to the url in use
        self.connected = False  # a socket exists (opening or open)
        self.connecting_since: float | None = None
        self.opened_at: float | None = None
        self.last_frame_at: float | None = None
        self.snapshots: set[str] = set()  # level2 products with a snapshot on this connection
        self.healthy = False
        self.reported_down = False

    # -- the connection's life ----------------------------------------------------------------------
    def connect(self, now: float) -> list[Effect]:
        """Open the next connection (at start, and when a scheduled reconnect is due)."""
        if self.url is None or self.connected:
            return []
        # Numbers are unique across incarnations: late frames of an old socket are known as such.
        self.conn = self.epoch * 100_000 + (self.conn % 100_000) + 1
        self.connected = True
        self.connecting_since = now
        self.opened_at = None
        self.snapshots = set()
        return [Connect(self.conn, self.url)]

    def opened(self, conn: int, now: float) -> bool:
        """The socket of `conn` is open; True when it is the current one (then subscribe)."""
        if conn != self.conn or not self.connected:
            return False
        self.opened_at = self.last_frame_at = now
        return True

    def closed(self, conn: int, reason: str, now: float) -> list[Effect]:
        return self._reconnect_later(reason, now) if conn == self.conn else []

    def frame(self, conn: int, now: float) -> None:
        if conn == self.conn:
            self.last_frame_at = now

    def snapshot(self, product_id: str, conn: int) -> None:
        """A level2 snapshot arrived (`health()` after the frame tells whether that made it healthy)."""
        if conn == self.conn:
            self.snapshots.add(product_id)

    def gap(self) -> None:
        """A sequence gap: every book needs a fresh snapshot (`health()` after the frame)."""
        self.snapshots.clear()

    def resync(self) -> list[Effect]:
        """Fresh snapshots were asked for: the feed is not healthy until they come."""
        self.gap()
        return self.health()

    # -- watchdogs ------------------------------------------------------------------------------------
    def watchdog(self, now: float, last_heartbeat_at: float | None) -> list[Effect]:
        if not self.connected:
            return []  # waiting for a scheduled reconnect
        config = self.config
        if self.opened_at is None:
            if self.connecting_since is not None and now - self.connecting_since > config.message_timeout_s:
                return self._stall(f"no connection within {config.message_timeout_s:.1f}s", now)
            return []
        if (self.attempt or self.url_failures) and now - self.opened_at >= config.stable_period_s:
            self.attempt = 0  # stable again: the next failure starts the back-off afresh
            self.url_failures = 0
        if self.last_frame_at is not None and now - self.last_frame_at > config.message_timeout_s:
            return self._stall(f"no frame for {now - self.last_frame_at:.1f}s", now)
        # The last heartbeat may predate this connection: count from whichever is later.
        since = max(last_heartbeat_at or self.opened_at, self.opened_at)
        if now - since > config.heartbeat_timeout_s:
            return self._stall(f"no heartbeat for {now - since:.1f}s", now)
        return []

    def _stall(self, reason: str, now: float) -> list[Effect]:
        note = Note("WARNING", f"socket {self.conn} looks dead ({reason}): reconnecting", "stalls")
        return [note, *self._reconnect_later(reason, now)]

    # -- back-off, failover, health -------------------------------------------------------------------
    def _reconnect_later(self, reason: str, now: float) -> list[Effect]:
        # A lost socket is not a sequence gap: its books were right when it died and the next
        # snapshot replaces them; until then staleness protects trading and the REST fallback keeps
        # them fresh, so they are not invalidated here.
        was_stable = self.opened_at is not None and now - self.opened_at >= self.config.stable_period_s
        lost = self.conn
        effects: list[Effect] = [Close()]
        self.connected = False
        self.opened_at = None
        self.snapshots.clear()
        effects += self.health()
        self.attempt += 1
        self.url_failures = 1 if was_stable else self.url_failures + 1
        effects += self._choose_url(was_stable)
        delay = self.backoff.delay(self.attempt, self.rng)
        effects.append(Note("WARNING", f"socket {lost} down ({reason}); reconnect attempt {self.attempt} in "
                                       f"{delay:.2f}s", "reconnects"))
        if self.reports_feed and self.attempt >= self.config.reduce_after_attempts and not self.reported_down:
            self.reported_down = True
            effects.append(ReportFeed(False, reason, self.attempt))
        effects.append(Later(delay, self.attempt))
        return effects

    def _choose_url(self, was_stable: bool) -> list[Effect]:
        if self.failover_url is None:
            return []
        on_primary = self.url == self.primary_url
        back_from_failover = not on_primary and was_stable
        if self.url_failures < self.failover_after and not back_from_failover:
            return []
        self.url_failures = 0
        self.url = self.failover_url if on_primary else self.primary_url
        if on_primary:
            return [Note("WARNING", f"{self.name}: {self.primary_url} failed {self.failover_after} times in a row: "
                                    f"failing over to {self.url}", "failovers")]
        return [Note("INFO", f"{self.name}: trying the primary endpoint {self.url} again")]

    def health(self) -> list[Effect]:
        """The edges of 'connected with a snapshot of every book'."""
        healthy = self.opened_at is not None and self.snapshots.issuperset(self.level2_products)
        if healthy == self.healthy:
            return []
        self.healthy = healthy
        effects: list[Effect] = []
        if healthy:
            if self.fallback:
                effects.append(Fallback(False))
            if self.reported_down and self.reports_feed:
                self.reported_down = False
                effects.append(ReportFeed(True, "subscribed with fresh snapshots"))
        elif self.fallback and self.url is not None:
            effects.append(Fallback(True))
        return effects
