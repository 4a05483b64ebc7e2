"""Numbers as venues write them: wire text to an exact Decimal.

Owns the one rule the bot's venue code reads numbers by: a finite Decimal, or None for anything
that is not one (text that does not parse, NaN, infinities). Must never return a float, guess a
value for bad text, or raise.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any


def finite_decimal(text: Any) -> Decimal | None:
    """`text` as a finite Decimal, None when it is not one (a venue field that does not parse)."""
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None
