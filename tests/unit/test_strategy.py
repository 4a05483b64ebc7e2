"""CrossoverCore: fresh crosses only, confirmation, sizing per product type, deterministic ids.

Windows are short=2, long=4 so the averages can be checked by hand in the comments.
"""

from __future__ import annotations

from decimal import Decimal

from actors.strategy.crossover import CrossoverCore
from config.schema import StrategyConfig
from domain.market import Bar
from domain.products import BTC_PERP, BTC_USD, CATALOG

SPOT = BTC_USD.product_id
PERP = BTC_PERP.product_id


def bar(product_id: str, i: int, close: str) -> Bar:
    c = Decimal(close)
    return Bar(
        product_id=product_id, start=1000.0 + i, interval_s=1.0, open=c, high=c, low=c, close=c,
        volume=Decimal(1), trades=1, origin_ns=7000 + i,
    )


def core(confirmation_bars: int = 0, equity: str = "52000") -> CrossoverCore:
    c = CrossoverCore(
        products=dict(CATALOG), short_window=2, long_window=4, confirmation_bars=confirmation_bars,
        equity_fraction=Decimal("0.1"), target_leverage=Decimal("1"),
    )
    c.on_portfolio(Decimal(equity), {})
    return c


def feed(c: CrossoverCore, product_id: str, closes: list[str]):
    return [c.on_bar(bar(product_id, i, close)) for i, close in enumerate(closes)]


# 100 x4: window full, short=long=100, sign 0 (baseline).
# 104: window 100,100,100,104 -> short 102 > long 101: fresh up-cross.
# 108: short 106 > long 103: same sign, no action.
# 96:  window 100,104,108,96 -> short 102 = long 102: no opinion.
# 90:  window 104,108,96,90 -> short 93 < long 99.5: fresh down-cross.
CLOSES = ["100", "100", "100", "100", "104", "108", "96", "90"]


def test_no_action_until_long_window_is_full_even_when_rising() -> None:
    c = core()
    assert feed(c, PERP, ["100", "110", "120"]) == [None, None, None]
    # 4th bar fills the window: it sets the baseline sign and does not act.
    assert c.on_bar(bar(PERP, 3, "130")) is None
    assert c.signal(PERP) == 1


def test_perp_up_cross_goes_long_then_down_cross_goes_short() -> None:
    c = core()
    out = feed(c, PERP, CLOSES[:5])
    assert out[:4] == [None] * 4
    buy = out[4]
    # target = 52000 * 0.1 * 1 / (104 * 0.01) = 5000 contracts
    assert buy is not None
    assert (buy.side, buy.size, buy.product_id) == ("BUY", Decimal(5000), PERP)
    assert buy.reason == "cross_up" and not buy.reduce_only
    assert buy.intent_id == f"{PERP}:1004000:BUY"
    assert buy.origin_ns == 7004
    assert buy.created_at == 1005.0  # bar close time

    c.on_portfolio(Decimal("52000"), {PERP: Decimal(5000)})
    assert c.on_bar(bar(PERP, 5, "108")) is None  # same sign
    assert c.on_bar(bar(PERP, 6, "96")) is None  # averages equal
    sell = c.on_bar(bar(PERP, 7, "90"))
    # target = -floor(5200 / 0.90) = -5777; from +5000 that is SELL 10777
    assert sell is not None
    assert (sell.side, sell.size, sell.reason) == ("SELL", Decimal(10777), "cross_down")
    assert not sell.reduce_only
    assert c.signal(PERP) == -1


def test_spot_down_cross_goes_flat_not_short() -> None:
    c = core()
    buy = feed(c, SPOT, CLOSES[:5])[4]
    assert buy is not None and buy.size == Decimal(50)  # 5200 / 104
    c.on_portfolio(Decimal("52000"), {SPOT: Decimal(50)})
    sell = feed(c, SPOT, CLOSES)[7]
    assert sell is not None
    assert (sell.side, sell.size, sell.reduce_only) == ("SELL", Decimal(50), True)


