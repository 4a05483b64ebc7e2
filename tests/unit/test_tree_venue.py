"""Which venue the tree trades on: the in-process paper venue by default, the Coinbase gateway fed by
the private stream with `venue="exchange"`."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from actors.app.exchange_view import as_text, compare
from actors.app.paper import ephemeral_credentials, exchange_key_kwargs, paper_account
from actors.app.tree import USER_STREAM, child_specs
from actors.venue.actor import PaperVenueActor
from actors.venue.gateway_actor import CoinbaseGatewayActor
from config.loader import load_profile

FEED = "ws://127.0.0.1:1"
REST = "http://127.0.0.1:1"


def specs_by_name(**kwargs):
    return {s.name: s for s in child_specs(load_profile("paper"), kwargs.pop("run_dir"), FEED, **kwargs)}


def test_sim_is_the_default_and_takes_the_books(tmp_path):
    specs = specs_by_name(run_dir=tmp_path, credentials=ephemeral_credentials())
    assert specs["venue"].actor_class is PaperVenueActor
    assert specs["streaming"].kwargs["book_consumers"] == ("market_data", "venue")
    assert "private_consumer" not in specs[USER_STREAM].kwargs


def test_exchange_trades_through_the_gateway_fed_by_the_private_stream(tmp_path):
    credentials = ephemeral_credentials()
    specs = specs_by_name(run_dir=tmp_path, credentials=credentials, venue="exchange", rest_url=REST)
    venue = specs["venue"]
    assert venue.actor_class is CoinbaseGatewayActor
    assert (venue.kwargs["rest_url"], venue.kwargs["credentials"]) == (REST, credentials)
    assert (venue.kwargs["timeout_s"], venue.kwargs["private_per_s"]) == (5.0, 15.0)  # [venue] defaults
    assert specs["streaming"].kwargs["book_consumers"] == ("market_data",)
    assert specs[USER_STREAM].kwargs["private_consumer"] == "venue"
    assert list(specs).index("venue") < list(specs).index("execution")  # it answers execution's sync


def test_exchange_without_credentials_or_rest_is_refused(tmp_path):
    with pytest.raises(ValueError, match="credentials"):
        specs_by_name(run_dir=tmp_path, venue="exchange", rest_url=REST)
    with pytest.raises(ValueError, match="REST"):
        specs_by_name(run_dir=tmp_path, credentials=ephemeral_credentials(), venue="exchange")
    with pytest.raises(ValueError, match="venue must be"):
        specs_by_name(run_dir=tmp_path, venue="coinbase")


def test_a_run_key_is_p256_and_the_exchange_gets_only_its_public_half():
    credentials = ephemeral_credentials()
    assert credentials.key_name.startswith("organizations/") and "PRIVATE" not in repr(credentials)
    kwargs = exchange_key_kwargs(credentials)
    assert kwargs == {"api_key_name": credentials.key_name, "api_public_key_pem": credentials.public_key_pem()}
    assert "PRIVATE KEY" not in kwargs["api_public_key_pem"]


def test_trading_on_the_exchange_splits_the_starting_cash_between_futures_and_spot():
    profile = load_profile("paper")  # starting_cash 100000
    sim, exchange = paper_account(profile, "sim"), paper_account(profile, "exchange")
    assert (sim.cfm_usd_balance, sim.cbi_usd_balance) == (100000, 0)
    assert (exchange.cfm_usd_balance, exchange.cbi_usd_balance) == (50000, 50000)
    assert exchange.total_usd_balance == profile.portfolio.starting_cash


def test_the_bot_matches_the_exchange_only_when_every_product_agrees():
    held = {"positions": {"BIP-20DEC30-CDE": D("-2")}, "net_filled": {"BIP-20DEC30-CDE": D("-2"), "BTC-USD": D("0.5")},
            "fills": 3, "orders": 3, "client_order_ids": 3}
    perps = {"BIP-20DEC30-CDE"}
    bot = {"BIP-20DEC30-CDE": {"size": "-2"}, "BTC-USD": {"size": "0.50"}}
    assert compare(held, bot, perps)
    assert not compare(held, {**bot, "BTC-USD": {"size": "0.4"}}, perps)
    assert not compare(held, {"BTC-USD": {"size": "0.5"}}, perps)  # the bot lost the perp position
    assert not compare({**held, "positions": {}}, bot, perps)  # cfm/positions disagrees with the fills
    assert not compare({"error": "down"}, bot, perps)
    assert as_text(held)["net_filled"] == {"BIP-20DEC30-CDE": "-2", "BTC-USD": "0.5"}
