"""`--venue sim` and `--venue exchange` charge the same fee for the same fill: the paper venue and
the built-in exchange both charge through `venue_fee`, rounded half-even to 1e-8 of the quote.

The fills here are chosen so that the unrounded fee has more than eight decimals (the exchange
used to charge it unrounded, so the two venues' reports differed)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from actors.venue.paper import PaperVenue
from domain.fees import venue_fee
from domain.matching import BUY, SELL
from domain.orders import Fill, PlaceOrder
from domain.products import BTC_PERP, BTC_USD, CATALOG
from exchange.orders import FeeSchedule, OrderView
from tests.exchange.test_client_orders import Rig, request

MAKER, TAKER = D("0.0004"), D("0.0006")


def test_venue_fee_rounds_half_even_to_the_eighth_decimal():
    assert venue_fee(D("87855.57") * D("0.00012345"), TAKER) == D("0.00650746")  # 0.0065074618...
    assert venue_fee(D("0.00000015"), D("0.1")) == D("0.00000002")  # 1.5e-8: half to the even 2e-8
    assert venue_fee(D("0.00000025"), D("0.1")) == D("0.00000002")  # 2.5e-8: half to the even 2e-8
    assert venue_fee(D("100.5"), TAKER) == D("0.0603")


@pytest.mark.parametrize("product,price,size", [
    (BTC_USD, "87855.57", "0.00012345"),
    (BTC_USD, "101.37", "0.33333333"),
    (BTC_PERP, "87855", "3"),  # 3 x 0.01 x 87855 x 0.0006 = 1.581390 exactly: rounding changes nothing
])
def test_the_paper_venue_and_the_exchange_charge_the_same_taker_fee_for_the_same_fill(product, price, size):
    pid = product.product_id
    paper = PaperVenue(CATALOG, MAKER, TAKER)
    paper.apply_book(pid, True, [(str(D(price) - product.price_increment * 10), "1000")], [(price, "1000")], 1.0)
    paper_fills = [e for e in paper.place(PlaceOrder("c1", pid, BUY, "market", D(size)), 1.0) if isinstance(e, Fill)]

    rig = Rig(cfm="100000000", cbi="100000000")
    assert FeeSchedule() == FeeSchedule(MAKER, TAKER)  # the exchange's default rates are the profile's
    rig.maker(pid, SELL, price, "1000")
    order = rig.client.create(request("c1", pid, BUY, "market_market_ioc", base_size=size), 1_800_000_000.0)
    assert isinstance(order, OrderView) and order.filled_size == D(size)
    exchange_fees = [f.commission for f in rig.client.fills()]

    expected = venue_fee(product.notional(D(size), D(price)), TAKER)
    assert [f.fee for f in paper_fills] == exchange_fees == [expected]
    assert len(str(product.notional(D(size), D(price)) * TAKER).split(".")[-1]) > 8 or product is BTC_PERP

