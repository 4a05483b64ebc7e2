"""Coinbase order bodies for every order kind, and what a create-order response means."""

from __future__ import annotations

from decimal import Decimal as D

import msgspec
import pytest

from actors.venue.coinbase_orders import (
    Accepted,
    AuthFailed,
    OrderBodyError,
    Rejected,
    Throttled,
    Unknown,
    create_order_body,
    create_order_outcome,
    order_configuration,
    preview_order_body,
)
from domain.orders import PlaceOrder


def order(**kw) -> PlaceOrder:
    base = dict(client_order_id="rt-1", product_id="BTC-USD", side="BUY", order_type="limit",
                size=D("0.00100000"), limit_price=D("91200.00"))
    return PlaceOrder(**{**base, **kw})


def test_limit_gtc_matches_the_documented_body_exactly():
    body = create_order_body(order(post_only=True))
    assert msgspec.json.encode(body) == (
        b'{"client_order_id":"rt-1","product_id":"BTC-USD","side":"BUY","order_configuration":'
        b'{"limit_limit_gtc":{"base_size":"0.00100000","limit_price":"91200.00","post_only":true}}}'
    )
    assert "reduce_only" not in msgspec.json.encode(body).decode()


@pytest.mark.parametrize(
    "kw, expected",
    [
        (dict(order_type="market", limit_price=None), {"market_market_ioc": {"base_size": "0.00100000"}}),
        (dict(order_type="market", limit_price=None, time_in_force="FOK"),
         {"market_market_fok": {"base_size": "0.00100000"}}),
        (dict(time_in_force="GTD", end_time="2026-11-24T00:00:00Z"),
         {"limit_limit_gtd": {"base_size": "0.00100000", "limit_price": "91200.00",
                              "end_time": "2026-11-24T00:00:00Z", "post_only": False}}),
        (dict(time_in_force="IOC"), {"sor_limit_ioc": {"base_size": "0.00100000", "limit_price": "91200.00"}}),
        (dict(time_in_force="FOK"), {"limit_limit_fok": {"base_size": "0.00100000", "limit_price": "91200.00"}}),
        (dict(order_type="stop_limit", stop_price=D("91300"), stop_direction="STOP_DIRECTION_STOP_UP"),
         {"stop_limit_stop_limit_gtc": {"base_size": "0.00100000", "limit_price": "91200.00",
                                        "stop_price": "91300", "stop_direction": "STOP_DIRECTION_STOP_UP"}}),
        (dict(order_type="stop_limit", stop_price=D("9.1E+4"), stop_direction="STOP_DIRECTION_STOP_DOWN",
              time_in_force="GTD", end_time="2026-11-25T00:00:00Z"),
         {"stop_limit_stop_limit_gtd": {"base_size": "0.00100000", "limit_price": "91200.00", "stop_price": "91000",
                                        "stop_direction": "STOP_DIRECTION_STOP_DOWN",
                                        "end_time": "2026-11-25T00:00:00Z"}}),
    ],
)
def test_each_order_kind_has_its_one_configuration_key(kw, expected):
    assert order_configuration(order(**kw)) == expected


@pytest.mark.parametrize(
    "kw",
    [
        dict(order_type="market", limit_price=None, time_in_force="GTC"),
        dict(limit_price=None),
        dict(time_in_force="GTD"),  # no end time
        dict(time_in_force="IOC", post_only=True),
        dict(time_in_force="DAY"),
        dict(order_type="stop_limit", stop_price=D("1"), stop_direction="UP"),
        dict(order_type="stop_limit", stop_direction="STOP_DIRECTION_STOP_UP"),
        dict(order_type="stop_limit", stop_price=D("1"), stop_direction="STOP_DIRECTION_STOP_UP",
             time_in_force="IOC"),
        dict(order_type="twap"),
    ],
)
def test_orders_coinbase_does_not_offer_are_refused_before_sending(kw):
    with pytest.raises(OrderBodyError):
        order_configuration(order(**kw))


def test_futures_carry_leverage_and_margin_type_at_the_top_level_and_preview_has_no_client_id():
    perp = order(product_id="BIP-20DEC30-CDE", size=D("3"), limit_price=D("91205"), leverage=D("3"),
                 margin_type="CROSS")
    body = create_order_body(perp)
    assert body["leverage"] == "3" and body["margin_type"] == "CROSS"
    assert body["order_configuration"]["limit_limit_gtc"]["base_size"] == "3"
    preview = preview_order_body(perp)
    assert "client_order_id" not in preview and preview["leverage"] == "3"


def test_success_is_accepted_with_the_venue_order_id():
    body = (b'{"success": true, "success_response": {"order_id": "7f3c", "product_id": "BTC-USD", '
            b'"side": "BUY", "client_order_id": "rt-1"}, "order_configuration": {}}')
    assert create_order_outcome("rt-1", 200, body) == Accepted("rt-1", "7f3c")
    assert create_order_outcome("rt-1", 200, body.replace(b"true", b'"true"', 1)) == Accepted("rt-1", "7f3c")


def test_http_200_with_success_false_is_a_rejection_with_its_reason():
    body = (b'{"success": false, "error_response": {"error": "INSUFFICIENT_FUND", "message": "Insufficient balance",'
            b' "error_details": "", "preview_failure_reason": "PREVIEW_INSUFFICIENT_FUND",'
            b' "new_order_failure_reason": "UNKNOWN_FAILURE_REASON"}}')
    assert create_order_outcome("rt-1", 200, body) == Rejected("rt-1", "INSUFFICIENT_FUND", "Insufficient balance")
    post_only = (b'{"success": false, "error_response": {"error": "UNKNOWN_FAILURE_REASON",'
                 b' "preview_failure_reason": "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY",'
                 b' "new_order_failure_reason": "INVALID_LIMIT_PRICE_POST_ONLY"}}')
    assert create_order_outcome("rt-1", 200, post_only).reason == "INVALID_LIMIT_PRICE_POST_ONLY"
    assert create_order_outcome("rt-1", 200, b'{"success": false}').reason == "UNKNOWN"


@pytest.mark.parametrize(
    "status, body, expected",
    [
        (None, b"", Unknown("rt-1", "no response")),
        (500, b"oops", Unknown("rt-1", "HTTP 500")),
        (503, b"", Unknown("rt-1", "HTTP 503")),
        (200, b"<html>", Unknown("rt-1", "unreadable 200 response")),
        (200, b'{"success": true}', Unknown("rt-1", "success without an order id")),
        (401, b"", AuthFailed("rt-1", 401)),
        (400, b'{"error": "INVALID_ARGUMENT", "message": "bad product"}', Rejected("rt-1", "HTTP_400", "bad product")),
    ],
)
def test_transport_outcomes(status, body, expected):
    assert create_order_outcome("rt-1", status, body) == expected


def test_a_429_keeps_its_headers_for_the_back_off():
    outcome = create_order_outcome("rt-1", 429, b'{"errors":[{"id":"rate_limit_exceeded"}]}',
                                   (("x-ratelimit-reset", "1795000003"),))
    assert outcome == Throttled("rt-1", (("x-ratelimit-reset", "1795000003"),))
