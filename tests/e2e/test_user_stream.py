"""The private stream over loopback: the built-in exchange's user-data endpoint (JWT on private
subscribes, `user` and `futures_balance_summary` snapshots, balance updates), the streaming actor
configured for the private channels, and its failover to the market-data endpoint and back."""

from __future__ import annotations

import json
import socket
import time
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import jwt
import pytest
import websocket
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from actors.app.paper import run_paper, user_url_for
from actors.app.report import user_feed
from actors.app.tree import PRIVATE_CHANNELS, USER_STREAM, child_specs
from actors.orchestrator.actor import Orchestrator
from actors.streaming.actor import StreamingActor
from actors.venue.coinbase_auth import Credentials
from actors.venue.endpoints import COINBASE_USER_WS as COINBASE_USER_DATA
from config.loader import apply_overrides, load_profile
from config.schema import StreamingConfig
from domain.control import ACTIVE
from domain.queries import REPORT
from exchange.account import PaperAccount
from exchange.server import ExchangeServer
from runtime.clock import WallClock
from runtime.messages import STATUS
from runtime.scheduler import Scheduler
from runtime.services import Services
from runtime.supervisor import ChildSpec, SupervisorConfig
from tests.support import wait_until

AUTH_FAILURE = {"type": "error", "message": "authentication failure"}
PRODUCTS = ("BTC-USD", "BIP-20DEC30-CDE")
ACCOUNT = PaperAccount(cfm_usd_balance=Decimal("2500"), cbi_usd_balance=Decimal("500"))


@pytest.fixture(scope="module")
def credentials() -> Credentials:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return Credentials("organizations/test-org/apiKeys/test-key", pem)


@pytest.fixture
def server():
    srv = ExchangeServer(seed=3, tick_interval_s=0.05, heartbeat_interval_s=0.2, subscribe_timeout_s=2.0,
                         account=ACCOUNT, balance_interval_s=0.3)
    srv.start()
    yield srv
    srv.stop()


def connect(url: str) -> websocket.WebSocket:
    return websocket.create_connection(url, timeout=3.0)


def hang_up(ws: websocket.WebSocket) -> None:
    ws.close()
    ws.shutdown()


def send(ws: websocket.WebSocket, **message) -> None:
    ws.send(json.dumps(message))


def recv_data(ws: websocket.WebSocket, skip: tuple[str, ...] = ("heartbeats",)) -> dict:
    """The next frame that is not of a skipped channel (bounded: the socket has a recv timeout)."""
    for _ in range(50):
        frame = json.loads(ws.recv())
        if frame.get("channel") not in skip:
            return frame
    pytest.fail(f"only {skip} frames arrived")


def expected_summary() -> dict[str, object]:
    """ACCOUNT with nothing held or at risk: the whole futures balance (2500) is buying power."""
    window = {"margin_level": "MARGIN_LEVEL_TYPE_BASE", "initial_margin": "0.00", "maintenance_margin": "0.00",
              "liquidation_buffer_percentage": "1000", "total_hold": "0.00", "futures_buying_power": "2500.00"}
    return {
        "futures_buying_power": "2500.00", "total_usd_balance": "3000.00", "cbi_usd_balance": "500.00",
        "cfm_usd_balance": "2500.00", "total_open_orders_hold_amount": "0.00", "unrealized_pnl": "0.00",
        "daily_realized_pnl": "0.00", "initial_margin": "0.00", "available_margin": "2500.00",
        "liquidation_threshold": "0.00", "liquidation_buffer_amount": "2500.00",
        "liquidation_buffer_percentage": "1000",
        "intraday_margin_window_measure": {"margin_window_type": "FCM_MARGIN_WINDOW_TYPE_INTRADAY", **window},
        "overnight_margin_window_measure": {"margin_window_type": "FCM_MARGIN_WINDOW_TYPE_OVERNIGHT", **window},
    }


# ------------------------------------------------------------------------------ the exchange


def test_private_subscribes_need_a_well_formed_unexpired_es256_jwt(server, credentials):
    now = time.time()
    hs256 = jwt.encode({"exp": int(now) + 120}, "a shared secret that is long enough for HS256", algorithm="HS256")
    bad_tokens = [None, "", "eyJhbGciOiJFUzI1NiJ9.mock.sig", credentials.make_jwt(now - 300), hs256]
    for url in (server.user_url, server.url):  # the market-data endpoint serves them too
        ws = connect(url)
        try:
            for channel in PRIVATE_CHANNELS:
                for token in bad_tokens:
                    request = {"type": "subscribe", "channel": channel}
                    if token is not None:
                        request["jwt"] = token
                    send(ws, **request)
                    assert recv_data(ws) == AUTH_FAILURE, (url, channel, token)
            send(ws, type="subscribe", channel="user", jwt=credentials.make_jwt(time.time()))
            assert recv_data(ws)["events"] == [{"subscriptions": {"user": []}}]
        finally:
            hang_up(ws)


