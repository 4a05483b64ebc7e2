"""Runtime risk guards: daily loss latch and UTC roll, liquidation buffer, volatility breaker with
cooldown, concentration."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from actors.risk.guards import (
    HALTED,
    OK,
    REDUCING,
    WARN,
    DailyLossGuard,
    LiquidationBufferGuard,
    Verdict,
    VolatilityBreaker,
    concentration,
    worst,
)

DAY = 86_400
T0 = 20_000 * DAY + 3_600  # 01:00 UTC on some day


def test_daily_loss_latches_until_the_utc_midnight_roll():
    g = DailyLossGuard(D("3"))
    assert g.on_equity(D("10000"), T0).level == OK  # start of day
    assert g.on_equity(D("9750"), T0 + 60).level == OK  # 2.5 %
    assert g.on_equity(D("9700"), T0 + 120).level == REDUCING  # exactly 3 %
    assert g.on_equity(D("10100"), T0 + 180).level == REDUCING  # recovered, still latched
    assert g.start_equity == D("10000")
    next_day = (T0 // DAY + 1) * DAY
    assert g.on_equity(D("10100"), next_day - 0.001).level == REDUCING
    v = g.on_equity(D("10100"), next_day)
    assert v.level == OK and g.start_equity == D("10100")  # new start of day, latch released
    assert g.on_equity(D("9797"), next_day + 1).level == REDUCING  # 3 % of the new start


def test_a_restart_mid_day_keeps_the_journaled_start_of_day_so_the_loss_before_it_counts():
    g = DailyLossGuard(D("3"))
    g.restore(T0 // DAY, D("10000"))  # journaled before the restart
    assert g.on_equity(D("9750"), T0 + 60).level == OK and g.start_equity == D("10000")
    assert g.on_equity(D("9700"), T0 + 120).level == REDUCING, "a fresh start would have taken 9750 as the day's start"
    stale = DailyLossGuard(D("3"))
    stale.restore(T0 // DAY - 1, D("20000"))  # yesterday's: the roll replaces it
    assert stale.on_equity(D("9700"), T0).level == OK and stale.start_equity == D("9700")


def test_daily_loss_limit_must_be_a_percentage():
    with pytest.raises(ValueError):
        DailyLossGuard(D("0"))
    with pytest.raises(ValueError):
        DailyLossGuard(D("100"))


def test_liquidation_buffer():
    g = LiquidationBufferGuard(D("15"))
    assert g.check(D("10000"), D("8000")).level == OK  # 20 %
    assert g.check(D("10000"), D("8600")).level == REDUCING  # 14 %
    assert g.check(D("0"), D("0")).level == HALTED


def test_volatility_breaker_levels_and_cooldown():
    b = VolatilityBreaker("BTC-USD", window=2, warn_bps=D("10"), reducing_bps=D("50"), halted_bps=D("100"),
                          cooldown_s=60)
    assert b.on_bar(D("100"), 0).level == OK  # no return yet
    assert b.on_bar(D("100"), 1).level == OK
    v = b.on_bar(D("102"), 2)  # returns 0, 0.02: rms = sqrt(0.0002) = 141 bps
    assert v.level == HALTED and v.guard == "volatility:BTC-USD"
    assert b.vol_bps == (D("0.0002").sqrt() * 10_000)
    assert b.on_bar(D("102"), 30).level == HALTED  # returns 0.02, 0: rms still 141, met again at 30
    assert b.on_bar(D("102"), 40).level == HALTED  # returns 0, 0: measured OK, only 10 s since met
    assert b.on_bar(D("102"), 89).level == HALTED
    assert b.on_bar(D("102"), 90).level == OK  # 60 s since the threshold was last met
    b.on_bar(D("102.153"), 91)  # one 15 bps move: rms = 10.6 bps -> WARN
    assert b.level == WARN


def test_volatility_thresholds_must_rise():
    with pytest.raises(ValueError):
        VolatilityBreaker("X", 5, D("50"), D("10"), D("100"), 60)


def test_concentration_warns_only_with_several_products():
    assert concentration({"A": D("9000"), "B": D("-1000")}, D("80")) == [
        Verdict("concentration:A", WARN, "90.0% of gross exposure")]
    assert concentration({"A": D("9000"), "B": D("0")}, D("80")) == []  # one product held
    assert concentration({"A": D("9"), "B": D("1")}, D("80"), min_gross=D("100")) == []


def test_worst_level():
    assert worst([]) == OK
    assert worst([Verdict("a", WARN, ""), Verdict("b", HALTED, ""), Verdict("c", REDUCING, "")]) == HALTED
