"""The built-in exchange's public REST endpoints, as Coinbase Advanced Trade answers them.

Owns request routing and the JSON of `GET /api/v3/brokerage/time`, `/market/products`,
`/market/products/{id}` and `/market/product_book`, the error bodies (404 `NOT_FOUND`, 400
`INVALID_ARGUMENT`), and the public rate limit: a token bucket per client address (10 requests/s
by default) answering 429 with `x-ratelimit-*` headers. Prices and sizes are strings on the
product's grid, as on the socket.

Pure: the server takes a `MarketView` of the market under its lock and passes the time in; this
module must never read clocks, touch sockets or hold market state. The rate limiter is the only
state here (plain data, time as an argument; the server calls it under its lock).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from decimal import Decimal
from urllib.parse import parse_qs, unquote, urlsplit

import msgspec

from domain.products import ProductSpec
from exchange import market_history as history
from exchange.frames import Candle, decimal_text, price_text, rfc3339_micros, size_text
from exchange.market_values import MarketTrade, TickerStats

PREFIX = "/api/v3/brokerage"
TIME_PATH = f"{PREFIX}/time"
PRODUCTS_PATH = f"{PREFIX}/market/products"
PRODUCT_BOOK_PATH = f"{PREFIX}/market/product_book"


# Listing details Coinbase publishes that the catalog does not model; plausible fixed values.
_BASE_MAX_SIZE = {"SPOT": "3400", "FUTURE": "5000"}
_QUOTE_MAX_SIZE = "150000000"
_CURRENCY_NAMES = {"BTC": "Bitcoin", "ETH": "Ethereum", "USD": "US Dollar", "USDC": "USDC"}
_FAR_EXPIRY = datetime(2030, 12, 20, 16, 0, tzinfo=timezone.utc)
_EXPIRY_IN_ID = re.compile(r"-(\d{2})([A-Z]{3})(\d{2})-")
_BPS_PLACES = Decimal("0.0001")
_CENTS = Decimal("0.01")

_encoder = msgspec.json.Encoder()


class ProductView(msgspec.Struct, frozen=True):
    """One product as the market shows it at one moment."""

    spec: ProductSpec
    ticker: TickerStats
    bids: tuple[tuple[Decimal, Decimal], ...]  # best first, venue units
    offers: tuple[tuple[Decimal, Decimal], ...]
    minute_candles: tuple[Candle, ...] = ()  # oldest first
    trades: tuple[MarketTrade, ...] = ()  # the latest prints, oldest first


class MarketView(msgspec.Struct, frozen=True):
    """Every listed product, the market time of the books and the exchange clock's now."""

    products: tuple[ProductView, ...]
    book_ts: float
    now: float

    def product(self, product_id: str) -> ProductView | None:
        return next((p for p in self.products if p.spec.product_id == product_id), None)


class RestResponse(msgspec.Struct, frozen=True):
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

    def json(self) -> object:
        return msgspec.json.decode(self.body)


# --------------------------------------------------------------------- routing


def handle_get(method: str, target: str, view: MarketView) -> RestResponse:
    """Answer one public REST request (`target` is the path with its query string)."""
    parts = urlsplit(target)
    path = parts.path.rstrip("/") or "/"
    query = parse_qs(parts.query, keep_blank_values=True)
    product_path = path.startswith(PRODUCTS_PATH + "/")
    if path not in (TIME_PATH, PRODUCTS_PATH, PRODUCT_BOOK_PATH) and not product_path:
        return error(404, "NOT_FOUND", f"no endpoint at {path}")
    if method != "GET":
        return error(405, "METHOD_NOT_ALLOWED", f"{method} is not allowed on {path}")
    if path == TIME_PATH:
        return _time(view.now)
    if path == PRODUCTS_PATH:
        return _products(view, query)
    if path == PRODUCT_BOOK_PATH:
        return _product_book(view, query)
    product_id, _, resource = unquote(path[len(PRODUCTS_PATH) + 1:]).partition("/")
    if resource == "candles":
        return _candles(view, product_id, query)
    if resource == "ticker":
        return _market_trades(view, product_id, query)
    if resource:
        return error(404, "NOT_FOUND", f"no endpoint at {path}")
    return _product(view, product_id)


