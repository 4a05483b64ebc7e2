"""What execution counts when it gates an order: the fills portfolio has not confirmed yet, and the
open size of its own live orders.

Two holes reproduced on the whole tree before they were closed: a reduce-only exit that filled left
the live orders at once but reached the position only one mailbox round trip later, so a second
reduce-only exit (a direct intent, or a local stop firing on the next book) passed against the old
position and flipped it; and the max-position and exposure checks never counted live orders, so
three BUYs of 0.3 BTC sent one after another all went out. Here portfolio is a recording stand-in
that never publishes on its own, so "portfolio has not confirmed the fill yet" holds for as long
as the test wants.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from domain.orders import Fill, OrderIntent, PlaceOrder
from domain.portfolio import PortfolioUpdate
from tests.actors.test_execution_replace_stops import MARK, PRODUCT, START, ExecutionRig, limit, stop_market, update


@pytest.fixture
def rig():
    r = ExecutionRig()
    yield r
    r.stop()


def market(intent_id: str, side: str, size: str, reduce_only: bool = False) -> OrderIntent:
    return OrderIntent(intent_id, PRODUCT, side, D(size), "market", reduce_only=reduce_only)


def fill_whole(rig: ExecutionRig, order: PlaceOrder, trade_id: str) -> Fill:
    fill = Fill(trade_id, order.client_order_id, "v-" + order.client_order_id, PRODUCT, order.side, MARK, order.size,
                D("0.1"), "TAKER", START)
    rig.send(fill)
    rig.send(update(order.client_order_id, "FILLED", str(order.size), "0"))
    return fill


def confirm(rig: ExecutionRig, size: D, last_fill: Fill | None) -> None:
    """Portfolio's next update: the position after the fills it has applied, up to `last_fill`."""
    key = (last_fill.product_id, last_fill.trade_id, last_fill.side) if last_fill else None
    rig.send(PortfolioUpdate(D("100000"), ((PRODUCT, size),), ((PRODUCT, MARK),), rig.clock.now(), last_fill=key))


def test_a_second_reduce_only_exit_is_refused_while_portfolio_has_not_yet_seen_the_first_fill(rig):
    rig.position(D("0.01"))
    rig.send(market("exit-1", "SELL", "0.01", reduce_only=True))
    first = rig.seen("venue", PlaceOrder)[-1]
    fill_whole(rig, first, "t1")  # filled: it leaves the live orders now; portfolio has not applied it

    rig.send(market("exit-2", "SELL", "0.01", reduce_only=True))
    assert len(rig.seen("venue", PlaceOrder)) == 1, "a second exit went out and would flip +0.01 to -0.01"
    assert rig.report()["refusals"] == {"reduce_only": 1}


def test_a_local_stop_firing_on_the_next_book_cannot_flip_a_position_an_exit_just_closed(rig):
    rig.position(D("0.01"))
    rig.send(stop_market("stop", "SELL", "0.01", "49000"))  # the protective stop, armed locally
    rig.send(market("exit", "SELL", "0.01", reduce_only=True))
    fill_whole(rig, rig.seen("venue", PlaceOrder)[-1], "t1")

    rig.mark(D("48900"))  # the mark reaches the stop before portfolio confirmed the exit's fill
    assert len(rig.seen("venue", PlaceOrder)) == 1, "the stop fired into a flat position and flipped it"
    assert rig.report()["stops_triggered"] == 1
    assert rig.report()["refusals"] == {"reduce_only": 1}


def test_once_portfolio_confirms_the_fill_it_is_counted_once_not_twice(rig):
    rig.position(D("0.02"))
    rig.send(market("exit-1", "SELL", "0.01", reduce_only=True))
    last = fill_whole(rig, rig.seen("venue", PlaceOrder)[-1], "t1")
    confirm(rig, D("0.01"), last)  # portfolio applied t1: 0.02 - 0.01

    rig.send(market("exit-2", "SELL", "0.01", reduce_only=True))
    assert len(rig.seen("venue", PlaceOrder)) == 2, "the confirmed fill was subtracted twice"
    rig.send(market("exit-3", "SELL", "0.01", reduce_only=True))
    assert len(rig.seen("venue", PlaceOrder)) == 2, "exit-2 is live and reduces the last 0.01"


def test_an_update_that_has_not_reached_the_fill_keeps_counting_it(rig):
    rig.position(D("0.02"))
    rig.send(market("exit-1", "SELL", "0.01", reduce_only=True))
    fill_whole(rig, rig.seen("venue", PlaceOrder)[-1], "t1")
    confirm(rig, D("0.02"), None)  # a timer publish that left before t1 arrived

    rig.send(market("exit-2", "SELL", "0.02", reduce_only=True))
    assert len(rig.seen("venue", PlaceOrder)) == 1, "0.02 would flip the 0.01 left"


def test_live_orders_count_toward_max_position_and_exposure(rig):
    # equity 100,000; a product may take 20% of it: 0.4 BTC at 50,000. Each BUY alone is 15%.
    for n in range(3):
        rig.send(limit(f"buy-{n}", "BUY", "0.3", "50000"))
    sent = rig.seen("venue", PlaceOrder)
    assert [o.client_order_id for o in sent] == [sent[0].client_order_id], \
        f"{len(sent)} BUYs of 0.3 went out: {D('0.3') * len(sent)} BTC against a 0.4 BTC cap"
    assert rig.report()["refusals"] == {"max_exposure_product": 2}


def test_a_filled_buy_counts_until_portfolio_confirms_it_and_then_through_the_position(rig):
    rig.send(limit("buy-0", "BUY", "0.3", "50000"))
    last = fill_whole(rig, rig.seen("venue", PlaceOrder)[-1], "t1")
    rig.send(limit("buy-1", "BUY", "0.3", "50000"))  # 0.6 with the unconfirmed fill
    confirm(rig, D("0.3"), last)
    rig.send(limit("buy-2", "BUY", "0.3", "50000"))  # 0.6 through the position
    assert len(rig.seen("venue", PlaceOrder)) == 1
    assert rig.report()["refusals"] == {"max_exposure_product": 2}


def test_orders_that_reduce_still_pass_while_buys_are_live(rig):
    rig.position(D("0.3"))
    rig.send(limit("buy", "BUY", "0.05", "50000"))  # 0.35 projected: under the cap
    rig.send(limit("trim", "SELL", "0.1", "50100", reduce_only=True))
    assert len(rig.seen("venue", PlaceOrder)) == 2
    assert rig.report()["refusals"] == {}


def test_nothing_goes_out_on_a_product_whose_position_the_venue_disputes_until_the_operator_decides(rig):
    from domain.control import PositionMismatch

    rig.position(D("5"))  # the journal says 5; the venue holds 2: "reducing" by 3 would open a short there
    rig.send(PositionMismatch(((PRODUCT, D("5"), D("2")),), "start"))
    rig.send(market("exit", "SELL", "3", reduce_only=True))
    rig.send(stop_market("stop", "SELL", "5", "49000"))
    rig.mark(D("48900"))
    assert rig.seen("venue", PlaceOrder) == []
    assert rig.report()["refusals"] == {"position_disputed": 1} and rig.report()["stops_triggered"] == 0

    rig.send(PositionMismatch((), "accepted"))
    rig.send(market("exit-2", "SELL", "1", reduce_only=True))
    assert len(rig.seen("venue", PlaceOrder)) == 1