def test_spot_down_cross_while_flat_emits_nothing() -> None:
    c = core()
    # window 100,100,101,102 -> 101.5 > 100.75: baseline +1. 90: window 101,102,103,90 ->
    # 96.5 < 99: a down-cross, but the spot target is flat and there is no position.
    out = feed(c, SPOT, ["100", "100", "101", "102", "103", "90"])
    assert out == [None] * 6
    assert c.signal(SPOT) == -1


def test_already_at_target_emits_nothing() -> None:
    c = core()
    c.on_portfolio(Decimal("52000"), {PERP: Decimal(5000)})
    assert feed(c, PERP, CLOSES[:5])[4] is None


def test_size_rounds_down_to_base_increment() -> None:
    c = core(equity="1000")
    # spot: 100 / 104 = 0.961538461538... -> 0.96153846 (8 decimals, floored)
    assert feed(c, SPOT, CLOSES[:5])[4].size == Decimal("0.96153846")
    # perp: 100 / 1.04 = 96.15 contracts -> 96
    assert feed(c, PERP, CLOSES[:5])[4].size == Decimal(96)


def test_too_small_for_one_contract_emits_nothing() -> None:
    c = core(equity="10")  # 1 / 1.04 contracts
    assert feed(c, PERP, CLOSES[:5]) == [None] * 5


def test_no_equity_no_intent() -> None:
    c = CrossoverCore(products=dict(CATALOG), short_window=2, long_window=4)
    assert feed(c, PERP, CLOSES[:5]) == [None] * 5


def test_confirmation_acts_once_after_the_sign_holds() -> None:
    c = core(confirmation_bars=2, equity="56000")
    # 104: cross up, pending. 108: held 1 (short 106 > long 103). 112: held 2 -> act.
    out = feed(c, PERP, ["100", "100", "100", "100", "104", "108", "112", "116"])
    assert out[:6] == [None] * 6
    intent = out[6]
    assert intent is not None
    # 56000 * 0.1 / (112 * 0.01) = 5000
    assert (intent.side, intent.size, intent.intent_id) == ("BUY", Decimal(5000), f"{PERP}:1006000:BUY")
    assert out[7] is None  # acts once


def test_confirmation_drops_a_cross_that_does_not_hold() -> None:
    c = core(confirmation_bars=2)
    # 104: pending up. 96: window 100,100,104,96 -> 100 vs 100, sign 0: dropped.
    # 108: window 100,104,96,108 -> 102 vs 102: 0. 120: window 104,96,108,120 -> 114 > 107:
    # back to +1, the same as the last sign: not a fresh cross.
    out = feed(c, PERP, ["100", "100", "100", "100", "104", "96", "108", "120", "130", "140"])
    assert out == [None] * 10


def test_disabled_strategy_emits_nothing_and_does_not_replay_missed_crosses() -> None:
    c = core()
    c.set_enabled(False)
    assert feed(c, PERP, CLOSES[:6]) == [None] * 6
    c.set_enabled(True)
    assert c.enabled
    assert c.on_bar(bar(PERP, 6, "96")) is None
    assert c.on_bar(bar(PERP, 7, "90")) is not None  # the next fresh cross acts


def test_same_bars_give_same_intents() -> None:
    a, b = core(), core()
    assert feed(a, PERP, CLOSES) == feed(b, PERP, CLOSES)


def test_products_are_independent_and_unknown_products_ignored() -> None:
    c = CrossoverCore(products={PERP: BTC_PERP}, short_window=2, long_window=4)
    c.on_portfolio(Decimal("52000"), {})
    assert c.on_bar(bar("ETH-USD", 0, "1")) is None
    for i, close in enumerate(CLOSES[:4]):
        c.on_bar(bar(PERP, i, close))
    assert c.on_bar(bar(PERP, 4, "104")) is not None


def test_from_config() -> None:
    cfg = StrategyConfig(products=(PERP,), short_window=2, long_window=4)
    c = CrossoverCore.from_config(cfg, CATALOG, equity=Decimal("52000"))
    assert c.on_bar(bar(SPOT, 0, "1")) is None  # not configured
    assert feed(c, PERP, CLOSES[:5])[4].size == Decimal(5000)
