"""The pre-trade gate: the last pure check between a quantized order and the venue.

Owns the ordered risk checks and their reason codes (a contract: the report counts refusals by
them). In order, the first refusal wins:
   1 halted              the kill switch: trading state HALTED refuses everything
   2 reduce_only         an order marked reduce-only must shrink the position without flipping it,
                         counting the live orders that already reduce it
   3 post_only           a post-only limit that would cross the book as last seen (a BUY at or
                         above the best ask, a SELL at or below the best bid): the venue would
                         reject it, so it is not sent (skipped when the book is not valid)
   4 product_mode        the venue's mode for the product (products endpoint): no order at all
                         while trading is disabled or cancel-only (product_status), no market
                         order while limit-only (limit_only), only post-only orders while
                         post-only (post_only_required)
   5 reducing            trading state REDUCING refuses risk-increasing orders; RECOVERING (a
                         start rebuilt from the journal, not yet confirmed by the venue) refuses
                         every order (reason `recovering`); a product whose position
                         reconciliation found different from the venue's refuses every order
                         (reason `position_disputed`) until an operator decides
   6 product_status      no new risk on a product the `status` channel does not call online
   7 stale_book          no new risk on an invalid or stale book, or without a mark
   8 impact              estimated market impact of the order (no_liquidity_data without metrics)
   9 slippage            a limit price worse than the reference by more than max_slippage_bps: a
                         BUY above mark x (1 + bps), a SELL below mark x (1 - bps); a stop-limit's
                         reference is its own stop price (it trades when the mark gets there)
  10 max_position        |projected position| notional per product, quote currency
  11 max_leverage        projected product notional / equity under the product's cap (its night
                         cap inside the UTC night window; default the venue's 1 / initial margin),
                         then projected gross exposure / equity under the account cap
  12 liquidation_buffer  projected (equity - maintenance margin) / equity, percent
  13 max_exposure_product projected product notional, percent of equity
  14 max_exposure_total  projected gross exposure, percent of equity
  15 liquidation_distance projected |mark - liquidation price| / mark, percent (liquidatable only)
Checks 5-15 judge the position as it will be once the live orders on the order's side have filled
(`open_same_side`), so orders sent one after another cannot together pass a limit each passes alone.
Orders that only reduce a position (same side of zero, smaller) pass checks 6-15, so a position
above its limits after a price move, on a product that went offline, or while its book resyncs
can still be brought down. Projections assume a fill at the mark (domain.margin).

Risk owns these rules; execution calls the gate in its own thread (no extra hop), with a context
(actors.risk.gate_context) it assembles from the latest book
status, liquidity snapshot, open orders and portfolio update. `check()` stops at the first refusal
(the hot path); `verdicts()` evaluates every check for `orders preview`. Must never mutate
anything, read the clock, or resize an order (it passes or refuses; sizing is the strategy's job).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from actors.risk.gate_context import (
    PASS,
    PASSED,
    REFUSE,
    REFUSE_DISPUTED,
    REFUSE_HALTED,
    REFUSE_IMPACT,
    REFUSE_LIMIT_ONLY,
    REFUSE_LIQUIDATION_BUFFER,
    REFUSE_LIQUIDATION_DISTANCE,
    REFUSE_MAX_EXPOSURE_PRODUCT,
    REFUSE_MAX_EXPOSURE_TOTAL,
    REFUSE_MAX_LEVERAGE,
    REFUSE_MAX_POSITION,
    REFUSE_NO_LIQUIDITY,
    REFUSE_POST_ONLY,
    REFUSE_POST_ONLY_REQUIRED,
    REFUSE_PRODUCT_STATUS,
    REFUSE_RECOVERING,
    REFUSE_REDUCE_ONLY,
    REFUSE_REDUCING,
    REFUSE_SLIPPAGE,
    REFUSE_STALE_BOOK,
    SKIP,
    CheckVerdict,
    GateContext,
    OrderFacts,
    in_window,
    num,
    pct,
)
from domain.control import HALTED, RECOVERING, REDUCING
from domain.impact import impact_guard
from domain.products import ProductSpec
from domain.quantize import QuantizedOrder

Check = Callable[["PreTradeGate", OrderFacts], CheckVerdict]

_ONE = Decimal(1)
_HUNDRED = Decimal(100)
_BPS = Decimal(10_000)


class PreTradeGate:
    """Refuses orders that break the configured limits; see the module docstring for the order.
    A limit left None turns its check off (verdict "skip")."""

    def __init__(self, max_position_notional: Decimal, max_leverage: Decimal,
                 max_impact_bps: Decimal | None = None, *,
                 max_slippage_bps: Decimal | None = None,
                 liquidation_buffer_pct: Decimal | None = None,
                 max_exposure_product_pct: Decimal | None = None,
                 max_exposure_total_pct: Decimal | None = None,
                 min_liquidation_distance_pct: Decimal | None = None,
                 product_max_leverage: dict[str, Decimal] | None = None,
                 product_max_leverage_night: dict[str, Decimal] | None = None,
                 night_hours_utc: tuple[int, int] = (0, 0)) -> None:
        self.max_position_notional = max_position_notional
        self.max_leverage = max_leverage
        self.max_impact_bps = max_impact_bps  # None: no impact guard
        self.max_slippage_bps = max_slippage_bps
        self.liquidation_buffer_pct = liquidation_buffer_pct
        self.max_exposure_product_pct = max_exposure_product_pct
        self.max_exposure_total_pct = max_exposure_total_pct
        self.min_liquidation_distance_pct = min_liquidation_distance_pct
        # None: no per-product cap. A dict (maybe empty): listed caps, the venue's for the rest.
        self.product_max_leverage = product_max_leverage
        self.product_max_leverage_night = product_max_leverage_night or {}
        self.night_hours_utc = night_hours_utc

    @classmethod
    def from_config(cls, cfg: Any, risk: Any = None) -> PreTradeGate:
        """From a `config.schema.ExecutionConfig` and a `RiskConfig` (default: its defaults)."""
        if risk is None:
            from config.schema import RiskConfig

            risk = RiskConfig()
        return cls(
            cfg.max_position_notional, cfg.max_leverage, cfg.max_impact_bps,
            max_slippage_bps=risk.max_slippage_bps,
            liquidation_buffer_pct=risk.liquidation_buffer_pct,
            max_exposure_product_pct=risk.max_exposure_product_pct,
            max_exposure_total_pct=risk.max_exposure_total_pct,
            min_liquidation_distance_pct=risk.min_liquidation_distance_pct,
            product_max_leverage=dict(risk.product_max_leverage),
            product_max_leverage_night=dict(risk.product_max_leverage_night),
            night_hours_utc=(risk.night_start_hour_utc, risk.night_end_hour_utc),
        )

    def check(self, order: QuantizedOrder, ctx: GateContext) -> str | None:
        """None if `order` may go to the venue, else the reason code of the first failed check."""
        facts = OrderFacts(order, ctx, explain=False)
        for check, risky_only in CHECKS:
            if risky_only and not facts.risky:
                return None
            verdict = check(self, facts)
            if verdict.verdict == REFUSE:
                return verdict.reason
        return None

    def verdicts(self, order: QuantizedOrder, ctx: GateContext) -> tuple[CheckVerdict, ...]:
        """Every check's verdict, in order, without stopping at a refusal (for `orders preview`)."""
        facts = OrderFacts(order, ctx, explain=True)
        out = []
        for check, risky_only in CHECKS:
            if risky_only and not facts.risky:
                out.append(CheckVerdict(check.__name__.removeprefix("_check_"), SKIP,
                                        detail="the order only reduces the position"))
            else:
                out.append(check(self, facts))
        return tuple(out)

    def leverage_cap(self, spec: ProductSpec, now: float | None) -> tuple[Decimal | None, str]:
        """The product's leverage cap at `now` and where it comes from (None: no product cap)."""
        if self.product_max_leverage is None:
            return None, "off"
        pid = spec.product_id
        start, end = self.night_hours_utc
        if pid in self.product_max_leverage_night and in_window(now, start, end):
            return self.product_max_leverage_night[pid], f"night cap ({start:02d}-{end:02d} UTC)"
        if pid in self.product_max_leverage:
            return self.product_max_leverage[pid], "day cap"
        if spec.initial_margin_rate > 0:
            return _ONE / spec.initial_margin_rate, "venue cap (1 / initial margin)"
        return None, "off"


