"""Venue numbers read as exact Decimals, or None."""

from decimal import Decimal

import pytest

from actors.venue.wire import finite_decimal


@pytest.mark.parametrize("text, value", [("91234.56", Decimal("91234.56")), ("0", Decimal(0)), ("1E-8", Decimal("1E-8")),
                                         (3, Decimal(3)), ("-2.5", Decimal("-2.5"))])
def test_numbers(text, value):
    assert finite_decimal(text) == value


@pytest.mark.parametrize("text", ["", "abc", "NaN", "Infinity", "-inf", None, "1.2.3"])
def test_not_numbers(text):
    assert finite_decimal(text) is None
