"""The ordered pre-trade checks, each with numbers worked out by hand.

BTC_PERP throughout unless said: 0.01 BTC a contract, so at a mark of 100,000 one contract is
1,000 of notional; initial margin 10% (venue cap 10x), maintenance margin 5%, price tick 5.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from actors.risk.gate import CHECK_NAMES, PreTradeGate
from actors.risk.gate_context import PASS, REFUSE, SKIP, GateContext, in_window
from config.schema import ExecutionConfig, RiskConfig
from domain.market import LiquiditySnapshot
from domain.products import BTC_PERP, BTC_USD
from domain.quantize import QuantizedOrder

D = Decimal
PERP = BTC_PERP.product_id
BIG = D(10) ** 9


def utc(hour: int, minute: int = 0) -> float:
    return datetime(2026, 11, 24, hour, minute, tzinfo=timezone.utc).timestamp()


def gate(**limits) -> PreTradeGate:
    """Every limit off unless given, the account limits out of the way."""
    return PreTradeGate(limits.pop("max_position_notional", BIG), limits.pop("max_leverage", D(1000)),
                        limits.pop("max_impact_bps", None), **limits)


def order(side: str, size: str, kind: str = "market", price: str | None = None, stop: str | None = None,
          reduce_only: bool = False, product_id: str = PERP) -> QuantizedOrder:
    return QuantizedOrder(intent_id="i", product_id=product_id, side=side, order_type=kind, size=D(size),
                          limit_price=None if price is None else D(price), stop_price=None if stop is None else D(stop),
                          reduce_only=reduce_only)


def ctx(**kw) -> GateContext:
    base = dict(state="ACTIVE", book_valid=True, book_stale=False, mark=D("100000"), position=D(0),
                equity=D("100000"), other_gross_exposure=D(0), spec=BTC_PERP, now=utc(12))
    base.update(kw)
    return GateContext(**base)


def test_the_checks_run_in_the_documented_order() -> None:
    assert CHECK_NAMES == (
        "halted", "reduce_only", "post_only", "product_mode", "reducing", "product_status",
        "stale_book", "impact", "slippage", "max_position",
        "max_leverage", "liquidation_buffer", "max_exposure_product", "max_exposure_total", "liquidation_distance")


# -- 1 kill switch ----------------------------------------------------------------------------

def test_halted_refuses_everything_first() -> None:
    halted = ctx(state="HALTED", position=D(10), book_valid=False)
    assert gate().check(order("SELL", "1", reduce_only=True), halted) == "halted"
    assert gate().check(order("BUY", "1", reduce_only=True), halted) == "halted"  # before reduce_only


# -- 2 reduce-only, with size -----------------------------------------------------------------

@pytest.mark.parametrize(("position", "side", "size", "open_reducing", "expected"), [
    ("10", "SELL", "4", "0", None),  # 10 -> 6
    ("10", "SELL", "10", "0", None),  # 10 -> 0
    ("10", "SELL", "11", "0", "reduce_only"),  # 10 -> -1 would flip: refused, never clipped
    ("10", "BUY", "1", "0", "reduce_only"),  # adds to the long
    ("0", "SELL", "1", "0", "reduce_only"),  # nothing to reduce
    ("-5", "BUY", "5", "0", None),  # -5 -> 0
    ("-5", "BUY", "6", "0", "reduce_only"),
    ("10", "SELL", "3", "7", None),  # 7 already on the way out: room for 3
    ("10", "SELL", "4", "7", "reduce_only"),  # 7 + 4 = 11 > 10 would flip once both fill
])
def test_reduce_only_must_shrink_without_flipping(position, side, size, open_reducing, expected) -> None:
    c = ctx(position=D(position), open_reducing=D(open_reducing))
    assert gate().check(order(side, size, reduce_only=True), c) == expected


def test_reduce_only_is_checked_before_the_reducing_state() -> None:
    assert gate().check(order("BUY", "1", reduce_only=True), ctx(state="REDUCING")) == "reduce_only"
    assert gate().check(order("BUY", "1"), ctx(state="REDUCING")) == "reducing"


def test_a_passing_reduce_only_order_skips_the_market_and_limit_checks() -> None:
    # Stale book, no equity: a reduction still goes out.
    c = ctx(position=D(10), book_stale=True, equity=D(0), state="REDUCING")
    assert gate(max_slippage_bps=D(50)).check(order("SELL", "10", "limit", "1", reduce_only=True), c) is None


# -- 7 slippage: the order's own limit price against the mark -----------------------------------

SLIP = dict(max_slippage_bps=D(50))  # 50 bps of 100,000 = 500


@pytest.mark.parametrize(("side", "price", "expected"), [
    ("BUY", "100500", None),  # 100000 x 1.005: at the limit
    ("BUY", "100505", "slippage"),  # one tick above
    ("BUY", "101000", "slippage"),  # 100 bps: the seed system compared this price with itself and passed it
    ("BUY", "50000", None),  # below the mark is a better price for a buyer
    ("SELL", "99500", None),  # 100000 x 0.995
    ("SELL", "99495", "slippage"),
    ("SELL", "150000", None),
])
def test_slippage_of_a_limit_price_against_the_mark(side, price, expected) -> None:
    assert gate(**SLIP).check(order(side, "1", "limit", price), ctx()) == expected


def test_a_stop_limit_is_measured_from_its_stop() -> None:
    # BUY stop 102000, limit at most 102000 x 1.005 = 102510 (against the mark it would be 100500).
    assert gate(**SLIP).check(order("BUY", "1", "stop_limit", "102510", stop="102000"), ctx()) is None
    assert gate(**SLIP).check(order("BUY", "1", "stop_limit", "102515", stop="102000"), ctx()) == "slippage"
    # SELL stop 98000: limit at least 98000 x 0.995 = 97510.
    assert gate(**SLIP).check(order("SELL", "1", "stop_limit", "97510", stop="98000"), ctx()) is None
    assert gate(**SLIP).check(order("SELL", "1", "stop_limit", "97505", stop="98000"), ctx()) == "slippage"


def test_a_market_order_has_no_limit_to_slip() -> None:
    verdict = {v.check: v for v in gate(**SLIP).verdicts(order("BUY", "1"), ctx())}["slippage"]
    assert verdict.verdict == SKIP


# -- 9 leverage per product, with a night cap ----------------------------------------------------

NIGHT = dict(product_max_leverage={PERP: D(2)}, product_max_leverage_night={PERP: D(1)}, night_hours_utc=(22, 6))


@pytest.mark.parametrize(("now", "size", "expected"), [
    (utc(12), "15", None),  # 15 contracts = 15000 on equity 10000: 1.5x under the day cap 2x
    (utc(12), "20", None),  # 2.0x: at the cap
    (utc(12), "21", "max_leverage"),  # 2.1x
    (utc(23), "15", "max_leverage"),  # 1.5x over the night cap 1x
    (utc(23), "10", None),  # 1.0x
    (utc(5, 59), "15", "max_leverage"),  # still night (the window wraps midnight)
    (utc(6), "15", None),  # 06:00 is day again
    (utc(21, 59), "15", None),
])
def test_product_leverage_day_and_night(now, size, expected) -> None:
    assert gate(**NIGHT).check(order("BUY", size), ctx(equity=D(10_000), now=now)) == expected


def test_the_venue_caps_an_unlisted_product() -> None:
    # Empty caps: BTC_PERP's 1 / 0.1 = 10x. Equity 10000: 100 contracts pass, 101 do not.
    g = gate(product_max_leverage={})
    assert g.check(order("BUY", "100"), ctx(equity=D(10_000))) is None
    assert g.check(order("BUY", "101"), ctx(equity=D(10_000))) == "max_leverage"
    # Spot is fully funded: 1x. 0.2 BTC at 50000 = 10000 on equity 10000 passes, a satoshi more does not.
    spot = ctx(spec=BTC_USD, mark=D(50_000), equity=D(10_000))
    assert g.check(order("BUY", "0.2", product_id="BTC-USD"), spot) is None
    assert g.check(order("BUY", "0.20000001", product_id="BTC-USD"), spot) == "max_leverage"


def test_the_account_leverage_still_applies() -> None:
    # Account cap 3x on equity 10000: other products 25000 + 5 contracts = 30000 passes, 6 do not.
    g = gate(max_leverage=D(3), product_max_leverage={})
    c = ctx(equity=D(10_000), other_gross_exposure=D(25_000))
    assert g.check(order("BUY", "5"), c) is None
    assert g.check(order("BUY", "6"), c) == "max_leverage"


def test_night_window() -> None:
    assert in_window(utc(22), 22, 6) and in_window(utc(0), 22, 6) and not in_window(utc(6), 22, 6)
    assert in_window(utc(6), 6, 22) and not in_window(utc(22), 6, 22)
    assert not in_window(utc(12), 0, 0)  # equal hours: no window
    assert not in_window(None, 22, 6)  # no time given: day


# -- 10 liquidation buffer ---------------------------------------------------------------------

def test_liquidation_buffer_after_the_trade() -> None:
    # Equity 10000; each contract carries 1000 x 5% = 50 of maintenance margin.
    # Buffer (10000 - 50 N) / 10000 >= 15%  <=>  N <= 170.
    g = gate(liquidation_buffer_pct=D(15))
    assert g.check(order("BUY", "170"), ctx(equity=D(10_000))) is None  # exactly 15%
    assert g.check(order("BUY", "171"), ctx(equity=D(10_000))) == "liquidation_buffer"  # 14.5%
    # Another product already needs 500: (10000 - 500 - 50 N) >= 1500  <=>  N <= 160.
    other = ctx(equity=D(10_000), other_maintenance_margin=D(500))
    assert g.check(order("BUY", "160"), other) is None
    assert g.check(order("BUY", "161"), other) == "liquidation_buffer"
    # An existing position counts: 100 held + 71 = 171.
    assert g.check(order("BUY", "71"), ctx(equity=D(10_000), position=D(100))) == "liquidation_buffer"


# -- 11, 12 exposure ---------------------------------------------------------------------------

def test_exposure_per_product_and_in_total() -> None:
    g = gate(max_exposure_product_pct=D(20), max_exposure_total_pct=D(80))
    # Equity 100000: one product up to 20000 = 20 contracts.
    assert g.check(order("BUY", "20"), ctx()) is None
    assert g.check(order("BUY", "21"), ctx()) == "max_exposure_product"
    assert g.check(order("BUY", "5"), ctx(position=D(15))) is None  # 15 + 5 = 20
    assert g.check(order("BUY", "6"), ctx(position=D(15))) == "max_exposure_product"
    assert g.check(order("SELL", "21"), ctx()) == "max_exposure_product"  # shorts count the same
    # Total up to 80000: 65000 elsewhere + 15 contracts = 80000 passes; 16 (16%, within the product cap) do not.
    assert g.check(order("BUY", "15"), ctx(other_gross_exposure=D(65_000))) is None
    assert g.check(order("BUY", "16"), ctx(other_gross_exposure=D(65_000))) == "max_exposure_total"


# -- 13 liquidation distance -------------------------------------------------------------------

@pytest.mark.parametrize(("side", "size", "expected"), [
    # Long N on equity 10000 at 100000: p = (1000 N - 10000) / (0.0095 N). Distance >= 10% <=> N <= 68.
    ("BUY", "68", None),  # p = 58000 / 0.646 = 89783.28: 10.22%
    ("BUY", "69", "liquidation_distance"),  # p = 59000 / 0.6555 = 90007.63: 9.99%
    # Short N: p = (-10000 - 1000 N) / (0.01 (-N - 0.05 N)).
    ("SELL", "60", None),  # p = -70000 / -0.63 = 111111.11: 11.11%
    ("SELL", "69", "liquidation_distance"),  # p = -79000 / -0.7245 = 109040.72: 9.04%
])
def test_projected_liquidation_distance(side, size, expected) -> None:
    g = gate(min_liquidation_distance_pct=D(10))
    assert g.check(order(side, size), ctx(equity=D(10_000))) == expected


def test_liquidation_distance_of_a_product_that_cannot_be_liquidated() -> None:
    g = gate(min_liquidation_distance_pct=D(10))
    verdicts = {v.check: v for v in g.verdicts(order("BUY", "1", product_id="BTC-USD"),
                                               ctx(spec=BTC_USD, mark=D(50_000)))}
    assert verdicts["liquidation_distance"].verdict == PASS
    assert "no liquidation price" in verdicts["liquidation_distance"].detail


# -- verdicts for orders preview -----------------------------------------------------------------

def full_gate() -> PreTradeGate:
    return PreTradeGate.from_config(ExecutionConfig(), RiskConfig())


def test_verdicts_report_every_check_in_order_past_a_refusal() -> None:
    # A stale book and a limit 100 bps above the mark: both are reported; check() stops at the first.
    c = ctx(book_stale=True)
    o = order("BUY", "1", "limit", "101000")
    verdicts = full_gate().verdicts(o, c)
    assert tuple(v.check for v in verdicts) == CHECK_NAMES
    refused = [(v.check, v.reason) for v in verdicts if v.verdict == REFUSE]
    assert refused == [("stale_book", "stale_book"), ("impact", "no_liquidity_data"), ("slippage", "slippage")]
    assert full_gate().check(o, c) == "stale_book"


def test_verdicts_of_a_reducing_order_skip_the_market_and_limit_checks() -> None:
    verdicts = full_gate().verdicts(order("SELL", "4"), ctx(position=D(10), book_stale=True))
    assert [v.verdict for v in verdicts] == [PASS] * 5 + [SKIP] * 10


def test_defaults_pass_an_order_the_strategy_would_send() -> None:
    # 10 contracts = 10000 = 10% of equity 100000: under every default limit.
    liquid = LiquiditySnapshot(
        product_id=PERP, ts=0.0, spread_bps=D(1), depth_1pct=D(5_000_000), depth_5pct=D(5_000_000), imbalance=D(0),
        score=D(90), condition="excellent", volume_1m=D(0), volume_5m=D(0), volume_15m=D(100_000_000),
        trades_15m=1, avg_trade_size_15m=D(0), spread_avg_5m=None, spread_min_5m=None, spread_max_5m=None)
    verdicts = full_gate().verdicts(order("BUY", "10"), ctx(liquidity=liquid))
    assert [v.check for v in verdicts if v.verdict == REFUSE] == []
    assert full_gate().check(order("BUY", "10"), ctx(liquidity=liquid)) is None
    # 21 contracts: 21% of equity, over the default 20% per product.
    assert full_gate().check(order("BUY", "21"), ctx(liquidity=liquid)) == "max_exposure_product"


# -- post-only ---------------------------------------------------------------------------------


def test_a_post_only_limit_that_would_cross_is_refused_before_sending() -> None:
    from domain.quantize import QuantizedOrder

    def post_only(side: str, price: str) -> QuantizedOrder:
        return QuantizedOrder("i", "BIP-20DEC30-CDE", side, "limit", D("1"), D(price), post_only=True)

    top = dict(best_bid=D("89995"), best_ask=D("90005"))
    g = gate()
    assert g.check(post_only("BUY", "90005"), ctx(**top)) == "post_only_would_cross"  # at the ask
    assert g.check(post_only("BUY", "90000"), ctx(**top)) is None  # rests inside the spread
    assert g.check(post_only("SELL", "89995"), ctx(**top)) == "post_only_would_cross"
    assert g.check(post_only("SELL", "90010"), ctx(**top)) is None
    # a reducing post-only is judged too: the venue would reject it all the same
    assert g.check(post_only("SELL", "89990"), ctx(position=D(5), **top)) == "post_only_would_cross"
    # no valid book: skipped, the venue judges
    [v] = [v for v in g.verdicts(post_only("BUY", "90005"), ctx(book_valid=False, **top)) if v.check == "post_only"]
    assert v.verdict == "skip"



# -- the venue's mode for the product (products endpoint) ---------------------------------------


@pytest.mark.parametrize("mode, kind, post_only, expected", [
    (dict(trading_disabled=True), "limit", False, "product_status"),
    (dict(cancel_only=True), "limit", True, "product_status"),
    (dict(limit_only=True), "market", False, "limit_only"),
    (dict(limit_only=True), "limit", False, None),
    (dict(post_only=True), "limit", False, "post_only_required"),
    (dict(post_only=True), "limit", True, None),
])
def test_the_venue_mode_of_the_product_decides_which_orders_may_go(mode, kind, post_only, expected):
    import msgspec

    from domain.quantize import QuantizedOrder

    spec = msgspec.structs.replace(BTC_PERP, **mode)
    price = None if kind == "market" else D("99000")
    o = QuantizedOrder("i", BTC_PERP.product_id, "SELL", kind, D("1"), price, post_only=post_only)
    # a reduction too: a cancel-only venue takes no order at all
    assert gate().check(o, ctx(spec=spec, position=D(5))) == expected
