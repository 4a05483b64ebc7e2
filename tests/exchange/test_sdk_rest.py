"""Coinbase's official SDK (`RESTClient` of coinbase-advanced-py 1.8.4, its calls as shipped, GET
body `{}` and all) against the built-in exchange over 127.0.0.1, the JWT `uri` naming
api.coinbase.com exactly as production receives it: every endpoint the exchange serves answers,
parses into the SDK's typed object, and carries Coinbase's documented field types."""

from __future__ import annotations

import time
import uuid as uuidlib
from datetime import datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pytest
from requests.exceptions import HTTPError

from domain.products import BTC_PERP, BTC_USD
from exchange.server import ExchangeServer
from tests.exchange import sdk_support as sdk
from tests.exchange.sdk_support import check
from tests.support import wait_until

D = Decimal
SPOT = BTC_USD.product_id
PERP = BTC_PERP.product_id


@pytest.fixture(scope="module")
def venue():
    # The rate limits are raised: this suite calls faster than Coinbase allows (the limits have
    # tests of their own).
    server = ExchangeServer(seed=21, tick_interval_s=0.05, api_key_name=sdk.KEY_NAME,
                            api_public_key_pem=sdk.PUBLIC_PEM, public_rate_per_s=1000, private_rate_per_s=1000)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def connected(venue):
    client, adapter = sdk.sdk_client(venue)
    yield client, adapter
    client.session.close()


@pytest.fixture
def client(connected):
    return connected[0]


def _cid() -> str:
    return str(uuidlib.uuid4())


def _top(client, product_id: str) -> tuple[D, D]:
    book = client.get_best_bid_ask([product_id]).pricebooks[0]
    return D(book.bids[0]["price"]), D(book.asks[0]["price"])


def _on_grid(price: D, tick: D, rounding: str) -> str:
    return str((price / tick).quantize(D(1), rounding=rounding) * tick)


def _end_time(seconds: float) -> str:
    return f"{datetime.now(timezone.utc) + timedelta(seconds=seconds):%Y-%m-%dT%H:%M:%SZ}"


def _placed(response) -> str:
    assert response.success is True, response.to_dict()
    order_id = response.success_response["order_id"]
    assert sdk.uuid(order_id)
    return order_id


def _order(client, order_id: str) -> dict:
    order = client.get_order(order_id).order
    check(order, sdk.ORDER_FIELDS, f"order {order_id}")
    return order.to_dict()


# ------------------------------------------------------------------ market data and account


def test_reads_answer_with_the_get_body_the_sdk_sends(connected, venue):
    client, adapter = connected
    accounts = client.get_accounts()
    assert {a.currency for a in accounts.accounts} >= {"USD", "BTC"}
    for account in accounts.accounts:
        check(account, {"uuid": sdk.uuid, "name": sdk.text, "currency": sdk.text, "available_balance": sdk.money,
                        "default": sdk.boolean, "active": sdk.boolean, "created_at": sdk.rfc3339,
                        "ready": sdk.boolean, "hold": sdk.money, "type": sdk.text}, "account")
    one = client.get_account(accounts.accounts[0].uuid).account
    assert one["uuid"] == accounts.accounts[0].uuid
    gets = [body for method, _, body in adapter.sent if method == "GET"]
    assert gets and all(body == b"{}" for body in gets)  # the body is sent, and answered


def test_products_product_and_their_public_twins(client):
    for listed in (client.get_products(), client.get_public_products()):
        assert {p.product_id for p in listed.products} == {SPOT, PERP}
        for product in listed.products:
            check(product, sdk.PRODUCT_FIELDS, product.product_id)
    perp = client.get_product(PERP)
    check(perp, sdk.PRODUCT_FIELDS, PERP)
    details = perp.future_product_details
    assert details["contract_expiry_type"] == "EXPIRING" and sdk.rfc3339(details["contract_expiry"])
    assert sdk.decimal(details["contract_size"]) and sdk.decimal(details["perpetual_details"]["funding_rate"])
    assert client.get_public_product(SPOT).product_id == SPOT
    futures = client.get_products(product_type="FUTURE")
    assert [p.product_id for p in futures.products] == [PERP]


