"""The live run's arithmetic at start: which hosts are Coinbase production (the latch), and the
ledger's starting cash that makes the bot's cash equal the venue's balance once the venue's fills
are replayed into the portfolio (worked by hand)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from actors.app.live import LiveError, RunTarget, check_target
from actors.app.venue_account import starting_cash
from actors.portfolio.ledger import Ledger
from actors.venue.endpoints import is_production
from domain.orders import Fill
from domain.products import CATALOG

PERP, SPOT = "BIP-20DEC30-CDE", "BTC-USD"


def fill(trade_id: str, product_id: str, side: str, price: str, size: str, fee: str) -> Fill:
    return Fill(trade_id, "", "", product_id, side, D(price), D(size), D(fee), "TAKER", 0.0)


@pytest.mark.parametrize("url, production", [
    ("https://api.coinbase.com", True),
    ("wss://advanced-trade-ws.coinbase.com", True),
    ("wss://advanced-trade-ws-user.coinbase.com/", True),
    ("https://API.Coinbase.com:443/api", True),
    ("https://api.coinbase.com./api", True),
    ("https://api-sandbox.coinbase.com", False),
    ("http://127.0.0.1:8741", False),
    ("https://notcoinbase.com", False),
    ("https://coinbase.com.example.org", False),
])
def test_production_hosts(url, production):
    assert is_production(url) is production


def test_the_latch_opens_only_with_live():
    with pytest.raises(LiveError, match="--live"):
        check_target(RunTarget(), live=False)
    check_target(RunTarget(), live=True)
    check_target(RunTarget("http://127.0.0.1:1", "ws://127.0.0.1:1", "ws://127.0.0.1:1/user"), live=False)


def test_starting_cash_makes_the_ledger_cash_equal_the_venue_balance():
    products = {pid: CATALOG[pid] for pid in (PERP, SPOT)}
    fills = [
        # perp: sell 10 @ 90000, buy back 4 @ 89000: realized 4 * 1000 * 0.01 (contract size) = 40
        fill("t1", PERP, "SELL", "90000", "10", "5.40"),
        fill("t2", PERP, "BUY", "89000", "4", "2.136"),
        # spot: buy 0.5 BTC @ 80000 (40,000 USD left the balance), fee 24
        fill("t3", SPOT, "BUY", "80000", "0.5", "24"),
    ]
    balance = D("60000")
    # realized 40, fees 31.536, funding journaled -1.5; spot cost basis 40,000
    cash = starting_cash(balance, fills, products, funding=D("-1.5"))
    assert cash == D("60000") - (D("40") - D("31.536") + D("-1.5")) + D("40000")
    ledger = Ledger(cash, products)
    for f in fills:
        ledger.on_fill(f)
    ledger.restore_funding(PERP, 1, D("-1.5"))
    # the ledger's cash now counts the spot position at cost: take the cost out to compare with USD
    assert ledger.cash - D("40000") == balance
