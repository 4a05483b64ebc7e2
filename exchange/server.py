"""The built-in exchange's Advanced Trade server: market-data and user-data WebSockets, public and
private REST on one port.

Owns the listening socket, the thread that steps the `SyntheticMarket`, the lock, and the wiring of
the parts, each in its own module: the port mux (`http_mux.py`: WebSocket upgrades to websockets,
every other request to a plain HTTP handler, held answers), the REST gate (`rest_gate.py`: rate
limits, JWTs, chaos's REST windows), the WebSocket sessions and their writers (`ws_session.py`),
the client messages (`subscriptions.py`), the market feed (`market_feed.py`), the user feed
(`user_feed.py`) and the effects of chaos (`chaos_effects.py`, timed by `chaos.py`'s plan). Speaks
the protocol of COINBASE.md: `sequence_num` from 0 per connection, heartbeats every second,
`ticker_batch` every 5 s, `candles` every second, `status` updates when `set_product_status`
changes a product, and a close for a connection that does not subscribe within the deadline.

Threads (all joined by `stop()`): one accept thread (websockets' `serve_forever`), one market thread,
and per connection the websockets handler thread (answers REST, or reads client messages) plus, for
a WebSocket, one writer thread (the only thread that sends on that socket, so it numbers frames in
the order they go out). Infrastructure, not an actor: one lock guards the market, the API client,
the sessions, the chaos state and the rate limiters. The market thread steps and enqueues each step's frames under it,
and a subscribe reads its snapshot and enqueues it under it, so a snapshot is always followed by
exactly the updates after it. Nothing sends on a socket while holding the lock.

Two WebSocket endpoints, told apart by the request path as Coinbase tells them apart by host:
market data at `/` (`url`) serves every channel, the private ones included (it is the user-data
endpoint's failover); user data at `/user` (`user_url`) serves only `heartbeats`, `user` and
`futures_balance_summary`. Chaos applies to both endpoints' connections alike.

Must never trade for itself: the only orders besides the synthetic market's are the API client's.
"""

from __future__ import annotations

import logging
import threading
import time
from decimal import Decimal
from http import HTTPStatus
from typing import Any, Callable, Iterable

from loguru import logger
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from domain.products import CATALOG, ProductSpec
from exchange import rest
from exchange.account import PaperAccount
from exchange.auth import API_HOST, ApiKey, Authenticator
from exchange.chaos import ChaosSpec
from exchange.chaos_effects import ChaosEffects
from exchange.client_orders import ClientOrders
from exchange.http_mux import PortMux, rest_over_websockets
from exchange.market import SyntheticMarket
from exchange.market_feed import MarketFeed
from exchange.orders import FeeSchedule
from exchange.rate_limit import PRIVATE_RATE_PER_S, PUBLIC_RATE_PER_S
from exchange.rest_gate import RestGate
from exchange.subscriptions import Subscriptions
from exchange.user_feed import UserFeed
from exchange.ws_session import USER_PATH, Session, SessionTable, abort

_CLOSE_TIMEOUT_S = 1.0  # how long a closing handshake may wait for the client's reply
# websockets logs every header and frame at DEBUG: an `Authorization: Bearer` header and the JWT
# in a subscribe among them. Its logger here never goes below INFO, whatever the root level.
_WS_LOG = logging.getLogger("perpsbot.exchange.websockets")
_WS_LOG.setLevel(logging.INFO)

Book = tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]


