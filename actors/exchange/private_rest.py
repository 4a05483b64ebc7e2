"""The built-in exchange's private REST endpoints, as Coinbase Advanced Trade answers them.

Owns the routing of the authenticated endpoints under `/api/v3/brokerage` (create, preview, batch
cancel, edit, close position, get order, list orders, fills, products, accounts,
`cfm/balance_summary`, `cfm/positions`), the parsing of their request bodies and query strings
(`order_configuration` kinds, decimal strings, repeatable filters, `limit` and `cursor`) and the
JSON of their answers: create is HTTP 200 with `success` true or false (`error_response` naming
the reason), cancel gives one result per id, lists are newest first with `has_next`/`cursor`,
CFM money fields are `{"value", "currency"}` objects.

Pure: the server passes the `ClientOrders` core (under its lock), a `MarketView` for the product
endpoints and the time. Must never read clocks, touch sockets, authenticate (the server does
that first) or change the core except through its methods.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

import msgspec

from actors.exchange import failure_reasons as reasons
from actors.exchange import rest
from actors.exchange.client_orders import (
    ORDER_KINDS,
    BalanceSummary,
    ClientFill,
    ClientOrders,
    OrderRequest,
    OrderView,
    PerpPosition,
    Refusal,
)
from actors.exchange.frames import (
    buffer_percentage_text,
    decimal_text,
    price_text,
    rfc3339_micros,
    size_text,
    usd_text,
)
from actors.exchange.rest import PREFIX, PRODUCTS_PATH, MarketView, RestResponse
from actors.products import ProductSpec
from actors.streaming.codec import parse_timestamp

CREATE = "create"
PREVIEW = "preview"
BATCH_CANCEL = "batch_cancel"
EDIT = "edit"
EDIT_PREVIEW = "edit_preview"
CLOSE_POSITION = "close_position"
GET_ORDER = "get_order"
LIST_ORDERS = "list_orders"
LIST_FILLS = "list_fills"
PRODUCTS = "products"
ACCOUNTS = "accounts"
BALANCE_SUMMARY = "balance_summary"
POSITIONS = "positions"
PRODUCT_BOOK = "product_book"
BEST_BID_ASK = "best_bid_ask"

WRITES = (CREATE, BATCH_CANCEL, EDIT, CLOSE_POSITION)  # requests that change orders
BATCH_CANCEL_MAX = 100
MAX_NUMBER_CHARS = 40  # a wire decimal longer than this is refused before it is read
MAX_EXPONENT, MIN_EXPONENT = 15, -18  # no price, size or leverage of a listed product comes near
_PLAIN_DECIMAL = re.compile(r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]{1,3})?")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

_POSTS = {
    f"{PREFIX}/orders": CREATE,
    f"{PREFIX}/orders/preview": PREVIEW,
    f"{PREFIX}/orders/batch_cancel": BATCH_CANCEL,
    f"{PREFIX}/orders/edit": EDIT,
    f"{PREFIX}/orders/edit_preview": EDIT_PREVIEW,
    f"{PREFIX}/orders/close_position": CLOSE_POSITION,
}
_GETS = {
    f"{PREFIX}/orders/historical/batch": LIST_ORDERS,
    f"{PREFIX}/orders/historical/fills": LIST_FILLS,
    f"{PREFIX}/products": PRODUCTS,
    f"{PREFIX}/accounts": ACCOUNTS,
    f"{PREFIX}/cfm/balance_summary": BALANCE_SUMMARY,
    f"{PREFIX}/cfm/positions": POSITIONS,
    f"{PREFIX}/product_book": PRODUCT_BOOK,
    f"{PREFIX}/best_bid_ask": BEST_BID_ASK,
}
_GET_PREFIXES = {  # path prefix -> endpoint taking the rest of the path as its argument
    f"{PREFIX}/orders/historical/": GET_ORDER,
    f"{PREFIX}/products/": PRODUCTS,
    f"{PREFIX}/accounts/": ACCOUNTS,
    f"{PREFIX}/cfm/positions/": POSITIONS,
}
_ACCOUNTS_NAMESPACE = uuid.UUID("6f1d0c62-2a4e-4d8e-9b0c-6d2f8f0f7a11")


class Route(msgspec.Struct, frozen=True):
    """A private endpoint: its name, the method it takes and the path argument (an order id...)."""

    name: str
    method: str
    arg: str = ""

    @property
    def is_write(self) -> bool:
        return self.name in WRITES


def route(path: str) -> Route | None:
    """The private endpoint at `path` (no query string), or None when it is not one."""
    path = path.rstrip("/") or "/"
    if path in _POSTS:
        return Route(_POSTS[path], "POST")
    if path in _GETS:
        return Route(_GETS[path], "GET")
    for prefix, name in _GET_PREFIXES.items():
        if path.startswith(prefix) and len(path) > len(prefix):
            return Route(name, "GET", unquote(path[len(prefix):]))
    return None


def handle(found: Route, method: str, target: str, body: bytes, core: ClientOrders, view: MarketView,
           now: float) -> RestResponse:
    """Answer one authenticated request to the endpoint `found` (`target` has the query string)."""
    if method != found.method:
        return rest.error(405, "METHOD_NOT_ALLOWED", f"{method} is not allowed here")
    query = parse_qs(urlsplit(target).query, keep_blank_values=True)
    try:
        if found.method == "POST":
            payload = _decode(body)
            return _POST_HANDLERS[found.name](payload, core, now)
        return _GET_HANDLERS[found.name](found, target, query, core, view, now)
    except _BadRequest as exc:
        return rest.error(400, "INVALID_ARGUMENT", str(exc))


class _BadRequest(Exception):
    """A request the endpoint cannot read: HTTP 400 INVALID_ARGUMENT."""


def _decode(body: bytes) -> dict[str, Any]:
    try:
        payload = msgspec.json.decode(body or b"{}")
    except msgspec.DecodeError:
        raise _BadRequest("the body is not JSON") from None
    except RecursionError:  # msgspec's nesting limit
        raise _BadRequest("the body nests too deeply") from None
    if not isinstance(payload, dict):
        raise _BadRequest("the body must be a JSON object")
    return payload


def _json(body: object, status: int = 200) -> RestResponse:
    return rest.json_response(status, body)


# --------------------------------------------------------------------- order requests


def parse_order(payload: dict[str, Any], need_client_order_id: bool = True) -> OrderRequest | Refusal:
    """A create (or preview) body as an OrderRequest; a Refusal for values that cannot be an order;
    `_BadRequest` for a body missing what every order needs."""
    client_order_id = payload.get("client_order_id", "")
    if need_client_order_id and (not isinstance(client_order_id, str) or not client_order_id):
        raise _BadRequest("client_order_id is required")
    product_id = payload.get("product_id")
    side = payload.get("side")
    configuration = payload.get("order_configuration")
    if not isinstance(product_id, str) or not product_id:
        raise _BadRequest("product_id is required")
    if not isinstance(side, str):
        raise _BadRequest("side is required")
    if not isinstance(configuration, dict) or len(configuration) != 1:
        raise _BadRequest("order_configuration must hold exactly one order kind")
    (kind, config), = configuration.items()
    if kind not in ORDER_KINDS:
        return Refusal(reasons.UNSUPPORTED_ORDER_CONFIGURATION, f"order kind {kind!r} is not supported")
    if not isinstance(config, dict):
        raise _BadRequest(f"order_configuration.{kind} must be an object")
    fields: dict[str, Any] = {}
    for name, code in (("base_size", reasons.INVALID_SIZE_PRECISION), ("quote_size", reasons.INVALID_SIZE_PRECISION),
                       ("limit_price", reasons.INVALID_PRICE_PRECISION),
                       ("stop_price", reasons.INVALID_PRICE_PRECISION)):
        if config.get(name) in (None, ""):
            continue
        value = _decimal(config[name])
        if value is None:
            return Refusal(code, f"{name} {str(config[name])[:40]!r} is not a number an order can carry")
        fields[name] = value
    if "base_size" in fields and "quote_size" in fields:
        return Refusal(reasons.INVALID_REQUEST, "give base_size or quote_size, not both", reasons.PREVIEW_INVALID_ORDER_CONFIG)
    post_only = config.get("post_only", False)
    if isinstance(post_only, str):
        post_only = post_only.lower() == "true"
    end_time = config.get("end_time") or ""
    end_ts = None
    if end_time:
        end_ts = parse_time(end_time) if isinstance(end_time, str) else None
        if end_ts is None:
            return Refusal(reasons.INVALID_REQUEST, f"end_time {end_time!r} is not an RFC 3339 time")
    leverage = None
    if payload.get("leverage") not in (None, ""):
        leverage = _decimal(payload["leverage"])
        if leverage is None:
            return Refusal(reasons.INVALID_LEVERAGE, f"leverage {str(payload['leverage'])[:40]!r} is not a number")
    margin_type = payload.get("margin_type") or ""
    if margin_type not in ("", "CROSS", "ISOLATED"):
        return Refusal(reasons.INVALID_MARGIN_TYPE, "margin_type must be CROSS or ISOLATED")
    return OrderRequest(
        client_order_id=client_order_id if isinstance(client_order_id, str) else "",
        product_id=product_id,
        side=side.upper(),
        kind=kind,
        configuration=dict(config),
        base_size=fields.get("base_size"),
        quote_size=fields.get("quote_size"),
        limit_price=fields.get("limit_price"),
        stop_price=fields.get("stop_price"),
        stop_direction=str(config.get("stop_direction") or ""),
        end_ts=end_ts,
        end_time=end_time if isinstance(end_time, str) else "",
        post_only=bool(post_only),
        leverage=leverage,
        margin_type=margin_type,
    )


def _decimal(value: object) -> Decimal | None:
    """A price, size or leverage from a request body; None for anything no order could carry:
    not a plain ASCII decimal (Python's own reader also takes "1_000" and full-width digits),
    longer than a decimal of its kind can be, or of a magnitude no product trades (1e400 or
    1e-999999999 would make the order arithmetic raise or crawl)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    text = str(value).strip()
    if len(text) > MAX_NUMBER_CHARS or _PLAIN_DECIMAL.fullmatch(text) is None:
        return None
    number = Decimal(text)
    if number and not MIN_EXPONENT <= number.adjusted() <= MAX_EXPONENT:  # adjusted(): no context, no trap
        return None
    return number


def parse_time(text: str) -> float | None:
    """RFC 3339 ('2026-11-23T21:40:00Z', any fraction, any offset) as epoch seconds; None otherwise.
    The bot's own parser (actors.streaming.codec), so both sides of the wire read times alike."""
    try:
        return parse_timestamp(text.strip())
    except ValueError:
        return None


def _create_answer(outcome: OrderView | Refusal, configuration: dict[str, Any]) -> RestResponse:
    if isinstance(outcome, Refusal):
        return _json({
            "success": False,
            "error_response": {
                "error": outcome.code,
                "message": outcome.message,
                "error_details": outcome.message,
                "preview_failure_reason": outcome.preview_reason(),
                "new_order_failure_reason": reasons.UNKNOWN_FAILURE_REASON,  # as production's answers show
            },
            "order_configuration": configuration,
        })
    return _json({
        "success": True,
        "success_response": {
            "order_id": outcome.order_id,
            "product_id": outcome.product_id,
            "side": outcome.side,
            "client_order_id": outcome.client_order_id,
            "attached_order_id": "",
        },
        "order_configuration": {outcome.kind: outcome.configuration},
    })


def _create(payload: dict[str, Any], core: ClientOrders, now: float) -> RestResponse:
    request = parse_order(payload)
    configuration = payload.get("order_configuration")
    if isinstance(request, Refusal):
        client_order_id = payload.get("client_order_id")
        known = core.order_by_client_id(client_order_id) if isinstance(client_order_id, str) else None
        return _create_answer(known or request, configuration)
    return _create_answer(core.create(request, now), configuration)


def _preview(payload: dict[str, Any], core: ClientOrders, now: float) -> RestResponse:
    request = parse_order(payload, need_client_order_id=False)
    if isinstance(request, Refusal):
        return _json({"errs": [request.preview_reason()], "warning": [], "order_total": "0",
                      "commission_total": "0", "quote_size": "0", "base_size": "0", "preview_id": ""})
    preview = core.preview(request, now)

    return _json({
        "order_total": decimal_text(preview.order_total),
        "commission_total": decimal_text(preview.commission),
        "errs": list(preview.errors),
        "warning": [],
        "quote_size": decimal_text(preview.quote_size),
        "base_size": decimal_text(preview.base_size),
        "best_bid": _optional_text(preview.best_bid),
        "best_ask": _optional_text(preview.best_ask),
        "average_filled_price": decimal_text(preview.average_price),
        "is_max": False,
        "order_margin_total": decimal_text(preview.margin),
        "leverage": decimal_text(preview.leverage),
        "long_leverage": decimal_text(preview.leverage),
        "short_leverage": decimal_text(preview.leverage),
        "slippage": decimal_text(preview.slippage),
        "preview_id": preview.preview_id,
    })


def _batch_cancel(payload: dict[str, Any], core: ClientOrders, now: float) -> RestResponse:
    order_ids = payload.get("order_ids")
    if not isinstance(order_ids, list) or not order_ids or not all(isinstance(i, str) for i in order_ids):
        raise _BadRequest("order_ids must be a non-empty list of order ids")
    if len(order_ids) > BATCH_CANCEL_MAX:
        raise _BadRequest(f"at most {BATCH_CANCEL_MAX} order ids per request")
    results = [{"success": ok, "failure_reason": reason, "order_id": order_id}
               for order_id, ok, reason in core.cancel(order_ids, now)]
    return _json({"results": results})


def _edit_request(payload: dict[str, Any]) -> tuple[str, Decimal | None, Decimal | None]:
    """An edit's order id, price and size (None when not a number); both must be sent."""
    order_id, price, size = payload.get("order_id"), payload.get("price"), payload.get("size")
    if not isinstance(order_id, str) or not order_id:
        raise _BadRequest("order_id is required")
    if price in (None, "") or size in (None, ""):
        raise _BadRequest("an edit sends both price and size")
    return order_id, _decimal(price), _decimal(size)


def _edit_errors(reason: str) -> list[dict[str, str]]:
    if not reason:
        return []
    return [{"edit_failure_reason": reason, "preview_failure_reason": "UNKNOWN_PREVIEW_FAILURE_REASON"}]


def _edit(payload: dict[str, Any], core: ClientOrders, now: float) -> RestResponse:
    order_id, price, size = _edit_request(payload)
    if price is None:
        reason = reasons.INVALID_EDITED_PRICE
    elif size is None:
        reason = reasons.INVALID_EDITED_SIZE
    else:
        reason = core.edit(order_id, price, size, now)
    return _json({"success": not reason, "errors": _edit_errors(reason)})


def _edit_preview(payload: dict[str, Any], core: ClientOrders, now: float) -> RestResponse:
    order_id, price, size = _edit_request(payload)
    if price is None or size is None:
        reason = reasons.INVALID_EDITED_PRICE if price is None else reasons.INVALID_EDITED_SIZE
        return _json({"errors": _edit_errors(reason), "slippage": "0", "order_total": "0",
                      "commission_total": "0", "quote_size": "0", "base_size": "0", "best_bid": "",
                      "best_ask": "", "average_filled_price": "0"})
    preview = core.edit_preview(order_id, price, size, now)

    return _json({
        "errors": _edit_errors(preview.reason),
        "slippage": "0",
        "order_total": decimal_text(preview.order_total),
        "commission_total": decimal_text(preview.commission_total),
        "quote_size": decimal_text(price * size),
        "base_size": decimal_text(size),
        "best_bid": _optional_text(preview.best_bid),
        "best_ask": _optional_text(preview.best_ask),
        "average_filled_price": "0",
    })


def _close_position(payload: dict[str, Any], core: ClientOrders, now: float) -> RestResponse:
    client_order_id, product_id = payload.get("client_order_id"), payload.get("product_id")
    if not isinstance(client_order_id, str) or not client_order_id:
        raise _BadRequest("client_order_id is required")
    if not isinstance(product_id, str) or not product_id:
        raise _BadRequest("product_id is required")
    size = None
    if payload.get("size") not in (None, ""):
        size = _decimal(payload["size"])
        if size is None:
            return _create_answer(Refusal(reasons.INVALID_SIZE_PRECISION, "size is not a number"), {})
    outcome = core.close_position(client_order_id, product_id, size, now)
    configuration = {"market_market_ioc": {"base_size": decimal_text(size)}} if size is not None else {}
    return _create_answer(outcome, configuration)


_POST_HANDLERS: dict[str, Callable[[dict[str, Any], ClientOrders, float], RestResponse]] = {
    CREATE: _create,
    PREVIEW: _preview,
    BATCH_CANCEL: _batch_cancel,
    EDIT: _edit,
    EDIT_PREVIEW: _edit_preview,
    CLOSE_POSITION: _close_position,
}


# --------------------------------------------------------------------- queries


def _page(query: dict[str, list[str]], rows: list[Any]) -> tuple[list[Any], str]:
    """(this page's rows, the cursor of the next page or "")."""
    raw_limit = (query.get("limit") or [""])[0]
    limit = DEFAULT_LIMIT
    if raw_limit:
        asked = rest.digits(raw_limit, 9)
        if not asked:
            raise _BadRequest(f"limit must be a positive integer, not {raw_limit[:40]!r}")
        limit = min(asked, MAX_LIMIT)
    raw_cursor = (query.get("cursor") or [""])[0]
    start = rest.digits(raw_cursor, 12) if raw_cursor else 0
    if start is None:
        raise _BadRequest(f"cursor {raw_cursor[:40]!r} is not one this endpoint gave")
    page = rows[start:start + limit]
    more = start + limit < len(rows)
    return page, str(start + limit) if more else ""


def _times(query: dict[str, list[str]], start_name: str, end_name: str) -> tuple[float | None, float | None]:
    bounds = []
    for name in (start_name, end_name):
        raw = (query.get(name) or [""])[0]
        if not raw:
            bounds.append(None)
            continue
        ts = parse_time(raw)
        if ts is None:
            raise _BadRequest(f"{name} {raw!r} is not an RFC 3339 time")
        bounds.append(ts)
    return bounds[0], bounds[1]


def _get_order(found: Route, target: str, query: dict[str, list[str]], core: ClientOrders, view: MarketView,
               now: float) -> RestResponse:
    order = core.order(found.arg)
    if order is None:
        return rest.error(404, "NOT_FOUND", f"order {found.arg} not found")
    return _json({"order": order_json(order, core, _spec(view, order.product_id))})


def _list_orders(found: Route, target: str, query: dict[str, list[str]], core: ClientOrders, view: MarketView,
                 now: float) -> RestResponse:
    order_ids = set(query.get("order_ids", ()))
    product_ids = set(query.get("product_ids", ()))
    statuses = {s.upper() for s in query.get("order_status", ())}
    order_types = {t.upper() for t in query.get("order_types", ())}
    side = (query.get("order_side") or [""])[0].upper()
    product_type = (query.get("product_type") or [""])[0].upper()
    start, end = _times(query, "start_date", "end_date")
    rows = [
        o for o in core.orders()
        if (not order_ids or o.order_id in order_ids)
        and (not product_ids or o.product_id in product_ids)
        and (not statuses or o.status in statuses)
        and (not order_types or o.order_type in order_types)
        and (not side or o.side == side)
        and (not product_type or o.product_type == product_type)
        and (start is None or o.created_ts >= start)
        and (end is None or o.created_ts <= end)
    ]
    page, cursor = _page(query, rows)
    return _json({"orders": [order_json(o, core, _spec(view, o.product_id)) for o in page],
                  "sequence": "0", "has_next": bool(cursor), "cursor": cursor})


def _list_fills(found: Route, target: str, query: dict[str, list[str]], core: ClientOrders, view: MarketView,
                now: float) -> RestResponse:
    order_ids = set(query.get("order_ids", ()))
    trade_ids = set(query.get("trade_ids", ()))
    product_ids = set(query.get("product_ids", ()))
    start, end = _times(query, "start_sequence_timestamp", "end_sequence_timestamp")
    rows = [
        f for f in core.fills()
        if (not order_ids or f.order_id in order_ids)
        and (not trade_ids or f.trade_id in trade_ids)
        and (not product_ids or f.product_id in product_ids)
        and (start is None or f.ts >= start)
        and (end is None or f.ts <= end)
    ]
    page, cursor = _page(query, rows)
    return _json({"fills": [fill_json(f, core, _spec(view, f.product_id)) for f in page], "cursor": cursor})


def _products(found: Route, target: str, query: dict[str, list[str]], core: ClientOrders, view: MarketView,
              now: float) -> RestResponse:
    """The public product endpoints' answers, with `future_product_details` for futures."""
    parts = urlsplit(target)
    suffix = parts.path[len(f"{PREFIX}/products"):]
    return rest.handle_get("GET", PRODUCTS_PATH + suffix + (f"?{parts.query}" if parts.query else ""), view)


def _product_book(found: Route, target: str, query: dict[str, list[str]], core: ClientOrders, view: MarketView,
                  now: float) -> RestResponse:
    """The signed-in twin of `market/product_book`: the same book."""
    parts = urlsplit(target)
    return rest.handle_get("GET", rest.PRODUCT_BOOK_PATH + (f"?{parts.query}" if parts.query else ""), view)


def _best_bid_ask(found: Route, target: str, query: dict[str, list[str]], core: ClientOrders, view: MarketView,
                  now: float) -> RestResponse:
    return rest.best_bid_ask(view, query)


def _accounts(found: Route, target: str, query: dict[str, list[str]], core: ClientOrders, view: MarketView,
              now: float) -> RestResponse:
    rows = [account_json(b.currency, b.balance, b.hold, core) for b in core.spot_balances()]
    if found.arg:
        match = next((row for row in rows if row["uuid"] == found.arg), None)
        if match is None:
            return rest.error(404, "NOT_FOUND", f"account {found.arg} not found")
        return _json({"account": match})
    page, cursor = _page(query, rows)
    return _json({"accounts": page, "has_next": bool(cursor), "cursor": cursor, "size": len(page)})


def _balance_summary(found: Route, target: str, query: dict[str, list[str]], core: ClientOrders,
                     view: MarketView, now: float) -> RestResponse:
    return _json({"balance_summary": balance_summary_json(core.summary(now))})


def _positions(found: Route, target: str, query: dict[str, list[str]], core: ClientOrders, view: MarketView,
               now: float) -> RestResponse:
    positions = core.perp_positions(now)
    if found.arg:
        match = next((p for p in positions if p.product_id == found.arg), None)
        if match is None:
            return rest.error(404, "NOT_FOUND", f"no open position in {found.arg}")
        return _json({"position": cfm_position_json(match, _spec(view, match.product_id))})
    return _json({"positions": [cfm_position_json(p, _spec(view, p.product_id)) for p in positions]})


_GET_HANDLERS: dict[str, Callable[..., RestResponse]] = {
    GET_ORDER: _get_order,
    LIST_ORDERS: _list_orders,
    LIST_FILLS: _list_fills,
    PRODUCTS: _products,
    ACCOUNTS: _accounts,
    BALANCE_SUMMARY: _balance_summary,
    POSITIONS: _positions,
    PRODUCT_BOOK: _product_book,
    BEST_BID_ASK: _best_bid_ask,
}


def _spec(view: MarketView, product_id: str) -> ProductSpec:
    product = view.product(product_id)
    assert product is not None, product_id  # orders, fills and positions exist only for listed products
    return product.spec


# --------------------------------------------------------------------- bodies


def _money(value: Decimal, currency: str = "USD") -> dict[str, str]:
    return {"value": usd_text(value) if currency == "USD" else decimal_text(value), "currency": currency}


def _optional_text(value: Decimal | None) -> str:
    return "" if value is None else decimal_text(value)


def _time_or_none(ts: float | None) -> str | None:
    return None if ts is None else rfc3339_micros(ts)


def order_json(order: OrderView, core: ClientOrders, spec: ProductSpec) -> dict[str, Any]:
    """Coinbase's order object (GET /orders/historical/...)."""
    size = order.base_size
    completion = (order.filled_size / size * 100).quantize(Decimal("0.01")) if size else Decimal(0)
    return {
        "order_id": order.order_id,
        "product_id": order.product_id,
        "user_id": core.user_id,
        "order_configuration": {order.kind: order.configuration},
        "side": order.side,
        "client_order_id": order.client_order_id,
        "status": order.status,
        "time_in_force": order.time_in_force,
        "created_time": rfc3339_micros(order.created_ts),
        "completion_percentage": decimal_text(completion),
        "filled_size": size_text(spec, order.filled_size),
        "average_filled_price": decimal_text(order.average_filled_price),
        "fee": "",
        "number_of_fills": str(order.number_of_fills),
        "filled_value": decimal_text(order.filled_value),
        "pending_cancel": False,
        "size_in_quote": order.quote_size is not None,
        "total_fees": decimal_text(order.total_fees),
        "size_inclusive_of_fees": False,
        "total_value_after_fees": decimal_text(order.total_value_after_fees),
        "trigger_status": order.trigger_status,
        "order_type": order.order_type,
        "reject_reason": order.reject_reason,
        "settled": not order.is_open,
        "product_type": order.product_type,
        "reject_message": "",
        "cancel_message": order.cancel_reason,
        "order_placement_source": "RETAIL_ADVANCED",
        "outstanding_hold_amount": decimal_text(order.outstanding_hold),
        "is_liquidation": False,
        "last_fill_time": _time_or_none(order.last_fill_ts),
        "edit_history": [{"price": price_text(spec, e.price), "size": size_text(spec, e.size),
                          "replace_accept_timestamp": rfc3339_micros(e.ts)} for e in order.edit_history],
        "leverage": "" if order.leverage is None else decimal_text(order.leverage),
        "margin_type": order.margin_type,
        "retail_portfolio_id": core.portfolio_id,
        "originating_order_id": "",
        "attached_order_id": "",
    }


def fill_json(fill: ClientFill, core: ClientOrders, spec: ProductSpec) -> dict[str, Any]:
    return {
        "entry_id": fill.entry_id,
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "trade_time": rfc3339_micros(fill.ts),
        "trade_type": "FILL",
        "price": price_text(spec, fill.price),
        "size": size_text(spec, fill.size),
        "commission": decimal_text(fill.commission),
        "product_id": fill.product_id,
        "sequence_timestamp": rfc3339_micros(fill.ts),
        "liquidity_indicator": fill.liquidity,
        "size_in_quote": False,
        "user_id": core.user_id,
        "side": fill.side,
        "retail_portfolio_id": core.portfolio_id,
    }


def account_json(currency: str, balance: Decimal, hold: Decimal, core: ClientOrders) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid5(_ACCOUNTS_NAMESPACE, f"{core.portfolio_id}/{currency}")),
        "name": f"{currency} Wallet",
        "currency": currency,
        "available_balance": {"value": decimal_text(balance - hold), "currency": currency},
        "default": currency == "USD",
        "active": True,
        "created_at": "2024-01-01T00:00:00.000000Z",
        "updated_at": "2024-01-01T00:00:00.000000Z",
        "deleted_at": None,
        "type": "ACCOUNT_TYPE_FIAT" if currency in ("USD", "EUR", "GBP") else "ACCOUNT_TYPE_CRYPTO",
        "ready": True,
        "hold": {"value": decimal_text(hold), "currency": currency},
        "retail_portfolio_id": core.portfolio_id,
        "platform": "ACCOUNT_PLATFORM_CONSUMER",
    }