def error(status: int, code: str, message: str) -> RestResponse:
    """Coinbase's error body: {"error", "message", "error_details"}."""
    return json_response(status, {"error": code, "message": message, "error_details": message})


def json_response(status: int, body: object) -> RestResponse:
    """`body` as a JSON answer with its Content-Type."""
    return RestResponse(status, _encoder.encode(body), (("Content-Type", "application/json"),))



# --------------------------------------------------------------------- endpoints


def _time(now: float) -> RestResponse:
    millis = round(now * 1000)
    seconds, fraction = divmod(millis, 1000)
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    iso = f"{moment:%Y-%m-%dT%H:%M:%S}.{fraction:03d}Z"
    return json_response(200, {"iso": iso, "epochSeconds": str(seconds), "epochMillis": str(millis)})


def _products(view: MarketView, query: dict[str, list[str]]) -> RestResponse:
    wanted_ids = set(query.get("product_ids", ()))
    wanted_type = (query.get("product_type") or [""])[0].upper()
    rows = [
        product_json(p, view)
        for p in view.products
        if (not wanted_ids or p.spec.product_id in wanted_ids)
        and (not wanted_type or p.spec.product_type == wanted_type)
    ]
    return json_response(200, {"products": rows, "num_products": len(rows)})


def _product(view: MarketView, product_id: str) -> RestResponse:
    product = view.product(product_id)
    if product is None:
        return error(404, "NOT_FOUND", f"product {product_id} not found")
    return json_response(200, product_json(product, view))


def _product_book(view: MarketView, query: dict[str, list[str]]) -> RestResponse:
    product_id = (query.get("product_id") or [""])[0]
    if not product_id:
        return error(400, "INVALID_ARGUMENT", "product_id is required")
    product = view.product(product_id)
    if product is None:
        return error(404, "NOT_FOUND", f"product {product_id} not found")
    depth = _limit(query, 0)
    if depth is None:
        return error(400, "INVALID_ARGUMENT", f"limit must be a positive integer, not {_one(query, 'limit')!r}")
    return json_response(200, product_book_json(product, view.book_ts, depth))


def best_bid_ask(view: MarketView, query: dict[str, list[str]]) -> RestResponse:
    """The signed-in `best_bid_ask`: each product's top of book, every product when none is named."""
    wanted = query.get("product_ids") or [p.spec.product_id for p in view.products]
    books = []
    for product_id in wanted:
        product = view.product(product_id)
        if product is None:
            return error(404, "NOT_FOUND", f"product {product_id} not found")
        books.append(product_book_json(product, view.book_ts, 1)["pricebook"])
    return json_response(200, {"pricebooks": books})


def _candles(view: MarketView, product_id: str, query: dict[str, list[str]]) -> RestResponse:
    product = view.product(product_id)
    if product is None:
        return error(404, "NOT_FOUND", f"product {product_id} not found")
    granularity = _one(query, "granularity")
    seconds = history.GRANULARITIES.get(granularity)
    if seconds is None:
        return error(400, "INVALID_ARGUMENT", f"granularity must be one of {', '.join(history.GRANULARITIES)}")
    start, end = _unix_seconds(query, "start"), _unix_seconds(query, "end")
    if start is None or end is None or end < start:
        return error(400, "INVALID_ARGUMENT", "start and end must be UNIX seconds with start <= end")
    limit = _limit(query, history.MAX_CANDLES)
    if limit is None or (end - start) // seconds > history.MAX_CANDLES:
        return error(400, "INVALID_ARGUMENT",
                     f"number of candles requested should be less than {history.MAX_CANDLES}")
    return json_response(200, history.candles_json(product.spec, product.minute_candles, start, end, seconds, limit))


