"""The built-in exchange's Advanced Trade server: market-data and user-data WebSockets, public and
private REST on one port.

Owns the listening socket, the per-connection sessions (subscriptions, outgoing queue, sequence
numbers, heartbeat counters), the thread that steps the `SyntheticMarket`, and the application of
chaos (see `chaos.py`) to the feed. Speaks the protocol of COINBASE.md: one channel per
subscribe/unsubscribe, a `subscriptions` ack after each, level2 as a snapshot then updates on
channel `l2_data`, heartbeats every second, `ticker`, `ticker_batch` (every 5 s), `market_trades`,
`candles` (5-minute buckets, the current one every second), `status` (a snapshot on subscribe, an
update when `set_product_status` changes a product), per-connection
`sequence_num` from 0, error frames (never a disconnect) for bad requests, and a close for a
connection that does not subscribe within the deadline. Every request that is not a WebSocket
upgrade (told apart by its head, peeked when the connection is accepted) is plain HTTP, served by a
small HTTP handler on the same connection thread: websockets' parser refuses a request with a body,
and Coinbase's SDK sends `{}` on every GET. Public endpoints are
`rest.py`'s; private ones (`private_rest.py`) need a JWT (`auth.py`) and run against the API client
(`client_orders.py`), whose orders trade on the synthetic market's engines. One request per
connection (`Connection: close`).

Threads (all joined by `stop()`): one accept thread (websockets' `serve_forever`), one market thread,
and per connection the websockets handler thread (answers REST, or reads client messages) plus, for
a WebSocket, one writer thread (the only thread that sends on that socket, so it numbers frames in
the order they go out). Infrastructure, not an actor: one lock guards the market, the API client,
the sessions, the chaos state and the rate limiters. The market thread steps and enqueues each step's frames under it,
and a subscribe reads its snapshot and enqueues it under it, so a snapshot is always followed by
exactly the updates after it. Nothing sends on a socket while holding the lock.

Chaos is timed on the injected clock and applied by the market thread to every live connection:
sequence tricks (gap, duplicate, reorder) are markers in a connection's queue that its writer
obeys, a stall withholds a connection's frames and releases them in order afterwards, a disconnect
shuts the TCP socket down without a close frame, and the windows (refuse, ignore_subscribe,
no_heartbeat, slow_snapshot) are server-wide deadlines. The REST windows (rest_timeout, rest_5xx,
rest_429) are deadlines checked by each private request: a held answer (rest_timeout) waits on its
own connection's thread until the client hangs up, `rest_hold_s` passes or the server stops, so
other connections are served meanwhile. user_duplicate sends each `user` update twice while it
lasts; user_replay re-sends the last updates (older states) once.

Two WebSocket endpoints, told apart by the request path as Coinbase tells them apart by host:
market data at `/` (`url`) serves every channel, the private ones included (it is the user-data
endpoint's failover); user data at `/user` (`user_url`) serves only `heartbeats`, `user` and
`futures_balance_summary`. A private subscribe needs a JWT the `Authenticator` accepts (signed by
the configured API key, or any well-formed unexpired ES256 JWT when none is configured) or it gets
`authentication failure`. `user` answers a snapshot of the client's open orders and positions, then
an update whenever an order changes; `futures_balance_summary` a snapshot of the account, re-sent
as an update every few seconds and after every fill. Chaos applies to both endpoints' connections
alike.

Must never trade for itself: the only orders besides the synthetic market's are the API client's.
"""

from __future__ import annotations

import email.utils
import http.server
import itertools
import logging
import math
import queue
import select
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

from actors.exchange import frames, private_rest, rest
from actors.exchange.account import PaperAccount
from actors.exchange.auth import API_HOST, AUTH_FAILURE, ApiKey, Authenticator
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
    REST_5XX,
    REST_429,
    REST_TIMEOUT,
    SLOW_SNAPSHOT,
    STALL,
    USER_DUPLICATE,
    USER_REPLAY,
    ChaosPlan,
    ChaosSpec,
)
from actors.exchange.client_orders import ClientOrders, FeeSchedule, OrderView, PerpPosition
from actors.exchange.frames import PendingFrame
from actors.exchange.market import MarketStep, SyntheticMarket, TickerStats
from actors.exchange.market_history import MINUTE_HISTORY, CandleSeries
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
TRADES_SNAPSHOT = 50  # prints in a market_trades snapshot

