"""The streaming actor: owns the websocket connection to an Advanced Trade endpoint.

Owns the socket (a websocket-client app on its own reader thread), the connection number, the
reconnect schedule (jittered exponential back-off on the injected clock), the watchdogs (no frame
or no heartbeat for too long means the socket is dead even if TCP is open) and the REST fallback
poller. Every frame, from the socket or from a replay driver, arrives as a RawFrame in this
actor's mailbox and goes through the pure StreamingCore; books and trades go on to market_data
and, in paper mode, to the venue. It never gives up: after `reduce_after_attempts` failed
reconnects in a row it tells the orchestrator (trading goes REDUCING) and keeps retrying at the
cap. Must never parse prices, keep a book, or block its handler on the socket.

The same class runs the private stream (`user`, `futures_balance_summary`): other channels, no
level2, so no books, no REST fallback and no FeedHealth (a private stream failing says nothing
about market data, and must not move trading to REDUCING). With a `failover_url` it alternates
endpoints: after `failover_after` failed connections in a row to the one in use, the next attempts
go to the other, and a stable connection to the failover that is lost sends the next attempt back
to the primary. Private frames are counted per channel; with a `private_consumer` each `user` and
`heartbeats` frame also goes to it, decoded once (actors.wire.user.UserStreamFrame: the venue
gateway reads orders and fills from them, and times its dead-man switch on both; a `user` frame
that could not be read goes as `unreadable`).
"""

from __future__ import annotations

import random
import socket
import threading
import time
from typing import Any, cast

import msgspec
import websocket
from loguru import logger

from actors.streaming.codec import CHANNEL_OF, FuturesBalanceSummaryFrame, UserFrame
from actors.streaming.connection import Close, Connect, ConnectionPolicy, Effect, Fallback, Later, Note, ReportFeed
from actors.streaming.core import HEARTBEATS, StreamingCore
from actors.streaming.rest_books import RestBook, RestBookPoller
from actors.wire.user import UserStreamFrame
from config.schema import StreamingConfig
from domain.control import FeedHealth, ResyncRequest
from domain.market import (
    L2Update,
    ProductStatus,
    RawFrame,
    Reconnect,
    SocketClosed,
    SocketOpened,
    StreamGap,
    TradePrint,
)
from domain.queries import ReportQuery
from runtime.actor import SupervisedActor


class WatchdogTick(msgspec.Struct, frozen=True):
    """Timer message: check the socket's message and heartbeat ages."""


FUTURES_BALANCE_SUMMARY = CHANNEL_OF[FuturesBalanceSummaryFrame]
USER = CHANNEL_OF[UserFrame]


