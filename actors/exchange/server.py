"""The built-in exchange's Advanced Trade server: market-data and user-data WebSockets and public REST
on one port.

Owns the listening socket, the per-connection sessions (subscriptions, outgoing queue, sequence
numbers, heartbeat counters), the thread that steps the `SyntheticMarket`, and the application of
chaos (see `chaos.py`) to the feed. Speaks the protocol of COINBASE.md: one channel per
subscribe/unsubscribe, a `subscriptions` ack after each, level2 as a snapshot then updates on
channel `l2_data`, heartbeats every second, `ticker`, `ticker_batch` (every 5 s), `market_trades`,
`candles` (5-minute buckets, the current one every second), `status` (a snapshot on subscribe, an
update when `set_product_status` changes a product), per-connection
`sequence_num` from 0, error frames (never a disconnect) for bad requests, and a close for a
connection that does not subscribe within the deadline. A plain HTTP GET (not a WebSocket upgrade)
is answered by the public REST endpoints of `rest.py`, through websockets' `process_request` hook.

Threads (all joined by `stop()`): one accept thread (websockets' `serve_forever`), one market thread,
and per connection the websockets handler thread (answers REST, or reads client messages) plus, for
a WebSocket, one writer thread (the only thread that sends on that socket, so it numbers frames in
the order they go out). Infrastructure, not an actor: one lock guards the market, the sessions, the
chaos state and the rate limiter. The market thread steps and enqueues each step's frames under it,
and a subscribe reads its snapshot and enqueues it under it, so a snapshot is always followed by
exactly the updates after it. Nothing sends on a socket while holding the lock.

Chaos is timed on the injected clock and applied by the market thread to every live connection:
sequence tricks (gap, duplicate, reorder) are markers in a connection's queue that its writer
obeys, a stall withholds a connection's frames and releases them in order afterwards, a disconnect
shuts the TCP socket down without a close frame, and the windows (refuse, ignore_subscribe,
no_heartbeat, slow_snapshot) are server-wide deadlines.

Two WebSocket endpoints, told apart by the request path as Coinbase tells them apart by host:
market data at `/` (`url`) serves every channel, the private ones included (it is the user-data
endpoint's failover); user data at `/user` (`user_url`) serves only `heartbeats`, `user` and
`futures_balance_summary`. A private subscribe needs a well-formed, unexpired ES256 JWT (`auth.py`;
signatures are not verified yet) or it gets `authentication failure`. `user` answers a snapshot of
the paper account's orders and positions (none yet: the exchange takes no private orders), and
`futures_balance_summary` a snapshot of its balances, re-sent as an update every few seconds.
Chaos applies to both endpoints' connections alike.

Must never place orders for anyone (orders over REST come with the next issue).
"""

from __future__ import annotations

import email.utils
import itertools
import math
import queue
import socket
import threading
import time
from collections import deque
from decimal import Decimal
from http import HTTPStatus
from typing import Any, Callable, Iterable

import msgspec
from loguru import logger
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from actors.exchange import frames, rest
from actors.exchange.account import PaperAccount
from actors.exchange.auth import AUTH_FAILURE, well_formed_jwt
from actors.exchange.chaos import (
    DISCONNECT,
    DUPLICATE,
    ERROR_FRAME,
    GAP,
    IGNORE_SUBSCRIBE,
    MALFORMED,
    NO_HEARTBEAT,
    REFUSE,
    REORDER,
    SLOW_SNAPSHOT,
    STALL,
    ChaosPlan,
    ChaosSpec,
)
from actors.exchange.frames import Candle, PendingFrame
from actors.exchange.market import MarketStep, SyntheticMarket, TickerStats
from actors.products import CATALOG, ProductSpec

HEARTBEATS = "heartbeats"
LEVEL2 = "level2"
TICKER = "ticker"
TICKER_BATCH = "ticker_batch"
MARKET_TRADES = "market_trades"
CANDLES = "candles"
STATUS = "status"
PRODUCT_CHANNELS = (LEVEL2, TICKER, TICKER_BATCH, MARKET_TRADES, CANDLES, STATUS)
USER = "user"
FUTURES_BALANCE_SUMMARY = "futures_balance_summary"
PRIVATE_CHANNELS = (USER, FUTURES_BALANCE_SUMMARY)  # a subscribe needs a JWT
CHANNELS = (HEARTBEATS, *PRODUCT_CHANNELS, *PRIVATE_CHANNELS)
USER_PATH = "/user"  # the user-data endpoint; any other path is the market-data endpoint
USER_ENDPOINT_CHANNELS = (HEARTBEATS, *PRIVATE_CHANNELS)

