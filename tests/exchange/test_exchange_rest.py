"""The built-in exchange's public REST: the pure routing and bodies of rest.py, the rate limiter,
and the same endpoints over HTTP on the exchange's WebSocket port (urllib against 127.0.0.1)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from decimal import Decimal

import pytest

from domain.products import BTC_PERP, BTC_USD
from exchange.market_values import TickerStats
from exchange.rate_limit import TokenBuckets, rate_limited
from exchange.rest import MarketView, ProductView, handle_get
from exchange.server import ExchangeServer

SPOT = BTC_USD.product_id
PERP = BTC_PERP.product_id
T = 1_800_000_000.0  # 2027-01-15T08:00:00Z
B = "/api/v3/brokerage"

D = Decimal


def ticker(product_id: str, price: str, volume: str) -> TickerStats:
    return TickerStats(product_id, D(price), D(volume), D(price), D(price), D(price), D(price), D("1.5"),
                       None, D(0), None, D(0))


VIEW = MarketView(
    products=(
        ProductView(BTC_USD, ticker(SPOT, "90000.05", "10.5"),
                    bids=((D("90000.00"), D("0.5")), (D("89999.50"), D("1.25")), (D("89990.00"), D("2"))),
                    offers=((D("90000.10"), D("0.75")), (D("90001.00"), D("3")))),
        ProductView(BTC_PERP, ticker(PERP, "90030", "1200"),
                    bids=((D("90025"), D("7")),), offers=((D("90035"), D("12")),)),
    ),
    book_ts=T - 0.5,
    now=T + 0.25,
)


def get(target: str, view: MarketView = VIEW) -> tuple[int, dict]:
    answer = handle_get("GET", target, view)
    return answer.status, answer.json()


# --------------------------------------------------------------------- pure


def test_time_in_the_three_forms():
    assert get(f"{B}/time") == (200, {"iso": "2027-01-15T08:00:00.250Z", "epochSeconds": "1800000000",
                                      "epochMillis": "1800000000250"})


def test_product_book_is_coinbase_shaped_with_strings_on_the_grid():
    status, body = get(f"{B}/market/product_book?product_id={SPOT}&limit=2")
    assert status == 200
    assert body["pricebook"] == {
        "product_id": SPOT,
        "bids": [{"price": "90000.00", "size": "0.50000000"}, {"price": "89999.50", "size": "1.25000000"}],
        "asks": [{"price": "90000.10", "size": "0.75000000"}, {"price": "90001.00", "size": "3.00000000"}],
        "time": "2027-01-15T07:59:59.500000Z",
    }
    # mid (90000.00 + 90000.10) / 2; spread 0.10 / 90000.05 * 10,000 = 0.011110... bps
    assert (body["last"], body["mid_market"], body["spread_absolute"], body["spread_bps"]) == (
        "90000.05", "90000.05", "0.10", "0.0111")
    status, body = get(f"{B}/market/product_book?product_id={PERP}")  # no limit: the whole book
    assert body["pricebook"]["bids"] == [{"price": "90025", "size": "7"}]
    assert body["pricebook"]["asks"] == [{"price": "90035", "size": "12"}]
    assert (body["mid_market"], body["spread_absolute"]) == ("90030", "10")


def test_products_carry_the_increments_and_the_perp_its_future_details():
    status, body = get(f"{B}/market/products")
    assert status == 200 and body["num_products"] == 2
    spot, perp = body["products"]
    assert {k: spot[k] for k in ("product_id", "product_type", "price", "price_increment", "base_increment",
                                 "quote_increment", "base_min_size", "quote_min_size", "status",
                                 "trading_disabled", "product_venue", "mid_market_price", "volume_24h")} == {
        "product_id": SPOT, "product_type": "SPOT", "price": "90000.05", "price_increment": "0.01",
        "base_increment": "0.00000001", "quote_increment": "0.01", "base_min_size": "0.00000001",
        "quote_min_size": "1", "status": "online", "trading_disabled": False, "product_venue": "CBE",
        "mid_market_price": "90000.05", "volume_24h": "10.50000000"}
    assert "future_product_details" not in spot
    assert (perp["price_increment"], perp["base_increment"], perp["quote_increment"]) == ("5", "1", "0.01")
    details = perp["future_product_details"]
    assert {k: details[k] for k in ("funding_rate", "funding_time", "funding_interval", "contract_size",
                                    "contract_expiry_type", "contract_expiry", "index_price")} == {
        "funding_rate": "0.0001",
        "funding_time": "2027-01-15T09:00:00Z",  # the next whole hour after 08:00:00.25
        "funding_interval": "3600s",
        "contract_size": "0.01",
        "contract_expiry_type": "EXPIRING",
        "contract_expiry": "2030-12-20T16:00:00Z",  # spelled by the id BIP-20DEC30-CDE
        "index_price": "90000.05",  # the spot mid
    }
    assert details["perpetual_details"]["funding_rate"] == "0.0001"
    # 1,200 contracts x 0.01 BTC x 90,030 USD
    assert perp["approximate_quote_24h_volume"] == "1080360.00"

    assert get(f"{B}/market/products/{PERP}") == (200, perp)
    status, body = get(f"{B}/market/products?product_type=FUTURE")
    assert [p["product_id"] for p in body["products"]] == [PERP] and body["num_products"] == 1
    status, body = get(f"{B}/market/products?product_ids={SPOT}")
    assert [p["product_id"] for p in body["products"]] == [SPOT]


@pytest.mark.parametrize(
    ("method", "target", "status", "code"),
    [
        ("GET", "/", 404, "NOT_FOUND"),
        ("GET", f"{B}/orders", 404, "NOT_FOUND"),
        ("GET", f"{B}/market/products/DOGE-USD", 404, "NOT_FOUND"),
        ("GET", f"{B}/market/product_book?product_id=DOGE-USD", 404, "NOT_FOUND"),
        ("GET", f"{B}/market/product_book", 400, "INVALID_ARGUMENT"),
        ("GET", f"{B}/market/product_book?product_id={SPOT}&limit=0", 400, "INVALID_ARGUMENT"),
        ("GET", f"{B}/market/product_book?product_id={SPOT}&limit=ten", 400, "INVALID_ARGUMENT"),
        ("POST", f"{B}/time", 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_errors_are_json_with_a_code_and_a_message(method, target, status, code):
    answer = handle_get(method, target, VIEW)
    body = answer.json()
    assert answer.status == status and body["error"] == code and body["message"]
    assert ("Content-Type", "application/json") in answer.headers


def test_the_rate_limiter_is_a_token_bucket_per_client():
    limiter = TokenBuckets(rate_per_s=10)
    decisions = [limiter.take("10.0.0.1", T) for _ in range(11)]
    assert [d.allowed for d in decisions] == [True] * 10 + [False]
    assert [d.remaining for d in decisions] == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0]
    refused = decisions[-1]
    assert (refused.limit, refused.reset_ts, refused.retry_after_s) == (10, T + 1.0, pytest.approx(0.1))
    assert limiter.take("10.0.0.2", T).allowed  # another client has its own bucket
    later = limiter.take("10.0.0.1", T + 0.25)  # 2.5 tokens back, one spent
    assert (later.allowed, later.remaining) == (True, 1)
    assert limiter.take("10.0.0.1", T + 100).remaining == 9  # refills to the burst, no further

    answer = rate_limited(refused)
    assert answer.status == 429
    assert answer.json() == {"errors": [{"id": "rate_limit_exceeded", "message": "Too many requests"}]}
    headers = dict(answer.headers)
    assert (headers["x-ratelimit-limit"], headers["x-ratelimit-remaining"]) == ("10", "0")
    assert (headers["x-ratelimit-reset"], headers["retry-after"]) == ("1800000001", "1")


# --------------------------------------------------------------------- over HTTP


@pytest.fixture
def clock() -> list[float]:
    """The exchange's time, moved by the test: the books hold still and the bucket refills on demand."""
    return [T]


