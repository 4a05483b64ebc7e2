"""The built-in exchange's private side over loopback, driven by the bot's own REST client
(`RestTransport` and the request builders) with a key made here: orders, idempotency, cancel, edit,
lists with pagination, fills, positions and balances; the JWT rules (401 otherwise); the `user`
channel; and each REST and user-channel fault. The exchange's clock is held still by the test, so
the synthetic market does not move unless a test moves the time."""

from __future__ import annotations

import http.client
import json
import math
import socket
import subprocess
import sys
import time
import urllib.parse
from decimal import Decimal
from pathlib import Path
from typing import Any

import jwt
import pytest
import websocket
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from actors.app.cli import EXIT_USAGE
from actors.venue import coinbase_rest as cr
from actors.venue.coinbase_auth import Credentials
from actors.venue.coinbase_orders import Accepted, Rejected, Throttled, Unknown, create_order_outcome
from actors.venue.user_channel import UserFillDeriver
from actors.wire.rate_limit import reset_delay
from actors.wire.user import user_frame_decoder
from domain.orders import PlaceOrder
from domain.products import BTC_PERP, BTC_USD
from exchange.account import PaperAccount
from exchange.chaos import parse_chaos
from exchange.failure_reasons import CREATE_REASONS, PREVIEW_REASONS
from exchange.server import ExchangeServer
from tests.support import wait_until

D = Decimal
SPOT = BTC_USD.product_id
PERP = BTC_PERP.product_id
KEY_NAME = "organizations/test-org/apiKeys/test-key"
B = "/api/v3/brokerage"
PERPSBOT = [sys.executable, str(Path(__file__).resolve().parents[2] / "bin" / "perpsbot")]


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


KEY = ec.generate_private_key(ec.SECP256R1())
CREDENTIALS = Credentials(KEY_NAME, _pem(KEY))
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


class Rig:
    """An exchange with the test key configured, its clock in the test's hands, and a client."""

    def __init__(self, chaos: tuple[str, ...] = (), keyed: bool = True, **kwargs: Any) -> None:
        self.now = time.time()
        self.server = ExchangeServer(
            seed=5, clock=lambda: self.now, tick_interval_s=0.02, heartbeat_interval_s=0.5,
            chaos=[parse_chaos(c) for c in chaos],
            account=PaperAccount(cfm_usd_balance=D("100000"), cbi_usd_balance=D("20000"), spot_assets=()),
            api_key_name=KEY_NAME if keyed else None,
            api_public_key_pem=CREDENTIALS.public_key_pem() if keyed else None, **kwargs)
        self.server.start()
        self.rest = self.transport()
        self.sockets: list[websocket.WebSocket] = []

    def transport(self, timeout_s: float = 3.0, credentials: Credentials | None = CREDENTIALS) -> cr.RestTransport:
        return cr.RestTransport(self.server.rest_url, credentials, timeout_s=timeout_s, wall_time=lambda: self.now)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def close(self) -> None:
        for ws in self.sockets:
            ws.close()
        self.rest.close()
        self.server.stop()

    # ---- REST

    def send(self, request: cr.Request, transport: cr.RestTransport | None = None) -> cr.Response:
        return (transport or self.rest).send(request)

    def json(self, request: cr.Request) -> dict[str, Any]:
        response = self.send(request)
        assert response.status == 200, (response.status, response.body)
        return json.loads(response.body)

    def place(self, cid: str, product_id: str, side: str, order_type: str, size: str, price: D | None = None,
              post_only: bool = False, transport: cr.RestTransport | None = None) -> cr.Response:
        order = PlaceOrder(cid, product_id, side, order_type, D(size), limit_price=price, post_only=post_only)
        return self.send(cr.create_order(order), transport)

    def accepted(self, cid: str, *args: Any, **kwargs: Any) -> str:
        response = self.place(cid, *args, **kwargs)
        outcome = create_order_outcome(cid, response.status, response.body, response.headers)
        assert isinstance(outcome, Accepted), outcome
        return outcome.order_id

    def orders(self, **filters: Any) -> list[dict[str, Any]]:
        return self.json(cr.list_orders(**filters))["orders"]

    def best(self, product_id: str) -> tuple[D, D]:
        bids, offers = self.server.books(product_id)
        return bids[0][0], offers[0][0]

    # ---- user channel

    def user_socket(self, token: str | None = None) -> websocket.WebSocket:
        ws = websocket.create_connection(self.server.user_url, timeout=3.0)
        self.sockets.append(ws)
        ws.send(json.dumps({"type": "subscribe", "channel": "user",
                            "jwt": token or CREDENTIALS.make_jwt(self.now)}))
        return ws


