"""RiskMonitor: guards fed from portfolio updates and bars, verdicts reported only when they change."""

from __future__ import annotations

from decimal import Decimal

from actors.risk.monitor import RiskMonitor, per_bar
from config.schema import RiskConfig
from domain.market import Bar
from domain.portfolio import PortfolioUpdate
from domain.products import BTC_PERP, BTC_USD, CATALOG

D = Decimal
PERP = BTC_PERP.product_id
DAY = 86_400.0


def update(equity: str, mm: str = "0", positions=(), marks=()) -> PortfolioUpdate:
    return PortfolioUpdate(equity=D(equity), positions=tuple(positions), marks=tuple(marks), ts=0.0,
                           maintenance_margin=D(mm))


def bar(close: str, product_id: str = "BTC-USD") -> Bar:
    c = D(close)
    return Bar(product_id, 0.0, 60.0, c, c, c, c, D(1), 1, 0)


def test_thresholds_scale_to_the_bar_interval() -> None:
    assert per_bar(D(100), 60.0) == D(100)
    assert per_bar(D(100), 15.0) == D(50)  # sqrt(15 / 60) = 1/2
    assert per_bar(D(100), 0.6) == D(10)  # sqrt(0.01)


def test_nothing_before_the_first_portfolio_update() -> None:
    assert RiskMonitor(CATALOG, RiskConfig(), 60.0).evaluate(0.0) is None


def test_reports_a_change_once() -> None:
    monitor = RiskMonitor(CATALOG, RiskConfig(), 60.0)
    monitor.on_portfolio(update("100000"))
    first = monitor.evaluate(10.0)
    assert first is not None and first.level == "OK"
    assert {v.guard for v in first.verdicts} == {"daily_loss", "liquidation_buffer"}
    assert monitor.evaluate(11.0) is None  # unchanged
    monitor.on_portfolio(update("95000"))  # 5% down: the default limit
    breach = monitor.evaluate(12.0)
    assert breach.level == "REDUCING"
    assert [(v.guard, v.level) for v in breach.verdicts if v.level != "OK"] == [("daily_loss", "REDUCING")]
    monitor.on_portfolio(update("100000"))
    assert monitor.evaluate(13.0) is None  # latched: nothing new to say
    rolled = monitor.evaluate(DAY + 1.0)  # the UTC roll releases the latch
    assert rolled.level == "OK"


def test_liquidation_buffer_and_concentration() -> None:
    monitor = RiskMonitor(CATALOG, RiskConfig(), 60.0)
    # Maintenance 9000 of equity 10000: buffer 10% < 15%.
    monitor.on_portfolio(update("10000", "9000"))
    assert monitor.evaluate(1.0).level == "REDUCING"
    # 8000 of BTC-USD (0.1 x 80000) and 1000 of the perp (1 contract x 0.01 x 100000): 88.9% > 70%: WARN.
    monitor.on_portfolio(update("100000", "0", positions=(("BTC-USD", D("0.1")), (PERP, D(1))),
                                marks=(("BTC-USD", D(80_000)), (PERP, D(100_000)))))
    verdict = monitor.evaluate(2.0)
    assert verdict.level == "WARN"
    assert [v.guard for v in verdict.verdicts if v.level == "WARN"] == ["concentration:BTC-USD"]


def test_volatility_from_bars() -> None:
    config = RiskConfig(volatility_window=2, volatility_cooldown_s=10.0)
    monitor = RiskMonitor({"BTC-USD": BTC_USD}, config, 60.0)
    monitor.on_portfolio(update("100000"))
    monitor.on_bar(bar("100000"), 0.0)
    monitor.on_bar(bar("103000"), 1.0)  # one return of 300 bps: over 200 (reducing), under 400
    verdict = monitor.evaluate(1.0)
    assert verdict.level == "REDUCING"
    assert [v.guard for v in verdict.verdicts if v.level != "OK"] == ["volatility:BTC-USD"]
    monitor.on_bar(bar("103000"), 2.0)  # window (300, 0): RMS 212 bps: still reducing
    monitor.on_bar(bar("103000"), 5.0)  # window (0, 0): calm, but inside the cooldown
    assert monitor.evaluate(5.0) is None
    monitor.on_bar(bar("103000"), 13.0)  # calm for a whole cooldown since last met (2.0)
    assert monitor.evaluate(13.0).level == "OK"
