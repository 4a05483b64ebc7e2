"""Coinbase Advanced Trade REST: the requests execution and portfolio make, and the one blocking
transport that sends them.

Owns the exact method, path and query of each endpoint used (create, preview, batch cancel in
chunks of 100, edit with price and size together, close position, get order, list orders with
repeatable filters and a cursor, fills, products, accounts, `cfm/balance_summary`,
`cfm/positions`), and `RestTransport.send`: one HTTP request with a fresh ES256 JWT whose `uri`
claim is "METHOD host/path" without the query string, a timeout, and the response as status,
body and headers (status None when no response came: an unknown outcome for a write).
Request builders are pure. The transport blocks: call it from a worker thread, never from an
actor handler. Must never log a JWT, a key or an Authorization header, retry on its own, or
read a response body as success without its caller checking `success`.
"""

from __future__ import annotations

import http.client
import socket
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

import msgspec

from actors.venue.coinbase_auth import Credentials, rest_uri
from actors.venue.coinbase_orders import create_order_body, decimal_text, preview_order_body
from actors.wire.rate_limit import PRIVATE, PUBLIC
from domain.orders import PlaceOrder

PREFIX = "/api/v3/brokerage"
PRODUCTION_URL = "https://api.coinbase.com"
# The host every JWT `uri` claim names, whatever URL the request goes to: Coinbase checks it, and so
# does the built-in exchange (its --api-host), so a test against 127.0.0.1 signs what production gets.
API_HOST = "api.coinbase.com"
BATCH_CANCEL_MAX = 100
DEFAULT_TIMEOUT_S = 5.0


class Request(msgspec.Struct, frozen=True):
    method: str
    path: str  # without the query string
    query: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    budget: str = PRIVATE  # which rate limit it spends

    @property
    def target(self) -> str:
        return self.path + ("?" + urllib.parse.urlencode(self.query) if self.query else "")


class Response(msgspec.Struct, frozen=True):
    status: int | None  # None: no response (timeout, connection lost)
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    error: str = ""  # why there was no response


def _post(path: str, body: Any) -> Request:
    return Request("POST", PREFIX + path, body=msgspec.json.encode(body))


def _get(path: str, query: Iterable[tuple[str, str]] = (), budget: str = PRIVATE) -> Request:
    return Request("GET", PREFIX + path, tuple(query), budget=budget)


def _repeat(name: str, values: Sequence[str]) -> list[tuple[str, str]]:
    return [(name, v) for v in values]


def _page(limit: int | None, cursor: str) -> list[tuple[str, str]]:
    out = []
    if limit is not None:
        out.append(("limit", str(limit)))
    if cursor:
        out.append(("cursor", cursor))
    return out


# ---------------------------------------------------------------- requests


def create_order(order: PlaceOrder) -> Request:
    return _post("/orders", create_order_body(order))


def preview_order(order: PlaceOrder) -> Request:
    return _post("/orders/preview", preview_order_body(order))


def batch_cancel(order_ids: Sequence[str]) -> list[Request]:
    """One request per 100 ids, in order."""
    ids = list(dict.fromkeys(order_ids))
    return [_post("/orders/batch_cancel", {"order_ids": ids[i:i + BATCH_CANCEL_MAX]})
            for i in range(0, len(ids), BATCH_CANCEL_MAX)]


def edit_order(order_id: str, price: Decimal, size: Decimal) -> Request:
    """Coinbase edits price and size together: both are always sent."""
    return _post("/orders/edit", {"order_id": order_id, "price": decimal_text(price), "size": decimal_text(size)})


def close_position(client_order_id: str, product_id: str, size: Decimal | None = None) -> Request:
    body: dict[str, str] = {"client_order_id": client_order_id, "product_id": product_id}
    if size is not None:
        body["size"] = decimal_text(size)
    return _post("/orders/close_position", body)


def get_order(order_id: str) -> Request:
    return _get(f"/orders/historical/{urllib.parse.quote(order_id, safe='')}")


def list_orders(product_ids: Sequence[str] = (), statuses: Sequence[str] = (), order_ids: Sequence[str] = (),
                limit: int | None = 100, cursor: str = "") -> Request:
    """Never filter on OPEN alone when looking for cancelable orders: it hides PENDING/QUEUED."""
    query = _repeat("order_ids", order_ids) + _repeat("product_ids", product_ids)
    query += _repeat("order_status", statuses) + _page(limit, cursor)
    return _get("/orders/historical/batch", query)


def list_fills(order_ids: Sequence[str] = (), product_ids: Sequence[str] = (), start_sequence_timestamp: str = "",
               limit: int | None = 100, cursor: str = "") -> Request:
    query = _repeat("order_ids", order_ids) + _repeat("product_ids", product_ids)
    if start_sequence_timestamp:
        query.append(("start_sequence_timestamp", start_sequence_timestamp))
    return _get("/orders/historical/fills", query + _page(limit, cursor))


def products(product_type: str = "") -> Request:
    return _get("/products", [("product_type", product_type)] if product_type else [])


def product(product_id: str) -> Request:
    return _get(f"/products/{urllib.parse.quote(product_id, safe='')}")


def public_product(product_id: str) -> Request:
    return _get(f"/market/products/{urllib.parse.quote(product_id, safe='')}", budget=PUBLIC)


def accounts(limit: int | None = 250, cursor: str = "") -> Request:
    return _get("/accounts", _page(limit, cursor))


def cfm_balance_summary() -> Request:
    return _get("/cfm/balance_summary")


def cfm_positions() -> Request:
    return _get("/cfm/positions")


# ---------------------------------------------------------------- transport


class RestTransport:
    """Sends one Request and returns its Response. One keep-alive connection, re-opened after any
    failure; a fresh JWT per request when credentials are given (public requests need none)."""

    def __init__(self, base_url: str = PRODUCTION_URL, credentials: Credentials | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, wall_time: Callable[[], float] | None = None,
                 api_host: str = API_HOST) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"REST base URL must be http(s)://host[:port], got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._scheme = parts.scheme
        self._api_host = api_host
        self._host = parts.hostname
        self._port = parts.port
        self._credentials = credentials
        self._timeout_s = timeout_s
        self._wall_time = wall_time or time.time  # JWT nbf/exp are the venue's wall time
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout_s)
        return self._conn

    def headers(self, request: Request) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "perpsbot"}
        if request.body is not None:
            headers["Content-Type"] = "application/json"
        if self._credentials is not None and request.budget == PRIVATE:
            uri = rest_uri(request.method, self._api_host, request.path)
            headers["Authorization"] = "Bearer " + self._credentials.make_jwt(self._wall_time(), uri)
        return headers

    def send(self, request: Request) -> Response:
        conn = self._connection()
        try:
            conn.request(request.method, request.target, body=request.body, headers=self.headers(request))
            response = conn.getresponse()
            body = response.read()
            headers = tuple((k.lower(), v) for k, v in response.getheaders())
            if response.getheader("connection", "").lower() == "close":
                self.close()
            return Response(response.status, body, headers)
        except (OSError, http.client.HTTPException, socket.timeout) as exc:
            self.close()
            return Response(None, error=f"{type(exc).__name__}: {exc}"[:200])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