def _market_trades(view: MarketView, product_id: str, query: dict[str, list[str]]) -> RestResponse:
    product = view.product(product_id)
    if product is None:
        return error(404, "NOT_FOUND", f"product {product_id} not found")
    limit = _limit(query, len(product.trades) or 1)
    start, end = _unix_seconds(query, "start"), _unix_seconds(query, "end")
    if limit is None or (_one(query, "start") and start is None) or (_one(query, "end") and end is None):
        return error(400, "INVALID_ARGUMENT", "limit must be a positive integer; start and end UNIX seconds")
    stats = product.ticker
    return json_response(200, history.trades_json(product.spec, product.trades, stats.best_bid, stats.best_ask,
                                                  limit, start, end))


def _one(query: dict[str, list[str]], name: str) -> str:
    return (query.get(name) or [""])[0]


def digits(text: str, max_digits: int) -> int | None:
    """A non-negative integer of ASCII digits (at most `max_digits`), None otherwise: `isdigit`
    alone takes "²", which `int` refuses, and an unbounded one takes 5,000 digits."""
    if not text or len(text) > max_digits or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def _unix_seconds(query: dict[str, list[str]], name: str) -> int | None:
    return digits(_one(query, name), 12)


def _limit(query: dict[str, list[str]], default: int) -> int | None:
    """The `limit` parameter (absent: `default`), None when it is not a positive integer."""
    text = _one(query, "limit")
    if not text:
        return default
    limit = digits(text, 6)
    return limit if limit else None


# --------------------------------------------------------------------- bodies


def product_book_json(product: ProductView, book_ts: float, depth: int | None = None) -> dict:
    """{"pricebook": {product_id, bids, asks, time}, last, mid_market, spread_bps, spread_absolute}."""
    spec = product.spec

    def levels(rows: tuple[tuple[Decimal, Decimal], ...]) -> list[dict[str, str]]:
        return [{"price": price_text(spec, p), "size": size_text(spec, q)} for p, q in rows[:depth or None]]

    body: dict = {
        "pricebook": {
            "product_id": spec.product_id,
            "bids": levels(product.bids),
            "asks": levels(product.offers),
            "time": rfc3339_micros(book_ts),
        },
        "last": price_text(spec, product.ticker.price),
        "mid_market": "",
        "spread_bps": "",
        "spread_absolute": "",
    }
    if product.bids and product.offers:
        bid, ask = product.bids[0][0], product.offers[0][0]
        mid = (bid + ask) / 2
        body["mid_market"] = decimal_text(mid)
        body["spread_absolute"] = price_text(spec, ask - bid)
        body["spread_bps"] = decimal_text(((ask - bid) / mid * 10_000).quantize(_BPS_PLACES))
    return body


def product_json(product: ProductView, view: MarketView) -> dict:
    """The fields of Coinbase's product object; futures carry `future_product_details`."""
    spec, stats = product.spec, product.ticker
    is_future = spec.product_type == "FUTURE"
    mid = _mid(product)
    row = {
        "product_id": spec.product_id,
        "price": price_text(spec, stats.price),
        "price_percentage_change_24h": decimal_text(stats.price_percent_chg_24_h),
        "volume_24h": size_text(spec, stats.volume_24_h),
        "volume_percentage_change_24h": "0",
        "base_increment": decimal_text(spec.base_increment),
        "quote_increment": decimal_text(spec.quote_increment),
        "quote_min_size": decimal_text(spec.quote_min_size),
        "quote_max_size": _QUOTE_MAX_SIZE,
        "base_min_size": decimal_text(spec.base_min_size),
        "base_max_size": _BASE_MAX_SIZE.get(spec.product_type, _BASE_MAX_SIZE["SPOT"]),
        "base_name": _CURRENCY_NAMES.get(spec.base_currency, spec.base_currency),
        "quote_name": _CURRENCY_NAMES.get(spec.quote_currency, spec.quote_currency),
        "watched": False,
        "is_disabled": False,
        "new": False,
        "status": "online",
        "cancel_only": False,
        "limit_only": False,
        "post_only": False,
        "trading_disabled": False,
        "auction_mode": False,
        "product_type": spec.product_type,
        "quote_currency_id": spec.quote_currency,
        "base_currency_id": spec.base_currency,
        "mid_market_price": "" if mid is None else decimal_text(mid),
        "alias": "",
        "alias_to": [],
        "base_display_symbol": spec.base_currency,
        "quote_display_symbol": spec.quote_currency,
        "view_only": False,
        "price_increment": decimal_text(spec.price_increment),
        "display_name": spec.display_name or spec.product_id,
        "product_venue": "FCM" if is_future else "CBE",
        "approximate_quote_24h_volume": decimal_text(
            spec.notional(stats.volume_24_h, stats.price).quantize(_CENTS)),
    }
    if is_future:
        row["fcm_trading_session_details"] = {
            "is_session_open": True,
            "session_state": "FCM_TRADING_SESSION_STATE_OPEN",
            "after_hours_order_entry_disabled": False,
        }
        row["future_product_details"] = _future_details(product, view)
    return row