# -- the checks, in order -------------------------------------------------------------------


def _check_halted(gate: PreTradeGate, f: OrderFacts) -> CheckVerdict:
    if f.ctx.state == HALTED:
        return CheckVerdict("halted", REFUSE, REFUSE_HALTED, "trading is HALTED")
    return CheckVerdict("halted", PASS, detail=f"trading is {f.ctx.state}") if f.explain else PASSED


def _check_reduce_only(gate: PreTradeGate, f: OrderFacts) -> CheckVerdict:
    if not f.order.reduce_only:
        return CheckVerdict("reduce_only", PASS, detail="not reduce-only") if f.explain else PASSED
    position, size = f.ctx.position, f.order.size
    reduces_side = (position > 0 and f.order.side == "SELL") or (position < 0 and f.order.side == "BUY")
    room = abs(position) - f.ctx.open_reducing
    if not reduces_side:
        return CheckVerdict("reduce_only", REFUSE, REFUSE_REDUCE_ONLY,
                            f"{f.order.side} does not reduce position {position}")
    if size > room:
        return CheckVerdict("reduce_only", REFUSE, REFUSE_REDUCE_ONLY,
                            f"{size} would flip position {position} (live reducing orders {f.ctx.open_reducing})")
    return CheckVerdict("reduce_only", PASS, detail=f"{position} -> {f.projected}") if f.explain else PASSED