class StreamingActor(SupervisedActor):
    def __init__(self, name: str, epoch: int, services: Any, products: tuple[str, ...], config: StreamingConfig,
                 url: str | None, rest_url: str | None, seed: int,
                 book_consumers: tuple[str, ...] = ("market_data",), credentials: Any = None,
                 channels: tuple[str, ...] | None = None, failover_url: str | None = None,
                 failover_after: int = 3, metric_prefix: str = "feed.",
                 private_consumer: str | None = None) -> None:
        """`channels`: subscribe names (default: config.channels). `failover_url`: the endpoint to
        alternate with `url` after `failover_after` failures in a row. `metric_prefix` names this
        instance's counters (`feed.reconnects`, or e.g. `feed.user_reconnects`). `private_consumer`:
        the logical name each `user` and `heartbeats` frame is forwarded to (None: counted only)."""
        super().__init__(name, epoch, services)
        self.private_consumer = private_consumer
        self.products = products
        self.config = config
        self.book_consumers = book_consumers
        # With credentials every outgoing message carries a fresh JWT (they live 120 s).
        jwt_factory = (lambda: credentials.make_jwt(self.clock.now())) if credentials is not None else None
        self.core = StreamingCore(products, tuple(config.channels if channels is None else channels), jwt_factory)
        self.feeds_books = bool(self.core.level2_products)  # False: a private stream
        self.watches_balance = FUTURES_BALANCE_SUMMARY in self.core.channels
        self.last_balance_summary_at: float | None = None
        self.app: websocket.WebSocketApp | None = None
        self.thread: threading.Thread | None = None
        self.poller = None
        if url is not None and rest_url and config.rest_fallback and self.feeds_books:
            self.poller = RestBookPoller(rest_url, products, config.rest_interval_s, self._tell_self)
        self.policy = ConnectionPolicy(config, url, epoch, random.Random(seed * 1000 + epoch),
                                       frozenset(self.core.level2_products), failover_url, failover_after,
                                       fallback=self.poller is not None, reports_feed=self.feeds_books, name=name)
        self.reconnects = self.metrics.counter(f"{metric_prefix}reconnects")
        self.stalls = self.metrics.counter(f"{metric_prefix}stalls")
        self.resyncs = self.metrics.counter(f"{metric_prefix}resyncs")
        self.rest_fallbacks = self.metrics.counter(f"{metric_prefix}rest_fallbacks")
        self.connects = self.metrics.counter(f"{metric_prefix}connects")
        self.failovers = self.metrics.counter(f"{metric_prefix}failovers")
        self._counters = {"stalls": self.stalls, "reconnects": self.reconnects, "failovers": self.failovers}

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def url(self) -> str | None:
        """The endpoint in use; None: frames come from a replay driver."""
        return self.policy.url

    @property
    def conn(self) -> int:
        return self.policy.conn

    def start_core(self) -> None:
        if self.url is not None:
            self._perform(self.policy.connect(self.clock.now()))
            self.every(self.config.watchdog_interval_s, WatchdogTick())

    def stop_core(self) -> None:
        if self.poller is not None:
            self.poller.stop(join=True)
        self._close_socket()

    def _perform(self, effects: list[Effect]) -> None:
        for effect in effects:
            kind = type(effect)
            if kind is Connect:
                self._open(cast(Connect, effect).conn, cast(Connect, effect).url)
            elif kind is Close:
                self.core.on_disconnected(self.conn)
                self._close_socket(join=False)  # its reader thread ends by itself
            elif kind is Later:
                self.later(cast(Later, effect).delay_s, Reconnect(cast(Later, effect).attempt))
            elif kind is ReportFeed:
                report = cast(ReportFeed, effect)
                self.tell_supervisor(FeedHealth(report.up, report.reason, report.attempts))
            elif kind is Fallback:
                if self.poller is not None:
                    if cast(Fallback, effect).on:
                        self.poller.start()
                    else:
                        self.poller.stop()
            elif kind is Note:
                note = cast(Note, effect)
                if note.counter:
                    self._counters[note.counter].inc()
                logger.log(note.level, note.text)

    def _open(self, conn: int, url: str) -> None:
        tell = self._tell_self
        self.app = websocket.WebSocketApp(
            url,
            on_open=lambda ws: tell(SocketOpened(conn)),
            on_message=lambda ws, text: tell(RawFrame(text, conn, time.perf_counter_ns())),
            on_close=lambda ws, code, msg: tell(SocketClosed(conn, f"closed {code} {msg or ''}".strip())),
            on_error=lambda ws, exc: logger.debug("socket {} error: {}", conn, exc),
        )
        self.thread = threading.Thread(
            target=self.app.run_forever, kwargs={"skip_utf8_validation": True},
            name=f"ws-{self.name}-{conn}", daemon=True,
        )
        self.thread.start()

    def _close_socket(self, join: bool = True) -> None:
        """Close the socket; join its reader thread only when stopping (a handler must not block)."""
        app, thread = self.app, self.thread
        self.app, self.thread = None, None
        if app is not None:
            app.keep_running = False
            sock = app.sock
            try:
                if sock is not None and sock.connected:
                    sock.send_close()  # polite, without waiting for the answer
                raw = getattr(sock, "sock", None)
                if raw is not None:
                    # Closing an fd does not wake a thread blocked in recv on it; shutdown does.
                    raw.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone
            except Exception:
                logger.opt(exception=True).debug("closing socket")
        if join and thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)

    # -- messages ---------------------------------------------------------------------------------
    def handle(self, message: Any) -> Any:
        kind = type(message)
        if kind is RawFrame:
            self._on_frame(message)
        elif kind is WatchdogTick:
            self._watchdog()
        elif kind is RestBook:
            self._on_rest_book(message)
        elif kind is SocketOpened:
            if self.policy.opened(message.conn, self.clock.now()):
                self.connects.inc()
                self.core.on_connected(message.conn)
                self._send_all(self.core.subscribe_messages())
        elif kind is SocketClosed:
            self._perform(self.policy.closed(message.conn, message.reason, self.clock.now()))
        elif kind is Reconnect:
            self._perform(self.policy.connect(self.clock.now()))
        elif kind is ResyncRequest:
            logger.info("resync requested: {}", message.reason)
            self._resync()
        elif type(message) is ReportQuery:
            return self._report()
        return None

    def _report(self) -> dict[str, Any]:
        report = self.core.counters()
        report.update(url_in_use=self.url, connects=self.connects.value, reconnects=self.reconnects.value,
                      failovers=self.failovers.value, last_error=self.core.last_error)
        if self.watches_balance:
            report["last_balance_summary_at"] = self.last_balance_summary_at
        return report

    def _on_frame(self, raw: RawFrame) -> None:
        now = self.clock.now()
        policy = self.policy
        policy.frame(raw.conn, now)
        result = self.core.on_frame(raw, now)
        private = self.private_consumer
        if (result.channel == USER or result.channel == HEARTBEATS) and private is not None:
            self.send(private, UserStreamFrame(result.channel, raw.conn, result.user_events))
        elif private is not None and result.rejected is not None and result.rejected.channel == USER:
            self.send(private, UserStreamFrame(USER, raw.conn, unreadable=True))  # the stream spoke
        elif result.channel == FUTURES_BALANCE_SUMMARY:
            self.last_balance_summary_at = now
        for out in result.outputs:
            kind = type(out)
            if kind is L2Update or kind is TradePrint:
                for consumer in self.book_consumers:
                    self.send(consumer, out)
                if kind is L2Update:  # mypy does not narrow through `kind is`: the casts say what it guarantees
                    update = cast(L2Update, out)
                    if update.is_snapshot:
                        policy.snapshot(update.product_id, update.conn)
            elif kind is StreamGap:
                gap = cast(StreamGap, out)
                logger.warning("sequence gap on connection {}: expected {} got {}", gap.conn, gap.expected,
                               gap.received)
                policy.gap()
                if self.feeds_books:
                    self.send("market_data", out)
            elif kind is ProductStatus:
                self.send("market_data", out)
        if result.resubscribe:
            self.resyncs.inc()
            self._send_all(result.resubscribe)
        rejected = result.rejected
        if rejected is not None:
            if result.first_of_kind:  # once per kind: a hostile feed must not flood the log
                logger.warning("{}: malformed frame skipped ({}): {}; further ones of this kind are counted "
                               "only (malformed_kinds)", self.name, rejected.reason, rejected.detail)
            else:
                logger.debug("skipped frame: {} {} {}", rejected.kind, rejected.reason, rejected.detail)
        self._perform(policy.health())

    def _watchdog(self) -> None:
        self._perform(self.policy.watchdog(self.clock.now(), self.core.last_heartbeat_at))

    def _resync(self) -> None:
        self.resyncs.inc()
        self._send_all(self.core.resync_messages())
        self._perform(self.policy.resync())

    def _on_rest_book(self, book: RestBook) -> None:
        if self.policy.healthy:
            return  # the stream is back: its own snapshot rules
        self.rest_fallbacks.inc()
        update = L2Update.from_sides(book.product_id, True, book.bids, book.asks, self.clock.now(), -1,
                                     time.perf_counter_ns())
        for consumer in self.book_consumers:
            self.send(consumer, update)

    def _send_all(self, texts: list[str]) -> None:
        app = self.app
        if app is None or app.sock is None:
            return
        for text in texts:
            try:
                app.send(text)
            except Exception as exc:  # the close callback will follow and reconnect
                logger.warning("send failed on connection {}: {}", self.conn, exc)
                return