def balance_summary_json(summary: BalanceSummary) -> dict[str, Any]:
    """`cfm/balance_summary`'s `balance_summary`: money as {"value", "currency"} objects."""
    def window(window_type: str) -> dict[str, Any]:
        return {
            "margin_window_type": window_type,
            "margin_level": "MARGIN_LEVEL_TYPE_BASE",
            "initial_margin": _money(summary.initial_margin),
            "maintenance_margin": _money(summary.maintenance_margin),
            "liquidation_buffer_percentage": buffer_percentage_text(summary),
            "total_hold": _money(summary.total_open_orders_hold_amount),
            "futures_buying_power": _money(summary.futures_buying_power),
        }

    return {
        "futures_buying_power": _money(summary.futures_buying_power),
        "total_usd_balance": _money(summary.total_usd_balance),
        "cbi_usd_balance": _money(summary.cbi_usd_balance),
        "cfm_usd_balance": _money(summary.cfm_usd_balance),
        "total_open_orders_hold_amount": _money(summary.total_open_orders_hold_amount),
        "unrealized_pnl": _money(summary.unrealized_pnl),
        "daily_realized_pnl": _money(summary.daily_realized_pnl),
        "initial_margin": _money(summary.initial_margin),
        "available_margin": _money(summary.available_margin),
        "liquidation_threshold": _money(summary.liquidation_threshold),
        "liquidation_buffer_amount": _money(summary.liquidation_buffer_amount),
        "liquidation_buffer_percentage": buffer_percentage_text(summary),
        "intraday_margin_window_measure": window("FCM_MARGIN_WINDOW_TYPE_INTRADAY"),
        "overnight_margin_window_measure": window("FCM_MARGIN_WINDOW_TYPE_OVERNIGHT"),
    }