@pytest.fixture
def rig():
    rig = Rig()
    yield rig
    rig.close()


def user_frames(ws: websocket.WebSocket, count: int) -> list[dict[str, Any]]:
    """The next `count` frames of channel `user` (subscriptions acks and heartbeats skipped)."""
    frames: list[dict[str, Any]] = []
    for _ in range(200):
        if len(frames) == count:
            return frames
        frame = json.loads(ws.recv())
        if frame.get("channel") == "user":
            frames.append(frame)
    pytest.fail(f"only {len(frames)} of {count} user frames arrived")


def no_more_user_frames(ws: websocket.WebSocket, within_s: float = 0.3) -> bool:
    ws.settimeout(within_s)
    try:
        while True:
            if json.loads(ws.recv()).get("channel") == "user":
                return False
    except websocket.WebSocketTimeoutException:
        return True
    finally:
        ws.settimeout(3.0)


# --------------------------------------------------------------------- orders over REST


def test_a_market_order_fills_at_the_book_once_however_often_it_is_sent(rig):
    bid, ask = rig.best(PERP)
    order_id = rig.accepted("buy-1", PERP, "BUY", "market", "1")
    assert rig.accepted("buy-1", PERP, "BUY", "market", "1") == order_id  # the original, not a second
    assert [o["order_id"] for o in rig.orders() if o["client_order_id"] == "buy-1"] == [order_id]

    order = rig.json(cr.get_order(order_id))["order"]
    assert (order["status"], order["filled_size"], order["average_filled_price"]) == ("FILLED", "1", str(ask))
    assert order["order_configuration"] == {"market_market_ioc": {"base_size": "1"}}
    fee = D("0.01") * ask * D("0.0006")  # one contract of 0.01 BTC, taker
    fills = rig.json(cr.list_fills(order_ids=[order_id]))["fills"]
    assert [(f["price"], f["size"], f["liquidity_indicator"], D(f["commission"])) for f in fills] == [
        (str(ask), "1", "TAKER", fee)]
    assert {"trade_id", "entry_id", "sequence_timestamp", "trade_time", "side"} <= set(fills[0])

    positions = rig.json(cr.cfm_positions())["positions"]
    assert [(p["product_id"], p["side"], p["number_of_contracts"], D(p["avg_entry_price"]["value"])) for p in positions] == [
        (PERP, "LONG", "1", ask)]
    summary = rig.json(cr.cfm_balance_summary())["balance_summary"]
    assert summary["cfm_usd_balance"] == {"value": f"{D('100000') - fee:.2f}", "currency": "USD"}
    assert summary["initial_margin"]["currency"] == "USD" and D(summary["initial_margin"]["value"]) > 0
    assert rig.server.books(PERP)[1][0][0] >= ask  # it took from the book like any taker

    closing = json.loads(rig.send(cr.close_position("close-1", PERP)).body)
    assert closing["success"] is True
    assert rig.json(cr.cfm_positions())["positions"] == []