def test_product_book_best_bid_ask_and_the_public_book(client):
    for book in (client.get_product_book(SPOT, limit=5), client.get_public_product_book(SPOT, limit=5)):
        check(book.pricebook, sdk.BOOK_FIELDS, "pricebook")
        assert 0 < len(book.pricebook.bids) <= 5 and 0 < len(book.pricebook.asks) <= 5
        for level in [*book.pricebook.bids, *book.pricebook.asks]:
            check(level, sdk.LEVEL_FIELDS, "level")
        assert D(book.pricebook.bids[0].price) < D(book.pricebook.asks[0].price)
        assert sdk.decimal(book.mid_market) and sdk.decimal(book.spread_bps) and sdk.decimal(book.last)
    quotes = client.get_best_bid_ask([SPOT, PERP]).pricebooks
    assert [q.product_id for q in quotes] == [SPOT, PERP]
    for quote in quotes:
        check(quote, sdk.BOOK_FIELDS, "best_bid_ask")
        assert len(quote.bids) == len(quote.asks) == 1
    assert len(client.get_best_bid_ask().pricebooks) == 2  # none named: every product


def test_time_candles_and_market_trades(client, venue):
    now = client.get_unix_time()
    assert sdk.rfc3339(now.iso) and abs(int(now.epoch_seconds) - time.time()) < 5
    assert sdk.integer_text(now.epoch_millis)
    wait_until(lambda: client.get_market_trades(SPOT, limit=5).trades, timeout=20, what="a print on the tape")
    end = int(time.time()) + 60
    for candles in (client.get_candles(SPOT, str(end - 3600), str(end), "ONE_MINUTE"),
                    client.get_public_candles(SPOT, str(end - 3600), str(end), "FIVE_MINUTE"),
                    client.get_candles(SPOT, str(end - 86400), str(end), "ONE_HOUR", limit=3)):
        assert candles.candles
        starts = [int(c["start"]) for c in candles.candles]
        assert starts == sorted(starts, reverse=True)  # newest first
        for candle in candles.candles:
            check(candle, {"start": sdk.integer_text, "low": sdk.decimal, "high": sdk.decimal, "open": sdk.decimal,
                           "close": sdk.decimal, "volume": sdk.decimal}, "candle")
            assert D(candle["low"]) <= min(D(candle["open"]), D(candle["close"]))
            assert D(candle["high"]) >= max(D(candle["open"]), D(candle["close"]))
    with pytest.raises(HTTPError, match="400"):
        client.get_candles(SPOT, str(end - 86400 * 30), str(end), "ONE_MINUTE")  # over 350 candles
    for trades in (client.get_market_trades(SPOT, limit=5), client.get_public_market_trades(SPOT, limit=5)):
        assert 0 < len(trades.trades) <= 5
        assert sdk.decimal(trades.best_bid) and sdk.decimal(trades.best_ask)
        for trade in trades.trades:
            check(trade, {"trade_id": sdk.text, "product_id": sdk.one_of(SPOT), "price": sdk.decimal,
                          "size": sdk.decimal, "time": sdk.rfc3339, "side": sdk.one_of(sdk.SIDES)}, "trade")
        times = [t.time for t in trades.trades]
        assert times == sorted(times, reverse=True)


# ------------------------------------------------------------------ orders


