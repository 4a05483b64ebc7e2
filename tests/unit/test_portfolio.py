"""Ledger accounting checked against values worked out by hand.

equity = starting_cash + realized - fees + funding + unrealized, with
unrealized = (mark - entry) x size x contract_size (size negative for shorts).
Spot BTC-USD has contract_size 1; the perp BIP-20DEC30-CDE has contract_size 0.01.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from actors.portfolio.ledger import Ledger
from domain.orders import Fill
from domain.products import BTC_PERP, BTC_USD, CATALOG

D = Decimal
SPOT = BTC_USD.product_id
PERP = BTC_PERP.product_id

_trade = iter(range(1, 10_000))


def fill(product_id: str, side: str, size: str, price: str, fee: str = "0", trade_id: str | None = None) -> Fill:
    return Fill(
        trade_id=trade_id or f"t{next(_trade)}", client_order_id="c", venue_order_id="v",
        product_id=product_id, side=side, price=D(price), size=D(size), fee=D(fee), liquidity="TAKER", ts=0.0,
    )


@pytest.fixture
def ledger() -> Ledger:
    return Ledger(D("100000"), dict(CATALOG))


def test_weighted_entry_over_three_buys(ledger: Ledger) -> None:
    ledger.on_fill(fill(SPOT, "BUY", "1", "100"))
    ledger.on_fill(fill(SPOT, "BUY", "2", "110"))
    ledger.on_fill(fill(SPOT, "BUY", "1", "130"))
    pos = ledger.positions[SPOT]
    # (1x100 + 2x110 + 1x130) / 4 = 450 / 4
    assert (pos.size, pos.entry) == (D(4), D("112.5"))
    ledger.on_mark(SPOT, D("120"))
    assert ledger.unrealized_pnl == D("30")  # (120 - 112.5) x 4
    assert ledger.realized_pnl == 0
    assert ledger.equity == D("100030")


def test_partial_close_realizes_against_average_entry(ledger: Ledger) -> None:
    for size, price in (("1", "100"), ("2", "110"), ("1", "130")):
        ledger.on_fill(fill(SPOT, "BUY", size, price))
    ledger.on_fill(fill(SPOT, "SELL", "1", "120"))
    assert ledger.realized_pnl == D("7.5")  # (120 - 112.5) x 1
    pos = ledger.positions[SPOT]
    assert (pos.size, pos.entry) == (D(3), D("112.5"))  # entry unchanged by a reduction
    ledger.on_mark(SPOT, D("120"))
    assert ledger.unrealized_pnl == D("22.5")  # (120 - 112.5) x 3
    assert ledger.equity == D("100030")  # same total as before the sale: no fees here


def test_flip_long_to_short(ledger: Ledger) -> None:
    ledger.on_fill(fill(PERP, "BUY", "10", "100000"))
    ledger.on_fill(fill(PERP, "SELL", "15", "101000"))
    # close 10: (101000 - 100000) x 10 x 0.01 = 100; the other 5 open short at 101000
    assert ledger.realized_pnl == D("100")
    pos = ledger.positions[PERP]
    assert (pos.size, pos.entry) == (D(-5), D("101000"))
    ledger.on_mark(PERP, D("100500"))
    assert ledger.unrealized_pnl == D("25")  # (100500 - 101000) x -5 x 0.01
    assert ledger.equity == D("100125")


def test_short_pnl_sign(ledger: Ledger) -> None:
    ledger.on_fill(fill(PERP, "SELL", "4", "100000"))
    ledger.on_mark(PERP, D("99000"))
    assert ledger.unrealized_pnl == D("40")  # price fell: the short gains (99000-100000) x -4 x 0.01
    ledger.on_mark(PERP, D("101000"))
    assert ledger.unrealized_pnl == D("-40")
    ledger.on_fill(fill(PERP, "BUY", "4", "101000"))
    assert ledger.realized_pnl == D("-40")  # bought back higher
    assert ledger.positions == {}
    assert ledger.unrealized_pnl == 0
    assert ledger.equity == D("99960")


def test_close_to_flat_exactly(ledger: Ledger) -> None:
    ledger.on_fill(fill(SPOT, "BUY", "3", "100"))
    ledger.on_fill(fill(SPOT, "SELL", "3", "90"))
    assert ledger.realized_pnl == D("-30")
    assert ledger.positions == {}


def test_fees_subtract_from_cash_and_equity(ledger: Ledger) -> None:
    ledger.on_fill(fill(SPOT, "BUY", "1", "50000", fee="30"))
    ledger.on_fill(fill(SPOT, "SELL", "1", "50000", fee="30"))
    ledger.on_fill(fill(PERP, "BUY", "1", "50000", fee="-0.1"))  # a maker rebate
    assert ledger.fees == D("59.9")
    assert ledger.cash == D("99940.1")
    ledger.on_mark(PERP, D("50000"))
    assert ledger.equity == D("99940.1")


def test_funding_long_pays_short_receives_on_positive_rate(ledger: Ledger) -> None:
    ledger.on_fill(fill(PERP, "BUY", "10", "100000"))
    # -(10 x 0.01 x 100000 x 0.0001) = -1
    assert ledger.apply_funding(PERP, D("0.0001"), D("100000")) == D("-1")
    assert ledger.funding == D("-1")
    ledger.on_fill(fill(PERP, "SELL", "20", "100000"))  # now short 10
    assert ledger.apply_funding(PERP, D("0.0001"), D("100000")) == D("1")
    assert ledger.apply_funding(PERP, D("-0.0002"), D("100000")) == D("-2")  # negative rate: shorts pay
    assert ledger.funding == D("-2")
    assert ledger.cash == D("99998")
    ledger.on_mark(PERP, D("100000"))
    assert ledger.equity == D("99998")


def test_funding_is_zero_for_spot_and_flat(ledger: Ledger) -> None:
    ledger.on_fill(fill(SPOT, "BUY", "1", "100"))
    assert ledger.apply_funding(SPOT, D("0.0001"), D("100")) == 0
    assert ledger.apply_funding(PERP, D("0.0001"), D("100000")) == 0
    assert ledger.funding == 0


def test_duplicate_fill_is_ignored(ledger: Ledger) -> None:
    f = fill(PERP, "BUY", "2", "100000", fee="1.2", trade_id="dup")
    assert ledger.on_fill(f)
    assert not ledger.on_fill(f)
    assert ledger.positions[PERP].size == D(2)
    assert ledger.fees == D("1.2")
    assert ledger.duplicate_fills == 1


def test_funding_due_top_of_each_hour_once(ledger: Ledger) -> None:
    assert ledger.funding_due(3599.0) == []  # baseline, mid-interval
    assert ledger.funding_due(3600.0) == [PERP]  # top of the hour
    assert ledger.funding_due(3600.0) == []  # once per interval
    assert ledger.funding_due(7199.9) == []
    assert ledger.funding_due(7200.0) == [PERP]
    assert ledger.funding_due(18000.5) == [PERP]  # several hours skipped: due once
    assert ledger.funding_due(18001.0) == []


def test_gross_exposure_and_leverage(ledger: Ledger) -> None:
    assert ledger.leverage == 0
    ledger.on_fill(fill(PERP, "SELL", "10", "100000"))  # 10 x 0.01 x 100000 = 10000
    ledger.on_fill(fill(SPOT, "BUY", "1", "50000"))
    assert ledger.gross_exposure == D("60000")
    assert ledger.exposure(PERP) == D("10000")
    assert ledger.leverage == D("0.6")  # 60000 / 100000
    assert ledger.position_sizes() == {PERP: D(-10), SPOT: D(1)}


def test_unknown_product_and_bad_fill_raise(ledger: Ledger) -> None:
    with pytest.raises(ValueError):
        ledger.on_fill(fill("ETH-USD", "BUY", "1", "1"))
    with pytest.raises(ValueError):
        ledger.on_fill(fill(SPOT, "HOLD", "1", "1"))


# -- margin, liquidation, drawdown, per-product PnL (worked by hand) --------------------------


def small_account() -> Ledger:
    return Ledger(D("10000"), dict(CATALOG))


def test_margin_used_and_available_at_the_mark() -> None:
    ledger = small_account()
    ledger.on_fill(fill(PERP, "BUY", "10", "90000"))  # notional 10 x 0.01 x 90,000 = 9,000
    assert ledger.margin_used == D("900")  # 10 % initial
    assert ledger.maintenance_margin == D("450")  # 5 %
    assert ledger.margin_available == D("9100")
    ledger.on_fill(fill(SPOT, "BUY", "0.01", "90000"))  # spot is fully funded: 900 more
    assert ledger.margin_used == D("1800")


def test_liquidation_price_of_a_leveraged_long_and_short() -> None:
    long = small_account()
    long.on_fill(fill(PERP, "BUY", "100", "90000"))  # 90,000 notional on 10,000: 9x
    # equity(p) = p - 80,000 ; maintenance(p) = 0.05 p  ->  p = 80,000 / 0.95
    assert long.liquidation_price(PERP) == D("80000") / D("0.95")
    short = small_account()
    short.on_fill(fill(PERP, "SELL", "100", "90000"))
    # equity(p) = 100,000 - p ; maintenance(p) = 0.05 p  ->  p = 100,000 / 1.05
    assert short.liquidation_price(PERP) == D("100000") / D("1.05")


def test_no_liquidation_price_when_flat_unlevered_or_spot() -> None:
    ledger = small_account()
    assert ledger.liquidation_price(PERP) is None
    ledger.on_fill(fill(PERP, "BUY", "10", "90000"))  # 0.9x: equity never reaches maintenance above 0
    assert ledger.liquidation_price(PERP) is None
    ledger.on_fill(fill(SPOT, "BUY", "0.1", "90000"))
    assert ledger.liquidation_price(SPOT) is None


def test_drawdown_from_the_equity_peak() -> None:
    ledger = small_account()
    ledger.on_fill(fill(PERP, "BUY", "10", "90000"))
    ledger.on_mark(PERP, D("100000"))  # +1,000: peak 11,000
    ledger.on_mark(PERP, D("89000"))  # 9,900 -> (11,000 - 9,900) / 11,000 = 10 %
    assert ledger.peak_equity == D("11000")
    assert ledger.drawdown == D("0.1")


def test_realized_pnl_and_funding_per_product() -> None:
    ledger = small_account()
    ledger.on_fill(fill(SPOT, "BUY", "1", "100"))
    ledger.on_fill(fill(SPOT, "SELL", "1", "110"))
    ledger.on_fill(fill(PERP, "BUY", "10", "90000"))
    ledger.apply_funding(PERP, D("0.0001"), D("90000"))  # longs pay 9,000 x 0.0001 = 0.9
    assert ledger.product_pnl(SPOT) == (D("10"), D("0"))
    assert ledger.product_pnl(PERP) == (D("0"), D("-0.9"))
    assert ledger.realized_pnl == D("10") and ledger.funding == D("-0.9")