CANDLE_SECONDS = 300
CANDLE_HISTORY = 12  # closed buckets kept for a candles snapshot (one hour)

_CLOSE_TIMEOUT_S = 1.0  # how long a closing handshake may wait for the client's reply
_REORDER_WAIT_S = 1.0  # a frame held back for a reorder goes out alone if no second one comes
_STOP = object()  # writer: flush what is queued, then exit
_SLOW = object()  # writer: the client fell too far behind; close the socket and exit
_GAP = object()  # writer: skip one sequence number
_DUPLICATE_NEXT = object()  # writer: send the next data frame twice, same sequence_num
_REORDER_NEXT = object()  # writer: send the next two data frames in swapped order

Book = tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]


def _clock_function(clock: Any) -> Callable[[], float]:
    """Accept a callable returning epoch seconds or an object with a `now()` method."""
    if clock is None:
        return time.time
    now = getattr(clock, "now", None)
    return now if callable(now) else clock


class _Session:
    """One client connection. Fields are guarded by the server lock, except `outbox` (a queue)."""

    def __init__(self, number: int, ws: ServerConnection, user_endpoint: bool = False) -> None:
        self.number = number
        self.ws = ws
        self.user_endpoint = user_endpoint  # connected to USER_PATH: private channels only
        self.outbox: queue.Queue[object] = queue.Queue()
        self.subscriptions: dict[str, list[str]] = {}
        self.has_subscribed = False
        self.heartbeat_counter = 0
        self.next_heartbeat = 0.0  # monotonic time
        self.closing = False
        self.held: list[object] | None = None  # while stalled: what would have been queued
        self.stalled_until = 0.0  # clock time


class _CandleSeries:
    """One product's 5-minute OHLCV buckets from its trades, in market time.

    A bucket with no trade yet shows the previous close with volume 0; its first trade sets open,
    high, low and close.
    """

    def __init__(self, price: Decimal, now: float) -> None:
        self.history: deque[Candle] = deque(maxlen=CANDLE_HISTORY)
        self._open_bucket(_bucket_start(now), price)

    def add(self, ts: float, price: Decimal, size: Decimal) -> None:
        self.roll(ts)
        if _bucket_start(ts) < self.start:
            return  # a print for a bucket already closed
        if self.traded:
            self.high, self.low = max(self.high, price), min(self.low, price)
        else:
            self.open = self.high = self.low = price
            self.traded = True
        self.close = price
        self.volume += size

    def roll(self, now: float) -> None:
        """Close the current bucket if `now` is past it."""
        start = _bucket_start(now)
        if start > self.start:
            self.history.append(self.current())
            self._open_bucket(start, self.close)

    def current(self) -> Candle:
        return Candle(self.start, self.open, self.high, self.low, self.close, self.volume)

    def snapshot(self) -> list[Candle]:
        """Closed buckets then the current one, oldest first."""
        return [*self.history, self.current()]

    def _open_bucket(self, start: int, price: Decimal) -> None:
        self.start = start
        self.open = self.high = self.low = self.close = price
        self.volume = Decimal(0)
        self.traded = False


