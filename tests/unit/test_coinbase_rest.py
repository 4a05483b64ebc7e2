"""Coinbase REST requests: exact paths and queries, and the transport's JWT, timeouts and keep-alive
against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import threading
import urllib.parse
from decimal import Decimal as D

import jwt
import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from actors.venue import coinbase_rest as rest
from actors.venue.coinbase_auth import Credentials
from actors.wire.rate_limit import PUBLIC
from domain.orders import PlaceOrder


def test_batch_cancel_sends_at_most_100_ids_per_request_without_duplicates():
    ids = [f"o{i}" for i in range(250)] + ["o3"]
    requests = rest.batch_cancel(ids)
    bodies = [msgspec.json.decode(r.body)["order_ids"] for r in requests]
    assert [len(b) for b in bodies] == [100, 100, 50]
    assert sum(bodies, []) == [f"o{i}" for i in range(250)]
    assert all(r.method == "POST" and r.path == "/api/v3/brokerage/orders/batch_cancel" for r in requests)


def test_list_orders_repeats_filters_and_carries_the_cursor():
    r = rest.list_orders(product_ids=("BTC-USD", "BIP-20DEC30-CDE"), statuses=("OPEN", "PENDING", "QUEUED"),
                         cursor="abc")
    assert r.path == "/api/v3/brokerage/orders/historical/batch"
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(r.target).query) == {
        "product_ids": ["BTC-USD", "BIP-20DEC30-CDE"], "order_status": ["OPEN", "PENDING", "QUEUED"],
        "limit": ["100"], "cursor": ["abc"]}


def test_edit_sends_price_and_size_together_and_close_position_its_optional_size():
    assert msgspec.json.decode(rest.edit_order("o1", D("91200.00"), D("0.002")).body) == {
        "order_id": "o1", "price": "91200.00", "size": "0.002"}
    assert msgspec.json.decode(rest.close_position("rt-9", "BIP-20DEC30-CDE", D("2")).body) == {
        "client_order_id": "rt-9", "product_id": "BIP-20DEC30-CDE", "size": "2"}
    assert "size" not in msgspec.json.decode(rest.close_position("rt-9", "BIP-20DEC30-CDE").body)


def test_paths_escape_ids_and_public_requests_spend_the_public_budget():
    assert rest.get_order("a/b").path == "/api/v3/brokerage/orders/historical/a%2Fb"
    assert rest.public_product("BTC-USD").budget == PUBLIC
    assert rest.cfm_balance_summary().path == "/api/v3/brokerage/cfm/balance_summary"
    assert rest.list_fills(order_ids=("o1",)).target.endswith("?order_ids=o1&limit=100")


# ---------------------------------------------------------------- transport


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list = []
    hang = threading.Event()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        type(self).seen.append((self.command, self.path, dict(self.headers), body, self.client_address[1]))
        if self.path.startswith("/api/v3/brokerage/slow"):
            type(self).hang.wait(2)
        payload = b'{"success": true}'
        self.send_response(429 if "throttle" in self.path else 200)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-ratelimit-reset", "1795000003")
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    _Handler.seen = []
    _Handler.hang = threading.Event()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    _Handler.hang.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def _key() -> tuple[Credentials, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return Credentials("organizations/o/apiKeys/k", pem), key.public_key()


def test_private_requests_carry_a_fresh_jwt_whose_uri_has_no_query_and_keep_the_connection(server):
    creds, public_key = _key()
    port = server.server_address[1]
    transport = rest.RestTransport(f"http://127.0.0.1:{port}", creds, timeout_s=2, wall_time=lambda: 1_795_000_000)
    order = PlaceOrder("rt-1", "BTC-USD", "BUY", "limit", D("0.001"), D("91200.00"))
    first = transport.send(rest.create_order(order))
    second = transport.send(rest.list_orders(product_ids=("BTC-USD",)))
    public = transport.send(rest.public_product("BTC-USD"))
    transport.close()
    assert first.status == second.status == public.status == 200 and first.body == b'{"success": true}'
    (m1, p1, h1, b1, port1), (m2, p2, h2, _, port2), (_, _, h3, _, _) = _Handler.seen
    assert (m1, p1) == ("POST", "/api/v3/brokerage/orders")
    assert msgspec.json.decode(b1)["client_order_id"] == "rt-1"
    tokens = [h["Authorization"].removeprefix("Bearer ") for h in (h1, h2)]
    claims = [jwt.decode(t, public_key, algorithms=["ES256"], options={"verify_exp": False, "verify_nbf": False})
              for t in tokens]
    assert claims[0]["uri"] == "POST api.coinbase.com/api/v3/brokerage/orders"
    # the API host, not the address the request went to, and no query
    assert claims[1]["uri"] == "GET api.coinbase.com/api/v3/brokerage/orders/historical/batch"
    assert p2.endswith("?product_ids=BTC-USD&limit=100")
    assert claims[0]["sub"] == "organizations/o/apiKeys/k" and claims[0]["iss"] == "cdp"
    assert claims[0]["exp"] - claims[0]["nbf"] == 120
    assert jwt.get_unverified_header(tokens[0])["nonce"] != jwt.get_unverified_header(tokens[1])["nonce"]
    assert "Authorization" not in h3  # public endpoint: no credentials sent
    assert port1 == port2  # one keep-alive connection


def test_a_timeout_is_no_response_not_an_error_status(server):
    transport = rest.RestTransport(f"http://127.0.0.1:{server.server_address[1]}", None, timeout_s=0.2)
    response = transport.send(rest._get("/slow"))
    assert response.status is None and "timeout" in response.error.lower()
    _Handler.hang.set()
    assert transport.send(rest.products()).status == 200  # a new connection after the failure
    transport.close()


def test_a_429_comes_back_with_its_headers(server):
    transport = rest.RestTransport(f"http://127.0.0.1:{server.server_address[1]}")
    response = transport.send(rest._get("/throttle"))
    transport.close()
    assert response.status == 429 and ("x-ratelimit-reset", "1795000003") in response.headers


def test_refused_connection_is_no_response():
    transport = rest.RestTransport("http://127.0.0.1:9", None, timeout_s=0.5)
    response = transport.send(rest.products())
    assert response.status is None and response.error


def test_bad_base_url_is_refused():
    with pytest.raises(ValueError):
        rest.RestTransport("ftp://example")
