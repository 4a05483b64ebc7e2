"""Margin projections after a trade, against numbers worked out by hand and against the ledger."""

from __future__ import annotations

from decimal import Decimal

from actors.portfolio.ledger import Ledger
from domain.margin import liquidation_price, maintenance_margin, project
from domain.orders import Fill
from domain.products import BTC_PERP, BTC_USD, CATALOG

D = Decimal
PERP = BTC_PERP.product_id


def test_a_5x_long() -> None:
    # Equity 10000 buys 50 contracts at 100000: notional 50000, maintenance 50000 x 5% = 2500.
    # Liquidation: 10000 + 0.5 (p - 100000) = 0.025 p  ->  0.475 p = 40000  ->  p = 84210.526...
    p = project(BTC_PERP, D(0), D(50), D(100_000), D(10_000), D(0))
    assert (p.size, p.notional, p.maintenance, p.buffer_pct) == (D(50), D(50_000), D(2500), D(75))
    assert p.liquidation_price.quantize(D("0.01")) == D("84210.53")
    assert p.liquidation_distance_pct(D(100_000)).quantize(D("0.01")) == D("15.79")


def test_a_5x_short() -> None:
    # 60000 - 0.5 p = 0.025 p  ->  p = 114285.714...
    p = project(BTC_PERP, D(0), D(-50), D(100_000), D(10_000), D(0))
    assert p.liquidation_price.quantize(D("0.01")) == D("114285.71")


def test_others_maintenance_brings_liquidation_closer() -> None:
    # Other positions need 2000: 10000 + 0.5 (p - 100000) = 2000 + 0.025 p  ->  p = 42000 / 0.475.
    p = project(BTC_PERP, D(0), D(50), D(100_000), D(10_000), D(2000))
    assert p.liquidation_price.quantize(D("0.01")) == D("88421.05")
    assert p.maintenance == D(4500)


def test_adding_to_a_position_projects_the_whole_of_it() -> None:
    assert project(BTC_PERP, D(30), D(20), D(100_000), D(10_000), D(0)) == \
        project(BTC_PERP, D(0), D(50), D(100_000), D(10_000), D(0))


def test_no_liquidation_price_when_flat_unleveraged_or_spot() -> None:
    assert project(BTC_PERP, D(10), D(-10), D(100_000), D(10_000), D(0)).liquidation_price is None  # flat
    # 10 contracts = 1x: equity 10000 + 0.1 (p - 100000) = 0.005 p -> p = 0: no positive price liquidates.
    assert project(BTC_PERP, D(0), D(10), D(100_000), D(10_000), D(0)).liquidation_price is None
    assert liquidation_price(BTC_USD, D(1), D(50_000), D(10_000), D(0)) is None  # spot
    assert maintenance_margin(BTC_USD, D(1), D(50_000)) == 0


def test_no_buffer_without_equity() -> None:
    assert project(BTC_PERP, D(0), D(1), D(100_000), D(0), D(0)).buffer_pct is None


def fill(trade_id: str, side: str, size: str, price: str) -> Fill:
    return Fill(trade_id=trade_id, client_order_id="c", venue_order_id="v", product_id=PERP, side=side,
                price=D(price), size=D(size), fee=D(0), liquidity="TAKER", ts=0.0)


def test_with_no_trade_it_is_the_ledgers_liquidation_price() -> None:
    # The ledger knows the entry; the projection needs only equity at the mark: they must agree.
    ledger = Ledger(D(10_000), CATALOG)
    ledger.on_fill(fill("1", "BUY", "30", "98000"))
    ledger.on_fill(fill("2", "BUY", "20", "101000"))
    ledger.on_mark(PERP, D(99_500))
    p = project(BTC_PERP, D(50), D(0), D(99_500), ledger.equity, D(0))
    assert p.liquidation_price == ledger.liquidation_price(PERP)
    assert p.maintenance == ledger.maintenance_margin
