"""Decimals from the wire: the one rule every number a feed or a venue sends is read by.

Owns what a sane wire decimal is: plain (`91234.55`) or exponent (`1E-8`) notation in ASCII, at
most MAX_CHARS characters, finite, under 10**MAX_INT_DIGITS in magnitude, no finer than
10**-MAX_FRAC_DIGITS, and not negative where the field cannot be (prices, sizes); the cheap
shape test hot paths run before any Decimal is built (`plain`); and the exact Decimal of a text
that passes (`finite_decimal`).
Must never raise on bad input (the answer is None, False or a reason), return a float, round or
guess a value, or import a module of this project: streaming and venue code both import it.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

MAX_INT_DIGITS = 15  # magnitude < 1e15: beyond any price, size or USD amount this bot can meet
# Nothing finer than 1e-40. Increments stop at 1e-8, but a venue's averages are quotients written
# to 28 significant digits ("37116.90857142857142857142857"; at a price of 1e-8, 36 places).
MAX_FRAC_DIGITS = 40
MAX_CHARS = 64  # longer text is refused before it is parsed (5,000 nines never reach Decimal)
# Plain text of at most this many characters is inside both digit limits by its length alone.
FAST_CHARS = 15
_CHARS = frozenset("0123456789.eE+-")

# Reasons (`why_not`), fixed words: they name a malformed frame's kind in logs and counters.
NOT_TEXT = "not a number"
TOO_LONG = "too long"
NOT_DECIMAL = "not a decimal"
NOT_FINITE = "not finite"
NEGATIVE = "negative"
TOO_LARGE = "too large"
TOO_FINE = "too fine"


def plain(text: str) -> bool:
    """The usual spelling, tested without building a Decimal: 1 to FAST_CHARS ASCII digits with at
    most one point, so sane and never negative. False only says "not the usual spelling": ask
    `why_not` (hot loops inline this same test; keep them in step)."""
    return len(text) <= FAST_CHARS and text.isascii() and text.replace(".", "", 1).isdigit()


def why_not(text: Any, nonneg: bool = False) -> str | None:
    """None when `text` is a sane wire decimal (`nonneg`: and not negative), else the reason, one
    of the fixed words above. JSON numbers (int, float) are read through their text."""
    if type(text) is not str:
        if isinstance(text, bool) or not isinstance(text, (int, float)):
            return NOT_TEXT
        text = str(text)
    if len(text) > MAX_CHARS:
        return TOO_LONG
    if plain(text):
        return None
    if not text or not _CHARS.issuperset(text):  # NaN, Infinity, spaces, "_", non-ASCII digits
        return NOT_DECIMAL
    try:
        value = Decimal(text)
    except InvalidOperation:
        return NOT_DECIMAL
    if not value.is_finite():
        return NOT_FINITE
    if nonneg and value < 0:
        return NEGATIVE
    if value.adjusted() >= MAX_INT_DIGITS:  # the exponent of its leading digit (zero's own, too)
        return TOO_LARGE
    if value.as_tuple().exponent < -MAX_FRAC_DIGITS:  # type: ignore[operator]  # finite: an int
        return TOO_FINE
    return None


def sane(text: Any, nonneg: bool = False) -> bool:
    return why_not(text, nonneg) is None


def finite_decimal(text: Any, nonneg: bool = False) -> Decimal | None:
    """`text` as an exact Decimal, None when it is not a sane wire decimal (see `why_not`)."""
    if type(text) is str and plain(text):
        return Decimal(text)
    if why_not(text, nonneg) is not None:
        return None
    return Decimal(text if type(text) is str else str(text))


def describe(text: Any, limit: int = 24) -> str:
    """A short repr of a bad value for a log line: never the whole of a 10 MB string."""
    if isinstance(text, str) and len(text) > limit:
        return f"{text[:limit]!r}... ({len(text)} chars)"
    return repr(text)