def test_every_order_kind_is_accepted_and_reads_back_in_coinbase_spelling(client):
    bid, ask = _top(client, SPOT)
    tick = BTC_USD.price_increment
    far_below = _on_grid(bid * D("0.9"), tick, ROUND_FLOOR)
    above = _on_grid(ask * D("1.01"), tick, ROUND_CEILING)
    placed = {
        "market": (client.market_order_buy(_cid(), SPOT, quote_size="20"), "MARKET", "IMMEDIATE_OR_CANCEL",
                   "FILLED"),
        "market_sell": (client.market_order_sell(_cid(), SPOT, base_size="0.0001"), "MARKET",
                        "IMMEDIATE_OR_CANCEL", "FILLED"),
        "gtc": (client.limit_order_gtc_buy(_cid(), SPOT, "0.001", far_below), "LIMIT", "GOOD_UNTIL_CANCELLED",
                "OPEN"),
        "post_only": (client.limit_order_gtc_buy(_cid(), SPOT, "0.001", far_below, post_only=True), "LIMIT",
                      "GOOD_UNTIL_CANCELLED", "OPEN"),
        "gtd": (client.limit_order_gtd_buy(_cid(), SPOT, "0.001", far_below, _end_time(3600)), "LIMIT",
                "GOOD_UNTIL_DATE_TIME", "OPEN"),
        "ioc": (client.limit_order_ioc_buy(_cid(), SPOT, "0.0001", above), "LIMIT", "IMMEDIATE_OR_CANCEL",
                "FILLED"),
        "fok": (client.limit_order_fok_buy(_cid(), SPOT, "0.0001", above), "LIMIT", "FILL_OR_KILL", "FILLED"),
        "stop_gtc": (client.stop_limit_order_gtc_sell(_cid(), SPOT, "0.0001", far_below, far_below,
                                                      "STOP_DIRECTION_STOP_DOWN"),
                     "STOP_LIMIT", "GOOD_UNTIL_CANCELLED", "OPEN"),
        "stop_gtd": (client.stop_limit_order_gtd_buy(_cid(), SPOT, "0.0001", above, above, _end_time(3600),
                                                     "STOP_DIRECTION_STOP_UP"),
                     "STOP_LIMIT", "GOOD_UNTIL_DATE_TIME", "OPEN"),
    }
    for kind, (response, order_type, tif, status) in placed.items():
        order = _order(client, _placed(response))
        assert (order["order_type"], order["time_in_force"], order["status"]) == (order_type, tif, status), kind
        if order_type == "STOP_LIMIT":
            assert order["trigger_status"] == "STOP_PENDING", kind
    post_only = _order(client, placed["post_only"][0].success_response["order_id"])
    assert post_only["order_configuration"]["limit_limit_gtc"]["post_only"] is True
    crossing = client.limit_order_gtc_buy(_cid(), SPOT, "0.001", above, post_only=True)
    assert crossing.success is False and crossing.error_response["error"] == "INVALID_LIMIT_PRICE_POST_ONLY"
    client.cancel_orders([placed[k][0].success_response["order_id"]
                          for k in ("gtc", "post_only", "gtd", "stop_gtc", "stop_gtd")])


def test_preview_answers_like_create_would(client):
    bid, _ = _top(client, SPOT)
    price = _on_grid(bid * D("0.95"), BTC_USD.price_increment, ROUND_FLOOR)
    preview = client.preview_limit_order_gtc_buy(SPOT, "0.001", price)
    check(preview, {"order_total": sdk.decimal, "commission_total": sdk.decimal, "quote_size": sdk.decimal,
                    "base_size": sdk.decimal, "best_bid": sdk.decimal, "best_ask": sdk.decimal,
                    "errs": lambda v: v == [], "warning": lambda v: isinstance(v, list)}, "preview")
    assert D(preview.order_total) == D(price) * D("0.001") + D(preview.commission_total)
    refused = client.preview_market_order_buy("NOPE-USD", quote_size="10")
    assert refused.errs == ["PREVIEW_INVALID_PRODUCT_ID"]


def test_list_orders_filters_and_cursor_paging(client):
    bid, _ = _top(client, SPOT)
    price = _on_grid(bid * D("0.8"), BTC_USD.price_increment, ROUND_FLOOR)
    mine = {_placed(client.limit_order_gtc_buy(_cid(), SPOT, "0.0002", price)) for _ in range(5)}
    seen: list[str] = []
    cursor, pages = None, 0
    while True:
        page = client.list_orders(product_ids=[SPOT], order_status=["OPEN"], limit=2, cursor=cursor)
        pages += 1
        assert len(page.orders) <= 2 and isinstance(page.has_next, bool)
        for order in page.orders:
            check(order, sdk.ORDER_FIELDS, "listed order")
            assert (order.product_id, order.status) == (SPOT, "OPEN")
        seen.extend(o.order_id for o in page.orders)
        if not page.has_next:
            assert page.cursor == ""
            break
        cursor = page.cursor
    assert pages >= 3 and len(seen) == len(set(seen)) and mine <= set(seen)
    sells = client.list_orders(order_side="SELL", order_status=["OPEN"]).orders
    assert not mine & {o.order_id for o in sells}
    limits = client.list_orders(order_ids=sorted(mine), order_types=["LIMIT"]).orders
    assert {o.order_id for o in limits} == mine
    results = client.cancel_orders(sorted(mine)).results
    assert {r.order_id for r in results} == mine and all(r.success for r in results)
    assert all(_order(client, o)["status"] == "CANCELLED" for o in mine)


