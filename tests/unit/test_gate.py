"""PreTradeGate: ordered checks, reducing orders always allowed past the limits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from actors.risk.gate import PreTradeGate
from actors.risk.gate_context import GateContext, increases_risk
from config.schema import ExecutionConfig
from domain.market import LiquiditySnapshot
from domain.products import BTC_PERP, BTC_USD
from domain.quantize import QuantizedOrder

D = Decimal
PERP = BTC_PERP.product_id

# Limits: 50000 quote per product, gross exposure up to 3x equity.
GATE = PreTradeGate(max_position_notional=D("50000"), max_leverage=D("3"))


def order(side: str, size: str, product_id: str = PERP) -> QuantizedOrder:
    return QuantizedOrder(intent_id="i", product_id=product_id, side=side, order_type="market", size=D(size))


def ctx(**kw) -> GateContext:
    base = dict(
        state="RUNNING", book_valid=True, book_stale=False, mark=D("100000"), position=D(0),
        equity=D("20000"), other_gross_exposure=D(0), spec=BTC_PERP,
    )
    base.update(kw)
    return GateContext(**base)


def test_passes_within_limits() -> None:
    # 10 contracts x 0.01 x 100000 = 10000 notional, leverage 0.5
    assert GATE.check(order("BUY", "10"), ctx()) is None


def test_halted_refuses_everything_even_reductions() -> None:
    assert GATE.check(order("SELL", "1"), ctx(state="HALTED", position=D(10))) == "halted"


def test_reducing_refuses_only_risk_increasing_orders() -> None:
    reducing = ctx(state="REDUCING", position=D(10))
    assert GATE.check(order("SELL", "4"), reducing) is None  # 10 -> 6
    assert GATE.check(order("SELL", "10"), reducing) is None  # 10 -> 0
    assert GATE.check(order("BUY", "1"), reducing) == "reducing"  # 10 -> 11
    assert GATE.check(order("SELL", "11"), reducing) == "reducing"  # 10 -> -1: flips
    assert GATE.check(order("BUY", "1"), ctx(state="REDUCING")) == "reducing"  # from flat


@pytest.mark.parametrize(
    "kw", [dict(book_valid=False), dict(book_stale=True), dict(mark=None), dict(mark=D(0))]
)
def test_stale_or_invalid_book(kw: dict) -> None:
    assert GATE.check(order("BUY", "1"), ctx(**kw)) == "stale_book"


@pytest.mark.parametrize("kw", [dict(book_valid=False), dict(book_stale=True), dict(mark=None)])
def test_a_reducing_order_still_goes_on_a_stale_or_invalid_book(kw: dict) -> None:
    assert GATE.check(order("SELL", "4"), ctx(position=D(10), **kw)) is None  # 10 -> 6
    assert GATE.check(order("SELL", "11"), ctx(position=D(10), **kw)) == "stale_book"  # flips: new risk


def test_state_is_checked_before_the_book() -> None:
    assert GATE.check(order("BUY", "1"), ctx(state="HALTED", book_valid=False)) == "halted"


def test_max_position_on_projected_position() -> None:
    # position 40 contracts = 40000; +10 -> 50000: at the limit, passes; +11 -> 51000: refused
    c = ctx(position=D(40), equity=D("100000"))
    assert GATE.check(order("BUY", "10"), c) is None
    assert GATE.check(order("BUY", "11"), c) == "max_position"
    # short side counts the same: -40 - 11 = -51 -> 51000
    assert GATE.check(order("SELL", "11"), ctx(position=D(-40), equity=D("100000"))) == "max_position"
    # flipping 40 -> -51 is also 51000 of new exposure
    assert GATE.check(order("SELL", "91"), c) == "max_position"


def test_reducing_an_oversized_position_passes() -> None:
    # 60 contracts = 60000 > 50000 after a price rise; selling 5 -> 55000 still above, but reduces.
    assert GATE.check(order("SELL", "5"), ctx(position=D(60), equity=D("1000"))) is None


def test_max_leverage_on_projected_gross_exposure() -> None:
    # equity 10000, max gross 30000. Other products 25000; this one: 5 contracts = 5000 -> 30000 passes.
    c = ctx(equity=D("10000"), other_gross_exposure=D("25000"))
    assert GATE.check(order("BUY", "5"), c) is None
    assert GATE.check(order("BUY", "6"), c) == "max_leverage"  # 31000 > 30000


def test_max_leverage_with_no_equity() -> None:
    assert GATE.check(order("BUY", "1"), ctx(equity=D(0))) == "max_leverage"


def test_position_limit_is_checked_before_leverage() -> None:
    assert GATE.check(order("BUY", "60"), ctx(equity=D("1"))) == "max_position"


def test_spot_uses_base_units() -> None:
    spot = ctx(spec=BTC_USD, mark=D("50000"), equity=D("100000"))
    assert GATE.check(order("BUY", "1", "BTC-USD"), spot) is None  # 50000
    assert GATE.check(order("BUY", "1.00000002", "BTC-USD"), spot) == "max_position"


def test_increases_risk() -> None:
    assert increases_risk(D(0), D(1))
    assert increases_risk(D(1), D(2))
    assert increases_risk(D(1), D(-1))
    assert not increases_risk(D(2), D(1))
    assert not increases_risk(D(-2), D(-1))
    assert not increases_risk(D(2), D(0))


def liquidity(volume_15m: str = "100000000", depth_5pct: str = "5000000", spread_bps: str = "1",
              condition: str = "excellent") -> LiquiditySnapshot:
    z = D(0)
    return LiquiditySnapshot(
        product_id=PERP, ts=0.0, spread_bps=D(spread_bps), depth_1pct=D(depth_5pct), depth_5pct=D(depth_5pct),
        imbalance=z, score=D(90), condition=condition, volume_1m=z, volume_5m=z, volume_15m=D(volume_15m),
        trades_15m=1, avg_trade_size_15m=z, spread_avg_5m=None, spread_min_5m=None, spread_max_5m=None)


def test_from_config() -> None:
    gate = PreTradeGate.from_config(ExecutionConfig(max_position_notional=D("1000"), max_leverage=D("1")))
    assert gate.check(order("BUY", "2"), ctx(liquidity=liquidity())) == "max_position"


def test_impact_guard_refuses_an_order_too_large_for_the_market() -> None:
    gate = PreTradeGate(D("1000000"), D("100"), max_impact_bps=D("50"))
    # 10 contracts x 0.01 x 100000 = 10,000 notional. volume_15m 250,000: base = sqrt(0.04) x 100 = 20 bps;
    # depth 5,000 < notional: x sqrt(2) = 28.28; spread 0; good x 1.0 -> 28.28 bps: passes.
    thin = liquidity(volume_15m="250000", depth_5pct="5000", spread_bps="0", condition="good")
    assert gate.check(order("BUY", "10"), ctx(liquidity=thin)) is None
    # "poor" doubles it: 56.57 bps > 50.
    assert gate.check(order("BUY", "10"), ctx(liquidity=liquidity("250000", "5000", "0", "poor"))) == "impact"


def test_impact_guard_needs_liquidity_data_for_risk_but_not_for_reductions() -> None:
    gate = PreTradeGate(D("1000000"), D("100"), max_impact_bps=D("50"))
    assert gate.check(order("BUY", "1"), ctx()) == "no_liquidity_data"
    assert gate.check(order("SELL", "1"), ctx(position=D(5))) is None