def test_rejections_are_http_200_with_the_reason(rig):
    bid, ask = rig.best(PERP)
    cases = [
        (("crossing", PERP, "BUY", "limit", "1", ask), {"post_only": True}, "INVALID_LIMIT_PRICE_POST_ONLY"),
        (("too-big", PERP, "BUY", "limit", "100000", bid - 500), {}, "INSUFFICIENT_FUND"),
        (("no-such", "DOGE-USD", "BUY", "limit", "1", D("1")), {}, "INVALID_PRODUCT_ID"),
        (("off-grid", PERP, "BUY", "limit", "1", bid - 2), {}, "INVALID_PRICE_PRECISION"),
        (("fractional", PERP, "BUY", "limit", "0.5", bid - 500), {}, "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"),
    ]
    for args, kwargs, reason in cases:
        response = rig.place(*args, **kwargs)
        assert response.status == 200
        outcome = create_order_outcome(args[0], response.status, response.body)
        assert isinstance(outcome, Rejected) and outcome.reason == reason, (args, outcome)
        error = json.loads(response.body)["error_response"]
        assert error["error"] in CREATE_REASONS and error["new_order_failure_reason"] in CREATE_REASONS
        assert error["preview_failure_reason"] in PREVIEW_REASONS
    assert rig.orders() == []
    preview = rig.json(cr.preview_order(PlaceOrder("", PERP, "BUY", "limit", D("100000"), limit_price=bid - 500)))
    assert preview["errs"] == ["PREVIEW_INSUFFICIENT_FUND"]


def test_resting_orders_list_by_pages_cancel_in_a_batch_and_edit(rig):
    bid, _ = rig.best(PERP)
    ids = [rig.accepted(f"rest-{n}", PERP, "BUY", "limit", "1", bid - 100 - 5 * n, post_only=True) for n in range(3)]
    first = rig.json(cr.list_orders(statuses=["OPEN"], limit=2))
    assert [o["order_id"] for o in first["orders"]] == ids[:0:-1] and first["has_next"] is True  # newest first
    second = rig.json(cr.list_orders(statuses=["OPEN"], limit=2, cursor=first["cursor"]))
    assert [o["order_id"] for o in second["orders"]] == ids[:1] and second["has_next"] is False
    assert second["cursor"] == ""

    results = rig.json(cr.batch_cancel([ids[0], ids[1], "no-such-order"])[0])["results"]
    assert [(r["order_id"], r["success"]) for r in results] == [(ids[0], True), (ids[1], True), ("no-such-order", False)]
    assert [o["order_id"] for o in rig.orders(statuses=["OPEN"])] == [ids[2]]
    assert {o["status"] for o in rig.orders(statuses=["CANCELLED"])} == {"CANCELLED"}

    new_price = bid - 200
    assert rig.json(cr.edit_order(ids[2], new_price, D(3))) == {"success": True, "errors": []}
    edited = rig.json(cr.get_order(ids[2]))["order"]
    assert edited["order_configuration"]["limit_limit_gtc"]["limit_price"] == str(new_price)
    assert edited["order_configuration"]["limit_limit_gtc"]["base_size"] == "3"
    assert [(e["price"], e["size"]) for e in edited["edit_history"]] == [(str(new_price), "3")]
    price_only = cr.Request("POST", f"{B}/orders/edit", body=json.dumps({"order_id": ids[2], "price": "1"}).encode())
    response = rig.send(price_only)
    assert response.status == 400 and json.loads(response.body)["error"] == "INVALID_ARGUMENT"
    too_many = cr.Request("POST", f"{B}/orders/batch_cancel", body=json.dumps({"order_ids": ["x"] * 101}).encode())
    assert rig.send(too_many).status == 400


