"""The pre-trade gate: the last pure check between a quantized order and the venue.

Owns the ordered risk checks and their reason codes: trading state, product status (no new risk
on a product the `status` channel does not call online), book health, the impact
guard (estimated market impact of the order from the product's liquidity snapshot), the
per-product position limit and the account leverage limit. A pure function of the order and a context the
execution actor assembles from the latest book status and portfolio report. Must never mutate
anything, read the clock, or resize an order (it passes or refuses; sizing is the strategy's job).

Orders that only reduce an existing position (same side of zero, smaller) pass every check but
the trading state HALTED: product status, book health and limits, so a position above its limit
after a price move, on a product that went offline, or while its book resyncs, can still be
brought down.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from actors.execution.quantize import QuantizedOrder
from actors.liquidity.impact import impact_guard
from actors.liquidity.messages import LiquiditySnapshot
from actors.orchestrator.messages import HALTED, REDUCING
from actors.products import ProductSpec

REFUSE_HALTED = "halted"
REFUSE_REDUCING = "reducing"
REFUSE_STALE_BOOK = "stale_book"
REFUSE_MAX_POSITION = "max_position"
REFUSE_MAX_LEVERAGE = "max_leverage"
REFUSE_IMPACT = "impact"
REFUSE_NO_LIQUIDITY = "no_liquidity_data"
REFUSE_PRODUCT_STATUS = "product_status"


class GateContext(msgspec.Struct, frozen=True):
    """What the gate needs to know about the world at the moment of one order."""

    state: str  # trading state: "ACTIVE", "REDUCING" or "HALTED"
    book_valid: bool
    book_stale: bool
    mark: Decimal | None  # quote per base unit
    position: Decimal  # signed, venue units (base for spot, contracts for futures)
    equity: Decimal  # quote
    other_gross_exposure: Decimal  # sum of |notional| over every other product, quote
    spec: ProductSpec
    liquidity: LiquiditySnapshot | None = None  # latest metrics of the product's book and tape
    tradable: bool = True  # False while the product's status is not "online"


def projected_position(order: QuantizedOrder, position: Decimal) -> Decimal:
    return position + order.size if order.side == "BUY" else position - order.size


def increases_risk(position: Decimal, projected: Decimal) -> bool:
    """True unless the order moves the position toward zero without crossing it."""
    if projected == 0:
        return False
    same_side = (projected > 0) == (position > 0) and position != 0
    return not (same_side and abs(projected) < abs(position))


class PreTradeGate:
    """Refuses orders that break the configured limits; see the module docstring for the order."""

    def __init__(self, max_position_notional: Decimal, max_leverage: Decimal,
                 max_impact_bps: Decimal | None = None) -> None:
        self.max_position_notional = max_position_notional
        self.max_leverage = max_leverage
        self.max_impact_bps = max_impact_bps  # None: no impact guard

    @classmethod
    def from_config(cls, cfg: Any) -> PreTradeGate:
        """From a `config.schema.ExecutionConfig`."""
        return cls(cfg.max_position_notional, cfg.max_leverage, cfg.max_impact_bps)

    def check(self, order: QuantizedOrder, ctx: GateContext) -> str | None:
        """None if `order` may go to the venue, else the reason code of the first failed check."""
        projected = projected_position(order, ctx.position)
        risky = increases_risk(ctx.position, projected)

        if ctx.state == HALTED:
            return REFUSE_HALTED
        if ctx.state == REDUCING and risky:
            return REFUSE_REDUCING
        if risky and not ctx.tradable:
            return REFUSE_PRODUCT_STATUS
        if not risky:
            return None
        mark = ctx.mark
        if not ctx.book_valid or ctx.book_stale or mark is None or not mark > 0:
            return REFUSE_STALE_BOOK
        if self.max_impact_bps is not None:
            if ctx.liquidity is None:
                return REFUSE_NO_LIQUIDITY
            estimate = ctx.liquidity.impact_bps(abs(ctx.spec.notional(order.size, mark)))
            if impact_guard(estimate, self.max_impact_bps) is not None:
                return REFUSE_IMPACT

        exposure = abs(ctx.spec.notional(projected, mark))
        if exposure > self.max_position_notional:
            return REFUSE_MAX_POSITION
        gross = ctx.other_gross_exposure + exposure
        if ctx.equity <= 0 or gross > self.max_leverage * ctx.equity:
            return REFUSE_MAX_LEVERAGE
        return None
