"""Run as a child process by test_sdk_ws.py, on a path where websockets < 14 shadows the bot's:
Coinbase's official `WSClient` and `WSUserClient` subscribe to every channel of the built-in
exchange with JWTs, each frame is parsed into the SDK's `WebsocketResponse`, and one JSON line
says what was seen.

Imports only the SDK and the standard library (nothing of ours needs websockets >= 14 here).
Ends by itself: when every channel has been seen, or at the deadline.

usage: python sdk_ws_child.py MARKET_URL USER_URL KEY_NAME PEM_FILE DEADLINE_S PRODUCT_ID...
"""

from __future__ import annotations

import json
import sys
import threading
import time

import websockets
from coinbase.websocket import WebsocketResponse, WSClient, WSUserClient

MARKET_CHANNELS = ["heartbeats", "level2", "ticker", "ticker_batch", "market_trades", "candles", "status"]
USER_CHANNELS = ["heartbeats", "user", "futures_balance_summary"]
# The channel names frames carry (level2 arrives as l2_data), subscription acks included.
EXPECTED = {"subscriptions", "heartbeats", "l2_data", "ticker", "ticker_batch", "market_trades", "candles", "status",
            "user", "futures_balance_summary"}


def main(market_url: str, user_url: str, key_name: str, pem_file: str, deadline_s: str, *products: str) -> int:
    with open(pem_file) as f:
        pem = f.read()
    lock = threading.Lock()
    seen: dict[str, int] = {}
    user_orders: set[str] = set()
    user_positions: set[str] = set()
    errors: list[str] = []

    def on_message(raw: str) -> None:
        try:
            data = json.loads(raw)
            if "channel" not in data:
                errors.append(f"a frame with no channel: {raw[:200]}")
                return
            parsed = WebsocketResponse(data)
            parsed.to_dict()
            with lock:
                seen[parsed.channel] = seen.get(parsed.channel, 0) + 1
                if parsed.channel == "user":
                    for event in parsed.events:
                        user_orders.update(o.order_id for o in event.orders or ())
                        if event.positions is not None:
                            user_positions.update(p.product_id for p in event.positions.expiring_futures_positions)
        except Exception as exc:  # noqa: BLE001 - every failure to parse is reported, not raised
            errors.append(f"{type(exc).__name__}: {exc}: {raw[:200]}")

    market = WSClient(api_key=key_name, api_secret=pem, base_url=market_url, on_message=on_message, retry=False,
                      timeout=5)
    user = WSUserClient(api_key=key_name, api_secret=pem, base_url=user_url, on_message=on_message, retry=False,
                        timeout=5)
    market.open()
    user.open()
    try:
        market.subscribe(list(products), MARKET_CHANNELS)
        user.subscribe(list(products), USER_CHANNELS)
        deadline = time.monotonic() + float(deadline_s)
        while time.monotonic() < deadline:
            with lock:
                if EXPECTED <= set(seen):
                    break
            time.sleep(0.05)
    finally:
        market.close()
        user.close()
    print(json.dumps({"websockets": websockets.__version__, "seen": seen, "errors": errors[:20],
                      "user_orders": sorted(user_orders), "user_positions": sorted(user_positions)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
