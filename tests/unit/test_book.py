"""L2Book: absolute sizes, zero forms, validity, corruption checks, best-first queries."""

from __future__ import annotations

import random
from decimal import Decimal as D

import pytest

from actors.market_data.book import BookCorrupt, L2Book
from domain.market import L2Level

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


# ---------------------------------------------------------------- snapshots in any shape


def test_snapshot_listing_a_price_twice_keeps_the_later_size():
    b = L2Book("X")
    b.apply_snapshot((("10", "1"), ("9", "2"), ("10.00", "3")), (("11", "1"), ("11", "4")))
    assert b.levels("bid", 5) == [(D(10), D(3)), (D(9), D(2))]
    assert b.levels("ask", 5) == [(D(11), D(4))]


def test_snapshot_levels_in_any_order_come_out_best_first():
    b = L2Book("X")
    b.apply_snapshot((("8", "1"), ("10", "2"), ("9", "3")), (("13", "1"), ("12", "2"), ("11", "3")))
    assert b.levels("bid", 5) == [(D(10), D(2)), (D(9), D(3)), (D(8), D(1))]
    assert b.levels("ask", 5) == [(D(11), D(3)), (D(12), D(2)), (D(13), D(1))]
    assert b.best_bid == (D(10), D(2)) and b.best_ask == (D(11), D(3))


def test_a_zero_size_snapshot_level_is_not_read_at_all():
    b = L2Book("X")
    b.apply_snapshot((("not a price", "0"), ("10", "1")), ())
    assert b.valid and b.levels("bid", 5) == [(D(10), D(1))]


@pytest.mark.parametrize(
    "bids",
    [
        (("10", "1"), ("NaN", "1"), ("9", "1")),  # descending around the NaN
        (("8", "1"), ("10", "1"), ("9", "1"), ("NaN", "1")),  # unordered, NaN last
        (("NaN", "1"),),
        (("10", "1"), ("9", "NaN")),
    ],
)
def test_nan_anywhere_in_a_snapshot_is_corrupt(bids):
    b = L2Book("X")
    with pytest.raises(BookCorrupt):
        b.apply_snapshot(bids, ())
    assert not b.valid


# ---------------------------------------------------------------- contract books


@pytest.fixture
def perp() -> L2Book:
    b = L2Book("PERP", base_factor=D("0.01"))  # sizes in contracts of 0.01 base each
    b.apply_snapshot((("100000", "10"), ("99995", "3")), (("100005", "2"), ("100010", "4")))
    return b


def test_contract_book_keeps_venue_units_and_bands_in_base_units(perp):
    assert perp.levels("bid", 5) == [(D(100000), D(10)), (D(99995), D(3))]
    assert perp.band(D("0.05")) == (
        ((D(100000), D(10)), (D(99995), D(3))),
        ((D(100005), D(2)), (D(100010), D(4))),
    )
    assert perp.band(D("0.05"), base_units=True) == (
        ((D(100000), D("0.10")), (D(99995), D("0.03"))),
        ((D(100005), D("0.02")), (D(100010), D("0.04"))),
    )


def test_contract_book_updates_set_insert_and_remove_in_both_units(perp):
    perp.apply_update((("100000", "7"), ("99990", "5"), ("99995", "0")), (("100005", "0E-8"),))
    perp.apply_update((("99990", "5"),), (("100010", "0.0"), ("100015", "7")))  # a size text seen again
    assert perp.levels("bid", 5) == [(D(100000), D(7)), (D(99990), D(5))]
    assert perp.levels("ask", 5) == [(D(100015), D(7))]
    assert perp.band(D(1), base_units=True) == (
        ((D(100000), D("0.07")), (D(99990), D("0.05"))),
        ((D(100015), D("0.07")),),
    )


@pytest.mark.parametrize("size", ["-1", "NaN", "Infinity", "x"])
def test_contract_book_bad_size_raises_and_invalidates(perp, size):
    with pytest.raises(BookCorrupt):
        perp.apply_update((("100000", size),), ())
    assert not perp.valid and perp.band(D("0.05"), base_units=True) == ((), ())


# ---------------------------------------------------------------- invariants


def test_updates_match_a_plain_price_map_and_stay_sorted():
    import random

    rng = random.Random(11)
    b = L2Book("X")
    b.apply_snapshot((("100.00", "1"),), (("200.00", "1"),))
    model = {"bid": {D(100): D(1)}, "ask": {D(200): D(1)}}
    for _ in range(400):
        bids, asks = [], []
        for _ in range(rng.randint(1, 6)):
            side = rng.choice(("bid", "ask"))
            base = 100 if side == "bid" else 200
            price = D(base) + (D(rng.randint(-30, 0)) if side == "bid" else D(rng.randint(0, 30)))
            text = rng.choice((f"{price:.2f}", f"{price:.4f}", str(price)))
            size = rng.choice(("0", "0.000", "1", "2.5", "0.00000001"))
            (bids if side == "bid" else asks).append((text, size))
            if D(size):
                model[side][price] = D(size)
            else:
                model[side].pop(price, None)
        assert b.apply_update(tuple(bids), tuple(asks))
        assert b.levels("bid", 100) == sorted(model["bid"].items(), reverse=True)
        assert b.levels("ask", 100) == sorted(model["ask"].items())
        assert (b.bid_levels, b.ask_levels) == (len(model["bid"]), len(model["ask"]))