def _check_reducing(gate: PreTradeGate, f: OrderFacts) -> CheckVerdict:
    if f.ctx.state == RECOVERING:
        return CheckVerdict("reducing", REFUSE, REFUSE_RECOVERING,
                            "trading is RECOVERING: nothing goes out until the venue confirmed the journal")
    if f.ctx.disputed:  # "reducing" a position we do not know could open one at the venue
        return CheckVerdict("reducing", REFUSE, REFUSE_DISPUTED,
                            "the position differs from the venue's: nothing goes out on it until an operator decides")
    if f.ctx.state == REDUCING and f.risky:
        return CheckVerdict("reducing", REFUSE, REFUSE_REDUCING,
                            f"trading is REDUCING and {f.base} -> {f.projected} adds risk")
    return CheckVerdict("reducing", PASS, detail=f"{f.base} -> {f.projected}") if f.explain else PASSED


def _check_product_status(gate: PreTradeGate, f: OrderFacts) -> CheckVerdict:
    if not f.ctx.tradable:
        return CheckVerdict("product_status", REFUSE, REFUSE_PRODUCT_STATUS, "the product is not online")
    return CheckVerdict("product_status", PASS, detail="online") if f.explain else PASSED


def _check_stale_book(gate: PreTradeGate, f: OrderFacts) -> CheckVerdict:
    ctx = f.ctx
    if not ctx.book_valid or ctx.book_stale or f.mark is None:
        why = "book invalid" if not ctx.book_valid else "book stale" if ctx.book_stale else "no mark"
        return CheckVerdict("stale_book", REFUSE, REFUSE_STALE_BOOK, why)
    return CheckVerdict("stale_book", PASS, detail=f"mark {f.mark}") if f.explain else PASSED


def _judge(f: OrderFacts, name: str, refused: bool, reason: str, detail: Callable[[], str]) -> CheckVerdict:
    """The verdict of one comparison; the words are worked out only when someone reads them."""
    if refused:
        return CheckVerdict(name, REFUSE, reason, detail())
    return CheckVerdict(name, PASS, detail=detail()) if f.explain else PASSED


def _check_impact(gate: PreTradeGate, f: OrderFacts) -> CheckVerdict:
    limit = gate.max_impact_bps
    if limit is None:
        return CheckVerdict("impact", SKIP, detail="off")
    if f.ctx.liquidity is None:
        return CheckVerdict("impact", REFUSE, REFUSE_NO_LIQUIDITY, "no liquidity metrics for the product")
    if f.mark is None:
        return CheckVerdict("impact", SKIP, detail="no mark")
    estimate = f.ctx.liquidity.impact_bps(abs(f.ctx.spec.notional(f.order.size, f.mark)))
    return _judge(f, "impact", impact_guard(estimate, limit) is not None, REFUSE_IMPACT,
                  lambda: f"estimated {estimate:.2f} bps, max {limit}")