def test_accounts_products_and_fills_pagination(rig):
    for n in range(3):
        rig.accepted(f"spot-{n}", SPOT, "BUY", "market", "0.001")
    page = rig.json(cr.list_fills(product_ids=[SPOT], limit=2))
    assert len(page["fills"]) == 2 and page["cursor"]
    rest = rig.json(cr.list_fills(product_ids=[SPOT], limit=2, cursor=page["cursor"]))
    assert len(rest["fills"]) == 1 and rest["cursor"] == ""
    trade_ids = {f["trade_id"] for f in page["fills"] + rest["fills"]}
    assert len(trade_ids) == 3
    accounts = {a["currency"]: a for a in rig.json(cr.accounts())["accounts"]}
    assert D(accounts["BTC"]["available_balance"]["value"]) == D("0.003")
    assert D(accounts["USD"]["available_balance"]["value"]) < D("20000")
    product = rig.json(cr.product(PERP))
    assert product["future_product_details"]["contract_size"] == "0.01" and product["price_increment"] == "5"
    assert [p["product_id"] for p in rig.json(cr.products())["products"]] == [SPOT, PERP]


# --------------------------------------------------------------------- authentication


def _token(key: ec.EllipticCurvePrivateKey, now: float, *, kid: str = KEY_NAME, drop: tuple[str, ...] = (),
           **claims: Any) -> str:
    body = {"sub": KEY_NAME, "iss": "cdp", "nbf": int(now), "exp": int(now) + 120,
            "uri": f"GET api.coinbase.com{B}/cfm/positions", **claims}
    for name in drop:
        body.pop(name)
    return jwt.encode(body, key, algorithm="ES256", headers={"kid": kid, "nonce": "00"})


def _status(rig: Rig, authorization: str | None, target: str = f"{B}/cfm/positions", method: str = "GET") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", rig.server.port, timeout=3)
    try:
        headers = {"Authorization": authorization} if authorization is not None else {}
        conn.request(method, target, body=b"{}" if method == "POST" else None, headers=headers)
        response = conn.getresponse()
        body = json.loads(response.read())
        if response.status == 401:
            assert body["error"] == "UNAUTHENTICATED" and body["message"]
        return response.status
    finally:
        conn.close()


def test_private_requests_need_a_jwt_from_the_configured_key(rig):
    now = rig.now
    good = _token(KEY, now)
    assert _status(rig, f"Bearer {good}") == 200
    assert _status(rig, f"Bearer {good}", f"{B}/cfm/positions?limit=5") == 200  # the query is not in the uri
    refused = {
        "no header": None,
        "not bearer": f"Basic {good}",
        "garbage": "Bearer not.a.jwt",
        "other key": "Bearer " + _token(OTHER_KEY, now),
        "expired": "Bearer " + _token(KEY, now - 300),
        "not yet valid": "Bearer " + _token(KEY, now + 60),
        "wrong kid": "Bearer " + _token(KEY, now, kid="organizations/o/apiKeys/other"),
        "wrong sub": "Bearer " + _token(KEY, now, sub="organizations/o/apiKeys/other"),
        "wrong iss": "Bearer " + _token(KEY, now, iss="coinbase-cloud"),
        "wrong path": "Bearer " + _token(KEY, now, uri=f"GET api.coinbase.com{B}/accounts"),
        "wrong host": "Bearer " + _token(KEY, now, uri=f"GET localhost:1{B}/cfm/positions"),
        "query in uri": "Bearer " + _token(KEY, now, uri=f"GET api.coinbase.com{B}/cfm/positions?limit=5"),
        "wrong method": "Bearer " + _token(KEY, now, uri=f"POST api.coinbase.com{B}/cfm/positions"),
        "no uri": "Bearer " + _token(KEY, now, drop=("uri",)),
    }
    assert {name: _status(rig, value) for name, value in refused.items()} == {name: 401 for name in refused}
    create = "Bearer " + _token(KEY, now, uri=f"POST api.coinbase.com{B}/orders")
    assert _status(rig, create, f"{B}/orders", "POST") == 400  # authenticated; the body is not an order
    assert _status(rig, None, f"{B}/market/products/{PERP}") == 200  # public stays public
    assert rig.server.rest_counts()["unauthenticated"] == len(refused)
    # the bot's own JWTs verify with PyJWT against the public key
    token = CREDENTIALS.make_jwt(now, f"GET api.coinbase.com{B}/cfm/positions")
    claims = jwt.decode(token, CREDENTIALS.public_key_pem(), algorithms=["ES256"], options={"verify_exp": False,
                                                                                            "verify_nbf": False})
    assert claims["sub"] == KEY_NAME and jwt.get_unverified_header(token)["kid"] == KEY_NAME


