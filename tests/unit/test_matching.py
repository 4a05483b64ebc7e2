"""MatchingEngine: price-time priority, maker-price fills, TIFs, post-only, self-trade skip, changes."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from domain.matching import MatchingEngine, Trade


def book_with_offers(owner: str = "mm") -> MatchingEngine:
    """Offers 100 x 1, 101 x 2, 102 x 3 (one order each), changes drained."""
    e = MatchingEngine("BTC-USD", trade_id_prefix="T")
    e.submit("s100", owner, "SELL", D("1"), limit_price=D("100"))
    e.submit("s101", owner, "SELL", D("2"), limit_price=D("101"))
    e.submit("s102", owner, "SELL", D("3"), limit_price=D("102"))
    e.drain_changes()
    return e


def test_resting_orders_aggregate_into_levels_best_first() -> None:
    e = MatchingEngine("BTC-USD")
    e.submit("b1", "a", "BUY", D("1"), limit_price=D("99"))
    e.submit("b2", "b", "BUY", D("0.5"), limit_price=D("99"))
    e.submit("b3", "a", "BUY", D("2"), limit_price=D("98"))
    e.submit("s1", "a", "SELL", D("4"), limit_price=D("103"))
    e.submit("s2", "a", "SELL", D("1"), limit_price=D("101"))
    assert e.best_bid() == D("99")
    assert e.best_ask() == D("101")
    assert e.levels("bid") == [(D("99"), D("1.5")), (D("98"), D("2"))]
    assert e.levels("offer") == [(D("101"), D("1")), (D("103"), D("4"))]
    assert e.levels("bid", depth=1) == [(D("99"), D("1.5"))]
    assert e.level_size("bid", D("99")) == D("1.5")
    assert e.level_size("offer", D("102")) == 0
    assert [o.order_id for o in e.resting_orders("a")] == ["b1", "b3", "s1", "s2"]
    assert [o.order_id for o in e.resting_orders()] == ["b1", "b2", "b3", "s1", "s2"]


def test_empty_book() -> None:
    e = MatchingEngine("BTC-USD")
    assert e.best_bid() is None and e.best_ask() is None
    assert e.levels("bid") == [] and e.levels("offer") == []
    with pytest.raises(ValueError):
        e.levels("ask")


def test_market_buy_walks_several_levels_at_maker_prices() -> None:
    e = book_with_offers()
    r = e.submit("m1", "taker", "BUY", D("4.5"), order_type="market")
    assert r.status == "FILLED"
    assert r.filled == D("4.5") and r.remaining == 0
    assert r.trades == (
        Trade("T1", "s100", "m1", "mm", "taker", D("100"), D("1"), "BUY"),
        Trade("T2", "s101", "m1", "mm", "taker", D("101"), D("2"), "BUY"),
        Trade("T3", "s102", "m1", "mm", "taker", D("102"), D("1.5"), "BUY"),
    )
    assert e.levels("offer") == [(D("102"), D("1.5"))]
    assert e.order("s100") is None
    assert e.order("s102").remaining == D("1.5")
    assert e.order("s102").size == D("3")


def test_market_order_larger_than_book_cancels_remainder() -> None:
    e = book_with_offers()
    r = e.submit("m1", "taker", "BUY", D("10"), order_type="market")
    assert r.status == "CANCELLED"
    assert r.filled == D("6") and r.remaining == D("4")
    assert e.levels("offer") == []
    assert e.order("m1") is None


def test_market_order_on_empty_side_is_cancelled_with_no_trades() -> None:
    e = MatchingEngine("BTC-USD")
    r = e.submit("m1", "taker", "SELL", D("1"), order_type="market")
    assert (r.status, r.trades, r.filled, r.remaining) == ("CANCELLED", (), 0, D("1"))


def test_limit_takes_what_crosses_then_rests_remainder_at_its_limit() -> None:
    e = book_with_offers()
    r = e.submit("b1", "taker", "BUY", D("5"), limit_price=D("101"))
    assert r.status == "OPEN"
    assert [(t.price, t.size) for t in r.trades] == [(D("100"), D("1")), (D("101"), D("2"))]
    assert r.filled == D("3") and r.remaining == D("2")
    assert e.best_bid() == D("101")
    assert e.levels("bid") == [(D("101"), D("2"))]
    assert e.levels("offer") == [(D("102"), D("3"))]
    rest = e.order("b1")
    assert (rest.owner, rest.side, rest.price, rest.size, rest.remaining) == (
        "taker", "BUY", D("101"), D("5"), D("2"))


def test_sell_limit_fills_against_bids_at_bid_prices() -> None:
    e = MatchingEngine("BTC-USD")
    e.submit("b1", "mm", "BUY", D("1"), limit_price=D("99"))
    e.submit("b2", "mm", "BUY", D("1"), limit_price=D("98"))
    r = e.submit("s1", "t", "SELL", D("1.5"), limit_price=D("97"))
    assert r.status == "FILLED"
    assert [(t.price, t.size, t.aggressor_side) for t in r.trades] == [
        (D("99"), D("1"), "SELL"), (D("98"), D("0.5"), "SELL")]
    assert e.levels("bid") == [(D("98"), D("0.5"))]


def test_price_time_priority_within_a_level() -> None:
    e = MatchingEngine("BTC-USD")
    e.submit("first", "a", "SELL", D("1"), limit_price=D("100"))
    e.submit("second", "b", "SELL", D("1"), limit_price=D("100"))
    e.submit("better", "c", "SELL", D("1"), limit_price=D("99"))
    r = e.submit("t", "x", "BUY", D("2.5"), limit_price=D("100"))
    assert [(t.maker_order_id, t.price, t.size) for t in r.trades] == [
        ("better", D("99"), D("1")), ("first", D("100"), D("1")), ("second", D("100"), D("0.5"))]
    assert e.queue("offer", D("100"))[0].order_id == "second"


def test_partial_fill_then_cancel_returns_remaining() -> None:
    e = MatchingEngine("BTC-USD")
    e.submit("s1", "mm", "SELL", D("3"), limit_price=D("100"))
    r = e.submit("b1", "t", "BUY", D("1.25"), order_type="market")
    assert r.status == "FILLED"
    assert e.order("s1").remaining == D("1.75")
    e.drain_changes()
    assert e.cancel("s1") == D("1.75")
    assert e.cancel("s1") is None
    assert e.cancel("never") is None
    assert e.levels("offer") == []
    assert e.drain_changes() == [("offer", D("100"), D("0"))]


def test_ioc_limit_cancels_remainder_and_never_rests() -> None:
    e = book_with_offers()
    r = e.submit("i1", "t", "BUY", D("2"), limit_price=D("100"), tif="IOC")
    assert (r.status, r.filled, r.remaining) == ("CANCELLED", D("1"), D("1"))
    assert e.levels("bid") == []
    r = e.submit("i2", "t", "BUY", D("2"), limit_price=D("99"), tif="IOC")
    assert (r.status, r.trades, r.filled) == ("CANCELLED", (), 0)


def test_fok_fills_fully_or_changes_nothing() -> None:
    e = book_with_offers()
    r = e.submit("f1", "t", "BUY", D("3.5"), limit_price=D("101"), tif="FOK")
    assert r.status == "REJECTED" and r.trades == () and r.filled == 0
    assert e.levels("offer") == [(D("100"), D("1")), (D("101"), D("2")), (D("102"), D("3"))]
    assert e.drain_changes() == []
    r = e.submit("f2", "t", "BUY", D("3"), limit_price=D("101"), tif="FOK")
    assert r.status == "FILLED" and r.filled == D("3")
    assert e.levels("offer") == [(D("102"), D("3"))]
    # a market FOK larger than the whole book is rejected too
    r = e.submit("f3", "t", "BUY", D("3.01"), order_type="market", tif="FOK")
    assert r.status == "REJECTED"
    assert e.levels("offer") == [(D("102"), D("3"))]


def test_fok_does_not_count_own_liquidity() -> None:
    e = book_with_offers(owner="me")
    e.submit("other", "mm", "SELL", D("1"), limit_price=D("100"))
    r = e.submit("f", "me", "BUY", D("2"), limit_price=D("102"), tif="FOK")
    assert r.status == "REJECTED"
    r = e.submit("f2", "me", "BUY", D("1"), limit_price=D("102"), tif="FOK")
    assert r.status == "FILLED" and r.trades[0].maker_order_id == "other"


def test_post_only_that_would_cross_is_rejected_and_book_untouched() -> None:
    e = book_with_offers()
    r = e.submit("p1", "t", "BUY", D("1"), limit_price=D("100"), post_only=True)
    assert r.status == "REJECTED"
    assert r.reject_reason == "INVALID_LIMIT_PRICE_POST_ONLY"
    assert r.trades == () and r.remaining == D("1")
    assert e.levels("offer")[0] == (D("100"), D("1"))
    assert e.levels("bid") == []
    assert e.drain_changes() == []
    r = e.submit("p2", "t", "BUY", D("1"), limit_price=D("99.99"), post_only=True)
    assert r.status == "OPEN" and r.trades == ()
    assert e.best_bid() == D("99.99")


def test_rejections_leave_book_untouched() -> None:
    e = book_with_offers()
    cases = [
        dict(order_id="z0", side="BUY", size=D("0"), limit_price=D("100")),
        dict(order_id="z1", side="BUY", size=D("-1"), limit_price=D("100")),
        dict(order_id="s100", side="BUY", size=D("1"), limit_price=D("90")),  # duplicate
        dict(order_id="z2", side="HOLD", size=D("1"), limit_price=D("90")),
        dict(order_id="z3", side="BUY", size=D("1")),  # limit without price
        dict(order_id="z4", side="BUY", size=D("1"), limit_price=D("90"), tif="GTD"),
        dict(order_id="z5", side="BUY", size=D("1"), order_type="stop"),
    ]
    for kw in cases:
        r = e.submit(owner="t", **kw)
        assert r.status == "REJECTED", kw
        assert r.reject_reason
        assert r.trades == ()
    assert e.submit("z0", "t", "BUY", D("0"), limit_price=D("1")).reject_reason == "INVALID_SIZE"
    assert e.submit("s100", "t", "BUY", D("1"), limit_price=D("90")).reject_reason == "DUPLICATE_ORDER_ID"
    assert e.levels("bid") == []
    assert len(e.resting_orders()) == 3
    assert e.drain_changes() == []


def test_id_of_a_finished_order_may_be_used_again() -> None:
    e = MatchingEngine("BTC-USD")
    e.submit("x", "a", "BUY", D("1"), limit_price=D("10"))
    e.cancel("x")
    assert e.submit("x", "a", "BUY", D("1"), limit_price=D("10")).status == "OPEN"


def test_same_owner_orders_never_match_and_are_skipped() -> None:
    e = MatchingEngine("BTC-USD", trade_id_prefix="T")
    e.submit("mine", "me", "SELL", D("1"), limit_price=D("100"))
    e.submit("theirs", "mm", "SELL", D("1"), limit_price=D("100"))
    e.submit("theirs2", "mm", "SELL", D("1"), limit_price=D("101"))
    r = e.submit("t", "me", "BUY", D("1.5"), limit_price=D("101"))
    assert [(t.maker_order_id, t.size) for t in r.trades] == [("theirs", D("1")), ("theirs2", D("0.5"))]
    assert e.order("mine").remaining == D("1")
    # only own liquidity crosses: the order rests (the book may then be crossed for this owner)
    r = e.submit("t2", "me", "BUY", D("1"), limit_price=D("100"))
    assert r.status == "OPEN" and r.trades == ()
    assert e.order("mine").remaining == D("1")


def test_market_order_against_only_own_liquidity_is_cancelled() -> None:
    e = MatchingEngine("BTC-USD")
    e.submit("mine", "me", "SELL", D("1"), limit_price=D("100"))
    r = e.submit("t", "me", "BUY", D("1"), order_type="market")
    assert (r.status, r.trades) == ("CANCELLED", ())
    assert e.levels("offer") == [(D("100"), D("1"))]


def test_amend_size_keeps_queue_position_and_removes_at_zero() -> None:
    e = MatchingEngine("BTC-USD")
    e.submit("a", "x", "SELL", D("1"), limit_price=D("100"))
    e.submit("b", "y", "SELL", D("1"), limit_price=D("100"))
    e.drain_changes()
    e.amend_size("a", D("3"))
    assert [o.order_id for o in e.queue("offer", D("100"))] == ["a", "b"]
    assert e.level_size("offer", D("100")) == D("4")
    assert e.order("a").size == D("3")
    r = e.submit("t", "z", "BUY", D("3.5"), order_type="market")
    assert [(t.maker_order_id, t.size) for t in r.trades] == [("a", D("3")), ("b", D("0.5"))]
    e.amend_size("b", D("0"))
    assert e.order("b") is None and e.levels("offer") == []
    e.amend_size("unknown", D("1"))  # ignored
    assert e.drain_changes() == [("offer", D("100"), D("0"))]


def test_drain_changes_one_entry_per_level_in_first_change_order() -> None:
    e = MatchingEngine("BTC-USD")
    e.submit("b1", "x", "BUY", D("1"), limit_price=D("99"))
    e.submit("s1", "x", "SELL", D("2"), limit_price=D("101"))
    e.submit("b2", "y", "BUY", D("0.5"), limit_price=D("99"))
    e.submit("s2", "x", "SELL", D("1"), limit_price=D("102"))
    assert e.drain_changes() == [
        ("bid", D("99"), D("1.5")),
        ("offer", D("101"), D("2")),
        ("offer", D("102"), D("1")),
    ]
    assert e.drain_changes() == []
    # a buy sweeping 101 entirely and part of 102, then resting at 102: 3 levels changed
    e.submit("t", "z", "BUY", D("4"), limit_price=D("102"))
    assert e.drain_changes() == [
        ("offer", D("101"), D("0")),
        ("offer", D("102"), D("0")),
        ("bid", D("102"), D("1")),
    ]
    # a level that appears then vanishes is still reported once, as gone
    e.submit("c", "x", "SELL", D("1"), limit_price=D("110"))
    e.cancel("c")
    assert e.drain_changes() == [("offer", D("110"), D("0"))]


def test_drain_changes_reports_partially_consumed_level() -> None:
    e = book_with_offers()
    e.submit("t", "z", "BUY", D("1.5"), order_type="market")
    assert e.drain_changes() == [("offer", D("100"), D("0")), ("offer", D("101"), D("1.5"))]


def test_skipped_own_level_is_not_reported_as_changed() -> None:
    e = MatchingEngine("BTC-USD")
    e.submit("mine", "me", "SELL", D("1"), limit_price=D("100"))
    e.submit("theirs", "mm", "SELL", D("1"), limit_price=D("101"))
    e.drain_changes()
    e.submit("t", "me", "BUY", D("1"), order_type="market")
    assert e.drain_changes() == [("offer", D("101"), D("0"))]


def test_untracked_engine_records_no_changes() -> None:
    e = MatchingEngine("BTC-USD", track_changes=False)
    e.submit("a", "x", "BUY", D("1"), limit_price=D("1"))
    assert e.drain_changes() == []


def test_trade_ids_are_deterministic_and_sequential() -> None:
    def run() -> list[str]:
        e = book_with_offers()
        ids = [t.trade_id for t in e.submit("a", "t", "BUY", D("2"), order_type="market").trades]
        ids += [t.trade_id for t in e.submit("b", "t", "BUY", D("1"), order_type="market").trades]
        return ids

    assert run() == run() == ["T1", "T2", "T3"]


def test_many_orders_stay_consistent() -> None:
    """A churn of resting orders and sweeps keeps level totals equal to the sum of their orders."""
    e = MatchingEngine("BTC-USD")
    n = 0
    for i in range(400):
        n += 1
        price = D(100 + (i * 7) % 13)
        side = "SELL" if (i * 5) % 3 else "BUY"
        e.submit(f"o{n}", f"w{i % 4}", side, D("0.5") + D(i % 3), limit_price=price)
        if i % 9 == 0:
            e.cancel(f"o{n - 3}")
    for side, book_side in (("BUY", "bid"), ("SELL", "offer")):
        for price, total in e.levels(book_side):
            orders = [o for o in e.resting_orders() if o.side == side and o.price == price]
            assert total == sum(o.remaining for o in orders)
    assert all(o.remaining > 0 for o in e.resting_orders())
