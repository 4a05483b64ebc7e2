"""MarketDataCore: book status after each change, gaps, resync counters, views, staleness, bars."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from actors.market_data.core import MarketDataCore
from domain.market import Bar, BookStatus, BookView, L2Update, StreamGap, TradePrint
from domain.products import BTC_PERP, BTC_USD, CATALOG

SPOT = BTC_USD.product_id
PERP = BTC_PERP.product_id


def snap(pid, bids, offers, ts=10.0, recv_ns=1):
    return L2Update.from_sides(pid, True, tuple(bids), tuple(offers), ts, 1, recv_ns)


def upd(pid, bids=(), offers=(), ts=11.0, recv_ns=2):
    return L2Update.from_sides(pid, False, tuple(bids), tuple(offers), ts, 1, recv_ns)


@pytest.fixture
def core() -> MarketDataCore:
    return MarketDataCore(dict(CATALOG), bar_interval_s=60.0, stale_after_s=5.0)


def test_snapshot_publishes_valid_status_with_mid_mark(core):
    out = core.on_l2(snap(SPOT, [("100.00", "1")], [("101.00", "2")], ts=10.0, recv_ns=77))
    assert out == [BookStatus(SPOT, True, D(100), D(101), D("100.5"), 10.0, 77)]


def test_each_applied_update_publishes_status(core):
    core.on_l2(snap(SPOT, [("100", "1")], [("101", "2")]))
    out = core.on_l2(upd(SPOT, bids=[("100.5", "1")], ts=12.5, recv_ns=9))
    assert out == [BookStatus(SPOT, True, D("100.5"), D(101), D("100.75"), 12.5, 9)]
    assert core.report(SPOT)["updates_applied"] == 1


def test_updates_before_snapshot_are_dropped_and_counted(core):
    assert core.on_l2(upd(SPOT, bids=[("100", "1")])) == []
    assert core.report(SPOT)["dropped_before_snapshot"] == 1
    assert core.is_stale(SPOT, 11.0)


def test_gap_invalidates_named_books_until_the_next_snapshot(core):
    core.on_l2(snap(SPOT, [("100", "1")], [("101", "2")], ts=10.0))
    core.on_l2(snap(PERP, [("100", "1")], [("105", "2")], ts=10.0))
    out = core.on_gap(StreamGap(1, (SPOT, "UNKNOWN-X"), 5, 7))
    assert out == [BookStatus(SPOT, False, None, None, None, 10.0, 0)]
    assert core.is_stale(SPOT, 10.0)
    assert not core.is_stale(PERP, 10.0)
    assert core.on_l2(upd(SPOT, bids=[("100", "3")])) == []
    assert core.report(SPOT)["resyncs"] == 0
    core.on_l2(snap(SPOT, [("100", "1")], [("101", "2")], ts=12.0))
    report = core.report(SPOT)
    assert (report["resyncs"], report["dropped_before_snapshot"]) == (1, 1)
    assert not core.is_stale(SPOT, 12.0)


def test_crossed_book_publishes_invalid_status(core):
    core.on_l2(snap(SPOT, [("100", "1")], [("101", "2")]))
    out = core.on_l2(upd(SPOT, bids=[("101", "1")], ts=11.0, recv_ns=3))
    assert out == [BookStatus(SPOT, False, None, None, None, 11.0, 3)]
    assert core.is_stale(SPOT, 11.0)
    assert core.report(SPOT)["corruptions"] == 1


def test_bad_level_publishes_invalid_status_and_never_raises(core):
    core.on_l2(snap(SPOT, [("100", "1")], [("101", "2")]))
    out = core.on_l2(upd(SPOT, bids=[("100", "lots")]))
    assert [s.valid for s in out] == [False]


def test_staleness_is_age_of_the_last_change(core):
    core.on_l2(snap(SPOT, [("100", "1")], [("101", "2")], ts=10.0))
    assert not core.is_stale(SPOT, 15.0)
    assert core.is_stale(SPOT, 15.01)
    assert core.is_stale("NOPE", 10.0)


def test_view_converts_contracts_to_base_units_within_the_band(core):
    # mid 100000; 5% band = 5000 wide: bids >= 94995, asks <= 105005
    core.on_l2(
        snap(
            PERP,
            [("99995", "10"), ("95000", "3"), ("94990", "100")],
            [("100005", "2"), ("105005", "4"), ("105010", "100")],
            ts=20.0,
        )
    )
    assert core.view(PERP) == BookView(
        PERP,
        True,
        ((D("99995"), D("0.10")), (D("95000"), D("0.03"))),
        ((D("100005"), D("0.02")), (D("105005"), D("0.04"))),
        20.0,
    )


def test_view_of_spot_keeps_sizes_and_invalid_view_is_empty(core):
    core.on_l2(snap(SPOT, [("100", "1.5")], [("101", "2")], ts=3.0))
    assert core.view(SPOT).bids == ((D(100), D("1.5")),)
    core.on_gap(StreamGap(1, (SPOT,), 1, 3))
    assert core.view(SPOT) == BookView(SPOT, False, (), (), 3.0)


def test_bars_from_trades_in_base_units_then_time_closes_them_before_status(core):
    core.on_l2(snap(PERP, [("100000", "1")], [("100010", "1")], ts=5.0, recv_ns=1))
    assert core.on_trade(TradePrint(PERP, "1", "100005", "3", "BUY", 30.0, 2)) == []
    assert core.report(PERP)["last_trade_at"] == 30.0
    out = core.on_l2(upd(PERP, bids=[("100000", "2")], ts=61.0, recv_ns=3))
    assert out == [
        Bar(PERP, 0.0, 60.0, D(100005), D(100005), D(100005), D(100005), D("0.03"), 1, 3),
        BookStatus(PERP, True, D(100000), D(100010), D(100005), 61.0, 3),
    ]


def test_bar_from_mids_when_no_trade(core):
    core.on_l2(snap(SPOT, [("100", "1")], [("102", "1")], ts=1.0))  # mid 101
    core.on_l2(upd(SPOT, offers=[("104", "1"), ("102", "0")], ts=2.0))  # mid 102
    out = core.on_trade(TradePrint(SPOT, "9", "bad", "1", "BUY", 125.0, 4))  # bad trade still moves time
    assert out == [
        Bar(SPOT, 0.0, 60.0, D(101), D(102), D(101), D(102), D(0), 0, 4),
        Bar(SPOT, 60.0, 60.0, D(102), D(102), D(102), D(102), D(0), 0, 4),
    ]
    assert core.report(SPOT)["bad_trades"] == 1


def test_report(core):
    core.on_l2(snap(SPOT, [("100", "1"), ("99", "1")], [("101", "2")]))
    r = core.report(SPOT)
    assert {k: r[k] for k in ("best_bid", "best_ask", "mark", "bid_levels", "ask_levels", "resyncs")} == {
        "best_bid": D(100),
        "best_ask": D(101),
        "mark": D("100.5"),
        "bid_levels": 2,
        "ask_levels": 1,
        "resyncs": 0,
    }


def test_unknown_products_are_ignored(core):
    assert core.on_l2(snap("DOGE-USD", [("1", "1")], [("2", "1")])) == []
    assert core.on_trade(TradePrint("DOGE-USD", "1", "1", "1", "BUY", 1.0, 1)) == []
    assert core.unknown_products == 2


def test_view_of_a_future_stays_in_base_units_through_updates(core):
    core.on_l2(snap(PERP, [("100000", "10"), ("99995", "3")], [("100005", "2")], ts=20.0))
    core.on_l2(upd(PERP, bids=[("99995", "0"), ("99990", "6")], offers=[("100005", "5")], ts=21.0))
    assert core.view(PERP) == BookView(
        PERP, True, ((D(100000), D("0.10")), (D(99990), D("0.06"))), ((D(100005), D("0.05")),), 21.0
    )
    assert core.book(PERP).levels("bid", 5) == [(D(100000), D(10)), (D(99990), D(6))]  # venue units


def test_status_mark_follows_the_top_frame_by_frame(core):
    core.on_l2(snap(SPOT, [("100", "1"), ("99", "1")], [("102", "1")], ts=1.0, recv_ns=1))
    marks = []
    for change in (
        upd(SPOT, bids=[("98", "4")], ts=2.0),  # below the top
        upd(SPOT, bids=[("100", "0")], ts=3.0),  # the best bid leaves
        upd(SPOT, offers=[("101", "1")], ts=4.0),  # a better ask
        upd(SPOT, offers=[("101", "2")], ts=5.0),  # its size only
    ):
        (status,) = core.on_l2(change)
        marks.append((status.best_bid, status.best_ask, status.mark))
    assert marks == [
        (D(100), D(102), D(101)),
        (D(99), D(102), D("100.5")),
        (D(99), D(101), D(100)),
        (D(99), D(101), D(100)),
    ]
