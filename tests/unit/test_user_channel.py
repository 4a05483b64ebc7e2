"""Fills derived from the user channel's cumulative order state."""

from __future__ import annotations

from decimal import Decimal as D

from actors.venue.user_channel import UserFillDeriver
from actors.wire.user import UserOrder, user_frame_decoder


def state(cum: str, avg: str, fees: str = "0", status: str = "OPEN", leaves: str = "0", oid: str = "o-1") -> UserOrder:
    return UserOrder(order_id=oid, client_order_id="rt-1", status=status, product_id="BTC-USD", order_side="BUY",
                     avg_price=avg, cumulative_quantity=cum, leaves_quantity=leaves, total_fees=fees)


def test_each_cumulative_step_is_one_fill_priced_by_the_change_in_filled_value():
    d = UserFillDeriver()
    update, fill = d.on_order(state("0", "0", leaves="3"), 1.0)
    assert update.status == "OPEN" and fill is None
    _, f1 = d.on_order(state("1", "100", "0.1", leaves="2"), 2.0)
    _, f2 = d.on_order(state("3", "102", "0.4", status="FILLED"), 3.0)
    assert (f1.size, f1.price, f1.fee, f1.trade_id) == (D("1"), D("100"), D("0.1"), "o-1:1")
    # 3 x 102 = 306 filled in all, 100 before: 206 for 2 -> 103
    assert (f2.size, f2.price, f2.fee, f2.trade_id) == (D("2"), D("103"), D("0.3"), "o-1:3")
    assert f2.side == "BUY" and f2.liquidity == "UNKNOWN"


def test_replays_and_duplicates_never_fill_twice_and_position_is_the_sum_of_fills():
    d = UserFillDeriver()
    events = [state("1", "100"), state("1", "100"), state("2", "101"), state("1", "100"),  # replayed late
              state("2", "101"), state("2", "101", status="FILLED"), state("2", "101", status="FILLED")]
    fills = [f for e in events for f in [d.on_order(e, 0.0)[1]] if f is not None]
    assert sum(f.size for f in fills) == D("2")
    assert sum(f.size * f.price for f in fills) == D("202")
    assert (d.duplicates, d.stale) == (3, 1)


def test_a_status_change_without_a_fill_is_an_update():
    d = UserFillDeriver()
    d.on_order(state("0", "0", leaves="1"), 1.0)
    update, fill = d.on_order(state("0", "0", status="CANCELLED"), 2.0)
    assert update.status == "CANCELLED" and fill is None


def test_a_snapshot_after_a_reconnect_fills_what_was_missed_in_one_step():
    d = UserFillDeriver()
    d.on_order(state("1", "100"), 1.0)
    _, fill = d.on_order(state("4", "100.75", status="FILLED"), 9.0)  # two fills happened while away
    assert fill.size == D("3") and fill.price == D("101")  # (403 - 100) / 3


def test_unreadable_numbers_are_counted_and_change_nothing():
    d = UserFillDeriver()
    assert d.on_order(state("x", "100"), 1.0) == (None, None)
    assert d.on_order(state("-1", "100"), 1.0) == (None, None)
    assert d.on_order(state("NaN", "100"), 1.0) == (None, None)
    assert d.unreadable == 3
    _, fill = d.on_order(state("1", "100"), 1.0)
    assert fill.size == D("1")


def test_orders_are_independent():
    d = UserFillDeriver()
    d.on_order(state("1", "100", oid="a"), 1.0)
    _, fill = d.on_order(state("1", "200", oid="b"), 1.0)
    assert fill.venue_order_id == "b" and fill.price == D("200")


def test_the_documented_user_frame_decodes_with_string_booleans_and_socket_casing():
    frame = user_frame_decoder.decode(
        b'{"channel": "user", "client_id": "", "timestamp": "2026-11-23T21:40:03.000000000Z", "sequence_num": 1,'
        b' "events": [{"type": "update", "orders": [{"order_id": "7f3c", "client_order_id": "rt-20261123-000042",'
        b' "status": "OPEN", "product_id": "BTC-USD", "order_side": "BUY", "order_type": "Limit",'
        b' "avg_price": "0", "cumulative_quantity": "0", "leaves_quantity": "0.00100000", "total_fees": "0",'
        b' "post_only": "true", "new_field": 1}],'
        b' "positions": {"perpetual_futures_positions": [], "expiring_futures_positions": []}}]}')
    order = frame.events[0].orders[0]
    assert order.order_type.upper() == "LIMIT" and order.post_only in (True, "true")
    update, fill = UserFillDeriver().on_order(order, 0.0)
    assert update.leaves_size == D("0.00100000") and fill is None