def _bucket_start(ts: float) -> int:
    return math.floor(ts / CANDLE_SECONDS) * CANDLE_SECONDS


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
        *,
        chaos: Iterable[ChaosSpec] = (),
        ticker_batch_interval_s: float = 5.0,
        candle_interval_s: float = 1.0,
        public_rate_per_s: float = rest.PUBLIC_RATE_PER_S,
        account: PaperAccount | None = None,
        balance_interval_s: float = 5.0,
    ) -> None:
        self._host = host
        self._port = port
        self._tick_interval_s = tick_interval_s
        self._heartbeat_interval_s = heartbeat_interval_s
        self._subscribe_timeout_s = subscribe_timeout_s
        self._max_queued_frames = max_queued_frames
        self._ticker_batch_interval_s = ticker_batch_interval_s
        self._candle_interval_s = candle_interval_s
        self._account = account if account is not None else PaperAccount()
        self._balance_interval_s = balance_interval_s
        self._products = dict(products)
        self._clock = _clock_function(clock)
        self._market = SyntheticMarket(self._products, seed=seed, start_ts=self._clock())

        self._lock = threading.Lock()
        self._sessions: dict[int, _Session] = {}
        self._paused = False
        self._last_tickers: dict[str, TickerStats] = {}
        self._candles = {
            product_id: _CandleSeries(self._market.ticker(product_id).price, self._market.now)
            for product_id in self._products
        }
        self._numbers = itertools.count(1)
        self._started_at = time.monotonic()
        self._next_ticker_batch = self._next_candles = self._next_balance = 0.0  # monotonic, set by start()
        self._rate_limiter = rest.PublicRateLimiter(public_rate_per_s)
        self._product_status: dict[str, tuple[str, str]] = {}  # (status, message); absent: online

        self._chaos_specs = tuple(chaos)
        self._chaos: ChaosPlan | None = None  # created by start(): its times count from then
        self._refuse_until = -math.inf  # clock times ending the chaos windows
        self._ignore_subscribe_until = -math.inf
        self._no_heartbeat_until = -math.inf
        self._slow_snapshot_until = -math.inf
        self._slow_snapshot_delay_s = 0.0
        self._pending_snapshots: list[tuple[float, _Session, str]] = []  # (due clock time, ...)

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
            process_request=self._process_request,
            ping_interval=None,  # liveness is the heartbeats channel's job, as on Coinbase
            close_timeout=_CLOSE_TIMEOUT_S,
        )
        self._port = self._ws_server.socket.getsockname()[1]
        self._started_at = time.monotonic()
        with self._lock:
            self._chaos = ChaosPlan(self._chaos_specs, self._clock())
            self._apply_chaos(self._clock())  # `at=0` is in force before the first client connects
            self._next_ticker_batch = self._started_at + self._ticker_batch_interval_s
            self._next_candles = self._started_at + self._candle_interval_s
            self._next_balance = self._started_at + self._balance_interval_s
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
    def user_url(self) -> str:
        """The user-data endpoint: heartbeats, user and futures_balance_summary only."""
        return f"ws://{self._host}:{self._port}{USER_PATH}"

    @property
    def account(self) -> PaperAccount:
        return self._account

    @property
    def rest_url(self) -> str:
        """Base of the REST endpoints, e.g. f"{rest_url}/api/v3/brokerage/time"."""
        return f"http://{self._host}:{self._port}"

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

    def chaos_counts(self) -> dict[str, int]:
        """Chaos injections applied so far by kind; every configured kind is listed (maybe 0)."""
        with self._lock:
            fired = self._chaos.counts() if self._chaos is not None else {}
        return {spec.kind: 0 for spec in self._chaos_specs} | fired

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
            aborted: list[_Session] = []
            try:
                with self._lock:
                    ts = self._clock()
                    aborted = self._apply_chaos(ts)
                    if now >= next_step:
                        next_step = max(next_step + self._tick_interval_s, now)
                        if not self._paused:
                            self._broadcast(self._market.step(self._clock()))
                    self._send_heartbeats(now)
                    self._send_periodic(now)
                    self._release_due(ts)
            except Exception:  # a bug here must not silently freeze the exchange
                logger.exception("exchange market step failed")
            for session in aborted:
                _abort(session.ws)

    def _broadcast(self, step: MarketStep) -> None:
        """Queue this step's frames for the sessions subscribed to them (lock held)."""
        ts = self._clock()
        for product in step.products:
            product_id = product.product_id
            spec = self._products[product_id]
            candles = self._candles[product_id]
            for printed in product.trades:
                candles.add(printed.ts, printed.trade.price, printed.trade.size)
            if product.changes:
                self._publish(LEVEL2, product_id, frames.l2_update(ts, spec, product.changes, step.ts))
            if product.trades:
                self._publish(MARKET_TRADES, product_id,
                              frames.market_trades(ts, frames.UPDATE, spec, product.trades))
            stats = self._market.ticker(product_id)
            if stats != self._last_tickers.get(product_id):
                self._last_tickers[product_id] = stats
                self._publish(TICKER, product_id, frames.ticker(ts, frames.UPDATE, spec, stats))

    def _publish(self, channel: str, product_id: str, frame: PendingFrame) -> None:
        for session in self._sessions.values():
            if product_id in session.subscriptions.get(channel, ()):
                self._enqueue(session, frame)

    def _subscribed(self, channel: str, product_id: str) -> bool:
        return any(product_id in s.subscriptions.get(channel, ()) for s in self._sessions.values())

    def _send_heartbeats(self, now: float) -> None:
        # During a no_heartbeat window the counter keeps counting: the beats are lost, not late.
        suppressed = self._clock() < self._no_heartbeat_until
        for session in self._sessions.values():
            if HEARTBEATS in session.subscriptions and now >= session.next_heartbeat:
                session.heartbeat_counter += 1
                session.next_heartbeat = max(session.next_heartbeat + self._heartbeat_interval_s, now)
                if suppressed:
                    continue
                uptime = now - self._started_at
                self._enqueue(session, frames.heartbeat(self._clock(), session.heartbeat_counter, uptime))

    def _send_periodic(self, now: float) -> None:
        """ticker_batch and the balance summary every few seconds, the current candle every second
        (lock held)."""
        ts = self._clock()
        if now >= self._next_balance:
            self._next_balance = max(self._next_balance + self._balance_interval_s, now)
            subscribers = [s for s in self._sessions.values() if FUTURES_BALANCE_SUMMARY in s.subscriptions]
            if subscribers:
                frame = frames.futures_balance_summary(ts, frames.UPDATE, self._account)
                for session in subscribers:
                    self._enqueue(session, frame)
        if now >= self._next_ticker_batch:
            self._next_ticker_batch = max(self._next_ticker_batch + self._ticker_batch_interval_s, now)
            for product_id, spec in self._products.items():
                if self._subscribed(TICKER_BATCH, product_id):
                    stats = self._market.ticker(product_id)
                    frame = frames.ticker(ts, frames.UPDATE, spec, stats, channel=frames.TICKER_BATCH)
                    self._publish(TICKER_BATCH, product_id, frame)
        if now >= self._next_candles:
            self._next_candles = max(self._next_candles + self._candle_interval_s, now)
            for product_id, spec in self._products.items():
                series = self._candles[product_id]
                series.roll(self._market.now)
                if self._subscribed(CANDLES, product_id):
                    frame = frames.candles(ts, frames.UPDATE, spec, [series.current()])
                    self._publish(CANDLES, product_id, frame)

    def _enqueue(self, session: _Session, item: object) -> None:
        if session.closing:
            return
        if session.outbox.qsize() + len(session.held or ()) >= self._max_queued_frames:
            session.closing = True
            session.held = None
            session.outbox.put(_SLOW)
            return
        if session.held is not None:
            session.held.append(item)
        else:
            session.outbox.put(item)

    # ----------------------------------------------------------------- chaos

    def _apply_chaos(self, ts: float) -> list[_Session]:
        """Apply what the plan says is due (lock held); returns the sessions to cut off."""
        if self._chaos is None:
            return []
        aborted: list[_Session] = []
        for event in self._chaos.due(ts):
            logger.info("chaos: {} fired on {} connection(s)", event.spec, len(self._sessions))
            until = ts + event.duration_s
            sessions = list(self._sessions.values())
            kind = event.kind
            if kind == DISCONNECT:
                for session in sessions:
                    if not session.closing:
                        session.closing = True
                        session.held = None
                        aborted.append(session)
            elif kind == STALL:
                for session in sessions:
                    session.stalled_until = max(session.stalled_until, until)
                    if session.held is None:
                        session.held = []
            elif kind in (GAP, DUPLICATE, REORDER, MALFORMED, ERROR_FRAME):
                item = {
                    GAP: _GAP,
                    DUPLICATE: _DUPLICATE_NEXT,
                    REORDER: _REORDER_NEXT,
                    MALFORMED: frames.malformed(),
                    ERROR_FRAME: frames.error("chaos: injected error"),
                }[kind]
                for session in sessions:
                    self._enqueue(session, item)
            elif kind == NO_HEARTBEAT:
                self._no_heartbeat_until = max(self._no_heartbeat_until, until)
            elif kind == SLOW_SNAPSHOT:
                self._slow_snapshot_until = max(self._slow_snapshot_until, until)
                self._slow_snapshot_delay_s = event.duration_s
            elif kind == REFUSE:
                self._refuse_until = max(self._refuse_until, until)
            elif kind == IGNORE_SUBSCRIBE:
                self._ignore_subscribe_until = max(self._ignore_subscribe_until, until)
        return aborted

    def _release_due(self, ts: float) -> None:
        """End stalls whose time is up and send delayed snapshots that are due (lock held)."""
        for session in self._sessions.values():
            if session.held is not None and ts >= session.stalled_until:
                held, session.held = session.held, None
                for item in held:
                    session.outbox.put(item)
        if not self._pending_snapshots:
            return
        due = [p for p in self._pending_snapshots if p[0] <= ts]
        self._pending_snapshots = [p for p in self._pending_snapshots if p[0] > ts]
        for _, session, product_id in due:
            live = self._sessions.get(session.number) is session
            if live and product_id in session.subscriptions.get(LEVEL2, ()):
                self._enqueue(session, self._l2_snapshot(product_id))

    # ----------------------------------------------------------------- connections

    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        """Runs on websockets' handler thread before any handshake: REST, or refuse, or accept."""
        with self._lock:
            self._handlers = [(t, w) for t, w in self._handlers if t.is_alive()]
            self._handlers.append((threading.current_thread(), ws))
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return self._serve_rest(ws, request)
        with self._lock:
            refusing = self._clock() < self._refuse_until
        if refusing:
            return ws.respond(HTTPStatus.SERVICE_UNAVAILABLE, "connections refused for now (chaos)\n")
        return None

    def _serve_rest(self, ws: ServerConnection, request: Request) -> Response:
        try:
            client = str(ws.remote_address[0])
        except (OSError, IndexError, TypeError):
            client = ""
        with self._lock:
            decision = self._rate_limiter.take(client, self._clock())
            view = self._market_view() if decision.allowed else None
        if view is None:
            answer = rest.rate_limited(decision)
        else:
            answer = rest.with_rate_headers(rest.handle_get(request.method, request.path, view), decision)
        headers = Headers([
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(answer.body))),
            *answer.headers,
        ])
        return Response(answer.status, HTTPStatus(answer.status).phrase, headers, answer.body)

    def _market_view(self) -> rest.MarketView:
        products = []
        for product_id, spec in self._products.items():
            bids, offers = self._market.book(product_id)
            products.append(rest.ProductView(spec, self._market.ticker(product_id), tuple(bids), tuple(offers)))
        return rest.MarketView(tuple(products), self._market.now, self._clock())

    def _handle_connection(self, ws: ServerConnection) -> None:
        """Runs on websockets' handler thread: read client messages until the socket closes."""
        path = ws.request.path.split("?", 1)[0].rstrip("/") if ws.request is not None else ""
        with self._lock:
            session = _Session(next(self._numbers), ws, user_endpoint=path == USER_PATH)
            self._sessions[session.number] = session
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
                session.held = None
            session.outbox.put(_STOP)
            writer.join()
        if close_reason:
            ws.close(CloseCode.POLICY_VIOLATION, close_reason)

    def _write_frames(self, session: _Session) -> None:
        """The only sender on this socket: numbers data frames in the order they go out, and
        obeys the chaos markers (skip a number, send one twice, swap two)."""
        sequence_num = 0
        duplicate_next = reorder_next = False
        held_back: str | None = None  # a rendered frame waiting for its reorder partner

        def send(text: str) -> bool:
            try:
                session.ws.send(text)
                return True
            except (ConnectionClosed, OSError, RuntimeError):
                return False

        while True:
            try:
                item = session.outbox.get(timeout=_REORDER_WAIT_S if held_back is not None else None)
            except queue.Empty:
                item = None
            if held_back is not None and (item is None or item is _STOP or item is _SLOW):
                if not send(held_back):
                    return
                held_back = None
            if item is None:
                continue
            if item is _STOP:
                return
            if item is _SLOW:
                session.ws.close(CloseCode.POLICY_VIOLATION, "slow consumer")
                return
            if item is _GAP:
                sequence_num += 1
            elif item is _DUPLICATE_NEXT:
                duplicate_next = True
            elif item is _REORDER_NEXT:
                reorder_next = True
            elif isinstance(item, PendingFrame):
                text = item.render(sequence_num)
                sequence_num += 1
                if reorder_next and held_back is None:
                    reorder_next, held_back = False, text
                    continue
                if not send(text) or (duplicate_next and not send(text)):
                    return
                duplicate_next = False
                if held_back is not None:
                    if not send(held_back):
                        return
                    held_back = None
            elif not send(item):  # an error frame or malformed text: no sequence number
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
        if kind == "subscribe":
            with self._lock:
                ignoring = self._clock() < self._ignore_subscribe_until
            if ignoring:
                logger.debug("chaos: ignoring a subscribe on connection {}", session.number)
                return
        if "channels" in request:
            self._reject(session, "one channel per message: send 'channel' (a string), not 'channels'")
            return
        channel = request.get("channel")
        if channel not in CHANNELS:
            self._reject(session, f"unsupported channel {channel!r}")
            return
        if session.user_endpoint and channel not in USER_ENDPOINT_CHANNELS:
            self._reject(session, f"channel {channel!r} is not served on the user data endpoint: "
                                  "use the market data endpoint")
            return
        if kind == "subscribe" and channel in PRIVATE_CHANNELS:
            with self._lock:
                now = self._clock()
            if not well_formed_jwt(request.get("jwt"), now):
                self._reject(session, AUTH_FAILURE)
                return
        product_ids = request.get("product_ids") or []
        if not isinstance(product_ids, list) or not all(isinstance(p, str) for p in product_ids):
            self._reject(session, "product_ids must be a list of strings")
            return
        unknown = [p for p in product_ids if p not in self._products]
        if unknown:
            self._reject(session, f"unknown product ids {unknown}")
            return
        if channel in (HEARTBEATS, FUTURES_BALANCE_SUMMARY):
            product_ids = []
        elif channel == USER:
            pass  # with product ids: those products; without: all of them
        elif channel == STATUS and kind == "subscribe" and not product_ids:
            product_ids = list(self._products)
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
        if channel == STATUS:
            specs = [self._products[p] for p in product_ids]
            self._enqueue(session, frames.status(ts, frames.SNAPSHOT, specs, self._product_status))
            return
        if channel == USER:  # no private orders or positions yet
            self._enqueue(session, frames.user(ts, frames.SNAPSHOT))
            return
        if channel == FUTURES_BALANCE_SUMMARY:
            self._enqueue(session, frames.futures_balance_summary(ts, frames.SNAPSHOT, self._account))
            return
        for product_id in product_ids:
            spec = self._products[product_id]
            if channel == LEVEL2:
                if ts < self._slow_snapshot_until:  # chaos: updates flow, the snapshot comes late
                    self._pending_snapshots.append((ts + self._slow_snapshot_delay_s, session, product_id))
                else:
                    self._enqueue(session, self._l2_snapshot(product_id))
            elif channel in (TICKER, TICKER_BATCH):
                stats = self._market.ticker(product_id)
                self._enqueue(session, frames.ticker(ts, frames.SNAPSHOT, spec, stats, channel=channel))
            elif channel == MARKET_TRADES:
                recent = self._market.recent_trades(product_id)
                self._enqueue(session, frames.market_trades(ts, frames.SNAPSHOT, spec, recent))
            elif channel == CANDLES:
                series = self._candles[product_id]
                series.roll(self._market.now)
                self._enqueue(session, frames.candles(ts, frames.SNAPSHOT, spec, series.snapshot()))

    def _l2_snapshot(self, product_id: str) -> PendingFrame:
        bids, offers = self._market.book(product_id)
        spec = self._products[product_id]
        return frames.l2_snapshot(self._clock(), spec, bids, offers, self._market.now)

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

    # ----------------------------------------------------------------- product status

    def set_product_status(self, product_id: str, status: str, message: str = "") -> None:
        """Change a product's `status` channel entry (e.g. "offline", "delisted", "online" again):
        when it changes, the product's status subscribers get an update frame at once, and later
        status snapshots carry it. Safe from any thread."""
        spec = self._products.get(product_id)
        if spec is None:
            raise KeyError(f"unknown product id {product_id!r}")
        with self._lock:
            if self._product_status.get(product_id, (frames.ONLINE, "")) == (status, message):
                return
            self._product_status[product_id] = (status, message)
            frame = frames.status(self._clock(), frames.UPDATE, [spec], self._product_status)
            self._publish(STATUS, product_id, frame)


def _abort(ws: ServerConnection) -> None:
    """Cut the TCP connection without a WebSocket close frame, as a network failure would."""
    try:
        ws.socket.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed
