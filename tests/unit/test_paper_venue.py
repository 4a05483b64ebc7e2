"""PaperVenue: our orders against the mirrored level2 book and market trade prints.

Fee rates used throughout: maker 0.0004, taker 0.0006. Values are worked out by hand in comments.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from actors.venue.paper import PaperVenue
from domain.orders import Fill, OrderUpdate, PlaceOrder
from domain.products import BTC_PERP, BTC_USD, CATALOG

SPOT = BTC_USD.product_id
PERP = BTC_PERP.product_id
MAKER_RATE = D("0.0004")
TAKER_RATE = D("0.0006")


def venue() -> PaperVenue:
    """BTC-USD: bids 100.00 x 1.5, 99.50 x 2; offers 100.50 x 1, 101.00 x 3."""
    v = PaperVenue(CATALOG, MAKER_RATE, TAKER_RATE)
    events = v.apply_book(
        SPOT, True, [("100.00", "1.5"), ("99.50", "2")], [("100.50", "1"), ("101.00", "3")], 1.0
    )
    assert events == []
    return v


def limit(cid: str, side: str, size: str, price: str, post_only: bool = False, product: str = SPOT):
    return PlaceOrder(cid, product, side, "limit", D(size), D(price), post_only)


def market(cid: str, side: str, size: str, product: str = SPOT) -> PlaceOrder:
    return PlaceOrder(cid, product, side, "market", D(size))


def fills(events: list) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def updates(events: list) -> list[OrderUpdate]:
    return [e for e in events if isinstance(e, OrderUpdate)]


def summary(events: list) -> list[tuple]:
    """Compact view: ("F", price, size, fee, liquidity) / ("U", status, filled, leaves)."""
    out: list[tuple] = []
    for e in events:
        if isinstance(e, Fill):
            out.append(("F", e.client_order_id, e.price, e.size, e.fee, e.liquidity))
        else:
            out.append(("U", e.client_order_id, e.status, e.filled_size, e.leaves_size))
    return out


# ----------------------------------------------------------------------------- mirror


def test_snapshot_builds_the_mirror() -> None:
    v = venue()
    bids, offers = v.book(SPOT)
    assert bids == [(D("100"), D("1.5")), (D("99.5"), D("2"))]
    assert offers == [(D("100.5"), D("1")), (D("101"), D("3"))]


def test_updates_are_absolute_and_zero_forms_remove_levels() -> None:
    v = venue()
    v.apply_book(SPOT, False, [("100.00", "0.7"), ("99.5", "0.00000000")], [("100.50", "0")], 2.0)
    v.apply_book(SPOT, False, [("98.00", "4")], [("101.000", "0.0")], 2.1)
    bids, offers = v.book(SPOT)
    assert bids == [(D("100"), D("0.7")), (D("98"), D("4"))]
    assert offers == []


def test_second_snapshot_replaces_all_market_levels() -> None:
    v = venue()
    v.apply_book(SPOT, True, [("90", "1")], [("91", "2")], 3.0)
    assert v.book(SPOT) == ([(D("90"), D("1"))], [(D("91"), D("2"))])


def test_snapshot_of_one_product_leaves_the_other_alone() -> None:
    v = venue()
    v.apply_book(PERP, True, [("95000", "10")], [("95005", "12")], 2.0)
    v.apply_book(PERP, True, [], [], 3.0)
    assert v.book(PERP) == ([], [])
    assert len(v.book(SPOT)[0]) == 2


def test_crossed_market_data_never_trades_with_itself() -> None:
    v = PaperVenue(CATALOG, MAKER_RATE, TAKER_RATE)
    assert v.apply_book(SPOT, True, [("101", "1")], [("100", "2")], 1.0) == []
    assert v.book(SPOT) == ([(D("101"), D("1"))], [(D("100"), D("2"))])
    assert v.fills() == ()


def test_unknown_product_and_bad_levels_are_ignored() -> None:
    v = venue()
    assert v.apply_book("ETH-USD", True, [("1", "1")], [], 1.0) == []
    assert v.apply_trade("ETH-USD", "1", "1", "SELL", 1.0) == []
    v.apply_book(SPOT, False, [("abc", "1"), ("99", "-1"), ("NaN", "1")], [], 2.0)
    assert v.bad_levels == 3
    assert v.book(SPOT)[0] == [(D("100"), D("1.5")), (D("99.5"), D("2"))]


# ----------------------------------------------------------------------------- taking


def test_market_buy_walks_levels_as_taker() -> None:
    v = venue()
    events = v.place(market("c1", "BUY", "2.5"), 5.0)
    # 1 @ 100.50: 100.5 * 1 * 0.0006 = 0.0603; 1.5 @ 101: 151.5 * 0.0006 = 0.0909
    assert summary(events) == [
        ("F", "c1", D("100.50"), D("1"), D("0.06030000"), "TAKER"),
        ("F", "c1", D("101.00"), D("1.5"), D("0.09090000"), "TAKER"),
        ("U", "c1", "FILLED", D("2.5"), D("0")),
    ]
    assert [f.trade_id for f in fills(events)] == ["BTC-USD-1", "BTC-USD-2"]
    assert {f.venue_order_id for f in fills(events)} == {"pv-000001"}
    assert all(f.ts == 5.0 and f.side == "BUY" for f in fills(events))
    # taken liquidity stays out of the mirror until level2 overwrites it
    assert v.book(SPOT)[1] == [(D("101"), D("1.5"))]
    v.apply_book(SPOT, False, [], [("101.00", "3")], 6.0)
    assert v.book(SPOT)[1] == [(D("101"), D("3"))]


def test_market_sell_deeper_than_book_fills_partly_and_cancels_rest() -> None:
    v = venue()
    events = v.place(market("c1", "SELL", "5"), 5.0)
    # 1.5 @ 100: 150 * 0.0006 = 0.09; 2 @ 99.5: 199 * 0.0006 = 0.1194
    assert summary(events) == [
        ("F", "c1", D("100.00"), D("1.5"), D("0.09000000"), "TAKER"),
        ("F", "c1", D("99.50"), D("2"), D("0.11940000"), "TAKER"),
        ("U", "c1", "CANCELLED", D("3.5"), D("0")),
    ]
    assert updates(events)[0].reason == "INSUFFICIENT_LIQUIDITY"
    assert v.book(SPOT)[0] == []
    assert v.open_orders() == ()


def test_limit_takes_what_crosses_then_rests() -> None:
    v = venue()
    events = v.place(limit("c1", "BUY", "2", "100.50"), 5.0)
    assert summary(events) == [
        ("F", "c1", D("100.50"), D("1"), D("0.06030000"), "TAKER"),
        ("U", "c1", "OPEN", D("1"), D("1")),
    ]
    assert v.open_orders() == (
        OrderUpdate("c1", "pv-000001", SPOT, "OPEN", D("1"), D("1"), "", 5.0),
    )
    bids, offers = v.book(SPOT)
    assert bids[0] == (D("100.5"), D("1"))
    assert offers == [(D("101"), D("3"))]


def test_post_only_crossing_is_rejected() -> None:
    v = venue()
    events = v.place(limit("c1", "BUY", "1", "100.50", post_only=True), 5.0)
    assert events == [
        OrderUpdate("c1", "pv-000001", SPOT, "REJECTED", D("0"), D("0"),
                    "INVALID_LIMIT_PRICE_POST_ONLY", 5.0)
    ]
    assert v.fills() == () and v.open_orders() == ()
    assert v.book(SPOT)[1][0] == (D("100.5"), D("1"))
    events = v.place(limit("c2", "BUY", "1", "100.25", post_only=True), 5.0)
    assert summary(events) == [("U", "c2", "OPEN", D("0"), D("1"))]


def test_unknown_product_and_bad_orders_are_rejected() -> None:
    v = venue()
    [u] = v.place(limit("c1", "BUY", "1", "100", product="ETH-USD"), 5.0)
    assert (u.status, u.reason, u.product_id) == ("REJECTED", "UNKNOWN_PRODUCT", "ETH-USD")
    [u] = v.place(limit("c2", "BUY", "0", "100"), 5.0)
    assert (u.status, u.reason) == ("REJECTED", "INVALID_SIZE")
    [u] = v.place(PlaceOrder("c3", SPOT, "BUY", "limit", D("1")), 5.0)
    assert (u.status, u.reason) == ("REJECTED", "INVALID_LIMIT_PRICE")


def test_repeated_client_order_id_never_creates_a_second_order() -> None:
    v = venue()
    first = v.place(limit("c1", "BUY", "2", "100.50"), 5.0)
    again = v.place(limit("c1", "BUY", "2", "100.50"), 6.0)
    assert again == [first[-1]]
    again = v.place(market("c1", "SELL", "9"), 7.0)
    assert again == [first[-1]]
    assert len(v.fills()) == 1 and len(v.open_orders()) == 1
    # after a change, the repeat reports the current state
    v.cancel("c1", 8.0)
    [u] = v.place(limit("c1", "BUY", "2", "100.50"), 9.0)
    assert (u.status, u.filled_size, u.leaves_size, u.ts) == ("CANCELLED", D("1"), D("0"), 8.0)
    # a rejected id stays rejected
    assert v.place(limit("r1", "BUY", "1", "101", post_only=True), 10.0)[0].status == "REJECTED"
    [u] = v.place(limit("r1", "BUY", "1", "90"), 11.0)
    assert u.status == "REJECTED"


def test_partial_fill_then_cancel() -> None:
    v = venue()
    v.place(limit("c1", "SELL", "2.5", "99.75"), 5.0)  # takes 1.5 @ 100, rests 1 @ 99.75
    events = v.cancel("c1", 6.0)
    assert events == [OrderUpdate("c1", "pv-000001", SPOT, "CANCELLED", D("1.5"), D("0"), "", 6.0)]
    assert v.cancel("c1", 7.0) == []
    assert v.cancel("nope", 7.0) == []
    assert v.book(SPOT)[1][0] == (D("100.5"), D("1"))
    assert v.open_orders() == ()


def test_bot_taker_never_matches_its_own_resting_order() -> None:
    v = venue()
    v.place(limit("s", "SELL", "1", "100.25"), 5.0)
    events = v.place(market("b", "BUY", "1"), 6.0)
    # skips our own 100.25 offer and takes the market's 100.50
    assert [(f.client_order_id, f.price) for f in fills(events)] == [("b", D("100.50"))]
    assert v.open_orders()[0].client_order_id == "s"


# ----------------------------------------------------------------------------- resting fills


def test_print_through_a_resting_buy_fills_it_as_maker_up_to_print_size() -> None:
    v = venue()
    v.place(limit("c1", "BUY", "1", "100.00", post_only=True), 5.0)
    events = v.apply_trade(SPOT, "99.50", "0.7", "SELL", 6.0)
    # 0.7 @ 100.00 (our limit): 70 * 0.0004 = 0.028
    assert summary(events) == [
        ("F", "c1", D("100.00"), D("0.7"), D("0.02800000"), "MAKER"),
        ("U", "c1", "OPEN", D("0.7"), D("0.3")),
    ]
    assert v.book(SPOT)[0][0] == (D("100"), D("1.8"))  # market 1.5 + our 0.3
    events = v.apply_trade(SPOT, "99.00", "5", "SELL", 7.0)
    assert summary(events) == [
        ("F", "c1", D("100.00"), D("0.3"), D("0.01200000"), "MAKER"),
        ("U", "c1", "FILLED", D("1.0"), D("0")),
    ]
    assert v.open_orders() == ()


def test_print_on_the_wrong_side_or_above_a_buy_does_not_fill_it() -> None:
    v = venue()
    v.place(limit("c1", "BUY", "1", "100.00"), 5.0)
    assert v.apply_trade(SPOT, "99.00", "5", "BUY", 6.0) == []  # buyer aggressor hits offers
    assert v.apply_trade(SPOT, "100.50", "5", "SELL", 6.0) == []  # above our bid
    assert v.fills() == ()


def test_print_through_a_resting_sell() -> None:
    v = venue()
    v.place(limit("c1", "SELL", "2", "100.75"), 5.0)
    events = v.apply_trade(SPOT, "101.00", "1.5", "BUY", 6.0)
    # 1.5 @ 100.75: 151.125 * 0.0004 = 0.06045
    assert summary(events) == [
        ("F", "c1", D("100.75"), D("1.5"), D("0.06045000"), "MAKER"),
        ("U", "c1", "OPEN", D("1.5"), D("0.5")),
    ]


def test_queue_ahead_at_an_equal_price() -> None:
    v = venue()
    v.place(limit("c1", "BUY", "1", "100.00"), 5.0)
    assert v.queue_ahead("c1") == D("1.5")  # the market's 1.5 at 100.00 is ahead of us
    assert v.apply_trade(SPOT, "100.00", "1.0", "SELL", 6.0) == []
    assert v.queue_ahead("c1") == D("0.5")
    events = v.apply_trade(SPOT, "100.00", "0.8", "SELL", 7.0)  # 0.5 ahead, then 0.3 to us
    assert summary(events) == [
        ("F", "c1", D("100.00"), D("0.3"), D("0.01200000"), "MAKER"),
        ("U", "c1", "OPEN", D("0.3"), D("0.7")),
    ]
    assert v.queue_ahead("c1") == 0
    events = v.apply_trade(SPOT, "100.00", "2", "SELL", 8.0)
    assert summary(events) == [
        ("F", "c1", D("100.00"), D("0.7"), D("0.02800000"), "MAKER"),
        ("U", "c1", "FILLED", D("1.0"), D("0")),
    ]


def test_queue_ahead_shrinks_when_the_level_shrinks_but_not_when_it_grows() -> None:
    v = venue()
    v.place(limit("c1", "BUY", "1", "100.00"), 5.0)
    v.apply_book(SPOT, False, [("100.00", "4")], [], 6.0)
    assert v.queue_ahead("c1") == D("1.5")  # newcomers queue behind us
    v.apply_book(SPOT, False, [("100.00", "0.4")], [], 7.0)
    assert v.queue_ahead("c1") == D("0.4")
    v.apply_book(SPOT, False, [("100.00", "0")], [], 8.0)
    assert v.queue_ahead("c1") == 0
    v.apply_book(SPOT, False, [("100.00", "3")], [], 9.0)
    assert v.queue_ahead("c1") == 0
    events = v.apply_trade(SPOT, "100.00", "0.25", "SELL", 10.0)
    assert [(f.price, f.size) for f in fills(events)] == [(D("100.00"), D("0.25"))]


def test_queue_ahead_clipped_by_a_new_snapshot() -> None:
    v = venue()
    v.place(limit("c1", "BUY", "1", "100.00"), 5.0)
    v.apply_book(SPOT, True, [("100.00", "0.5")], [("100.50", "1")], 6.0)
    assert v.queue_ahead("c1") == D("0.5")
    v.apply_book(SPOT, True, [("99.00", "1")], [("100.50", "1")], 7.0)
    assert v.queue_ahead("c1") == 0


def test_a_print_through_one_order_leaves_less_for_the_order_behind_it() -> None:
    v = venue()
    v.place(limit("hi", "BUY", "1", "100.25"), 5.0)  # nothing ahead at 100.25
    v.place(limit("eq", "BUY", "1", "100.00"), 5.0)  # 1.5 ahead at 100.00
    events = v.apply_trade(SPOT, "100.00", "2", "SELL", 6.0)
    # 2 through 100.25: "hi" takes 1; 1 left, but 1.5 is ahead of "eq": nothing for it
    assert [(f.client_order_id, f.size) for f in fills(events)] == [("hi", D("1"))]
    assert v.queue_ahead("eq") == 0  # 1.5 - 2, floored
    events = v.apply_trade(SPOT, "100.00", "0.4", "SELL", 7.0)
    assert [(f.client_order_id, f.size) for f in fills(events)] == [("eq", D("0.4"))]


def test_book_moving_through_a_resting_buy_fills_it_at_its_limit() -> None:
    v = venue()
    v.place(limit("c1", "BUY", "1", "100.25"), 5.0)
    events = v.apply_book(SPOT, False, [], [("100.50", "0"), ("100.20", "0.4")], 6.0)
    # market offers 0.4 at 100.20, below our 100.25 bid: we fill 0.4 at 100.25 as maker
    # fee 100.25 * 0.4 * 0.0004 = 0.01604
    assert summary(events) == [
        ("F", "c1", D("100.25"), D("0.4"), D("0.01604000"), "MAKER"),
        ("U", "c1", "OPEN", D("0.4"), D("0.6")),
    ]
    bids, offers = v.book(SPOT)
    assert bids[0] == (D("100.25"), D("0.6"))
    assert offers == [(D("101"), D("3"))]  # the crossing 0.4 was used up against us
    events = v.apply_book(SPOT, False, [], [("100.10", "2")], 7.0)
    assert summary(events) == [
        ("F", "c1", D("100.25"), D("0.6"), D("0.02406000"), "MAKER"),
        ("U", "c1", "FILLED", D("1.0"), D("0")),
    ]
    assert v.book(SPOT)[1][0] == (D("100.1"), D("1.4"))


def test_snapshot_crossing_a_resting_sell_fills_it() -> None:
    v = venue()
    v.place(limit("c1", "SELL", "1", "100.25"), 5.0)
    events = v.apply_book(SPOT, True, [("100.40", "0.6"), ("100.30", "1")], [("100.50", "1")], 6.0)
    # 0.6 then 0.4 from the two crossing bids, all at our 100.25
    assert summary(events) == [
        ("F", "c1", D("100.25"), D("0.6"), D("0.02406000"), "MAKER"),
        ("U", "c1", "OPEN", D("0.6"), D("0.4")),
        ("F", "c1", D("100.25"), D("0.4"), D("0.01604000"), "MAKER"),
        ("U", "c1", "FILLED", D("1.0"), D("0")),
    ]
    assert v.book(SPOT) == ([(D("100.3"), D("0.6"))], [(D("100.5"), D("1"))])


# ----------------------------------------------------------------------------- fees, perps


def test_perp_fees_use_contract_size() -> None:
    v = PaperVenue(CATALOG, MAKER_RATE, TAKER_RATE)
    v.apply_book(PERP, True, [("94990", "20")], [("95000", "10")], 1.0)
    events = v.place(market("p1", "BUY", "3", product=PERP), 2.0)
    # 95000 * 3 contracts * 0.01 BTC * 0.0006 = 1.71 USD
    assert summary(events) == [
        ("F", "p1", D("95000"), D("3"), D("1.71000000"), "TAKER"),
        ("U", "p1", "FILLED", D("3"), D("0")),
    ]
    assert fills(events)[0].trade_id == "BIP-20DEC30-CDE-1"
    v.place(limit("p2", "BUY", "2", "94995", product=PERP), 3.0)
    events = v.apply_trade(PERP, "94990", "5", "SELL", 4.0)
    # 94995 * 2 * 0.01 * 0.0004 = 0.75996 USD
    assert summary(events) == [
        ("F", "p2", D("94995"), D("2"), D("0.75996000"), "MAKER"),
        ("U", "p2", "FILLED", D("2"), D("0")),
    ]


def test_fee_rounds_half_even_to_1e8() -> None:
    v = PaperVenue(CATALOG, MAKER_RATE, TAKER_RATE)
    v.place(limit("a", "BUY", "0.0000125", "1"), 1.0)
    v.place(limit("b", "SELL", "0.0000125", "3"), 1.0)
    # maker 1 * 0.0000125 * 0.0004 = 0.000000005 -> 0.00000000 (tie goes to the even digit)
    [f] = fills(v.apply_trade(SPOT, "0.5", "1", "SELL", 2.0))
    assert f.fee == D("0.00000000")
    # maker 3 * 0.0000125 * 0.0004 = 0.000000015 -> 0.00000002
    [f] = fills(v.apply_trade(SPOT, "3.5", "1", "BUY", 2.0))
    assert f.fee == D("0.00000002")


def test_trade_ids_unique_across_products_and_venue_ids_sequential() -> None:
    v = venue()
    v.apply_book(PERP, True, [], [("95000", "10")], 1.0)
    v.place(market("a", "BUY", "1.5", product=SPOT), 2.0)
    v.place(market("b", "BUY", "1", product=PERP), 2.0)
    v.place(market("c", "BUY", "0.5", product=SPOT), 2.0)
    ids = [f.trade_id for f in v.fills()]
    assert ids == ["BTC-USD-1", "BTC-USD-2", "BIP-20DEC30-CDE-1", "BTC-USD-3"]
    assert [f.venue_order_id for f in v.fills()] == ["pv-000001"] * 2 + ["pv-000002", "pv-000003"]


# ----------------------------------------------------------------------------- cancel_all, replay


def test_cancel_all_cancels_every_resting_order_across_products() -> None:
    v = venue()
    v.apply_book(PERP, True, [("94990", "20")], [("95000", "10")], 1.0)
    v.place(limit("a", "BUY", "1", "99"), 2.0)
    v.place(limit("b", "SELL", "2", "95100", product=PERP), 2.0)
    v.place(market("m", "BUY", "0.5"), 2.0)  # filled, not resting
    v.place(limit("c", "SELL", "1", "102"), 2.0)
    events = v.cancel_all(3.0)
    assert [(u.client_order_id, u.status, u.leaves_size, u.ts) for u in events] == [
        ("a", "CANCELLED", D("0"), 3.0),
        ("b", "CANCELLED", D("0"), 3.0),
        ("c", "CANCELLED", D("0"), 3.0),
    ]
    assert v.open_orders() == ()
    assert v.book(SPOT)[0] == [(D("100"), D("1.5")), (D("99.5"), D("2"))]
    assert v.book(PERP)[1] == [(D("95000"), D("10"))]
    assert v.cancel_all(4.0) == []
    # nothing left to fill
    assert v.apply_trade(SPOT, "90", "10", "SELL", 5.0) == []


def test_same_inputs_give_the_same_fills() -> None:
    def run() -> tuple[Fill, ...]:
        v = venue()
        v.place(limit("a", "BUY", "1", "100.00"), 2.0)
        v.place(market("b", "SELL", "0.5"), 2.5)
        v.apply_trade(SPOT, "100.00", "2", "SELL", 3.0)
        v.apply_book(SPOT, False, [], [("99.90", "1")], 4.0)
        v.place(limit("c", "SELL", "3", "99.50"), 5.0)
        return v.fills()

    first = run()
    assert first == run()
    # b 0.5 @ 100; a 1 @ 100 (1.0 ahead after b took 0.5, print 2); c 1 @ 100 + 2 @ 99.5
    assert [(f.client_order_id, f.price, f.size) for f in first] == [
        ("b", D("100.00"), D("0.5")),
        ("a", D("100.00"), D("1")),
        ("c", D("100.00"), D("1.0")),
        ("c", D("99.50"), D("2")),
    ]


@pytest.mark.parametrize("side", ["BUY", "SELL"])
def test_fill_events_come_before_the_order_update(side: str) -> None:
    v = venue()
    events = v.place(market("m", side, "2"), 2.0)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Fill", "Fill", "OrderUpdate"]


# ----------------------------------------------------------------------------- time in force, stops


def test_limit_ioc_takes_what_crosses_and_drops_the_rest() -> None:
    v = venue()
    order = PlaceOrder("i1", SPOT, "BUY", "limit", D("2"), D("100.50"), time_in_force="IOC")
    # 1 at 100.50 taker (fee 100.50 x 0.0006 = 0.0603), the other 1 is not rested
    assert summary(v.place(order, 5.0)) == [
        ("F", "i1", D("100.50"), D("1"), D("0.0603"), "TAKER"), ("U", "i1", "CANCELLED", D("1"), D("0"))]
    assert v.open_orders() == ()


def test_limit_fok_fills_entirely_or_not_at_all() -> None:
    v = venue()
    [u] = v.place(PlaceOrder("f1", SPOT, "BUY", "limit", D("2"), D("100.50"), time_in_force="FOK"), 5.0)
    assert (u.status, u.filled_size) == ("REJECTED", D("0"))  # only 1 available at or under 100.50
    events = v.place(PlaceOrder("f2", SPOT, "BUY", "limit", D("2"), D("101.00"), time_in_force="FOK"), 5.0)
    assert sum(f.size for f in fills(events)) == D("2") and updates(events)[-1].status == "FILLED"


def test_gtd_rests_until_its_end_time_then_expires() -> None:
    v = venue()
    end = "2026-11-24T00:00:10Z"
    end_ts = 1_795_478_410.0  # 2026-11-24T00:00:10Z
    order = PlaceOrder("g1", SPOT, "BUY", "limit", D("1"), D("99.00"), time_in_force="GTD", end_time=end)
    [u] = v.place(order, end_ts - 60)
    assert u.status == "OPEN"
    assert v.apply_book(SPOT, False, [("99.50", "2.5")], [], end_ts - 1) == []
    [expired] = v.apply_book(SPOT, False, [("99.50", "3")], [], end_ts)
    assert (expired.client_order_id, expired.status, expired.leaves_size) == ("g1", "EXPIRED", D("0"))
    assert v.open_orders() == ()


def test_gtd_without_a_readable_end_time_is_rejected() -> None:
    [u] = venue().place(PlaceOrder("g2", SPOT, "BUY", "limit", D("1"), D("99"), time_in_force="GTD"), 1.0)
    assert (u.status, u.reason) == ("REJECTED", "INVALID_ORDER")


def stop(cid: str, side: str, size: str, stop_price: str, limit_price: str, direction: str) -> PlaceOrder:
    return PlaceOrder(cid, SPOT, side, "stop_limit", D(size), D(limit_price), stop_price=D(stop_price),
                      stop_direction=f"STOP_DIRECTION_STOP_{direction}")


def test_a_stop_waits_off_the_book_until_a_trade_reaches_it_then_enters_as_a_limit() -> None:
    v = venue()
    [u] = v.place(stop("s1", "SELL", "1", "99.00", "98.00", "DOWN"), 5.0)  # a stop-loss under the market
    assert u.status == "OPEN"
    assert v.book(SPOT)[1][0] == (D("100.50"), D("1"))  # not on the book
    assert v.apply_trade(SPOT, "99.50", "0.1", "SELL", 6.0) == []  # not reached
    events = v.apply_trade(SPOT, "99.00", "0.1", "SELL", 7.0)
    # enters as SELL 1 limit 98.00: takes the best bid 100.00 (1.5 there), taker
    assert summary(events) == [("F", "s1", D("100.00"), D("1"), D("0.06"), "TAKER"),
                               ("U", "s1", "FILLED", D("1"), D("0"))]


def test_a_stop_up_fires_on_the_mid_and_a_cancelled_stop_never_fires() -> None:
    v = venue()
    v.place(stop("s2", "BUY", "1", "101.00", "102.00", "UP"), 5.0)
    v.place(stop("s3", "BUY", "1", "101.00", "102.00", "UP"), 5.0)
    [cancelled] = v.cancel("s3", 5.5)
    assert cancelled.status == "CANCELLED"
    # the book moves up: bids 101.00, offers 101.50 -> mid 101.25 >= 101.00
    events = v.apply_book(SPOT, True, [("101.00", "1")], [("101.50", "2")], 6.0)
    assert summary(events) == [("F", "s2", D("101.50"), D("1"), D("0.0609"), "TAKER"),
                               ("U", "s2", "FILLED", D("1"), D("0"))]


def test_a_stop_already_reached_fires_on_arrival() -> None:
    v = venue()  # mid 100.25
    events = v.place(stop("s4", "BUY", "1", "100.00", "100.50", "UP"), 5.0)
    assert [e.status for e in updates(events)] == ["OPEN", "FILLED"]


def test_a_stop_needs_a_price_a_limit_and_a_direction() -> None:
    v = venue()
    [u] = v.place(PlaceOrder("s5", SPOT, "SELL", "stop_limit", D("1"), D("98"), stop_price=D("99")), 5.0)
    assert (u.status, u.reason) == ("REJECTED", "INVALID_ORDER")


def test_a_cancel_that_overtakes_its_order_kills_it_on_arrival() -> None:
    v = venue()
    assert v.cancel("late", 5.0) == []
    [u] = v.place(limit("late", "BUY", "1", "100.50"), 5.1)
    assert (u.status, u.reason, u.filled_size) == ("CANCELLED", "CANCELLED_BEFORE_ARRIVAL", D("0"))
    assert v.fills() == ()


# ----------------------------------------------------------------------------- deferred mirror


def test_level_changes_kept_while_idle_give_the_same_book_and_fills_as_applied_at_once():
    """Without an order of ours on BTC-USD its changes wait (conflated); a venue with one of our
    orders resting far away applies each at once. Both end with the same book and the same fills.
    Final book: bids 100.00 x 0.5 (gone, back), 99.50 x 2; offers 100.50 x 2, 102.00 x 4
    (101.00 removed). A market buy of 3 takes 2 @ 100.50 + 1 @ 102.00."""
    idle, eager = venue(), venue()
    eager.place(limit("far", "BUY", "0.1", "50.00"), 1.0)  # rests: every change applies at once
    changes = [
        (False, [("100.00", "0")], [("101.00", "0")]),
        (False, [("100.00", "0.5"), ("bad", "1")], [("100.50", "2"), ("102.00", "4")]),
    ]
    for ts, (snapshot, bids, offers) in enumerate(changes, start=2):
        assert idle.apply_book(SPOT, snapshot, bids, offers, float(ts)) == []
        assert eager.apply_book(SPOT, snapshot, bids, offers, float(ts)) == []
    assert idle.bad_levels == eager.bad_levels == 1  # counted as it arrives, deferred or not
    assert idle.book(SPOT) == ([(D("100.00"), D("0.5")), (D("99.50"), D("2"))],
                               [(D("100.50"), D("2")), (D("102.00"), D("4"))])
    assert eager.book(SPOT) == (idle.book(SPOT)[0] + [(D("50.00"), D("0.1"))], idle.book(SPOT)[1])

    taken = [summary(v.place(market("m1", "BUY", "3"), 5.0)) for v in (idle, eager)]
    assert taken[0] == taken[1]
    assert [(e[2], e[3]) for e in taken[0] if e[0] == "F"] == [(D("100.50"), D("2")), (D("102.00"), D("1"))]


def test_a_snapshot_kept_while_idle_replaces_the_whole_mirror():
    v = venue()
    assert v.apply_book(SPOT, False, [("99.00", "7")], [], 2.0) == []
    assert v.apply_book(SPOT, True, [("98.00", "1")], [("98.50", "2")], 3.0) == []
    assert v.apply_book(SPOT, False, [("97.00", "3")], [], 4.0) == []
    assert v.book(SPOT) == ([(D("98.00"), D("1")), (D("97.00"), D("3"))], [(D("98.50"), D("2"))])
