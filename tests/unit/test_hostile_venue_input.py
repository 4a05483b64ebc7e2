"""Hostile numbers and nesting from the venue's other wires (the user channel, REST listings,
product rules, REST books) and in capture files: each is one bad record, response or frame,
handled like any other unreadable one, never a crash."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal

import msgspec
import pytest

from actors.products_rest import ProductsError, spec_from_json
from actors.streaming.capture import frame_time, read_capture
from actors.streaming.rest_books import parse_book
from actors.venue.coinbase_orders import create_order_outcome
from actors.venue.coinbase_rest import Response
from actors.venue.listing import FILLS, ORDERS, POSITIONS, Failed, Listing, RestFill, RestOrder
from actors.venue.user_channel import UserFillDeriver
from actors.wire.user import UserOrder, user_frame_decoder

HOSTILE = ["9" * 5000, "1e999999999", "1e-999999999", "NaN", "Infinity", "-1"]
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("bad", HOSTILE)
@pytest.mark.parametrize("field", ["cumulative_quantity", "avg_price", "total_fees", "leaves_quantity"])
def test_a_user_order_state_with_a_bad_number_is_unreadable_and_changes_nothing(bad, field):
    deriver = UserFillDeriver()
    good = dict(order_id="o1", client_order_id="c1", status="OPEN", product_id="BTC-USD", order_side="BUY",
                avg_price="100", cumulative_quantity="1", leaves_quantity="1", total_fees="0.1")
    assert deriver.on_order(UserOrder(**{**good, field: bad}), 1.0) == (None, None)
    assert deriver.unreadable == 1
    update, fill = deriver.on_order(UserOrder(**good), 2.0)  # the next good state still fills once
    assert fill is not None and fill.size == Decimal(1)


def test_a_deeply_nested_user_frame_is_a_decode_error_the_gateway_catches():
    with pytest.raises((msgspec.DecodeError, RecursionError)):
        user_frame_decoder.decode('{"channel":"user","events":' + DEEP + "}")


@pytest.mark.parametrize("which", [ORDERS, FILLS, POSITIONS])
def test_a_deeply_nested_listing_page_is_a_failed_page(which):
    listing = Listing(orders=True, fills=True, positions=True)
    listing.start()
    result = listing.on_page(which, Response(200, ('{"orders":[{"order_id":"x","order_configuration":{"a":'
                                                   + DEEP + "}}]}").encode()))
    assert isinstance(result, Failed)


@pytest.mark.parametrize("bad", HOSTILE)
def test_bad_numbers_in_rest_orders_and_fills_read_as_none(bad):
    order = RestOrder(order_id="o", status="OPEN", filled_size=bad,
                      order_configuration={"limit_limit_gtc": {"base_size": bad}})
    assert order.base_size() is None and order.filled() == 0 and order.leaves() == 0
    from actors.app.venue_account import _fill
    assert _fill(RestFill(trade_id="t", order_id="o", product_id="BTC-USD", side="BUY", price=bad, size="1")) is None
    assert _fill(RestFill(trade_id="t", order_id="o", product_id="BTC-USD", side="BUY", price="1", size=bad)) is None


def test_a_deeply_nested_create_order_answer_is_unknown_not_a_crash():
    assert type(create_order_outcome("c1", 200, ('{"success":' + DEEP + "}").encode())).__name__ == "Unknown"
    assert type(create_order_outcome("c1", 400, DEEP.encode())).__name__ == "Rejected"


PRODUCT = {"product_id": "BTC-USD", "base_increment": "0.00000001", "quote_increment": "0.01",
           "price_increment": "0.01", "base_min_size": "0.00000001", "quote_min_size": "1"}


@pytest.mark.parametrize("bad", HOSTILE)
@pytest.mark.parametrize("field", ["base_increment", "quote_increment", "price_increment", "base_min_size"])
def test_a_product_with_a_bad_number_is_unreadable(bad, field):
    with pytest.raises(ProductsError):
        spec_from_json(json.dumps({**PRODUCT, field: bad}).encode())


def test_product_answers_nested_too_deeply_or_with_a_huge_interval_are_unreadable():
    with pytest.raises(ProductsError):
        spec_from_json(('{"product_id":"BTC-USD","x":' + DEEP + "}").encode())
    details = {"contract_size": "0.01", "funding_rate": "-0.0001", "funding_interval": "1e999999999s"}
    with pytest.raises(ProductsError):
        spec_from_json(json.dumps({**PRODUCT, "future_product_details": details}).encode())
    details["funding_interval"] = "3600s"
    spec = spec_from_json(json.dumps({**PRODUCT, "future_product_details": details}).encode())
    assert spec.funding_rate == Decimal("-0.0001") and spec.funding_interval_s == 3600


@pytest.mark.parametrize("bad", HOSTILE)
def test_a_rest_book_with_a_bad_number_is_a_failed_request(bad):
    body = {"pricebook": {"product_id": "BTC-USD", "bids": [{"price": "100", "size": "1"}],
                          "asks": [{"price": bad, "size": "1"}]}}
    with pytest.raises(ValueError):
        parse_book("BTC-USD", json.dumps(body).encode())
    body["pricebook"]["asks"] = [{"price": "101", "size": "2"}]
    assert parse_book("BTC-USD", json.dumps(body).encode()).asks == (("101", "2"),)


def test_a_capture_line_that_is_not_utf8_is_read_as_its_bytes(tmp_path):
    good = '{"channel":"heartbeats","timestamp":"2026-11-23T21:40:01.000000000Z","sequence_num":0}'
    for name, opener in (("c.jsonl", open), ("c.jsonl.gz", gzip.open)):
        path = tmp_path / name
        with opener(path, "wb") as handle:
            handle.write(good.encode() + b"\n" + b'{"x":"\xff"}\r\n' + b"\n" + good.encode() + b"\n")
        assert list(read_capture(path)) == [good, b'{"x":"\xff"}', good]


def test_frame_time_never_raises():
    assert frame_time('{"timestamp":"2026-11-23T21:40:01.000000000Z"}') == 1795470001.0
    for line in ('{"a":' + DEEP + "}", DEEP, b'{"timestamp":"\xff"}', "x" * 9_000_000, '{"timestamp":"NaN"}'):
        assert frame_time(line) is None


def test_a_venue_average_written_to_28_digits_is_sane():
    """Averages are quotients: the exchange (and Coinbase) write them to 28 significant digits."""
    deriver = UserFillDeriver()
    order = UserOrder(order_id="o1", client_order_id="c1", status="FILLED", product_id="BTC-USD", order_side="BUY",
                      avg_price="37116.90857142857142857142857", cumulative_quantity="0.00000007",
                      leaves_quantity="0", total_fees="0.000000012345678901234567890123")
    _, fill = deriver.on_order(order, 1.0)
    assert fill is not None and deriver.unreadable == 0