def _check_slippage(gate: PreTradeGate, f: OrderFacts) -> CheckVerdict:
    order, limit = f.order, gate.max_slippage_bps
    if limit is None:
        return CheckVerdict("slippage", SKIP, detail="off")
    if order.limit_price is None:
        return CheckVerdict("slippage", SKIP, detail="no limit price (market order: see impact)")
    stop = order.stop_price if order.order_type == "stop_limit" else None
    reference, name = (stop, "stop") if stop is not None else (f.mark, "mark")
    if reference is None:
        return CheckVerdict("slippage", SKIP, detail="no mark")
    price, buy = order.limit_price, order.side == "BUY"
    worse = price > reference * (_ONE + limit / _BPS) if buy else price < reference * (_ONE - limit / _BPS)

    def detail() -> str:
        off_bps = (price - reference if buy else reference - price) / reference * _BPS
        how = "worse" if off_bps > 0 else "better"
        return f"{order.side} limit {price} is {abs(off_bps):.1f} bps {how} than {name} {reference}, max {limit} worse"
    return _judge(f, "slippage", worse, REFUSE_SLIPPAGE, detail)


def _check_max_position(gate: PreTradeGate, f: OrderFacts) -> CheckVerdict:
    if f.projection is None:
        return CheckVerdict("max_position", SKIP, detail="no mark")
    exposure, limit = f.projection.notional, gate.max_position_notional
    return _judge(f, "max_position", exposure > limit, REFUSE_MAX_POSITION,
                  lambda: f"projected notional {exposure}, max {limit}")


def _check_max_leverage(gate: PreTradeGate, f: OrderFacts) -> CheckVerdict:
    ctx, p = f.ctx, f.projection
    if p is None:
        return CheckVerdict("max_leverage", SKIP, detail="no mark")
    equity = ctx.equity
    if equity <= 0:
        return CheckVerdict("max_leverage", REFUSE, REFUSE_MAX_LEVERAGE, f"equity {equity} is not positive")
    cap, source = gate.leverage_cap(ctx.spec, ctx.now)
    if cap is not None and p.notional > cap * equity:
        return CheckVerdict("max_leverage", REFUSE, REFUSE_MAX_LEVERAGE,
                            f"product leverage {p.notional / equity:.2f}x over the {source} {num(cap)}x")
    gross = ctx.other_gross_exposure + p.notional
    return _judge(f, "max_leverage", gross > gate.max_leverage * equity, REFUSE_MAX_LEVERAGE,
                  lambda: f"product {p.notional / equity:.2f}x (cap {num(cap)}x, {source}),"
                          f" account {gross / equity:.2f}x (cap {num(gate.max_leverage)}x)")


def _check_liquidation_buffer(gate: PreTradeGate, f: OrderFacts) -> CheckVerdict:
    minimum, p = gate.liquidation_buffer_pct, f.projection
    if minimum is None:
        return CheckVerdict("liquidation_buffer", SKIP, detail="off")
    if p is None:
        return CheckVerdict("liquidation_buffer", SKIP, detail="no mark")
    buffer = p.buffer_pct
    if buffer is None:
        return CheckVerdict("liquidation_buffer", REFUSE, REFUSE_LIQUIDATION_BUFFER,
                            f"equity {f.ctx.equity} is not positive")
    return _judge(f, "liquidation_buffer", buffer < minimum, REFUSE_LIQUIDATION_BUFFER,
                  lambda: f"projected buffer {pct(buffer)} (maintenance {p.maintenance:.2f}), min {minimum}%")


def _exposure_check(f: OrderFacts, name: str, reason: str, limit: Decimal | None, exposure: Decimal | None,
                    what: str) -> CheckVerdict:
    equity = f.ctx.equity
    if limit is None:
        return CheckVerdict(name, SKIP, detail="off")
    if exposure is None:
        return CheckVerdict(name, SKIP, detail="no mark")
    if equity <= 0:
        return CheckVerdict(name, REFUSE, reason, f"equity {equity} is not positive")
    share = exposure / equity * _HUNDRED
    return _judge(f, name, share > limit, reason,
                  lambda: f"projected {what} {exposure:.2f} = {pct(share)} of equity, max {limit}%")


