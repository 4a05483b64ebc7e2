"""`perpsbot exchange` funds both products by default: spot USD and BTC beside the futures cash, so
a spot buy and a spot sell both fill; `--cash` and `--spot-balance` set them, and `accounts` and
the balance summary show what was set."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from actors.venue import coinbase_rest as rest
from actors.venue.coinbase_auth import Credentials
from actors.venue.coinbase_rest import RestTransport
from domain.orders import PlaceOrder
from tests.e2e.test_run_live import Exchange
from tests.support import wait_until


class Account:
    """A client of `perpsbot exchange` signing with its key."""

    def __init__(self, exchange: Exchange) -> None:
        self.rest = RestTransport(exchange.rest_url, Credentials.from_key_file(exchange.key_file), timeout_s=5)

    def json(self, request: rest.Request) -> dict:
        response = self.rest.send(request)
        assert response.status == 200, (response.status, response.body)
        return json.loads(response.body)

    def spot(self) -> dict[str, D]:
        return {a["currency"]: D(a["available_balance"]["value"]) for a in self.json(rest.accounts())["accounts"]}


@pytest.fixture
def exchange(request, tmp_path):
    ex = Exchange(tmp_path, *getattr(request, "param", ()))
    account = Account(ex)
    yield account
    account.rest.close()
    ex.stop()


def _market(ex: Account, cid: str, side: str, size: str) -> dict:
    placed = ex.json(rest.create_order(PlaceOrder(cid, "BTC-USD", side, "market", D(size))))
    assert placed["success"] is True, placed
    order_id = placed["success_response"]["order_id"]
    return wait_until(lambda: (o := ex.json(rest.get_order(order_id))["order"])["status"] == "FILLED" and o,
                      timeout=5, what=f"{cid} filled")


def test_the_default_account_buys_and_sells_spot(exchange):
    before = exchange.spot()
    assert before["USD"] == D("20000") and before["BTC"] == D("0.1")
    summary = exchange.json(rest.cfm_balance_summary())["balance_summary"]
    assert D(summary["cfm_usd_balance"]["value"]) == D("100000")
    bought = _market(exchange, "spot-buy", "BUY", "0.01")
    sold = _market(exchange, "spot-sell", "SELL", "0.05")  # more than was bought: the starting BTC pays
    assert D(bought["filled_size"]) == D("0.01") and D(sold["filled_size"]) == D("0.05")
    after = exchange.spot()
    assert after["BTC"] == D("0.06")
    assert after["USD"] > before["USD"]  # sold 0.05 BTC, bought 0.01


@pytest.mark.parametrize("exchange", [("--cash", "5000", "--spot-balance", "USD=100", "--spot-balance", "eth=2")],
                         indirect=True)
def test_cash_and_spot_balances_are_what_the_flags_say(exchange):
    spot = exchange.spot()
    assert (spot["USD"], spot["ETH"], spot.get("BTC", D(0))) == (D("100"), D("2"), D(0))
    summary = exchange.json(rest.cfm_balance_summary())["balance_summary"]
    assert D(summary["cfm_usd_balance"]["value"]) == D("5000")
    assert D(summary["cbi_usd_balance"]["value"]) == D("100")