def test_user_endpoint_serves_heartbeats_and_the_private_channels_only(server, credentials):
    ws = connect(server.user_url)
    try:
        for channel in ("level2", "ticker", "market_trades"):
            send(ws, type="subscribe", channel=channel, product_ids=[PRODUCTS[0]], jwt=credentials.make_jwt(time.time()))
            error = recv_data(ws)
            assert error["type"] == "error" and channel in error["message"] and "channel" not in error
        send(ws, type="subscribe", channel="heartbeats")
        assert recv_data(ws, skip=())["events"] == [{"subscriptions": {"heartbeats": []}}]
        beat = recv_data(ws, skip=())
        assert beat["channel"] == "heartbeats" and beat["events"][0]["heartbeat_counter"] == 1
    finally:
        hang_up(ws)


def test_private_channels_answer_snapshots_then_balance_updates(server, credentials):
    ws = connect(server.user_url)
    try:
        send(ws, type="subscribe", channel="user", product_ids=list(PRODUCTS), jwt=credentials.make_jwt(time.time()))
        ack, snapshot = recv_data(ws), recv_data(ws)
        assert ack["events"] == [{"subscriptions": {"user": list(PRODUCTS)}}]
        assert snapshot["channel"] == "user" and snapshot["events"] == [{
            "type": "snapshot", "orders": [],
            "positions": {"perpetual_futures_positions": [], "expiring_futures_positions": []}}]

        send(ws, type="subscribe", channel="futures_balance_summary", jwt=credentials.make_jwt(time.time()))
        ack, balance = recv_data(ws), recv_data(ws)
        assert ack["events"] == [{"subscriptions": {"user": list(PRODUCTS), "futures_balance_summary": []}}]
        assert balance["channel"] == "futures_balance_summary"
        assert balance["events"] == [{"type": "snapshot", "fcm_balance_summary": expected_summary()}]
        update = recv_data(ws)  # every 0.3 s
        assert update["events"] == [{"type": "update", "fcm_balance_summary": expected_summary()}]
        assert [f["sequence_num"] for f in (ack, balance, update)] == [2, 3, 4]  # one counter per connection
    finally:
        hang_up(ws)


# ------------------------------------------------------------------------------ the streaming actor


class UserStreamRig:
    """The private stream alone under the orchestrator (which owns TradingState), on the wall clock."""

    def __init__(self, credentials: Credentials, url: str, failover_url: str | None, **streaming) -> None:
        self.scheduler = Scheduler(WallClock())
        self.scheduler.start()
        self.services = Services(self.scheduler.clock, self.scheduler)
        config = StreamingConfig(reconnect_base_s=0.05, reconnect_cap_s=0.2, reconnect_jitter=0.0,
                                 reduce_after_attempts=1, watchdog_interval_s=0.1, **streaming)
        spec = ChildSpec(USER_STREAM, StreamingActor, {
            "products": PRODUCTS, "config": config, "url": url, "rest_url": None, "seed": 1,
            "book_consumers": (), "credentials": credentials, "channels": PRIVATE_CHANNELS,
            "failover_url": failover_url, "failover_after": 2, "metric_prefix": "feed.user_"})
        self.orchestrator = Orchestrator.start([spec], SupervisorConfig(), self.services)

    def report(self) -> dict:
        entry = self.services.directory.get(USER_STREAM)
        return entry.ref.ask(REPORT, timeout=5) if entry is not None and entry.ref is not None else {}

    def received(self, channel: str, at_least: int = 1) -> bool:
        return self.report().get("per_channel", {}).get(channel, 0) >= at_least

    def trading_state(self) -> str:
        return self.orchestrator.ask(STATUS, timeout=5)["trading_state"]

    def stop(self) -> None:
        self.orchestrator.stop(block=True, timeout=10)
        self.scheduler.stop()


