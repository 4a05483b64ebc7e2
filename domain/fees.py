"""The venue's fee on one fill: the one function the paper venue and the built-in exchange both
charge with, so `--venue sim` and `--venue exchange` report the same fee for the same fill.

Owns the rounding: notional times the maker or taker rate, rounded half-even to 1e-8 of the quote
currency (the finest step Coinbase's `commission` strings show; docs/COINBASE.md). Pure: must
never choose the rate (the caller knows the liquidity and the schedule) or round anything else.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

FEE_QUANTUM = Decimal("0.00000001")


def venue_fee(notional: Decimal, rate: Decimal) -> Decimal:
    """The fee of a fill of `notional` (quote currency) at `rate` (a fraction)."""
    return (notional * rate).quantize(FEE_QUANTUM, rounding=ROUND_HALF_EVEN)