@pytest.fixture
def server(clock):
    before = set(threading.enumerate())
    srv = ExchangeServer(seed=4, clock=lambda: clock[0])
    srv.start()
    yield srv
    srv.stop()
    assert set(threading.enumerate()) <= before


def fetch(srv: ExchangeServer, target: str) -> tuple[int, dict, dict]:
    try:
        with urllib.request.urlopen(srv.rest_url + target, timeout=3) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), json.loads(error.read())


def test_the_endpoints_answer_plain_http_on_the_websocket_port(server):
    status, headers, body = fetch(server, f"{B}/time")
    assert (status, body["epochSeconds"]) == (200, "1800000000")
    assert headers["Content-Type"] == "application/json"

    status, _, body = fetch(server, f"{B}/market/product_book?product_id={SPOT}&limit=3")
    bids, offers = server.books(SPOT)
    assert status == 200
    assert [(D(x["price"]), D(x["size"])) for x in body["pricebook"]["bids"]] == bids[:3]
    assert [(D(x["price"]), D(x["size"])) for x in body["pricebook"]["asks"]] == offers[:3]

    status, _, body = fetch(server, f"{B}/market/products")
    assert [p["product_id"] for p in body["products"]] == [SPOT, PERP]
    status, _, body = fetch(server, f"{B}/market/products/{PERP}")
    assert body["future_product_details"]["contract_size"] == "0.01"

    status, _, body = fetch(server, f"{B}/nope")
    assert status == 404 and body["error"] == "NOT_FOUND"


def test_a_get_with_a_json_body_is_answered_like_any_get(server):
    """Coinbase's official SDK sends `{}` with Content-Type application/json on every request, GETs
    included; before the fix the exchange closed such a connection without an answer."""
    for body in (b"{}", b""):
        request = urllib.request.Request(server.rest_url + f"{B}/time", data=body, method="GET",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=3) as answer:
            assert answer.status == 200 and json.loads(answer.read())["epochSeconds"] == "1800000000"


def test_more_than_ten_requests_a_second_get_429_until_the_bucket_refills(server, clock):
    clock[0] = T + 5  # a full bucket
    answers = [fetch(server, f"{B}/time") for _ in range(11)]
    assert [status for status, _, _ in answers] == [200] * 10 + [429]
    assert [h["x-ratelimit-remaining"] for _, h, _ in answers] == [str(n) for n in range(9, -1, -1)] + ["0"]
    status, headers, body = answers[-1]
    assert body == {"errors": [{"id": "rate_limit_exceeded", "message": "Too many requests"}]}
    assert (headers["x-ratelimit-limit"], headers["x-ratelimit-reset"]) == ("10", "1800000006")
    clock[0] = T + 5.2  # two tokens back
    assert fetch(server, f"{B}/time")[0] == 200