_CLOSE_TIMEOUT_S = 1.0  # how long a closing handshake may wait for the client's reply
_FIRST_BYTES_TIMEOUT_S = 10.0  # a new connection must send its request line within this (as websockets)
_HTTP_READ_TIMEOUT_S = 10.0  # the plain HTTP handler's socket timeout while reading a request
_MAX_BODY = 1 << 20
# websockets logs every header and frame at DEBUG: an `Authorization: Bearer` header and the JWT
# in a subscribe among them. Its logger here never goes below INFO, whatever the root level.
_WS_LOG = logging.getLogger("perpsbot.exchange.websockets")
_WS_LOG.setLevel(logging.INFO)
_MAX_HEAD = 16 << 10  # a request head longer than this is not waited for (it goes to plain HTTP)
_HOLD_POLL_S = 0.02  # how often a held answer looks whether its client hung up
USER_REPLAY_EVENTS = 10  # user updates kept for user_replay
PRIVATE_RATE_PER_S = 30.0  # Coinbase's private REST limit per user
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
        api_key_name: str | None = None,
        api_public_key_pem: str | None = None,
        fees: FeeSchedule | None = None,
        private_rate_per_s: float = PRIVATE_RATE_PER_S,
        rest_hold_s: float = 30.0,
        api_host: str = API_HOST,
    ) -> None:
        """`api_key_name` and `api_public_key_pem` (PEM text or a path to a PEM file) configure the
        one API key whose JWTs private requests and subscribes must carry; without them any
        well-formed, unexpired ES256 JWT is accepted. `fees` are the API client's maker/taker
        rates. A rest_timeout answer is held at most `rest_hold_s`. `api_host`: the host a REST
        JWT's `uri` claim must name (production's, whatever address the request came to)."""
        if (api_key_name is None) != (api_public_key_pem is None):
            raise ValueError("give both api_key_name and api_public_key_pem, or neither")
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
        self._auth = Authenticator(ApiKey(api_key_name, api_public_key_pem, api_host)
                                   if api_key_name is not None and api_public_key_pem is not None else None)
        self._client = ClientOrders(self._market, self._products, self._account, fees, seed=seed,
                                    start_ts=self._clock())
        self._private_rate_limiter = rest.PublicRateLimiter(private_rate_per_s)
        self._private_rate_per_s = private_rate_per_s
        self._rest_hold_s = rest_hold_s
        self._rest_counts: dict[str, int] = {}
        self._recent_user: deque[tuple[float, list[OrderView], list[PerpPosition]]] = deque(
            maxlen=USER_REPLAY_EVENTS)
        self._raw_sockets: set[socket.socket] = set()  # connections being read before websockets has them
        self._lock = threading.Lock()
        self._sessions: dict[int, _Session] = {}
        self._paused = False
        self._last_tickers: dict[str, TickerStats] = {}
        self._candles = {
            product_id: CandleSeries(self._market.ticker(product_id).price, self._market.now, CANDLE_SECONDS,
                                     CANDLE_HISTORY)
            for product_id in self._products
        }
        self._minute_candles = {  # what REST candles aggregate into every granularity
            product_id: CandleSeries(self._market.ticker(product_id).price, self._market.now, 60, MINUTE_HISTORY)
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
        self._rest_timeout_until = -math.inf
        self._rest_5xx_until = -math.inf
        self._rest_5xx_accept = False
        self._rest_429_until = -math.inf
        self._user_duplicate_until = -math.inf
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
            logger=_WS_LOG,
        )
        self._port = self._ws_server.socket.getsockname()[1]
        self._ws_handler = self._ws_server.handler  # websockets' per-connection lifecycle
        self._ws_server.handler = self._dispatch  # sees each connection's first bytes before websockets
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
        with self._lock:
            raw = list(self._raw_sockets)
        for sock in raw:  # a connection still to send its request, or held by rest_timeout
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
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

    def rest_counts(self) -> dict[str, int]:
        """Private REST and user-channel counters: `requests`, `unauthenticated`, `throttled` (the
        private rate limit), and what chaos did to single requests and events: `held` (rest_timeout),
        `rest_5xx`, `rest_5xx_after_accept`, `rest_429`, `user_duplicated`, `user_replayed`."""
        keys = ("requests", "unauthenticated", "throttled", "held", "rest_5xx", "rest_5xx_after_accept",
                "rest_429", "user_duplicated", "user_replayed")
        with self._lock:
            return dict.fromkeys(keys, 0) | self._rest_counts

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
                            step = self._market.step(ts)
                            self._broadcast(step)
                            self._client.on_market_step(step, ts)
                        else:
                            self._client.on_time(ts)
                        self._publish_user_changes(ts)
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
            for series in (self._candles[product_id], self._minute_candles[product_id]):
                for printed in product.trades:
                    series.add(printed.ts, printed.trade.price, printed.trade.size)
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
            self._send_balance(ts)
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

    def _send_balance(self, ts: float) -> None:
        """A futures_balance_summary update to its subscribers (lock held)."""
        subscribers = [s for s in self._sessions.values() if FUTURES_BALANCE_SUMMARY in s.subscriptions]
        if subscribers:
            frame = frames.futures_balance_summary(ts, frames.UPDATE, self._account, self._client.summary(ts))
            for session in subscribers:
                self._enqueue(session, frame)

    def _publish_user_changes(self, ts: float) -> None:
        """Send the orders that changed as a `user` update (twice during user_duplicate), and the
        balance after a fill or funding (lock held)."""
        changed = self._client.drain_changes()
        if changed:
            positions = self._client.perp_positions(ts)
            self._recent_user.append((ts, changed, positions))
            copies = 2 if ts < self._user_duplicate_until else 1
            sent = self._send_user_update(ts, changed, positions, copies)
            if copies == 2 and sent:
                self._count("user_duplicated", sent)
        if self._client.drain_account_changed():
            self._send_balance(ts)

    def _send_user_update(self, ts: float, orders: list[OrderView], positions: list[PerpPosition],
                          copies: int = 1) -> int:
        """Queue one `user` update per subscriber (its products' orders only); returns how many
        subscribers got one (lock held)."""
        built: dict[tuple[str, ...], PendingFrame | None] = {}
        sent = 0
        for session in self._sessions.values():
            wanted = session.subscriptions.get(USER)
            if wanted is None:
                continue
            key = tuple(wanted)
            if key not in built:
                rows = [o for o in orders if not wanted or o.product_id in wanted]
                built[key] = self._user_frame(ts, frames.UPDATE, rows, positions, wanted) if rows else None
            frame = built[key]
            if frame is None:
                continue
            for _ in range(copies):
                self._enqueue(session, frame)
            sent += 1
        return sent

    def _user_frame(self, ts: float, kind: str, orders: list[OrderView], positions: list[PerpPosition],
                    wanted: list[str]) -> PendingFrame:
        portfolio = self._client.portfolio_id
        mine = [p for p in positions if not wanted or p.product_id in wanted]
        return frames.user(
            ts, kind,
            [frames.user_order(o, self._products[o.product_id], portfolio) for o in orders],
            (),  # INTX perpetuals only; every future listed here is a CDE contract (COINBASE.md)
            [frames.expiring_position(p, self._products[p.product_id]) for p in mine],
        )

    def _replay_user(self) -> None:
        """Chaos user_replay: the last updates again, oldest first, as they were then (lock held)."""
        for ts, orders, positions in list(self._recent_user):
            if self._send_user_update(ts, orders, positions):
                self._count("user_replayed")

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
            elif kind == REST_TIMEOUT:
                self._rest_timeout_until = max(self._rest_timeout_until, until)
            elif kind == REST_5XX:
                self._rest_5xx_until = max(self._rest_5xx_until, until)
                self._rest_5xx_accept = event.spec.accept
            elif kind == REST_429:
                self._rest_429_until = max(self._rest_429_until, until)
            elif kind == USER_DUPLICATE:
                self._user_duplicate_until = max(self._user_duplicate_until, until)
            elif kind == USER_REPLAY:
                self._replay_user()
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
        if request.headers.get("Upgrade", "").lower() != "websocket":  # a head the peek could not read whole
            return self._serve_rest(ws, request)
        with self._lock:
            refusing = self._clock() < self._refuse_until
        if refusing:
            return ws.respond(HTTPStatus.SERVICE_UNAVAILABLE, "connections refused for now (chaos)\n")
        return None

    def _serve_rest(self, ws: ServerConnection, request: Request) -> Response:
        """A REST request without a body (GET), arrived through websockets."""
        try:
            client = str(ws.remote_address[0])
        except (OSError, IndexError, TypeError):
            client = ""
        answer, _ = self._answer_rest(request.method, request.path, request.headers.get("Authorization"), b"",
                                      client)
        headers = Headers([
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(answer.body))),
            *answer.headers,
        ])
        return Response(answer.status, HTTPStatus(answer.status).phrase, headers, answer.body)

    def _dispatch(self, sock: socket.socket, addr: Any) -> None:
        """Runs on the thread websockets starts per accepted connection: a WebSocket upgrade goes to
        websockets; every other request is plain HTTP, served here, since websockets refuses a
        request with a body and Coinbase's SDK sends `{}` on every GET."""
        with self._lock:
            self._raw_sockets.add(sock)
        try:
            method, upgrade = _request_head(sock, self._stop_event)
        except OSError:
            method, upgrade = b"", False
        finally:
            with self._lock:
                self._raw_sockets.discard(sock)
        if upgrade or not method:  # a WebSocket upgrade; a silent client is websockets' to time out
            self._ws_handler(sock, addr)
            return
        with self._lock:
            self._raw_sockets.add(sock)
        try:
            _HttpHandler(sock, addr, self)
        except Exception:  # a broken client must not take the accept loop's bookkeeping with it
            logger.opt(exception=True).debug("exchange: plain HTTP request failed")
        finally:
            with self._lock:
                self._raw_sockets.discard(sock)
            try:
                sock.close()
            finally:
                assert self._ws_server is not None
                with self._ws_server.lock:
                    self._ws_server.handler_threads.discard(threading.current_thread())

    def _answer_rest(self, method: str, target: str, authorization: str | None, body: bytes,
                     client: str) -> tuple[rest.RestResponse, bool]:
        """Answer one REST request; the flag says the answer must be held (chaos rest_timeout)."""
        path = target.split("?", 1)[0]
        found = private_rest.route(path)
        if found is None:
            with self._lock:
                decision = self._rate_limiter.take(client, self._clock())
                view = self._market_view() if decision.allowed else None
            if view is None:
                return rest.rate_limited(decision), False
            return rest.with_rate_headers(rest.handle_get(method, target, view), decision), False
        with self._lock:
            now = self._clock()
            aborted = self._apply_chaos(now)
            self._count("requests")
        for session in aborted:
            _abort(session.ws)
        refusal = self._auth.rest_refusal(authorization, now, method, path.rstrip("/") or "/")
        if refusal:
            with self._lock:
                self._count("unauthenticated")
            return rest.error(401, "UNAUTHENTICATED", refusal), False
        with self._lock:
            now = self._clock()
            decision = self._private_rate_limiter.take(self._auth.key_name(authorization), now)  # per key
            if not decision.allowed:
                self._count("throttled")
                return rest.rate_limited(decision), False
            if now < self._rest_429_until:
                self._count(REST_429)
                limit = math.floor(self._private_rate_per_s)
                storm = rest.RateDecision(False, limit, 0, self._rest_429_until, self._rest_429_until - now)
                return rest.rate_limited(storm), False
            accepting = self._rest_5xx_accept and found.is_write and method == found.method
            if now < self._rest_5xx_until and not accepting:
                self._count(REST_5XX)
                return rest.error(503, "UNAVAILABLE", "service unavailable (chaos)"), False
            answer = private_rest.handle(found, method, target, body, self._client, self._market_view(), now)
            self._publish_user_changes(now)
            if now < self._rest_5xx_until:
                self._count("rest_5xx_after_accept")
                return rest.error(503, "UNAVAILABLE", "service unavailable (chaos)"), False
            hold = found.is_write and method == found.method and now < self._rest_timeout_until
            if hold:
                self._count("held")
        return rest.with_rate_headers(answer, decision), hold

    def _hold(self, sock: socket.socket) -> None:
        """Keep an answer back until the client hangs up, `rest_hold_s` passes or the server stops."""
        deadline = time.monotonic() + self._rest_hold_s
        while not self._stop_event.wait(_HOLD_POLL_S):
            if time.monotonic() >= deadline or _peer_closed(sock):
                return

    def _count(self, what: str, n: int = 1) -> None:
        self._rest_counts[what] = self._rest_counts.get(what, 0) + n

    def _market_view(self) -> rest.MarketView:
        products = []
        for product_id, spec in self._products.items():
            bids, offers = self._market.book(product_id)
            minutes = self._minute_candles[product_id]
            minutes.roll(self._market.now)
            products.append(rest.ProductView(spec, self._market.ticker(product_id), tuple(bids), tuple(offers),
                                             tuple(minutes.snapshot()), self._market.recent_trades(product_id)))
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
            if self._auth.token_refusal(request.get("jwt"), now):
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
        if channel == USER:  # the open orders and positions of the subscribed products (all when none)
            wanted = session.subscriptions[USER]
            orders = self._client.open_orders(wanted)
            positions = self._client.perp_positions(ts)
            self._enqueue(session, self._user_frame(ts, frames.SNAPSHOT, orders, positions, wanted))
            return
        if channel == FUTURES_BALANCE_SUMMARY:
            summary = self._client.summary(ts)
            self._enqueue(session, frames.futures_balance_summary(ts, frames.SNAPSHOT, self._account, summary))
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
                recent = self._market.recent_trades(product_id)[-TRADES_SNAPSHOT:]
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