def test_fills_cursor_paging_and_the_cancel_reasons(client):
    order_id = _placed(client.market_order_buy(_cid(), SPOT, base_size="0.003"))
    wait_until(lambda: _order(client, order_id)["status"] == "FILLED", timeout=5, what="the market buy to fill")
    trade_ids: list[str] = []
    cursor = None
    while True:
        page = client.get_fills(limit=1, cursor=cursor)
        assert len(page.fills) <= 1
        for fill in page.fills:
            check(fill, sdk.FILL_FIELDS, "fill")
        trade_ids.extend(f.trade_id for f in page.fills)
        if not page.cursor:
            break
        cursor = page.cursor
    assert len(trade_ids) == len(set(trade_ids)) >= 2
    of_order = client.get_fills(order_ids=[order_id]).fills
    assert of_order and {f.order_id for f in of_order} == {order_id}
    assert sum(D(f.size) for f in of_order) == D("0.003")
    filled = client.cancel_orders([order_id]).results[0]
    assert (filled.success, filled.failure_reason) == (False, "ORDER_IS_FULLY_FILLED")


def test_edit_and_preview_edit(client):
    bid, _ = _top(client, SPOT)
    tick = BTC_USD.price_increment
    order_id = _placed(client.limit_order_gtc_buy(_cid(), SPOT, "0.001",
                                                  _on_grid(bid * D("0.9"), tick, ROUND_FLOOR)))
    new_price = _on_grid(bid * D("0.91"), tick, ROUND_FLOOR)
    preview = client.preview_edit_order(order_id, size="0.002", price=new_price)
    assert preview.errors == [] and sdk.decimal(preview.slippage) and sdk.decimal(preview.order_total)
    edited = client.edit_order(order_id, size="0.002", price=new_price)
    assert edited.success is True, edited.to_dict()
    order = _order(client, order_id)
    assert order["order_configuration"]["limit_limit_gtc"]["base_size"] == "0.002"
    assert [e["price"] for e in order["edit_history"]] == [new_price]
    client.cancel_orders([order_id])
    refused = client.edit_order(order_id, size="0.002", price=new_price)
    assert refused.success is False


# ------------------------------------------------------------------ futures


def test_futures_position_balance_summary_and_close_position(client):
    opened = _order(client, _placed(client.market_order_buy(_cid(), PERP, base_size="2")))
    assert opened["status"] == "FILLED" and opened["product_type"] == "FUTURE"
    positions = client.list_futures_positions().positions
    assert [(p.product_id, p.side, p.number_of_contracts) for p in positions] == [(PERP, "LONG", "2")]
    check(positions[0], sdk.POSITION_FIELDS, "position")
    one = client.get_futures_position(PERP).position
    assert one["number_of_contracts"] == "2"
    summary = client.get_futures_balance_summary().balance_summary
    check(summary, {name: sdk.money for name in (
        "futures_buying_power", "total_usd_balance", "cbi_usd_balance", "cfm_usd_balance",
        "total_open_orders_hold_amount", "unrealized_pnl", "daily_realized_pnl", "initial_margin",
        "available_margin", "liquidation_threshold", "liquidation_buffer_amount")}, "balance summary")
    assert D(summary["initial_margin"]["value"]) > 0
    closed = client.close_position(_cid(), PERP, size="2")
    assert _order(client, _placed(closed))["status"] == "FILLED"
    assert client.list_futures_positions().positions == []
    nothing = client.close_position(_cid(), PERP)
    assert nothing.success is False and nothing.error_response["error"] == "INVALID_REQUEST"