def test_user_stream_receives_the_private_channels_from_the_user_endpoint(server, credentials):
    rig = UserStreamRig(credentials, server.user_url, server.url)
    try:
        wait_until(lambda: rig.received("futures_balance_summary", 2) and rig.received("user"), timeout=5,
                   what="user snapshot and balance updates")
        report = rig.report()
        assert report["url_in_use"] == server.user_url and report["failovers"] == 0
        assert report["error_frames"] == 0 and report["gaps"] == 0
        assert report["per_channel"]["user"] == 1  # the snapshot; no private orders yet
        assert report["last_balance_summary_at"] is not None
        assert abs(report["last_balance_summary_at"] - time.time()) < 5
        assert rig.services.metrics.value("feed.reconnects") == 0, "the market feed's counters are untouched"
    finally:
        rig.stop()


def test_user_stream_fails_over_to_market_data_and_returns_to_the_user_endpoint(server, credentials):
    refusing = socket.socket()  # bound, never listening: every connection to it is refused
    refusing.bind(("127.0.0.1", 0))
    dead_user_url = f"ws://127.0.0.1:{refusing.getsockname()[1]}/user"
    rig = UserStreamRig(credentials, dead_user_url, server.url, stable_period_s=0.3)
    try:
        # Two refused connections (failover_after=2), then the market-data endpoint serves the channels.
        wait_until(lambda: rig.received("futures_balance_summary") and rig.received("user"), timeout=5,
                   what="private frames over the failover")
        report = rig.report()
        assert report["url_in_use"] == server.url
        assert report["failovers"] == 1 and report["connects"] == 1 and report["reconnects"] == 2
        assert rig.services.metrics.value("feed.user_failovers") == 1

        # A stable failover connection that is lost sends the next attempt back to the user endpoint;
        # it still refuses, so after two more failures the stream fails over again.
        # A snapshot and two updates 0.3 s apart: connected longer than stable_period_s (0.3 s).
        wait_until(lambda: rig.received("futures_balance_summary", 3), what="a stable failover connection")
        assert server.drop_connections() == 1
        wait_until(lambda: rig.report()["failovers"] == 2 and rig.report()["connects"] == 2, timeout=5,
                   what="back to the user endpoint, then over to market data again")
        report = rig.report()
        assert report["url_in_use"] == server.url and report["reconnects"] == 5  # 2 + the drop + 2
        wait_until(lambda: rig.received("user", 2), what="a fresh user snapshot on the new connection")
        assert rig.trading_state() == ACTIVE, "a failing private stream is not a market-data failure"
    finally:
        rig.stop()
        refusing.close()


# ------------------------------------------------------------------------------ wiring and report


def test_the_private_stream_runs_only_with_credentials_and_a_socket(tmp_path, credentials):
    profile = load_profile("paper")
    feed = "ws://127.0.0.1:1"
    assert USER_STREAM not in [s.name for s in child_specs(profile, tmp_path, feed)]
    assert USER_STREAM not in [s.name for s in child_specs(profile, tmp_path, None, credentials)]  # a replay
    spec = child_specs(profile, tmp_path, feed, credentials, user_url=f"{feed}/user")[-1]
    assert spec.name == USER_STREAM
    assert (spec.kwargs["url"], spec.kwargs["failover_url"], spec.kwargs["failover_after"]) == (f"{feed}/user", feed, 3)
    assert spec.kwargs["channels"] == ("user", "futures_balance_summary") and spec.kwargs["rest_url"] is None
    assert user_feed(SimpleNamespace(names=lambda: ["streaming"])) == {"enabled": False}


def test_user_url_is_the_built_in_exchange_s_or_configured_or_derived_from_the_feed():
    paper = load_profile("paper")
    prod = load_profile("prod")
    exchange = ExchangeServer(seed=1)  # never started: only its address is read
    assert user_url_for(prod, None, exchange) == exchange.user_url and exchange.user_url.endswith("/user")
    assert user_url_for(paper, "coinbase", None) == COINBASE_USER_DATA
    assert user_url_for(prod, "coinbase", None) == "wss://advanced-trade-ws-user.coinbase.com"
    assert user_url_for(paper, "ws://127.0.0.1:9/", None) == "ws://127.0.0.1:9/"


def test_paper_session_with_credentials_reports_the_user_feed(tmp_path, credentials):
    profile = apply_overrides(load_profile("dev"), **{"run.duration_s": 1.5, "run.data_dir": str(tmp_path)})
    report, status = run_paper(profile, [], credentials=credentials)
    assert status == 0
    user = report["user_feed"]
    assert user["enabled"] is True and user["url_in_use"].endswith("/user") and user["failovers"] == 0
    assert user["per_channel"]["user"] == 1 and user["per_channel"]["futures_balance_summary"] >= 1
    assert user["connects"] == 1 and user["error_frames"] == 0
    assert report["feed"]["frames"] > 0, "market data streamed alongside"
    assert list(Path(tmp_path).glob("paper-*"))