def _request_head(sock: socket.socket, stop: threading.Event) -> tuple[bytes, bool]:
    """The request's method (b"GET", b"POST", ...) and whether it asks for a WebSocket upgrade,
    read without consuming anything; (b"", False) if the client closed or sent no whole head in
    time. Leaves the socket blocking, as websockets expects it."""
    deadline = time.monotonic() + _FIRST_BYTES_TIMEOUT_S
    try:
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return b"", False
            readable, _, _ = select.select([sock], [], [], min(remaining, 0.5))
            if not readable:
                continue
            head = sock.recv(_MAX_HEAD, socket.MSG_PEEK)
            if not head:
                return b"", False
            end = head.find(b"\r\n\r\n")
            if end >= 0 or len(head) >= _MAX_HEAD:
                lines = head[:end if end >= 0 else len(head)].split(b"\r\n")
                upgrade = any(name.strip().lower() == b"upgrade" and b"websocket" in value.lower()
                              for name, _, value in (line.partition(b":") for line in lines[1:]))
                return lines[0].partition(b" ")[0].upper(), upgrade
            stop.wait(0.005)  # only part of the head has come: let the rest arrive
        return b"", False
    finally:
        sock.settimeout(None)


def _peer_closed(sock: socket.socket) -> bool:
    """True when the client has hung up (its socket reads as end of file)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class _HttpHandler(http.server.BaseHTTPRequestHandler):
    """One plain HTTP request (with a body) on a connection websockets was not given."""

    protocol_version = "HTTP/1.1"
    timeout = _HTTP_READ_TIMEOUT_S
    server: ExchangeServer  # type: ignore[assignment]  # the exchange, not a socketserver

    def do_POST(self) -> None:
        self._answer()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_POST

    def _answer(self) -> None:
        self.close_connection = True
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= _MAX_BODY:
            self._send(rest.error(400, "INVALID_ARGUMENT", "bad Content-Length"))
            return
        body = self.rfile.read(length) if length else b""
        try:
            answer, hold = self.server._answer_rest(self.command, self.path, self.headers.get("Authorization"),
                                                    body, str(self.client_address[0]))
        except Exception:  # a bug here must still answer: a dropped socket reads as an unknown outcome
            logger.opt(exception=True).error("exchange: {} {} failed", self.command, self.path.split("?", 1)[0])
            answer, hold = rest.error(500, "INTERNAL", "internal error"), False
        if hold:
            self.server._hold(self.connection)
        self._send(answer)

    def _send(self, answer: rest.RestResponse) -> None:
        try:
            self.send_response(answer.status)
            self.send_header("Connection", "close")
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)
        except OSError:
            pass  # the client hung up (a held answer usually finds it gone)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # no access log: the counters in rest_counts() say what happened
