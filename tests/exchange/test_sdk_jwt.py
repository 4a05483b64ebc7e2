"""A JWT made by Coinbase's official Python SDK (coinbase-advanced-py) for our key is accepted by
the built-in exchange, over REST and on the user channel; and the bot's own JWTs verify with
PyJWT against the public key."""

from __future__ import annotations

import json

import jwt
import pytest
import websocket

# The official SDK, installed by the test command with --no-deps: it pins websockets < 14, which the
# built-in exchange outgrew, and its JWT module needs only PyJWT and cryptography.
from coinbase import jwt_generator  # noqa: E402

from actors.venue import coinbase_rest as cr
from actors.venue.coinbase_auth import Credentials, rest_uri
from exchange.server import ExchangeServer
from tests.exchange.sdk_support import KEY, KEY_NAME, PEM, PUBLIC_PEM


@pytest.fixture
def exchange():
    server = ExchangeServer(seed=9, tick_interval_s=0.05, api_key_name=KEY_NAME, api_public_key_pem=PUBLIC_PEM)
    server.start()
    yield server
    server.stop()


def _get(server: ExchangeServer, path: str, token: str) -> int:
    """GET with a token made elsewhere (the transport only lends its connection and headers)."""
    transport = cr.RestTransport(server.rest_url, None, timeout_s=3)
    request = cr._get(path)
    headers = transport.headers(request)
    headers["Authorization"] = f"Bearer {token}"
    conn = transport._connection()
    try:
        conn.request("GET", request.target, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        transport.close()


def test_a_rest_jwt_from_the_official_sdk_is_accepted_and_a_wrong_uri_is_not(exchange):
    path = "/api/v3/brokerage/accounts"
    sdk_token = jwt_generator.build_rest_jwt(jwt_generator.format_jwt_uri("GET", path), KEY_NAME, PEM)
    assert _get(exchange, "/accounts", sdk_token) == 200
    wrong = jwt_generator.build_rest_jwt(jwt_generator.format_jwt_uri("POST", path), KEY_NAME, PEM)
    assert _get(exchange, "/accounts", wrong) == 401


@pytest.mark.parametrize("uri", [
    "GET 127.0.0.1:8443/api/v3/brokerage/accounts",  # the address the request went to, not the API host
    "GET api.coinbase.com/api/v3/brokerage/accounts?limit=1",  # a query string never belongs in the uri
    "GET api.coinbase.com.evil.example/api/v3/brokerage/accounts",
    "GET api.coinbase.com/api/v3/brokerage/accounts/",
])
def test_a_jwt_whose_uri_names_another_host_or_carries_the_query_is_refused(exchange, uri):
    assert _get(exchange, "/accounts", jwt_generator.build_rest_jwt(uri, KEY_NAME, PEM)) == 401


def test_the_api_host_is_configurable():
    server = ExchangeServer(seed=9, tick_interval_s=0.05, api_key_name=KEY_NAME, api_public_key_pem=PUBLIC_PEM,
                            api_host="api.sandbox.example")
    server.start()
    try:
        path = "/api/v3/brokerage/accounts"
        assert _get(server, "/accounts", jwt_generator.build_rest_jwt(f"GET api.sandbox.example{path}",
                                                                      KEY_NAME, PEM)) == 200
        assert _get(server, "/accounts", jwt_generator.build_rest_jwt(f"GET api.coinbase.com{path}",
                                                                      KEY_NAME, PEM)) == 401
    finally:
        server.stop()


def test_a_websocket_jwt_from_the_official_sdk_opens_the_user_channel(exchange):
    ws = websocket.create_connection(exchange.user_url, timeout=3)
    try:
        ws.send(json.dumps({"type": "subscribe", "channel": "user",
                            "jwt": jwt_generator.build_ws_jwt(KEY_NAME, PEM)}))
        for _ in range(50):
            frame = json.loads(ws.recv())
            assert frame.get("type") != "error", frame
            if frame.get("channel") == "user":
                assert frame["events"][0]["type"] == "snapshot"
                return
        pytest.fail("no user frame")
    finally:
        ws.close()


def test_the_bots_own_jwts_verify_with_pyjwt_against_the_public_key():
    credentials = Credentials(KEY_NAME, PEM)
    token = credentials.make_jwt(1_795_000_000, rest_uri("GET", "api.coinbase.com", "/api/v3/brokerage/accounts"))
    claims = jwt.decode(token, KEY.public_key(), algorithms=["ES256"],
                        options={"verify_exp": False, "verify_nbf": False})
    assert claims["sub"] == KEY_NAME and claims["iss"] == "cdp"
    assert claims["uri"] == "GET api.coinbase.com/api/v3/brokerage/accounts"
    assert jwt.get_unverified_header(token)["kid"] == KEY_NAME
