"""Margin projections: what one product's position does to the account's margins, now or after a trade.

Owns the cross-margin arithmetic the pre-trade gate needs before an order exists:
  maintenance(size, mark)  = |size| x contract_size x mark x maintenance_margin_rate
  buffer_pct               = (equity - maintenance of every position) / equity x 100
  liquidation price p      : the mark of this product at which equity falls to the maintenance
                             margin, other marks unchanged. Equity moves with the mark by
                             size x contract_size x (p - mark), so
                             E + s x cs x (p - m) = MM_others + mmr x |s| x cs x p
                             p = (MM_others - E + s x cs x m) / (cs x (s - mmr x |s|))
A trade is projected as filled at the mark (fees and the spread left out): equity is unchanged,
the position becomes `position + delta`. With no trade this is `Ledger.liquidation_price` (the
ledger's entry cost cancels out). Pure, exact Decimal. Must never read the clock, hold state or
decide anything (the gate compares these numbers with its limits).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from domain.products import ProductSpec

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)


class Projection(msgspec.Struct, frozen=True):
    """One product's position after a trade, and the account around it."""

    size: Decimal  # signed venue units after the trade
    notional: Decimal  # |size| x contract_size x mark, quote
    maintenance: Decimal  # maintenance margin of every position after the trade, quote
    buffer_pct: Decimal | None  # (equity - maintenance) / equity x 100; None when equity <= 0
    liquidation_price: Decimal | None  # None: flat, spot, or no positive price liquidates

    def liquidation_distance_pct(self, mark: Decimal) -> Decimal | None:
        """|mark - liquidation price| / mark x 100; None when there is no liquidation price."""
        if self.liquidation_price is None or mark <= 0:
            return None
        return abs(mark - self.liquidation_price) / mark * _HUNDRED


def maintenance_margin(spec: ProductSpec, size: Decimal, mark: Decimal) -> Decimal:
    return abs(spec.notional(size, mark)) * spec.maintenance_margin_rate


def liquidation_price(spec: ProductSpec, size: Decimal, mark: Decimal, equity: Decimal,
                      others_maintenance: Decimal) -> Decimal | None:
    """The mark of `spec`'s product at which `equity` (marked at `mark`) meets the maintenance
    margin of every position (cross margin). None when flat, not liquidatable or not positive."""
    mmr, cs = spec.maintenance_margin_rate, spec.contract_size
    if size == 0 or mmr <= 0:
        return None
    denominator = cs * (size - mmr * abs(size))
    if denominator == 0:
        return None
    price = (others_maintenance - equity + size * cs * mark) / denominator
    return price if price > 0 else None


def project(spec: ProductSpec, position: Decimal, delta: Decimal, mark: Decimal, equity: Decimal,
            others_maintenance: Decimal) -> Projection:
    """The account after `delta` (signed venue units) of `spec`'s product fills at `mark`.
    `others_maintenance` is the maintenance margin of every other product's position."""
    size = position + delta
    maintenance = others_maintenance + maintenance_margin(spec, size, mark)
    buffer = (equity - maintenance) / equity * _HUNDRED if equity > 0 else None
    return Projection(
        size=size,
        notional=abs(spec.notional(size, mark)),
        maintenance=maintenance,
        buffer_pct=buffer,
        liquidation_price=liquidation_price(spec, size, mark, equity, others_maintenance),
    )
