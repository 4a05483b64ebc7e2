"""The streaming actor: owns the websocket connection to an Advanced Trade endpoint.

Owns the socket (a websocket-client app on its own reader thread), the connection number, and the
reconnect schedule (jittered exponential back-off on the injected clock). Every frame, from the
socket or from a replay driver, arrives as a RawFrame in this actor's mailbox and goes through the
pure StreamingCore; books and trades go on to market_data and, in paper mode, to the venue.
Must never parse prices, keep a book, or block its handler on the socket.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import websocket
from loguru import logger

from actors.orchestrator.messages import ResyncRequest
from actors.streaming.core import StreamingCore
from actors.streaming.messages import L2Update, RawFrame, Reconnect, SocketClosed, SocketOpened, StreamGap, TradePrint
from runtime.actor import SupervisedActor
from runtime.backoff import Backoff


class StreamingActor(SupervisedActor):
    def __init__(self, name: str, epoch: int, services: Any, products: tuple[str, ...], channels: tuple[str, ...],
                 url: str | None, backoff: Backoff, seed: int, book_consumers: tuple[str, ...] = ("market_data",)) -> None:
        super().__init__(name, epoch, services)
        self.products = products
        self.channels = channels
        self.url = url  # None: frames come from a replay driver
        self.backoff = backoff
        self.rng = random.Random(seed * 1000 + epoch)
        self.book_consumers = book_consumers
        self.core = StreamingCore(products, channels)
        self.conn = 0
        self.attempt = 0
        self.app: websocket.WebSocketApp | None = None
        self.thread: threading.Thread | None = None
        self.reconnects = self.metrics.counter("feed.reconnects")

    # -- lifecycle --------------------------------------------------------------------------------
    def start_core(self) -> None:
        if self.url is not None:
            self._connect()

    def stop_core(self) -> None:
        self._close_socket()

    def _connect(self) -> None:
        # Connection numbers are unique across incarnations so late frames of an old socket are
        # recognised as such by the core.
        self.conn = self.epoch * 100_000 + (self.conn % 100_000) + 1
        conn = self.conn
        tell = self._tell_self
        self.app = websocket.WebSocketApp(
            self.url,
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
            try:
                app.close()
            except Exception:
                logger.opt(exception=True).debug("closing socket")
        if join and thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)

    # -- messages ---------------------------------------------------------------------------------
    def handle(self, message: Any) -> Any:
        kind = type(message)
        if kind is RawFrame:
            self._on_frame(message)
        elif kind is SocketOpened:
            if message.conn == self.conn and self.app is not None:
                self.core.on_connected(message.conn)
                self._send_all(self.core.subscribe_messages())
        elif kind is SocketClosed:
            self._on_closed(message)
        elif kind is Reconnect:
            if self.url is not None and self.app is None:
                self._connect()
        elif kind is ResyncRequest:
            logger.info("resync requested: {}", message.reason)
            self._send_all(self.core.resync_messages())
        elif message == "report":
            return self.core.counters()
        return None

    def _on_frame(self, raw: RawFrame) -> None:
        result = self.core.on_frame(raw, self.clock.now())
        for out in result.outputs:
            kind = type(out)
            if kind is L2Update or kind is TradePrint:
                for consumer in self.book_consumers:
                    self.send(consumer, out)
            elif kind is StreamGap:
                logger.warning("sequence gap on connection {}: expected {} got {}", out.conn, out.expected, out.received)
                self.send("market_data", out)
        if result.resubscribe:
            self._send_all(result.resubscribe)
        if result.rejected is not None:
            logger.debug("skipped frame: {} {}", result.rejected.kind, result.rejected.detail)

    def _on_closed(self, message: SocketClosed) -> None:
        if message.conn != self.conn:
            return
        for gap in self.core.on_disconnected(message.conn):
            self.send("market_data", gap)
        self._close_socket(join=False)  # its reader thread is already ending
        self.attempt += 1
        self.reconnects.inc()
        delay = self.backoff.delay(self.attempt, self.rng)
        logger.warning("socket {} closed ({}); reconnect attempt {} in {:.2f}s", message.conn, message.reason,
                       self.attempt, delay)
        self.later(delay, Reconnect(self.attempt))

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
        if texts and self.attempt:
            self.attempt = 0  # subscribed again: the next failure starts the back-off afresh