def _check_max_exposure_product(gate: PreTradeGate, f: OrderFacts) -> CheckVerdict:
    exposure = f.projection.notional if f.projection is not None else None
    return _exposure_check(f, "max_exposure_product", REFUSE_MAX_EXPOSURE_PRODUCT, gate.max_exposure_product_pct,
                           exposure, "product exposure")


def _check_max_exposure_total(gate: PreTradeGate, f: OrderFacts) -> CheckVerdict:
    exposure = f.ctx.other_gross_exposure + f.projection.notional if f.projection is not None else None
    return _exposure_check(f, "max_exposure_total", REFUSE_MAX_EXPOSURE_TOTAL, gate.max_exposure_total_pct,
                           exposure, "gross exposure")


def _check_liquidation_distance(gate: PreTradeGate, f: OrderFacts) -> CheckVerdict:
    minimum, p, mark = gate.min_liquidation_distance_pct, f.projection, f.mark
    if minimum is None:
        return CheckVerdict("liquidation_distance", SKIP, detail="off")
    if p is None or mark is None:
        return CheckVerdict("liquidation_distance", SKIP, detail="no mark")
    distance = p.liquidation_distance_pct(mark)
    if distance is None:
        return CheckVerdict("liquidation_distance", PASS, detail="no liquidation price") if f.explain else PASSED
    return _judge(f, "liquidation_distance", distance < minimum, REFUSE_LIQUIDATION_DISTANCE,
                  lambda: f"projected liquidation {p.liquidation_price:.2f}, {pct(distance)} from mark {mark},"
                          f" min {minimum}%")


# (check, applies only to risk-increasing orders)
def _check_post_only(gate: PreTradeGate, f: OrderFacts) -> CheckVerdict:
    order, ctx = f.order, f.ctx
    if not order.post_only or order.limit_price is None:
        return CheckVerdict("post_only", PASS, detail="not post-only") if f.explain else PASSED
    if not ctx.book_valid:
        return CheckVerdict("post_only", SKIP, detail="no valid book to compare with: the venue judges")
    price = order.limit_price
    if order.side == "BUY" and ctx.best_ask is not None and price >= ctx.best_ask:
        return CheckVerdict("post_only", REFUSE, REFUSE_POST_ONLY, f"BUY {price} >= best ask {ctx.best_ask}")
    if order.side == "SELL" and ctx.best_bid is not None and price <= ctx.best_bid:
        return CheckVerdict("post_only", REFUSE, REFUSE_POST_ONLY, f"SELL {price} <= best bid {ctx.best_bid}")
    return CheckVerdict("post_only", PASS, detail="rests without crossing") if f.explain else PASSED


def _check_product_mode(gate: PreTradeGate, f: OrderFacts) -> CheckVerdict:
    order, spec = f.order, f.ctx.spec
    if spec.trading_disabled or spec.cancel_only:
        mode = "trading disabled" if spec.trading_disabled else "cancel-only"
        return CheckVerdict("product_mode", REFUSE, REFUSE_PRODUCT_STATUS, f"{spec.product_id} is {mode}")
    if spec.limit_only and order.order_type == "market":
        return CheckVerdict("product_mode", REFUSE, REFUSE_LIMIT_ONLY, f"{spec.product_id} takes limit orders only")
    if spec.post_only and not order.post_only:
        return CheckVerdict("product_mode", REFUSE, REFUSE_POST_ONLY_REQUIRED,
                            f"{spec.product_id} takes post-only orders only")
    return CheckVerdict("product_mode", PASS, detail="open for trading") if f.explain else PASSED


CHECKS: tuple[tuple[Check, bool], ...] = (
    (_check_halted, False),
    (_check_reduce_only, False),
    (_check_post_only, False),
    (_check_product_mode, False),
    (_check_reducing, False),
    (_check_product_status, True),
    (_check_stale_book, True),
    (_check_impact, True),
    (_check_slippage, True),
    (_check_max_position, True),
    (_check_max_leverage, True),
    (_check_liquidation_buffer, True),
    (_check_max_exposure_product, True),
    (_check_max_exposure_total, True),
    (_check_liquidation_distance, True),
)
CHECK_NAMES = tuple(check.__name__.removeprefix("_check_") for check, _ in CHECKS)