def test_without_a_key_any_well_formed_es256_jwt_is_accepted():
    rig = Rig(keyed=False)
    try:
        other = Credentials("organizations/o/apiKeys/someone", _pem(OTHER_KEY))
        assert rig.send(cr.cfm_positions(), rig.transport(credentials=other)).status == 200
        assert _status(rig, "Bearer not.a.jwt") == 401 and _status(rig, None) == 401
    finally:
        rig.close()


def test_the_cli_takes_the_key_flags_together_and_refuses_a_bad_key(tmp_path):
    def perpsbot(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*PERPSBOT, "exchange", "--api-key-name", KEY_NAME, *args], capture_output=True,
                              text=True, timeout=60)

    alone = perpsbot("--duration", "0.01")
    assert alone.returncode == EXIT_USAGE and "together" in alone.stderr
    missing = perpsbot("--api-public-key", str(tmp_path / "nope.pem"))
    assert missing.returncode == EXIT_USAGE and "api-public-key" in missing.stderr
    pem_file = tmp_path / "key.pem"
    pem_file.write_text(CREDENTIALS.public_key_pem())
    served = perpsbot("--api-public-key", str(pem_file), "--duration", "0.05")
    assert served.returncode == 0 and "listening" in served.stdout


# --------------------------------------------------------------------- the user channel


def test_user_channel_snapshot_then_updates_that_derive_the_rest_fills(rig):
    ws = rig.user_socket()
    snapshot = user_frames(ws, 1)[0]["events"][0]
    assert snapshot["type"] == "snapshot" and snapshot["orders"] == []
    bid, _ = rig.best(PERP)
    resting = rig.accepted("u-rest", PERP, "BUY", "limit", "1", bid - 100)
    opened = user_frames(ws, 1)[0]["events"][0]
    assert opened["type"] == "update"
    assert [(o["order_id"], o["status"], o["leaves_quantity"], o["order_type"]) for o in opened["orders"]] == [
        (resting, "OPEN", "1", "Limit")]
    market = rig.accepted("u-market", PERP, "BUY", "market", "2")
    filled = user_frames(ws, 1)[0]
    order = filled["events"][0]["orders"][0]
    assert (order["order_id"], order["status"], order["cumulative_quantity"], order["leaves_quantity"]) == (
        market, "FILLED", "2", "0")
    positions = filled["events"][0]["positions"]
    assert positions["perpetual_futures_positions"] == []  # INTX only: a CDE future is an expiring one
    position = positions["expiring_futures_positions"][0]
    assert (position["product_id"], position["number_of_contracts"], position["side"]) == (PERP, "2", "LONG")

    deriver = UserFillDeriver()
    derived = [deriver.on_order(o, 0)[1] for o in user_frame_decoder.decode(json.dumps(filled)).events[0].orders]
    rest_fills = rig.json(cr.list_fills(order_ids=[market]))["fills"]
    assert sum(f.size for f in derived if f) == sum(D(f["size"]) for f in rest_fills) == D(2)
    assert sum(f.fee for f in derived if f) == sum(D(f["commission"]) for f in rest_fills)

    again = rig.user_socket()  # a new subscriber's snapshot: the open order and the position
    event = user_frames(again, 1)[0]["events"][0]
    assert [o["order_id"] for o in event["orders"]] == [resting]
    assert event["positions"]["expiring_futures_positions"][0]["number_of_contracts"] == "2"

    rig.json(cr.batch_cancel([resting])[0])
    cancelled = user_frames(ws, 1)[0]["events"][0]["orders"]
    assert [(o["order_id"], o["status"]) for o in cancelled] == [(resting, "CANCELLED")]


