"""quantize: size and price grids, minimums, exact Decimal results."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.orders import OrderIntent
from domain.products import BTC_PERP, BTC_USD
from domain.quantize import QuantizedOrder, Refusal, quantize

D = Decimal


def intent(product_id: str = "BTC-USD", side: str = "BUY", size: str = "1", **kw) -> OrderIntent:
    return OrderIntent(intent_id="i-1", product_id=product_id, side=side, size=D(size), **kw)


def limit(product_id: str, side: str, size: str, price: str) -> OrderIntent:
    return intent(product_id, side, size, order_type="limit", limit_price=D(price), post_only=True)


def test_spot_size_floors_to_base_increment() -> None:
    out = quantize(intent(size="0.123456789"), BTC_USD)
    assert isinstance(out, QuantizedOrder)
    assert out.size == D("0.12345678")
    assert str(out.size) == "0.12345678"


def test_perp_size_floors_to_whole_contracts() -> None:
    out = quantize(intent(BTC_PERP.product_id, size="2.7"), BTC_PERP)
    assert isinstance(out, QuantizedOrder) and out.size == D(2)


def test_below_min_size() -> None:
    out = quantize(intent(BTC_PERP.product_id, size="0.9"), BTC_PERP)
    assert isinstance(out, Refusal) and out.reason == "below_min_size"
    assert quantize(intent(size="0.000000009"), BTC_USD).reason == "below_min_size"
    assert quantize(intent(size="0"), BTC_USD).reason == "below_min_size"


def test_below_min_notional_when_price_known() -> None:
    # 0.00001 BTC x 50000 = 0.5 USD < quote_min_size 1
    small = intent(size="0.00001")
    refused = quantize(small, BTC_USD, price=D("50000"))
    assert isinstance(refused, Refusal) and refused.reason == "below_min_notional"
    # exactly at the minimum passes: 0.00002 x 50000 = 1
    assert isinstance(quantize(intent(size="0.00002"), BTC_USD, price=D("50000")), QuantizedOrder)
    # no price known for a market order: nothing to check against
    assert isinstance(quantize(small, BTC_USD), QuantizedOrder)
    # a limit order uses its own price
    assert quantize(limit("BTC-USD", "BUY", "0.00001", "50000"), BTC_USD).reason == "below_min_notional"


@pytest.mark.parametrize(
    ("side", "price", "expected"),
    [
        ("BUY", "91234.567", "91234.56"),  # down
        ("SELL", "91234.561", "91234.57"),  # up
        ("BUY", "91234.56", "91234.56"),  # on the grid: unchanged
        ("SELL", "91234.56", "91234.56"),
    ],
)
def test_spot_limit_price_rounding(side: str, price: str, expected: str) -> None:
    out = quantize(limit("BTC-USD", side, "0.1", price), BTC_USD)
    assert isinstance(out, QuantizedOrder)
    assert out.limit_price == D(expected) and str(out.limit_price) == expected
    assert out.post_only


@pytest.mark.parametrize(
    ("side", "price", "expected"),
    [("BUY", "91234", "91230"), ("SELL", "91231", "91235"), ("BUY", "91235", "91235"), ("SELL", "91230", "91230")],
)
def test_perp_limit_price_uses_price_increment_not_quote_increment(side: str, price: str, expected: str) -> None:
    out = quantize(limit(BTC_PERP.product_id, side, "3", price), BTC_PERP)
    assert isinstance(out, QuantizedOrder)
    assert out.limit_price == D(expected)  # tick 5, not the 0.01 quote increment


def test_invalid_limit_orders_are_refused() -> None:
    missing = intent(order_type="limit")
    assert quantize(missing, BTC_USD).reason == "invalid_price"
    assert quantize(limit("BTC-USD", "BUY", "1", "0.001"), BTC_USD).reason == "invalid_price"  # floors to 0
    assert quantize(intent(side="HOLD"), BTC_USD).reason == "invalid_side"
    assert quantize(intent(order_type="stop"), BTC_USD).reason == "invalid_order_type"


def test_market_order_carries_intent_fields_and_no_price() -> None:
    src = intent(BTC_PERP.product_id, "SELL", "4", reduce_only=True, origin_ns=99, created_at=12.5, post_only=True)
    out = quantize(src, BTC_PERP)
    assert isinstance(out, QuantizedOrder)
    assert (out.intent_id, out.side, out.order_type, out.limit_price) == ("i-1", "SELL", "market", None)
    assert (out.reduce_only, out.origin_ns, out.created_at, out.post_only) == (True, 99, 12.5, False)
    placed = out.to_place_order("pb-abc")
    assert (placed.client_order_id, placed.size, placed.origin_ns) == ("pb-abc", D(4), 99)


def test_wrong_spec_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        quantize(intent("BTC-USD"), BTC_PERP)
