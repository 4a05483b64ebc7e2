"""The trailing protective stop under a position: armed on the losing side, following the close
the right way only, resized with the position, moved across on a flip, cancelled when flat."""

from __future__ import annotations

from decimal import Decimal as D

from actors.strategy.protective import ProtectiveStops
from domain.market import Bar
from domain.orders import CancelIntent, OrderIntent, ReplaceIntent
from domain.quantize import STOP_DOWN, STOP_UP

P = "BTC-USD"


def bar(n: int, close: str) -> Bar:
    c = D(close)
    return Bar(P, float(n), 1.0, c, c, c, c, D(0), 1, 0)


def test_a_long_gets_a_stop_under_it_that_trails_up_only_and_follows_its_size():
    stops = ProtectiveStops(D(100))  # 1 %
    [arm] = stops.on_bar(bar(1, "50000"), D("0.02"))
    assert isinstance(arm, OrderIntent)
    assert (arm.intent_id, arm.order_type, arm.side, arm.size, arm.stop_price, arm.stop_direction, arm.reduce_only) \
        == ("BTC-USD:1000:stop", "stop_market", "SELL", D("0.02"), D("49500"), STOP_DOWN, True)
    assert stops.on_bar(bar(2, "49000"), D("0.02")) == []  # a falling close never lowers it
    assert stops.on_bar(bar(3, "50040"), D("0.02")) == []  # 49539.6: moved less than a tenth of 500
    [trail] = stops.on_bar(bar(4, "50100"), D("0.02"))  # 49599: moved 99 >= 50.1
    assert isinstance(trail, ReplaceIntent)
    assert (trail.intent_id, trail.replaces, trail.stop_price, trail.size) == \
        ("BTC-USD:4000:stop", "BTC-USD:1000:stop", D("49599.00"), D("0.02"))
    [resize] = stops.on_bar(bar(5, "50100"), D("0.03"))
    assert (resize.replaces, resize.size, resize.stop_price) == ("BTC-USD:4000:stop", D("0.03"), D("49599.00"))


def test_a_flip_moves_the_stop_across_and_flat_cancels_it():
    stops = ProtectiveStops(D(200))
    stops.on_bar(bar(1, "100"), D(5))
    cancel, arm = stops.on_bar(bar(2, "100"), D(-3))
    assert cancel == CancelIntent("BTC-USD:1000:stop", "flipped")
    assert (arm.side, arm.size, arm.stop_price, arm.stop_direction) == ("BUY", D(3), D("102"), STOP_UP)
    [trail] = stops.on_bar(bar(3, "90"), D(-3))  # a short's stop follows the close down
    assert trail.stop_price == D("91.8")
    assert stops.on_bar(bar(4, "90"), D(0)) == [CancelIntent("BTC-USD:3000:stop", "flat")]
    assert stops.on_bar(bar(5, "90"), D(0)) == []


def test_zero_bps_means_no_stops():
    assert ProtectiveStops(D(0)).on_bar(bar(1, "100"), D(1)) == []
