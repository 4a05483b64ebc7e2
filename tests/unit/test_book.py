"""L2Book: absolute sizes, zero forms, validity, corruption checks, best-first queries."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from actors.market_data.book import BookCorrupt, L2Book

# the COINBASE.md example snapshot and update
SNAP_BIDS = (("91234.55", "0.42000000"), ("91234.01", "1.10000000"))
SNAP_OFFERS = (("91234.56", "0.05000000"), ("91235.20", "2.00000000"))


@pytest.fixture
def book() -> L2Book:
    b = L2Book("BTC-USD")
    b.apply_snapshot(SNAP_BIDS, SNAP_OFFERS)
    return b


def test_snapshot_top_of_book(book):
    assert book.valid
    assert book.best_bid == (D("91234.55"), D("0.42"))
    assert book.best_ask == (D("91234.56"), D("0.05"))
    assert book.mid == D("91234.555")
    assert (book.bid_levels, book.ask_levels) == (2, 2)


def test_example_update_removes_offer_and_sets_bid(book):
    assert book.apply_update((("91234.55", "0.37000000"),), (("91234.56", "0"),))
    assert book.best_bid == (D("91234.55"), D("0.37"))
    assert book.best_ask == (D("91235.20"), D("2"))
    assert book.mid == D("91234.875")
    assert book.ask_levels == 1


def test_new_quantity_is_absolute_not_a_delta(book):
    book.apply_update((("91234.01", "3"),), ())
    book.apply_update((("91234.01", "2"),), ())
    assert book.levels("bid", 2) == [(D("91234.55"), D("0.42")), (D("91234.01"), D("2"))]


@pytest.mark.parametrize("zero", ["0", "0.00000000", "0E-8", "0.0", "-0", "000"])
def test_any_zero_form_removes_the_level(book, zero):
    book.apply_update((("91234.55", zero),), (("91235.20", zero),))
    assert book.valid
    assert book.best_bid == (D("91234.01"), D("1.1"))
    assert book.levels("ask", 5) == [(D("91234.56"), D("0.05"))]


def test_removing_an_absent_level_is_harmless(book):
    assert book.apply_update((("1.00", "0"),), ())
    assert (book.bid_levels, book.ask_levels) == (2, 2)


def test_price_text_forms_are_one_level(book):
    book.apply_update((("91234.5500", "7"),), ())
    assert book.bid_levels == 2
    assert book.best_bid == (D("91234.55"), D("7"))


def test_zero_sizes_in_a_snapshot_are_not_levels():
    b = L2Book("X")
    b.apply_snapshot((("10", "1"), ("9", "0E-8")), (("11", "0.000"),))
    assert (b.bid_levels, b.ask_levels) == (1, 0)


def test_nothing_applies_before_a_snapshot():
    b = L2Book("X")
    assert not b.valid
    assert b.apply_update((("10", "1"),), (("11", "1"),)) is False
    assert (b.bid_levels, b.ask_levels) == (0, 0)
    assert b.best_bid is None and b.best_ask is None and b.mid is None


def test_snapshot_replaces_every_level(book):
    book.apply_snapshot((("90000", "1"),), (("90010", "2"),))
    assert book.levels("bid", 10) == [(D("90000"), D("1"))]
    assert book.levels("ask", 10) == [(D("90010"), D("2"))]


def test_invalidate_clears_until_next_snapshot(book):
    book.invalidate()
    assert not book.valid
    assert (book.bid_levels, book.ask_levels) == (0, 0)
    assert book.apply_update((("91234.55", "1"),), ()) is False
    book.apply_snapshot(SNAP_BIDS, SNAP_OFFERS)
    assert book.valid and book.bid_levels == 2


def test_crossed_update_invalidates(book):
    book.apply_update((("91234.60", "1"),), ())  # bid above the best ask
    assert not book.valid
    assert book.best_bid is None


def test_locked_update_invalidates(book):
    book.apply_update((), (("91234.55", "1"),))  # ask at the best bid
    assert not book.valid


def test_crossed_snapshot_is_invalid():
    b = L2Book("X")
    b.apply_snapshot((("10", "1"),), (("9", "1"),))
    assert not b.valid


def test_one_sided_book_is_valid_without_mid():
    b = L2Book("X")
    b.apply_snapshot((("10", "1"),), ())
    assert b.valid and b.mid is None
    assert b.best_ask is None


@pytest.mark.parametrize(
    "bids, offers",
    [
        ((("abc", "1"),), ()),
        ((("10", "x"),), ()),
        ((("10", "NaN"),), ()),
        ((("10", "-1"),), ()),
        ((("0", "1"),), ()),
        ((("-5", "1"),), ()),
        ((), (("Infinity", "1"),)),
        ((("10", "Infinity"),), ()),
    ],
)
def test_bad_levels_raise_and_invalidate(book, bids, offers):
    with pytest.raises(BookCorrupt):
        book.apply_update(bids, offers)
    assert not book.valid
    fresh = L2Book("X")
    with pytest.raises(BookCorrupt):
        fresh.apply_snapshot(bids, offers)
    assert not fresh.valid


def test_levels_best_first_and_limited():
    b = L2Book("X")
    b.apply_snapshot((("97", "3"), ("99", "1"), ("98", "2")), (("103", "3"), ("101", "1"), ("102", "2")))
    assert b.levels("bid", 2) == [(D(99), D(1)), (D(98), D(2))]
    assert b.levels("ask", 2) == [(D(101), D(1)), (D(102), D(2))]
    assert b.levels("offer", 10) == [(D(101), D(1)), (D(102), D(2)), (D(103), D(3))]
    with pytest.raises(ValueError):
        b.levels("sell", 1)


def test_band_hand_worked():
    # bid 99, ask 101 -> mid 100; a 2% band is 2.00 wide: bids in [97, 99], asks in [101, 103]
    b = L2Book("X")
    b.apply_snapshot(
        (("99", "1"), ("98", "2"), ("97", "3"), ("96.99", "4")),
        (("101", "1"), ("103", "2"), ("103.01", "3")),
    )
    bids, asks = b.band(D("0.02"))
    assert bids == ((D(99), D(1)), (D(98), D(2)), (D(97), D(3)))
    assert asks == ((D(101), D(1)), (D(103), D(2)))


def test_band_of_one_sided_and_empty_books():
    b = L2Book("X")
    b.apply_snapshot((("100", "1"), ("95", "2"), ("94", "9")), ())
    assert b.band(D("0.05")) == (((D(100), D(1)), (D(95), D(2))), ())  # reference: best bid 100
    b.invalidate()
    assert b.band(D("0.05")) == ((), ())