def _clock_function(clock: Any) -> Callable[[], float]:
    """Accept a callable returning epoch seconds or an object with a `now()` method."""
    if clock is None:
        return time.time
    now = getattr(clock, "now", None)
    return now if callable(now) else clock


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
        public_rate_per_s: float = PUBLIC_RATE_PER_S,
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
        self._account = account if account is not None else PaperAccount()
        self._products = dict(products)
        self._clock = _clock_function(clock)
        self._market = SyntheticMarket(self._products, seed=seed, start_ts=self._clock())
        self._auth = Authenticator(ApiKey(api_key_name, api_public_key_pem, api_host)
                                   if api_key_name is not None and api_public_key_pem is not None else None)
        self._client = ClientOrders(self._market, self._products, self._account, fees, seed=seed,
                                    start_ts=self._clock())
        self._rest_counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._session_table = SessionTable(self._lock, max_queued_frames, subscribe_timeout_s)
        self._sessions = self._session_table.live
        self._paused = False
        self._market_feed = MarketFeed(self._market, self._products, self._sessions, self._clock,
                                       heartbeat_interval_s, ticker_batch_interval_s, candle_interval_s)
        self._user_feed = UserFeed(self._client, self._account, self._products, self._sessions, self._rest_counts,
                                   balance_interval_s)
        self._chaos = ChaosEffects(chaos, self._sessions, self._user_feed.replay)  # its plan made by start()
        self._rest = RestGate(self._lock, self._clock, self._auth, self._client, self._chaos, self._market_view,
                              self._publish_user_changes, self._rest_counts, public_rate_per_s, private_rate_per_s)
        self._subscriptions = Subscriptions(self._lock, self._clock, self._products, self._auth, self._chaos,
                                            self._market_feed, self._user_feed)

        self._stop_event = threading.Event()
        self._mux = PortMux(self._lock, self._stop_event, self._rest.answer, rest_hold_s)
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
        self._mux.install(self._ws_server)
        started_at = time.monotonic()
        with self._lock:
            self._chaos.start(self._clock())
            self._chaos.apply(self._clock())  # `at=0` is in force before the first client connects
            self._market_feed.start(started_at)
            self._user_feed.start(started_at)
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
        self._mux.shut_down_raw()  # a connection still to send its request, or held by rest_timeout
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
            fired = self._chaos.counts()
        return {spec.kind: 0 for spec in self._chaos.specs} | fired

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

    def set_product_status(self, product_id: str, status: str, message: str = "") -> None:
        """Change a product's `status` channel entry (e.g. "offline", "delisted", "online" again):
        when it changes, the product's status subscribers get an update frame at once, and later
        status snapshots carry it. Safe from any thread."""
        spec = self._products.get(product_id)
        if spec is None:
            raise KeyError(f"unknown product id {product_id!r}")
        with self._lock:
            self._market_feed.set_status(product_id, spec, status, message)

    # ----------------------------------------------------------------- market thread

    def _run_market(self) -> None:
        next_step = time.monotonic() + self._tick_interval_s
        # Waking at least this often lets a new heartbeat subscription be served on time.
        max_wait = min(self._tick_interval_s, self._heartbeat_interval_s / 10)
        while not self._stop_event.wait(max(0.0, min(next_step - time.monotonic(), max_wait))):
            now = time.monotonic()
            aborted: list[Session] = []
            try:
                with self._lock:
                    ts = self._clock()
                    aborted = self._chaos.apply(ts)
                    if now >= next_step:
                        next_step = max(next_step + self._tick_interval_s, now)
                        if not self._paused:
                            step = self._market.step(ts)
                            self._market_feed.broadcast(step)
                            self._client.on_market_step(step, ts)
                        else:
                            self._client.on_time(ts)
                        self._publish_user_changes(ts)
                    self._market_feed.send_heartbeats(now, self._chaos.no_heartbeat_until)
                    periodic_ts = self._clock()  # one time for the balance, ticker_batch and candles
                    self._user_feed.send_periodic(now, periodic_ts)
                    self._market_feed.send_periodic(now, periodic_ts)
                    self._chaos.release_due(ts, self._market_feed.l2_snapshot)
            except Exception:  # a bug here must not silently freeze the exchange
                logger.exception("exchange market step failed")
            for session in aborted:
                abort(session.ws)

    def _publish_user_changes(self, ts: float) -> None:
        """The API client's changed orders and account to the user feed (lock held)."""
        self._user_feed.publish_changes(ts, self._chaos.user_duplicate_until)

    def _market_view(self) -> rest.MarketView:
        return self._market_feed.market_view()

    # ----------------------------------------------------------------- connections

    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        """Runs on websockets' handler thread before any handshake: REST, or refuse, or accept."""
        with self._lock:
            self._handlers = [(t, w) for t, w in self._handlers if t.is_alive()]
            self._handlers.append((threading.current_thread(), ws))
        if request.headers.get("Upgrade", "").lower() != "websocket":  # a head the peek could not read whole
            return rest_over_websockets(ws, request, self._rest.answer)
        with self._lock:
            refusing = self._clock() < self._chaos.refuse_until
        if refusing:
            return ws.respond(HTTPStatus.SERVICE_UNAVAILABLE, "connections refused for now (chaos)\n")
        return None

    def _handle_connection(self, ws: ServerConnection) -> None:
        """Runs on websockets' handler thread: read client messages until the socket closes."""
        self._session_table.serve(ws, self._subscriptions.on_message)
