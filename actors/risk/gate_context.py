"""What the pre-trade gate judges an order against: the context execution assembles for one order,
a check's verdict, the reason codes (a contract: the report counts refusals by them), and the
facts every check reads, worked out once per order (`OrderFacts`).

Owns nothing that changes: frozen values and pure helpers. Must never read the clock, mutate the
order or its context, or know the limits (those are the gate's, actors.risk.gate).
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import msgspec

from domain.margin import Projection, project
from domain.market import LiquiditySnapshot
from domain.products import ProductSpec
from domain.quantize import QuantizedOrder

REFUSE_HALTED = "halted"
REFUSE_REDUCE_ONLY = "reduce_only"
REFUSE_REDUCING = "reducing"
REFUSE_RECOVERING = "recovering"
REFUSE_DISPUTED = "position_disputed"
REFUSE_STALE_BOOK = "stale_book"
REFUSE_MAX_POSITION = "max_position"
REFUSE_MAX_LEVERAGE = "max_leverage"
REFUSE_IMPACT = "impact"
REFUSE_NO_LIQUIDITY = "no_liquidity_data"
REFUSE_PRODUCT_STATUS = "product_status"
REFUSE_SLIPPAGE = "slippage"
REFUSE_LIQUIDATION_BUFFER = "liquidation_buffer"
REFUSE_MAX_EXPOSURE_PRODUCT = "max_exposure_product"
REFUSE_MAX_EXPOSURE_TOTAL = "max_exposure_total"
REFUSE_LIQUIDATION_DISTANCE = "liquidation_distance"
REFUSE_POST_ONLY = "post_only_would_cross"
REFUSE_LIMIT_ONLY = "limit_only"
REFUSE_POST_ONLY_REQUIRED = "post_only_required"

PASS, REFUSE, SKIP = "pass", "refuse", "skip"

_ZERO = Decimal(0)


class GateContext(msgspec.Struct, frozen=True):
    """What the gate needs to know about the world at the moment of one order."""

    state: str  # trading state: "ACTIVE", "REDUCING", "RECOVERING" or "HALTED"
    book_valid: bool
    book_stale: bool
    mark: Decimal | None  # quote per base unit
    position: Decimal  # signed, venue units (base for spot, contracts for futures)
    equity: Decimal  # quote
    other_gross_exposure: Decimal  # sum of |notional| over every other product, quote
    spec: ProductSpec
    liquidity: LiquiditySnapshot | None = None  # latest metrics of the product's book and tape
    tradable: bool = True  # False while the product's status is not "online"
    other_maintenance_margin: Decimal = _ZERO  # maintenance margin of every other product, quote
    open_reducing: Decimal = _ZERO  # unfilled size of live orders that reduce this position
    open_same_side: Decimal = _ZERO  # unfilled size of live orders on this order's side and product
    disputed: bool = False  # reconciliation found our position in this product different from the venue's
    now: float | None = None  # epoch seconds, for the night leverage window (None: day)
    best_bid: Decimal | None = None  # top of the book as last seen, for the post-only check
    best_ask: Decimal | None = None


class CheckVerdict(msgspec.Struct, frozen=True):
    """One check's verdict on one order: pass, refuse (with its reason code) or skip (with why)."""

    check: str
    verdict: str  # PASS / REFUSE / SKIP
    reason: str = ""  # the reason code when refused
    detail: str = ""


def projected_position(order: QuantizedOrder, position: Decimal) -> Decimal:
    return position + order.size if order.side == "BUY" else position - order.size


def increases_risk(position: Decimal, projected: Decimal) -> bool:
    """True unless the order moves the position toward zero without crossing it."""
    if projected == 0:
        return False
    same_side = (projected > 0) == (position > 0) and position != 0
    return not (same_side and abs(projected) < abs(position))


def in_window(now: float | None, start_hour: int, end_hour: int) -> bool:
    """True if `now` falls in [start_hour, end_hour) UTC; the window may wrap midnight; an empty
    window (start == end) or an unknown time is never in it."""
    if now is None or start_hour == end_hour:
        return False
    hour = datetime.fromtimestamp(now, tz=timezone.utc).hour
    if start_hour < end_hour:
        return start_hour <= hour < end_hour
    return hour >= start_hour or hour < end_hour


class OrderFacts:
    """What every check reads, worked out once per order."""

    __slots__ = ("order", "ctx", "explain", "base", "delta", "projected", "risky", "mark", "projection")

    def __init__(self, order: QuantizedOrder, ctx: GateContext, explain: bool) -> None:
        self.order, self.ctx = order, ctx
        self.explain = explain  # False on the hot path: a pass needs no words
        # The live orders on this side may all fill: the limits judge the position after them.
        pending = ctx.open_same_side if order.side == "BUY" else -ctx.open_same_side
        self.base = ctx.position + pending
        self.projected = projected_position(order, self.base)
        self.delta = self.projected - self.base
        self.risky = increases_risk(self.base, self.projected)
        mark = ctx.mark
        self.mark = mark if mark is not None and mark > 0 else None
        self.projection: Projection | None = None
        if self.mark is not None:
            self.projection = project(ctx.spec, self.base, self.delta, self.mark, ctx.equity,
                                      ctx.other_maintenance_margin)


PASSED = CheckVerdict("", PASS)  # what a check returns for a pass when no one will read why


def pct(value: Decimal) -> str:
    return f"{value:.2f}%"


def num(value: Decimal | None) -> str:
    """A limit as written: no exponent, no trailing zeros (1 / 0.1 is "10", not "1E+1")."""
    return "none" if value is None else format(value.normalize(), "f")
