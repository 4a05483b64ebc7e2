"""Trading through the real REST + user-channel path: the private stream hands `user` frames to the
venue gateway, and `paper --venue exchange` trades against the built-in exchange's private REST
API (bin/perpsbot as a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from actors.app.paper import ephemeral_credentials
from actors.app.tree import PRIVATE_CHANNELS, USER_STREAM
from actors.streaming.actor import StreamingActor
from actors.venue.gateway_actor import CoinbaseGatewayActor
from actors.wire.user import UserStreamFrame
from config.schema import StreamingConfig
from domain.orders import CancelAll, OrderUpdate, PlaceOrder, SyncRequest, VenueSnapshot
from domain.queries import REPORT
from exchange.account import PaperAccount
from exchange.server import ExchangeServer
from runtime.clock import WallClock
from runtime.scheduler import Scheduler
from runtime.services import Services
from runtime.supervisor import ChildSpec, Supervisor, SupervisorConfig
from tests.support import Recorder, wait_until

ROOT = Path(__file__).resolve().parents[2]
PERPSBOT = [sys.executable, str(ROOT / "bin" / "perpsbot")]


def test_the_private_stream_forwards_user_and_heartbeat_frames_and_nothing_else_to_its_consumer():
    server = ExchangeServer(seed=2, tick_interval_s=0.05, heartbeat_interval_s=0.2, balance_interval_s=0.2)
    server.start()
    scheduler = Scheduler(WallClock())
    scheduler.start()
    services = Services(scheduler.clock, scheduler)
    config = StreamingConfig(reconnect_base_s=0.05, reconnect_cap_s=0.2, watchdog_interval_s=0.1)
    specs = [ChildSpec("venue", Recorder), ChildSpec(USER_STREAM, StreamingActor, {
        "products": ("BTC-USD",), "config": config, "url": server.user_url, "rest_url": None, "seed": 1,
        "book_consumers": (), "credentials": ephemeral_credentials(), "channels": PRIVATE_CHANNELS,
        "metric_prefix": "feed.user_", "private_consumer": "venue"})]
    supervisor = Supervisor.start(specs, SupervisorConfig(), services)
    try:
        def stream_report() -> dict:
            entry = services.directory.get(USER_STREAM)
            return entry.ref.ask(REPORT, timeout=5) if entry is not None and entry.ref is not None else {}

        wait_until(lambda: stream_report().get("per_channel", {}).get("futures_balance_summary", 0) >= 2
                   and stream_report().get("per_channel", {}).get("user", 0) >= 1, what="private frames")
        seen = services.directory.get("venue").ref.ask("seen", timeout=5)
        # decoded once, by streaming: the gateway never parses the text again
        assert seen and all(type(m) is UserStreamFrame and not m.unreadable for m in seen)
        channels = {m.channel for m in seen}
        assert "user" in channels and channels <= {"user", "heartbeats"}  # heartbeats: the dead-man switch; no balances
        assert any(m.events for m in seen if m.channel == "user")  # the user snapshot event, typed
    finally:
        supervisor.stop(block=True, timeout=10)
        scheduler.stop()
        server.stop()


def test_the_gateway_trades_on_the_exchange_only_with_the_key_it_was_started_with():
    key, stranger = ephemeral_credentials(), ephemeral_credentials()
    server = ExchangeServer(seed=4, tick_interval_s=0.05, account=PaperAccount(cbi_usd_balance=Decimal(10_000)),
                            api_key_name=key.key_name, api_public_key_pem=key.public_key_pem())
    server.start()
    scheduler = Scheduler(WallClock())
    scheduler.start()
    services = Services(scheduler.clock, scheduler)
    specs = [ChildSpec("execution", Recorder)] + [
        ChildSpec(name, CoinbaseGatewayActor, {"rest_url": server.rest_url, "credentials": creds, "timeout_s": 2.0})
        for name, creds in (("venue", key), ("impostor", stranger))]
    supervisor = Supervisor.start(specs, SupervisorConfig(), services)

    def seen(kind: type) -> list[Any]:
        return [m for m in services.directory.get("execution").ref.ask("seen", timeout=5) if type(m) is kind]

    try:
        wait_until(lambda: all(services.directory.get(n) and services.directory.get(n).ref
                               for n in ("venue", "impostor")), what="gateways started")
        bid = server.books("BTC-USD")[0][0][0]
        resting = PlaceOrder("pb-rest-1", "BTC-USD", "BUY", "limit", Decimal("0.001"), bid - 1000)
        services.send("venue", resting)
        services.send("impostor", PlaceOrder("pb-rest-2", "BTC-USD", "BUY", "limit", Decimal("0.001"), bid - 1000))
        wait_until(lambda: len(seen(OrderUpdate)) == 2, what="both answered")
        by_id = {u.client_order_id: u for u in seen(OrderUpdate)}
        assert by_id["pb-rest-1"].status == "OPEN" and by_id["pb-rest-1"].venue_order_id, by_id
        assert (by_id["pb-rest-2"].status, by_id["pb-rest-2"].reason) == ("REJECTED", "HTTP_401")
        services.send("venue", SyncRequest(reply_to="execution"))
        [snapshot] = wait_until(lambda: seen(VenueSnapshot), what="snapshot")
        assert [(u.client_order_id, u.status) for u in snapshot.open_orders] == [("pb-rest-1", "OPEN")]
        services.send("venue", CancelAll(reason="test"))
        services.send("venue", SyncRequest(reply_to="execution"))
        wait_until(lambda: len(seen(VenueSnapshot)) == 2, what="second snapshot")
        assert seen(VenueSnapshot)[1].open_orders == ()  # cancelled at the exchange
    finally:
        supervisor.stop(block=True, timeout=10)
        scheduler.stop()
        server.stop()


def test_venue_exchange_cannot_take_another_feed():
    result = subprocess.run([*PERPSBOT, "paper", "--venue", "exchange", "--feed", "ws://127.0.0.1:9"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "--venue exchange" in result.stderr


def without_credentials() -> dict[str, str]:
    """This environment without a CDP key: the run makes its own key for the exchange."""
    return {k: v for k, v in os.environ.items() if not k.startswith("COINBASE_API_")}


CHAOS = ("rest_timeout:at=4,for=2", "rest_5xx:at=8,for=3,accept=1", "rest_429:at=12,for=2",
         "user_duplicate:at=14,for=2", "user_replay:every=4", "disconnect:at=15")


def test_paper_on_the_exchange_venue_trades_over_rest_and_the_user_channel_through_faults(tmp_path):
    out = tmp_path / "report.json"
    chaos = [arg for spec in CHAOS for arg in ("--chaos", spec)]
    result = subprocess.run([*PERPSBOT, "paper", "--venue", "exchange", "--profile", "dev", "--duration", "20",
                             "--data-dir", str(tmp_path / "data"), "--report-json", str(out), *chaos],
                            capture_output=True, text=True, timeout=120, env=without_credentials())
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    trading, exchange = report["trading"], report["exchange"]
    assert report["venue"] == "exchange" and all(report["chaos"][kind.split(":")[0]] >= 1 for kind in CHAOS)
    assert trading["orders"] >= 1 and trading["fills"] >= 1, trading
    assert isinstance(trading["unknown_outcomes"], int) and isinstance(trading["throttled"], int)
    # every unknown outcome was settled: nothing is left in flight, and each unknown order was settled
    assert trading["unsettled_orders"] == 0
    assert (trading["unknown_settled"] >= 1) == (trading["unknown_outcomes"] >= 1), trading
    assert report["user_feed"]["per_channel"].get("user", 0) >= 1 and report["user_feed"]["reconnects"] >= 1
    # Never two venue orders for one intent, and both sides of the wire agree on what was filled:
    # the bot's positions are the exchange's net fills and its cfm/positions.
    assert exchange["orders"] == exchange["client_order_ids"] <= trading["orders"]
    assert exchange["matches"] is True, (report["positions"], exchange)
    # the bot stayed inside the venue's private request budget (its 429s came from chaos only)
    assert report["exchange_rest"]["requests"] >= trading["orders"] and report["exchange_rest"]["throttled"] == 0
    assert exchange["fills"] >= trading["fills"]  # a socket fill may cover several trades
    assert report["positions"], "fills moved a position"


@pytest.mark.slow
def test_a_crashed_gateway_resumes_from_execution_and_loses_no_order(tmp_path):
    """Orders sent to the gateway while it was down are not lost (execution still holds them as
    pending: the new gateway takes them back as unknown outcomes and creates them under the same
    id), and no fill is reported twice across the crash."""
    out = tmp_path / "report.json"
    result = subprocess.run([*PERPSBOT, "paper", "--venue", "exchange", "--profile", "dev", "--duration", "20",
                             "--data-dir", str(tmp_path / "data"), "--report-json", str(out),
                             "--fault", "venue:crash:every=50"],
                            capture_output=True, text=True, timeout=120, env=without_credentials())
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    trading, exchange = report["trading"], report["exchange"]
    assert report["supervision"]["restarts"]["venue"] >= 1
    assert trading["fills"] >= 1 and exchange["matches"] is True, (report["positions"], exchange)
    assert exchange["orders"] == exchange["client_order_ids"]
    # every order execution sent reached the exchange, or the gateway still knows it is in flight
    assert trading["orders"] - exchange["orders"] <= trading["unsettled_orders"], (trading, exchange)