def test_a_subscribe_with_a_jwt_from_another_key_is_an_authentication_failure(rig):
    other = Credentials(KEY_NAME, _pem(OTHER_KEY))
    ws = rig.user_socket(other.make_jwt(rig.now))
    assert json.loads(ws.recv()) == {"type": "error", "message": "authentication failure"}


# --------------------------------------------------------------------- faults


def test_rest_timeout_takes_the_order_and_holds_the_answer_past_the_client_timeout():
    rig = Rig(chaos=("rest_timeout:at=0,for=10",))
    try:
        impatient = rig.transport(timeout_s=0.3)
        response = rig.place("slow-1", PERP, "BUY", "market", "1", transport=impatient)
        assert response.status is None
        assert isinstance(create_order_outcome("slow-1", response.status), Unknown)
        wait_until(lambda: rig.server.rest_counts().get("held") == 1, what="the held answer")
        [order] = rig.orders()  # a query is answered at once while the window lasts
        assert (order["client_order_id"], order["status"]) == ("slow-1", "FILLED")

        # a held answer does not stall other connections: hold one open and keep asking
        raw = socket.create_connection(("127.0.0.1", rig.server.port), timeout=3)
        body = json.dumps({"order_ids": [order["order_id"]]}).encode()
        target = f"{B}/orders/batch_cancel"
        token = CREDENTIALS.make_jwt(rig.now, f"POST api.coinbase.com{target}")
        raw.sendall(f"POST {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        wait_until(lambda: rig.server.rest_counts().get("held") == 2, what="the second held answer")
        assert all(rig.send(cr.cfm_positions()).status == 200 for _ in range(3))
        raw.close()

        assert rig.place("slow-1", PERP, "BUY", "market", "1", transport=impatient).status is None  # still held
        rig.advance(11)
        wait_until(lambda: rig.place("slow-1", PERP, "BUY", "market", "1").status == 200, what="the window's end")
        assert [o["client_order_id"] for o in rig.orders()] == ["slow-1"]  # one order for one intent
        assert rig.server.chaos_counts() == {"rest_timeout": 1}
        impatient.close()
    finally:
        rig.close()


@pytest.mark.parametrize("accept", [False, True])
def test_rest_5xx_is_an_unknown_outcome_with_or_without_the_order_taken(accept):
    rig = Rig(chaos=(f"rest_5xx:at=0,for=5{',accept=1' if accept else ''}",))
    try:
        response = rig.place("five-1", PERP, "SELL", "market", "1")
        assert response.status == 503
        assert isinstance(create_order_outcome("five-1", response.status, response.body), Unknown)
        assert rig.send(cr.list_orders()).status == 503
        rig.advance(6)
        taken = [o["client_order_id"] for o in rig.orders()]
        assert taken == (["five-1"] if accept else [])
        order_id = rig.accepted("five-1", PERP, "SELL", "market", "1")
        assert [o["order_id"] for o in rig.orders()] == [order_id]
        counts = rig.server.rest_counts()
        assert counts.get("rest_5xx_after_accept", 0) == (1 if accept else 0)
        assert counts.get("rest_5xx", 0) == (1 if accept else 2)
    finally:
        rig.close()


def test_a_429_storm_says_when_it_ends_and_the_private_budget_is_enforced():
    rig = Rig(chaos=("rest_429:at=0,for=3",), private_rate_per_s=5)
    try:
        start = rig.now
        response = rig.place("storm-1", PERP, "BUY", "market", "1")
        assert response.status == 429
        assert isinstance(create_order_outcome("storm-1", response.status, response.body, response.headers), Throttled)
        headers = dict(response.headers)
        assert headers["x-ratelimit-reset"] == str(math.ceil(start + 3)) and headers["x-ratelimit-remaining"] == "0"
        assert reset_delay(headers, start) == pytest.approx(math.ceil(start + 3) - start)
        rig.advance(4)
        assert rig.send(cr.cfm_positions()).status == 200  # the storm is over; the bucket holds 5 ...
        statuses = [rig.send(cr.cfm_positions()).status for _ in range(6)]
        assert statuses == [200] * 4 + [429] * 2  # ... and the clock stands still: no refill
        assert rig.server.rest_counts()["throttled"] == 2
        rig.advance(1)
        assert rig.send(cr.cfm_positions()).status == 200
    finally:
        rig.close()


def test_user_duplicate_sends_every_update_twice_and_the_fill_is_derived_once():
    rig = Rig(chaos=("user_duplicate:at=0,for=60",))
    try:
        ws = rig.user_socket()
        user_frames(ws, 1)  # the snapshot
        rig.accepted("dup-1", PERP, "BUY", "market", "1")
        first, second = user_frames(ws, 2)
        assert first["events"] == second["events"] and second["sequence_num"] == first["sequence_num"] + 1
        deriver = UserFillDeriver()
        fills = [deriver.on_order(o, 0)[1] for frame in (first, second)
                 for o in user_frame_decoder.decode(json.dumps(frame)).events[0].orders]
        assert [f.size for f in fills if f] == [D(1)] and deriver.duplicates == 1
        assert rig.server.rest_counts()["user_duplicated"] == 1
    finally:
        rig.close()


def test_user_replay_resends_the_last_updates_which_derive_no_new_fill():
    rig = Rig(chaos=("user_replay:at=5",))
    try:
        ws = rig.user_socket()
        user_frames(ws, 1)
        rig.accepted("rep-1", PERP, "BUY", "market", "1")
        rig.accepted("rep-2", PERP, "BUY", "market", "2")
        live = user_frames(ws, 2)
        assert no_more_user_frames(ws)
        rig.advance(5)
        replayed = user_frames(ws, 2)
        assert [f["events"] for f in replayed] == [f["events"] for f in live]
        deriver = UserFillDeriver()
        sizes = [fill.size for frame in live + replayed
                 for o in user_frame_decoder.decode(json.dumps(frame)).events[0].orders
                 if (fill := deriver.on_order(o, 0)[1]) is not None]
        assert sizes == [D(1), D(2)]
        assert rig.server.chaos_counts() == {"user_replay": 1} and rig.server.rest_counts()["user_replayed"] == 2
    finally:
        rig.close()


def test_the_target_path_for_uri_claims_has_no_query():
    # The transport signs the path only; a query on the request must not change what is checked.
    request = cr.list_orders(statuses=["OPEN"], limit=5)
    assert "?" in request.target and "?" not in request.path
    assert urllib.parse.urlsplit(request.target).path == request.path


def test_the_private_rate_limit_is_counted_per_api_key_not_per_address():
    """Coinbase counts private requests per API key: a second key from the same address has its own
    budget, and the first key stays throttled."""
    rig = Rig(keyed=False, private_rate_per_s=3)
    try:
        first = [_status(rig, "Bearer " + _token(KEY, rig.now, kid="organizations/o/apiKeys/a")) for _ in range(5)]
        assert first.count(429) >= 1, first  # the first key spent its budget
        second = _status(rig, "Bearer " + _token(OTHER_KEY, rig.now, kid="organizations/o/apiKeys/b"))
        assert second == 200  # the same address, another key: its own bucket
        assert _status(rig, "Bearer " + _token(KEY, rig.now, kid="organizations/o/apiKeys/a")) == 429
        assert rig.server.rest_counts()["throttled"] >= 2
    finally:
        rig.close()
