"""quantize for every Coinbase order kind: stop-limit prices and direction, time in force, GTD."""

from __future__ import annotations

from decimal import Decimal

import pytest

from actors.venue.coinbase_orders import create_order_body
from domain.orders import OrderIntent
from domain.products import BTC_PERP, BTC_USD
from domain.quantize import STOP_DOWN, STOP_UP, QuantizedOrder, Refusal, quantize

D = Decimal
PERP = BTC_PERP.product_id


def intent(side: str = "BUY", kind: str = "stop_limit", price: str | None = "91234", stop: str | None = "91231",
           product_id: str = PERP, size: str = "3", **kw) -> OrderIntent:
    return OrderIntent(intent_id="i", product_id=product_id, side=side, size=D(size), order_type=kind,
                       limit_price=None if price is None else D(price), stop_price=None if stop is None else D(stop),
                       **kw)


@pytest.mark.parametrize(("side", "limit", "stop", "want_limit", "want_stop"), [
    ("BUY", "91234", "91231", "91230", "91230"),  # both down for a buyer (tick 5)
    ("SELL", "91231", "91234", "91235", "91235"),  # both up for a seller
])
def test_stop_prices_round_like_limits(side, limit, stop, want_limit, want_stop) -> None:
    out = quantize(intent(side, price=limit, stop=stop), BTC_PERP)
    assert isinstance(out, QuantizedOrder)
    assert (out.limit_price, out.stop_price) == (D(want_limit), D(want_stop))


def test_stop_direction_from_the_stop_against_the_mark_else_the_side() -> None:
    assert quantize(intent("BUY", stop="95000", price="95100"), BTC_PERP, D(90_000)).stop_direction == STOP_UP
    assert quantize(intent("BUY", stop="85000", price="85100"), BTC_PERP, D(90_000)).stop_direction == STOP_DOWN
    assert quantize(intent("BUY"), BTC_PERP).stop_direction == STOP_UP
    assert quantize(intent("SELL"), BTC_PERP).stop_direction == STOP_DOWN
    given = quantize(intent("BUY", stop_direction=STOP_DOWN), BTC_PERP, D(1))
    assert given.stop_direction == STOP_DOWN


def test_the_placed_order_carries_every_kind_field_and_its_body_is_coinbases() -> None:
    out = quantize(intent("SELL", price="80000", stop="80100", time_in_force="GTD", end_time="2030-01-01T00:00:00Z",
                          reduce_only=True), BTC_PERP, D(90_000))
    placed = out.to_place_order("pb-1")
    assert (placed.stop_price, placed.stop_direction, placed.time_in_force, placed.end_time, placed.reduce_only) == \
        (D(80100), STOP_DOWN, "GTD", "2030-01-01T00:00:00Z", True)
    assert create_order_body(placed)["order_configuration"] == {"stop_limit_stop_limit_gtd": {
        "base_size": "3", "limit_price": "80000", "stop_price": "80100", "stop_direction": STOP_DOWN,
        "end_time": "2030-01-01T00:00:00Z"}}


@pytest.mark.parametrize(("kw", "reason"), [
    (dict(stop=None), "invalid_stop_price"),
    (dict(stop="1"), "invalid_stop_price"),  # floors to 0 on a tick of 5
    (dict(price=None), "invalid_price"),
    (dict(time_in_force="IOC"), "invalid_time_in_force"),  # a stop-limit is GTC or GTD
    (dict(time_in_force="GTD"), "invalid_time_in_force"),  # without an end time
    (dict(end_time="2030-01-01T00:00:00Z"), "invalid_time_in_force"),  # an end time without GTD
    (dict(kind="market", price=None, time_in_force="GTC", stop=None), "invalid_time_in_force"),
    (dict(kind="market", price=None), "invalid_stop_price"),  # a stop on a market order
    (dict(kind="limit", stop=None, time_in_force="IOC", post_only=True), "invalid_post_only"),
    (dict(stop_direction="SIDEWAYS"), "invalid_stop_direction"),
])
def test_kinds_coinbase_does_not_take_are_refused(kw, reason) -> None:
    out = quantize(intent(**kw), BTC_PERP)
    assert isinstance(out, Refusal) and out.reason == reason, out


@pytest.mark.parametrize("tif", ["", "GTC", "GTD", "IOC", "FOK"])
def test_limit_time_in_force(tif) -> None:
    end = "2030-01-01T00:00:00Z" if tif == "GTD" else ""
    out = quantize(intent(kind="limit", stop=None, product_id="BTC-USD", size="0.1", time_in_force=tif,
                          end_time=end), BTC_USD)
    assert isinstance(out, QuantizedOrder) and out.time_in_force == tif and out.stop_price is None


def test_a_stop_market_is_quantized_for_execution_to_hold_and_becomes_a_market_order_when_fired() -> None:
    # A stop-loss under a long perp position: SELL 3 contracts if the mark falls to 88,002 (rounds up to 88,005).
    held = quantize(intent("SELL", kind="stop_market", price=None, stop="88002", reduce_only=True), BTC_PERP, D(90_000))
    assert isinstance(held, QuantizedOrder)
    assert (held.order_type, held.stop_price, held.stop_direction, held.limit_price) == \
        ("stop_market", D("88005"), STOP_DOWN, None)
    fired = held.as_triggered()
    assert (fired.order_type, fired.stop_price, fired.stop_direction, fired.size, fired.reduce_only) == \
        ("market", None, "", D(3), True)


@pytest.mark.parametrize(("kw", "reason"), [
    ({"stop": None}, "invalid_stop_price"),
    ({"time_in_force": "IOC"}, "invalid_time_in_force"),
    ({"size": "0.0001"}, "below_min_size"),
])
def test_a_stop_market_needs_a_stop_and_rests_until_fired(kw, reason) -> None:
    out = quantize(intent("SELL", kind="stop_market", price=None, **{"stop": "88000", **kw}), BTC_PERP, D(90_000))
    assert isinstance(out, Refusal) and out.reason == reason
