"""Coinbase's official `WSClient` and `WSUserClient` (coinbase-advanced-py 1.8.4) subscribe to every
channel of the built-in exchange with JWTs and parse every frame.

The SDK pins websockets < 14 and the exchange's server needs 14 or newer, so the SDK side runs in
a child process whose path puts websockets 13 (installed once beside this environment's packages,
in `<prefix>/sdk-websockets`) ahead of ours; everything else the child imports is this
environment's. The child ends by itself when it has seen every channel or at its deadline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from domain.products import BTC_PERP, BTC_USD
from exchange.server import ExchangeServer
from tests.exchange import sdk_support as sdk

CHILD = Path(__file__).with_name("sdk_ws_child.py")
OVERLAY = Path(sys.prefix) / "sdk-websockets"
SDK_WEBSOCKETS = "websockets>=12,<14"  # what coinbase-advanced-py 1.8.4 requires


@pytest.fixture(scope="session")
def sdk_websockets() -> Path:
    """The directory holding the websockets the SDK wants (installed on first use)."""
    if not (OVERLAY / "websockets").is_dir():
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                               "--target", str(OVERLAY), SDK_WEBSOCKETS], capture_output=True, text=True,
                              timeout=300)
        if done.returncode != 0 or not (OVERLAY / "websockets").is_dir():
            pytest.fail(f"could not install {SDK_WEBSOCKETS} into {OVERLAY}: {done.stderr.strip()[-500:]}")
    return OVERLAY


def test_the_official_ws_clients_subscribe_to_every_channel_and_parse_every_frame(sdk_websockets, tmp_path):
    server = ExchangeServer(seed=31, tick_interval_s=0.05, heartbeat_interval_s=0.2, ticker_batch_interval_s=0.5,
                            candle_interval_s=0.5, balance_interval_s=0.5, api_key_name=sdk.KEY_NAME,
                            api_public_key_pem=sdk.PUBLIC_PEM)
    server.start()
    client, _ = sdk.sdk_client(server)
    try:
        bid = Decimal(client.get_best_bid_ask([BTC_USD.product_id]).pricebooks[0].bids[0]["price"])
        resting = client.limit_order_gtc_buy(str(uuid.uuid4()), BTC_USD.product_id, "0.001",
                                             str((bid * Decimal("0.9")).quantize(BTC_USD.price_increment)))
        held = client.market_order_buy(str(uuid.uuid4()), BTC_PERP.product_id, base_size="1")
        assert resting.success and held.success
        pem_file = tmp_path / "key.pem"
        pem_file.write_text(sdk.PEM)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(sdk_websockets), str(Path.cwd())])}
        done = subprocess.run([sys.executable, str(CHILD), server.url, server.user_url, sdk.KEY_NAME, str(pem_file),
                               "30", BTC_USD.product_id, BTC_PERP.product_id],
                              capture_output=True, text=True, timeout=90, env=env)
    finally:
        client.session.close()
        server.stop()
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert int(report["websockets"].split(".")[0]) < 14  # the SDK ran on the websockets it pins
    assert report["errors"] == []
    assert set(report["seen"]) >= {"subscriptions", "heartbeats", "l2_data", "ticker", "ticker_batch",
                                   "market_trades", "candles", "status", "user", "futures_balance_summary"}
    assert resting.success_response["order_id"] in report["user_orders"]
    assert report["user_positions"] == [BTC_PERP.product_id]
