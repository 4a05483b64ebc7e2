"""A tiny fake of Coinbase's private REST API on 127.0.0.1, for the gateway actor's tests.

Idempotent on client_order_id like Coinbase (a repeated id returns the original order), with a
script of answers per client_order_id for creates: "ok", "timeout" (the order is taken, the answer
never comes), "hang" (nothing is taken, no answer), "503" (taken, then a 503), "429" (not taken,
`x-ratelimit-reset` some time ahead), "post_only" (rejected: it would cross). Lists orders and
fills two per page with a cursor, and takes batch cancels. Records every request's arrival.
Waiting handlers wait on an event the fixture sets at teardown, never longer than a deadline.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from actors.streaming.codec import CHANNEL_OF, FrameDecoder, Rejected
from actors.wire.user import UserStreamFrame

PREFIX = "/api/v3/brokerage"
PAGE = 2


class FakeCoinbase:
    def __init__(self, reset_after_s: float = 0.6) -> None:
        self.lock = threading.Lock()
        self.release = threading.Event()  # set at teardown: "timeout"/"hang" handlers return
        self.reset_after_s = reset_after_s
        self.scripts: dict[str, list[str]] = {}
        self.orders: dict[str, dict[str, Any]] = {}  # client_order_id -> order
        self.fills: list[dict[str, Any]] = []
        self.requests: list[tuple[float, str, str, str]] = []  # (arrival, method, path, client_order_id)
        self.cancelled: list[str] = []
        self.throttled_until = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 5  # an idle keep-alive connection ends by itself (server_close joins it)

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._answer(self, "GET")

            def do_POST(self) -> None:
                fake._answer(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = False
        self.server.block_on_close = True  # server_close joins the handler threads
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="fake-coinbase", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeCoinbase:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    # -- what tests read and seed ---------------------------------------------------------------
    def creates(self, cid: str) -> int:
        with self.lock:
            return sum(1 for _, m, p, c in self.requests if m == "POST" and p == PREFIX + "/orders" and c == cid)

    def arrivals(self) -> list[tuple[float, str, str, str]]:
        with self.lock:
            return list(self.requests)

    def seed_order(self, cid: str, status: str, filled: str = "0", size: str = "1") -> dict[str, Any]:
        with self.lock:
            return self._new_order(cid, {"product_id": "BTC-USD", "side": "BUY",
                                         "order_configuration": {"limit_limit_gtc": {"base_size": size,
                                                                                     "limit_price": "100"}}},
                                   status, filled)

    def seed_fill(self, trade_id: str, cid: str, size: str, price: str) -> None:
        with self.lock:
            order = self.orders[cid]
            self.fills.append({"trade_id": trade_id, "order_id": order["order_id"], "product_id": "BTC-USD",
                               "side": "BUY", "price": price, "size": size, "commission": "0",
                               "liquidity_indicator": "TAKER", "trade_time": "2026-11-23T21:40:01.000Z"})

    def user_frame(self, cid: str, status: str, cumulative: str = "0", avg: str = "0", seq: int = 1) -> str:
        with self.lock:
            order = self.orders[cid]
        size = Decimal(order["order_configuration"]["limit_limit_gtc"]["base_size"])
        leaves = size - Decimal(cumulative) if status == "OPEN" else Decimal(0)
        return json.dumps({"channel": "user", "client_id": "", "timestamp": "2026-11-23T21:40:03.000Z",
                           "sequence_num": seq, "events": [{"type": "update", "orders": [{
                               "order_id": order["order_id"], "client_order_id": cid, "status": status,
                               "product_id": "BTC-USD", "order_side": "BUY", "order_type": "Limit",
                               "avg_price": avg, "cumulative_quantity": cumulative, "leaves_quantity": str(leaves),
                               "total_fees": "0"}]}]})

    # -- the server side ------------------------------------------------------------------------
    def _new_order(self, cid: str, body: dict[str, Any], status: str = "OPEN", filled: str = "0") -> dict[str, Any]:
        order = self.orders.get(cid)
        if order is None:
            order = {"order_id": f"v-{len(self.orders) + 1}", "client_order_id": cid, "status": status,
                     "filled_size": filled, "product_id": body.get("product_id", ""), "side": body.get("side", ""),
                     "order_configuration": body.get("order_configuration", {})}
            self.orders[cid] = order
        return order

    def _answer(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urllib.parse.urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length) or b"{}") if length else {}
        cid = body.get("client_order_id", "") if isinstance(body, dict) else ""
        now = time.time()
        with self.lock:
            self.requests.append((now, method, parts.path, cid))
        status, payload, headers = self._route(method, parts.path, urllib.parse.parse_qs(parts.query), body, now)
        if status is None:
            return  # no answer: the client times out or is stopped
        data = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                handler.send_header(k, v)
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the client gave up on us

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any,
               now: float) -> tuple[int | None, Any, dict[str, str]]:
        if method == "POST" and path == PREFIX + "/orders":
            cid = body["client_order_id"]
            with self.lock:
                script = self.scripts.get(cid, [])
                step = script.pop(0) if script else "ok"
                if step == "429":
                    reset = round(now + self.reset_after_s, 3)
                    self.throttled_until = reset  # exactly what the header says
                    return 429, {"error": "rate limited"}, {"x-ratelimit-reset": f"{reset:.3f}"}
                if step == "post_only":
                    return 200, {"success": False, "error_response": {
                        "error": "INVALID_LIMIT_PRICE_POST_ONLY", "message": "would cross"}}, {}
                if step != "hang":
                    order = self._new_order(cid, body)
            if step in ("timeout", "hang"):
                self.release.wait(10)
                return None, None, {}
            if step == "503":
                return 503, {"error": "unavailable"}, {}
            return 200, {"success": True, "success_response": {
                "order_id": order["order_id"], "client_order_id": cid}}, {}
        if method == "POST" and path == PREFIX + "/orders/batch_cancel":
            with self.lock:
                self.cancelled.extend(body["order_ids"])
            return 200, {"results": [{"success": True, "order_id": oid} for oid in body["order_ids"]]}, {}
        if method == "GET" and path == PREFIX + "/orders/historical/batch":
            with self.lock:
                rows = list(self.orders.values())
            return 200, self._page(rows, "orders", query, with_has_next=True), {}
        if method == "GET" and path == PREFIX + "/orders/historical/fills":
            with self.lock:
                rows = list(self.fills)
            return 200, self._page(rows, "fills", query, with_has_next=False), {}
        return 404, {"error": "NOT_FOUND"}, {}

    @staticmethod
    def _page(rows: list[Any], key: str, query: dict[str, list[str]], with_has_next: bool) -> dict[str, Any]:
        start = int(query.get("cursor", ["0"])[0])
        page = rows[start:start + PAGE]
        more = start + PAGE < len(rows)
        out: dict[str, Any] = {key: page, "cursor": str(start + PAGE) if more else ""}
        if with_has_next:
            out["has_next"] = more
        return out


def as_streamed(text: str, conn: int) -> UserStreamFrame:
    """A private-stream frame as streaming hands it to the gateway: decoded once by the codec."""
    frame = FrameDecoder().decode(text)
    assert not isinstance(frame, Rejected), frame
    return UserStreamFrame(CHANNEL_OF[type(frame)], conn, getattr(frame, "events", ()))
