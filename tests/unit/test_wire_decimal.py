"""The one rule for decimals from the wire: sane ones read exactly, anything else refused, never raised."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from actors.wire import decimals as wd
from actors.wire.decimals import describe, finite_decimal, plain, sane, why_not


@pytest.mark.parametrize("text, value", [
    ("91234.56", Decimal("91234.56")), ("0", Decimal(0)), ("0.00000000", Decimal(0)), ("1E-8", Decimal("1E-8")),
    ("0E-8", Decimal(0)), ("5.", Decimal(5)), (".5", Decimal("0.5")), ("-2.5", Decimal("-2.5")), (3, Decimal(3)),
    ("999999999999999", Decimal("999999999999999")), ("0." + "0" * 39 + "1", Decimal("1E-40")),
    ("37116.90857142857142857142857", Decimal("37116.90857142857142857142857")),  # a venue's average
    ("1.5E+14", Decimal("1.5E+14")), ("00000000000000000001.5", Decimal("1.5")),
])
def test_sane_numbers_read_exactly(text, value):
    got = finite_decimal(text)
    assert got == value and str(got) == str(Decimal(str(text)))  # the very spelling, not a rounding


@pytest.mark.parametrize("text, reason", [
    ("9" * 5000, wd.TOO_LONG),
    ("1" * 65, wd.TOO_LONG),
    ("0." + "9" * 5000, wd.TOO_LONG),
    ("1e999999999", wd.TOO_LARGE),
    ("1E15", wd.TOO_LARGE),
    ("1000000000000000", wd.TOO_LARGE),  # 16 integer digits
    ("0E+999999999", wd.TOO_LARGE),
    ("1e-999999999", wd.TOO_FINE),
    ("0." + "0" * 40 + "1", wd.TOO_FINE),  # 41 fractional digits
    ("1E-41", wd.TOO_FINE),
    ("0E-999999999", wd.TOO_FINE),
    ("NaN", wd.NOT_DECIMAL), ("nan", wd.NOT_DECIMAL), ("sNaN", wd.NOT_DECIMAL),
    ("Infinity", wd.NOT_DECIMAL), ("-inf", wd.NOT_DECIMAL),
    ("", wd.NOT_DECIMAL), (".", wd.NOT_DECIMAL), ("1.2.3", wd.NOT_DECIMAL), ("abc", wd.NOT_DECIMAL),
    (" 5", wd.NOT_DECIMAL), ("1_000", wd.NOT_DECIMAL), ("\u0661\u0662", wd.NOT_DECIMAL), ("1e", wd.NOT_DECIMAL),
    ("1e999999999999999999999999999", wd.NOT_DECIMAL),  # an exponent Decimal itself cannot hold
    (None, wd.NOT_TEXT), (True, wd.NOT_TEXT), ([1], wd.NOT_TEXT),
    (1e300, wd.TOO_LARGE), (float("nan"), wd.NOT_DECIMAL), (float("inf"), wd.NOT_DECIMAL),
])
def test_anything_else_is_refused_with_its_reason(text, reason):
    assert why_not(text) == reason
    assert finite_decimal(text) is None and not sane(text)


@pytest.mark.parametrize("text", ["-5", "-0.00000001", "-1E-8"])
def test_negative_is_refused_only_where_the_field_cannot_be(text):
    assert why_not(text) is None
    assert why_not(text, nonneg=True) == wd.NEGATIVE and finite_decimal(text, nonneg=True) is None


def test_negative_zero_is_zero_not_negative():
    assert finite_decimal("-0", nonneg=True) == 0


def test_the_fast_test_never_accepts_what_the_full_rule_refuses():
    rng = random.Random(7)
    alphabet = "0123456789.eE+-N a_\u0661"
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 18)))
        if plain(text):
            assert why_not(text, nonneg=True) is None, text
    for text in ("88888.19", "0.02900422", "0", "123456789012345", "1234567.1234567"):
        assert plain(text)
    for text in ("1234567890123456", "1e5", "-1", ".", "", "\u0661"):
        assert not plain(text)


def test_describe_never_repeats_a_huge_value():
    assert describe("9" * 10_000_000).endswith("(10000000 chars)") and len(describe("9" * 10_000_000)) < 60
    assert describe("NaN") == "'NaN'"