def cfm_position_json(position: PerpPosition, spec: ProductSpec) -> dict[str, Any]:
    """One `cfm/positions` entry: contracts and leverage as strings, every money field (prices
    too) a `{"value", "currency"}` object, as production sends it (COINBASE.md), with the fields
    Coinbase adds for CDE perpetual-style futures."""
    liquidation = position.liquidation_price
    return {
        "product_id": position.product_id,
        "expiration_time": f"{rest.contract_expiry(position.product_id):%Y-%m-%dT%H:%M:%SZ}",
        "side": "LONG" if position.net_size > 0 else "SHORT",
        "number_of_contracts": size_text(spec, abs(position.net_size)),
        "current_price": _price(position.mark_price),
        "avg_entry_price": _price(position.entry_price),
        "unrealized_pnl": _money(position.unrealized_pnl),
        "daily_realized_pnl": _money(position.daily_realized_pnl),
        "contract_size": decimal_text(spec.contract_size),
        "entry_vwap": _price(position.entry_price),
        "liquidation_price": _price(liquidation) if liquidation is not None else _money(Decimal(0)),
        "leverage": decimal_text(position.leverage),
        "margin_type": position.margin_type or "CROSS",
        "im_contribution": _money(position.initial_margin),
        "mm_contribution": _money(position.maintenance_margin),
        "position_notional": _money(position.notional),
    }


def _price(value: Decimal) -> dict[str, str]:
    """A price as a money object: its own digits, not rounded to cents."""
    return {"value": decimal_text(value), "currency": "USD"}
