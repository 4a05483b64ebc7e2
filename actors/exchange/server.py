"""The built-in exchange's Advanced Trade market-data WebSocket server.

Owns the listening socket, the per-connection sessions (subscriptions, outgoing queue, sequence
numbers, heartbeat counters) and the thread that steps the `SyntheticMarket`. Speaks the protocol
of COINBASE.md: one channel per subscribe/unsubscribe, a `subscriptions` ack after each, level2 as
a snapshot then updates on channel `l2_data`, heartbeats every second, per-connection
`sequence_num` from 0, error frames (never a disconnect) for bad requests, and a close for a
connection that does not subscribe within the deadline.

Threads (all joined by `stop()`): one accept thread (websockets' `serve_forever`), one market thread,
and per connection the websockets handler thread (reads client messages) plus one writer thread
(the only thread that sends on that socket, so it numbers frames in the order they go out).
Infrastructure, not an actor: one lock guards the market and the sessions. The market thread steps
and enqueues each step's frames under it, and a subscribe reads its snapshot and enqueues it under
it, so a snapshot is always followed by exactly the updates after it. Nothing sends on a socket
while holding the lock.

Must never place orders for anyone or serve the `user` channel (not implemented yet: error frame).
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from decimal import Decimal
from typing import Any, Callable

import msgspec
from loguru import logger
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.sync.server import Server, ServerConnection, serve

from actors.exchange import frames
from actors.exchange.frames import PendingFrame
from actors.exchange.market import MarketStep, SyntheticMarket, TickerStats
from actors.products import CATALOG, ProductSpec

HEARTBEATS = "heartbeats"
LEVEL2 = "level2"
TICKER = "ticker"
MARKET_TRADES = "market_trades"
PRODUCT_CHANNELS = (LEVEL2, TICKER, MARKET_TRADES)
CHANNELS = (HEARTBEATS, *PRODUCT_CHANNELS)

_CLOSE_TIMEOUT_S = 1.0  # how long a closing handshake may wait for the client's reply
_STOP = object()  # writer: flush what is queued, then exit
_SLOW = object()  # writer: the client fell too far behind; close the socket and exit

Book = tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]


def _clock_function(clock: Any) -> Callable[[], float]:
    """Accept a callable returning epoch seconds or an object with a `now()` method."""
    if clock is None:
        return time.time
    now = getattr(clock, "now", None)
    return now if callable(now) else clock


class _Session:
    """One client connection. Fields are guarded by the server lock, except `outbox` (a queue)."""

    def __init__(self, number: int, ws: ServerConnection) -> None:
        self.number = number
        self.ws = ws
        self.outbox: queue.Queue[object] = queue.Queue()
        self.subscriptions: dict[str, list[str]] = {}
        self.has_subscribed = False
        self.heartbeat_counter = 0
        self.next_heartbeat = 0.0  # monotonic time
        self.closing = False


class ExchangeServer:
    """A Coinbase Advanced Trade compatible market-data server over a seeded synthetic market."""

    def __init__(
        self,
        seed: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
        tick_interval_s: float = 0.1,
        products: dict[str, ProductSpec] = CATALOG,
        clock: Any = None,
        heartbeat_interval_s: float = 1.0,
        subscribe_timeout_s: float = 5.0,
        max_queued_frames: int = 10_000,
    ) -> None:
        self._host = host
        self._port = port
        self._tick_interval_s = tick_interval_s
        self._heartbeat_interval_s = heartbeat_interval_s
        self._subscribe_timeout_s = subscribe_timeout_s
        self._max_queued_frames = max_queued_frames
        self._products = dict(products)
        self._clock = _clock_function(clock)
        self._market = SyntheticMarket(self._products, seed=seed, start_ts=self._clock())

        self._lock = threading.Lock()
        self._sessions: dict[int, _Session] = {}
        self._paused = False
        self._last_tickers: dict[str, TickerStats] = {}
        self._numbers = itertools.count(1)
        self._started_at = time.monotonic()

        self._stop_event = threading.Event()
        self._stopped = False
        self._ws_server: Server | None = None
        self._accept_thread: threading.Thread | None = None
        self._market_thread: threading.Thread | None = None
        self._handlers: list[tuple[threading.Thread, ServerConnection]] = []

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> int:
        """Bind, start serving and stepping the market; returns the bound port. One-shot."""
        if self._stopped:
            raise RuntimeError("an ExchangeServer cannot be restarted after stop()")
        if self._ws_server is not None:
            return self._port
        self._ws_server = serve(
            self._handle_connection,
            self._host,
            self._port,
            ping_interval=None,  # liveness is the heartbeats channel's job, as on Coinbase
            close_timeout=_CLOSE_TIMEOUT_S,
        )
        self._port = self._ws_server.socket.getsockname()[1]
        self._started_at = time.monotonic()
        self._accept_thread = threading.Thread(
            target=self._ws_server.serve_forever, name="exchange-ws-accept", daemon=True
        )
        self._market_thread = threading.Thread(target=self._run_market, name="exchange-market", daemon=True)
        self._accept_thread.start()
        self._market_thread.start()
        return self._port

    def stop(self) -> None:
        """Close every connection and join every thread this server started. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._stop_event.set()
        if self._market_thread is not None:
            self._market_thread.join()
        if self._ws_server is not None:
            self._ws_server.shutdown()
        if self._accept_thread is not None:
            self._accept_thread.join()
        with self._lock:
            handlers = list(self._handlers)
        for thread, ws in handlers:
            thread.join()
            ws.recv_events_thread.join()

    def __enter__(self) -> ExchangeServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"ws://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    @property
    def market(self) -> SyntheticMarket:
        """The market itself. Not thread-safe: the market thread steps it and subscribes read it, so
        use it directly only before start() or after stop(); `books()` is the safe read."""
        return self._market

    def books(self, product_id: str) -> Book:
        """The exchange's current aggregated (bids, offers), best first."""
        with self._lock:
            return self._market.book(product_id)

    def drop_connections(self) -> int:
        """Close every client connection (as a network drop would); keep serving new ones."""
        with self._lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            try:
                session.ws.close(code=1001, reason="dropped by the exchange")
            except Exception:  # already closing
                pass
        return len(sessions)

    def pause(self) -> None:
        """Stop stepping the market. On return, every frame of every past step is queued."""
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        with self._lock:
            self._paused = False

    # ----------------------------------------------------------------- market thread

    def _run_market(self) -> None:
        next_step = time.monotonic() + self._tick_interval_s
        # Waking at least this often lets a new heartbeat subscription be served on time.
        max_wait = min(self._tick_interval_s, self._heartbeat_interval_s / 10)
        while not self._stop_event.wait(max(0.0, min(next_step - time.monotonic(), max_wait))):
            now = time.monotonic()
            try:
                with self._lock:
                    if now >= next_step:
                        next_step = max(next_step + self._tick_interval_s, now)
                        if not self._paused:
                            self._broadcast(self._market.step(self._clock()))
                    self._send_heartbeats(now)
            except Exception:  # a bug here must not silently freeze the exchange
                logger.exception("exchange market step failed")

    def _broadcast(self, step: MarketStep) -> None:
        """Queue this step's frames for the sessions subscribed to them (lock held)."""
        ts = self._clock()
        for product in step.products:
            product_id = product.product_id
            spec = self._products[product_id]
            by_channel: dict[str, PendingFrame] = {}
            if product.changes:
                by_channel[LEVEL2] = frames.l2_update(ts, spec, product.changes, step.ts)
            if product.trades:
                by_channel[MARKET_TRADES] = frames.market_trades(ts, frames.UPDATE, spec, product.trades)
            stats = self._market.ticker(product_id)
            if stats != self._last_tickers.get(product_id):
                self._last_tickers[product_id] = stats
                by_channel[TICKER] = frames.ticker(ts, frames.UPDATE, spec, stats)
            for session in self._sessions.values():
                for channel, frame in by_channel.items():
                    if product_id in session.subscriptions.get(channel, ()):
                        self._enqueue(session, frame)

    def _send_heartbeats(self, now: float) -> None:
        for session in self._sessions.values():
            if HEARTBEATS in session.subscriptions and now >= session.next_heartbeat:
                session.heartbeat_counter += 1
                session.next_heartbeat = max(session.next_heartbeat + self._heartbeat_interval_s, now)
                uptime = now - self._started_at
                self._enqueue(session, frames.heartbeat(self._clock(), session.heartbeat_counter, uptime))

    def _enqueue(self, session: _Session, item: object) -> None:
        if session.closing:
            return
        if session.outbox.qsize() >= self._max_queued_frames:
            session.closing = True
            session.outbox.put(_SLOW)
            return
        session.outbox.put(item)

    # ----------------------------------------------------------------- connections

    def _handle_connection(self, ws: ServerConnection) -> None:
        """Runs on websockets' handler thread: read client messages until the socket closes."""
        with self._lock:
            session = _Session(next(self._numbers), ws)
            self._sessions[session.number] = session
            self._handlers = [(t, w) for t, w in self._handlers if t.is_alive()]
            self._handlers.append((threading.current_thread(), ws))
        writer = threading.Thread(
            target=self._write_frames,
            args=(session,),
            name=f"exchange-ws-writer-{session.number}",
            daemon=True,
        )
        writer.start()
        close_reason = ""
        try:
            deadline = time.monotonic() + self._subscribe_timeout_s
            while True:
                timeout = None if session.has_subscribed else deadline - time.monotonic()
                try:
                    if timeout is not None and timeout <= 0:
                        raise TimeoutError
                    message = ws.recv(timeout=timeout)
                except TimeoutError:
                    close_reason = "no subscribe received in time"
                    break
                except ConnectionClosed:
                    break
                self._on_client_message(session, message)
        finally:
            with self._lock:
                self._sessions.pop(session.number, None)
                session.closing = True
            session.outbox.put(_STOP)
            writer.join()
        if close_reason:
            ws.close(CloseCode.POLICY_VIOLATION, close_reason)

    def _write_frames(self, session: _Session) -> None:
        """The only sender on this socket: numbers data frames in the order they go out."""
        sequence_num = 0
        while True:
            item = session.outbox.get()
            if item is _STOP:
                return
            if item is _SLOW:
                session.ws.close(CloseCode.POLICY_VIOLATION, "slow consumer")
                return
            try:
                if isinstance(item, PendingFrame):
                    session.ws.send(item.render(sequence_num))
                    sequence_num += 1
                else:
                    session.ws.send(item)  # an error frame: no sequence number
            except (ConnectionClosed, OSError, RuntimeError):
                return

    def _on_client_message(self, session: _Session, message: str | bytes) -> None:
        try:
            request = msgspec.json.decode(message)
        except msgspec.DecodeError:
            self._reject(session, "malformed JSON")
            return
        if not isinstance(request, dict):
            self._reject(session, "a message must be a JSON object")
            return
        kind = request.get("type")
        if kind not in ("subscribe", "unsubscribe"):
            self._reject(session, f"unknown message type {kind!r}")
            return
        if "channels" in request:
            self._reject(session, "one channel per message: send 'channel' (a string), not 'channels'")
            return
        channel = request.get("channel")
        if channel not in CHANNELS:
            self._reject(session, f"unsupported channel {channel!r}")
            return
        product_ids = request.get("product_ids") or []
        if not isinstance(product_ids, list) or not all(isinstance(p, str) for p in product_ids):
            self._reject(session, "product_ids must be a list of strings")
            return
        unknown = [p for p in product_ids if p not in self._products]
        if unknown:
            self._reject(session, f"unknown product ids {unknown}")
            return
        if channel == HEARTBEATS:
            product_ids = []
        elif kind == "subscribe" and not product_ids:
            self._reject(session, f"channel {channel!r} needs product_ids")
            return
        with self._lock:
            if kind == "subscribe":
                self._subscribe(session, channel, product_ids)
            else:
                self._unsubscribe(session, channel, product_ids)

    def _reject(self, session: _Session, message: str) -> None:
        with self._lock:
            self._enqueue(session, frames.error(message))

    def _subscribe(self, session: _Session, channel: str, product_ids: list[str]) -> None:
        """Record, ack, then queue the initial data of each product (lock held)."""
        ts = self._clock()
        if channel == HEARTBEATS and HEARTBEATS not in session.subscriptions:
            session.next_heartbeat = time.monotonic() + self._heartbeat_interval_s
        subscribed = session.subscriptions.setdefault(channel, [])
        subscribed.extend(p for p in product_ids if p not in subscribed)
        session.has_subscribed = True
        self._enqueue(session, frames.subscriptions(ts, session.subscriptions))
        for product_id in product_ids:
            spec = self._products[product_id]
            if channel == LEVEL2:
                bids, offers = self._market.book(product_id)
                self._enqueue(session, frames.l2_snapshot(ts, spec, bids, offers, self._market.now))
            elif channel == TICKER:
                stats = self._market.ticker(product_id)
                self._enqueue(session, frames.ticker(ts, frames.SNAPSHOT, spec, stats))
            elif channel == MARKET_TRADES:
                recent = self._market.recent_trades(product_id)
                self._enqueue(session, frames.market_trades(ts, frames.SNAPSHOT, spec, recent))

    def _unsubscribe(self, session: _Session, channel: str, product_ids: list[str]) -> None:
        """Drop the products (all of the channel when none are named), then ack (lock held)."""
        subscribed = session.subscriptions.get(channel)
        if subscribed is not None:
            remaining = [p for p in subscribed if product_ids and p not in product_ids]
            if remaining:
                session.subscriptions[channel] = remaining
            else:
                del session.subscriptions[channel]
        self._enqueue(session, frames.subscriptions(self._clock(), session.subscriptions))
