"""The market-impact estimate of an order and the guard execution applies to it.

Owns the exact definition, in basis points, for an order of `notional` quote currency:
  base_bps = sqrt(notional / max(volume_15m, 1,000)) x 100
  x sqrt(notional / depth_5pct)        when notional > depth_5pct (the order eats through the band)
  x (1 + spread_bps / 1,000)
  x condition factor                   excellent 0.5, good 1.0, fair 1.5, poor 2.0, critical 3.0
Depth below one quote unit (an empty band) counts as one quote unit: the book is as thin as it can
be measured, so an order of N quote units is charged x sqrt(N).
All arithmetic runs in one fixed 28-digit context (square roots correctly rounded), so the result
never depends on the caller's decimal context.
Must never: use floats, keep state, or decide anything beyond the estimate and the one threshold.
"""

from __future__ import annotations

from decimal import Context, Decimal

_CTX = Context(prec=28)
_ZERO = Decimal(0)
_ONE = Decimal(1)
_HUNDRED = Decimal(100)
MIN_VOLUME_15M = Decimal(1_000)  # quote currency: a quiet tape counts as this much
MIN_DEPTH_5PCT = Decimal(1)  # quote currency: an empty band counts as this much
_SPREAD_SCALE = Decimal(1_000)
DEFAULT_MAX_IMPACT_BPS = Decimal(50)
IMPACT_REASON = "impact"

CONDITION_FACTORS: dict[str, Decimal] = {
    "excellent": Decimal("0.5"),
    "good": Decimal("1.0"),
    "fair": Decimal("1.5"),
    "poor": Decimal("2.0"),
    "critical": Decimal("3.0"),
}


def estimate_impact_bps(
    notional: Decimal,
    volume_15m: Decimal,
    depth_5pct: Decimal,
    spread_bps: Decimal,
    condition: str,
) -> Decimal:
    """Estimated impact in bps of an order of `notional` quote currency (0 for a zero order)."""
    if notional < 0:
        raise ValueError(f"notional must not be negative, got {notional}")
    try:
        condition_factor = CONDITION_FACTORS[condition]
    except KeyError:
        raise ValueError(f"unknown liquidity condition {condition!r}") from None
    if notional == 0:
        return _ZERO
    c = _CTX
    volume = max(volume_15m, MIN_VOLUME_15M)
    impact = c.multiply(c.sqrt(c.divide(notional, volume)), _HUNDRED)
    depth = max(depth_5pct, MIN_DEPTH_5PCT)
    if notional > depth:
        impact = c.multiply(impact, c.sqrt(c.divide(notional, depth)))
    impact = c.multiply(impact, c.add(_ONE, c.divide(spread_bps, _SPREAD_SCALE)))
    return c.multiply(impact, condition_factor)


def impact_guard(estimate_bps: Decimal, max_bps: Decimal = DEFAULT_MAX_IMPACT_BPS) -> str | None:
    """The rejection reason "impact" when the estimate exceeds the maximum, else None."""
    return IMPACT_REASON if estimate_bps > max_bps else None