def _future_details(product: ProductView, view: MarketView) -> dict:
    spec = product.spec
    expiry = contract_expiry(spec.product_id)
    funding_time = _utc_seconds(next_funding_ts(spec, view.now)) if spec.is_perpetual else ""
    funding_rate = decimal_text(spec.funding_rate) if spec.is_perpetual else ""
    funding_interval = f"{spec.funding_interval_s}s" if spec.is_perpetual else ""
    open_interest = "0"  # the synthetic market does not model open interest
    name = spec.display_name or spec.product_id
    return {
        "venue": "cde",
        "contract_code": spec.product_id.split("-")[0],
        "contract_expiry": f"{expiry:%Y-%m-%dT%H:%M:%SZ}",
        "contract_size": decimal_text(spec.contract_size),
        "contract_root_unit": spec.base_currency,
        "group_description": name,
        "contract_expiry_timezone": "Europe/London",
        "group_short_description": name,
        "risk_managed_by": "MANAGED_BY_FCM",
        "contract_expiry_type": "EXPIRING",
        "perpetual_details": {
            "open_interest": open_interest,
            "funding_rate": funding_rate,
            "funding_time": funding_time,
        } if spec.is_perpetual else None,
        "contract_display_name": name,
        "time_to_expiry_ms": str(max(0, round((expiry.timestamp() - view.now) * 1000))),
        "non_crypto": False,
        "twenty_four_by_seven": True,
        "funding_interval": funding_interval,
        "open_interest": open_interest,
        "funding_rate": funding_rate,
        "funding_time": funding_time,
        "display_name": name,
        "index_price": decimal_text(_index_price(product, view).quantize(spec.quote_increment)),
    }


def contract_expiry(product_id: str) -> datetime:
    """The expiry a futures id spells ('BIP-20DEC30-CDE' -> 2030-12-20 16:00 UTC), else a far date."""
    match = _EXPIRY_IN_ID.search(product_id)
    if match is None:
        return _FAR_EXPIRY
    try:
        day = datetime.strptime("".join(match.groups()), "%d%b%y")
    except ValueError:
        return _FAR_EXPIRY
    return day.replace(hour=_FAR_EXPIRY.hour, tzinfo=timezone.utc)


def next_funding_ts(spec: ProductSpec, now: float) -> float:
    """The next funding time strictly after `now`: the next multiple of the funding interval."""
    interval = spec.funding_interval_s or 3600
    return (math.floor(now / interval) + 1) * interval


def _mid(product: ProductView) -> Decimal | None:
    if not product.bids or not product.offers:
        return None
    return (product.bids[0][0] + product.offers[0][0]) / 2


def _index_price(product: ProductView, view: MarketView) -> Decimal:
    """The spot mid of the same pair when the exchange lists it, else the product's own price."""
    for other in view.products:
        spec = other.spec
        if (spec.product_type == "SPOT" and spec.base_currency == product.spec.base_currency
                and spec.quote_currency == product.spec.quote_currency):
            mid = _mid(other)
            if mid is not None:
                return mid
    return product.ticker.price


def _utc_seconds(ts: float) -> str:
    return f"{datetime.fromtimestamp(ts, tz=timezone.utc):%Y-%m-%dT%H:%M:%SZ}"