def test_mid_follows_the_top():
    b = L2Book("X")
    b.apply_snapshot((("99", "1"), ("98", "1")), (("101", "1"),))
    assert b.mid == D(100) and b.top() == (D(99), D(101), D(100))
    b.apply_update((("97", "1"),), ())  # below the top: same mid
    assert b.mid == D(100)
    b.apply_update((("99", "0"),), ())  # the best bid leaves: 98 is best
    assert b.top() == (D(98), D(101), D("99.5"))
    b.apply_update((), (("101", "0"),))  # one-sided
    assert b.top() == (D(98), None, None) and b.mid is None


@pytest.mark.parametrize("text, value", [("1E-8", D("0.00000001")), ("+2.5", D("2.5")), ("3.", D("3")),
                                         (".25", D("0.25")), ("0.37000000", D("0.37"))])
def test_every_decimal_spelling_of_a_size_reads_back_exactly(book, text, value):
    book.apply_update((("91234.55", text),), ())
    assert book.best_bid == (D("91234.55"), value)


@pytest.mark.parametrize("text", ["\\u00b2", "1.2.3", "", ".", "-0.5", "inf"])
def test_sizes_that_are_not_plain_non_negative_numbers_are_corrupt(book, text):
    with pytest.raises(BookCorrupt):
        book.apply_update((("91234.55", text.encode().decode("unicode_escape")),), ())
    assert not book.valid


@pytest.mark.parametrize("zero", ["-0", "0E-8", "+0.0"])
def test_unusual_zero_spellings_remove_the_level(book, zero):
    before = book.bid_levels
    book.apply_update(((book.best_bid[0].to_eng_string(), zero),), ())
    assert book.bid_levels == before - 1


# ---------------------------------------------------------------- float keys and the plain path


def _levels(rng: random.Random, n: int, spellings: bool) -> list[L2Level]:
    out = []
    for _ in range(n):
        cents = rng.randrange(9_990_000, 10_010_000)
        price = f"{cents // 100}.{cents % 100:02d}"
        if spellings and rng.random() < 0.3:
            price = price.rstrip("0").rstrip(".") if rng.random() < 0.5 else price + "0"  # same price, other text
        size = rng.choice(["0", "0.00000000", str(rng.randrange(1, 500) / 100)])
        out.append(L2Level(rng.choice(["bid", "offer"]), price, size))
    return out


def test_plain_levels_applied_unchecked_build_the_book_the_checked_path_builds():
    rng = random.Random(11)
    plain, checked = L2Book("X"), L2Book("X")
    snapshot = [lv for lv in _levels(rng, 200, True) if (lv.side == "bid") == (float(lv.price_level) < 100_000)]
    plain.apply(snapshot, True, plain=True)
    checked.apply(snapshot, True)
    for _ in range(300):
        # updates on one side of the mid each, so the book never crosses
        update = [lv for lv in _levels(rng, 6, True) if (lv.side == "bid") == (float(lv.price_level) < 100_000)]
        assert plain.apply(update, False, plain=True) and checked.apply(update, False)
        assert plain.valid and checked.valid
        for side in ("bid", "ask"):
            assert plain.levels(side, 10**6) == checked.levels(side, 10**6)
    assert plain.bid_levels > 20 and plain.ask_levels > 20  # the walk kept both sides busy


def test_a_price_spelled_twice_is_one_level_and_keeps_its_first_spelling(book):
    book.apply_update((("91234.5", "1"),), ())
    book.apply_update((("91234.50", "2"), ("91234.500", "3")), ())
    levels = [(str(p), s) for p, s in book.levels("bid", 10) if p == D("91234.5")]
    assert levels == [("91234.5", D("3"))]


@pytest.mark.parametrize("price", ["1234567890.1234567", "1E+19", "1E-19"])
def test_a_price_no_float_keys_exactly_is_corrupt(book, price):
    with pytest.raises(BookCorrupt):
        book.apply_update(((price, "1"),), ())
    assert not book.valid


def test_exponent_spellings_of_a_price_take_the_checked_path_and_order_by_value():
    b = L2Book("X")
    b.apply_snapshot((("1E+2", "1"), ("99.5", "1")), (("1.01E+2", "1"),))
    assert b.top() == (D(100), D(101), D("100.5"))
    b.apply_update((("100", "0"),), ())  # the same price as 1E+2: removes it
    assert b.best_bid == (D("99.5"), D(1))
