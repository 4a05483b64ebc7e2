"""The built-in exchange's private REST endpoints, as Coinbase Advanced Trade answers them.

Owns the routing of the authenticated endpoints under `/api/v3/brokerage` (create, preview, batch
cancel, edit and its preview, close position, get order, list orders, fills, products, product
book, best bid/ask, accounts, `cfm/balance_summary`, `cfm/positions`) and what each answers: create
is HTTP 200 with `success` true or false (`error_response` naming the reason), cancel gives one
result per id, lists are newest first with `has_next`/`cursor`, filters are repeatable. Reading
the requests is `request_parsing.py`'s, the bodies of orders, fills and accounts `client_json.py`'s.

Pure: the server passes the `ClientOrders` core (under its lock), a `MarketView` for the product
endpoints and the time. Must never read clocks, touch sockets, authenticate (the server does
that first) or change the core except through its methods.
"""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

import msgspec

from domain.products import ProductSpec
from exchange import client_json as bodies
from exchange import failure_reasons as reasons
from exchange import request_parsing as parsing
from exchange import rest
from exchange.client_orders import ClientOrders
from exchange.frames import decimal_text
from exchange.orders import OrderView, Refusal
from exchange.rest import PREFIX, PRODUCTS_PATH, MarketView, RestResponse

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
            payload = parsing.decode_body(body)
            return _POST_HANDLERS[found.name](payload, core, now)
        return _GET_HANDLERS[found.name](found, target, query, core, view, now)
    except parsing.BadRequest as exc:
        return rest.error(400, "INVALID_ARGUMENT", str(exc))


def _json(body: object, status: int = 200) -> RestResponse:
    return rest.json_response(status, body)


def _create_answer(outcome: OrderView | Refusal, configuration: Any) -> RestResponse:
    """`configuration` is the request's order_configuration as sent (anything, on a refusal)."""
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
    request = parsing.parse_order(payload)
    configuration = payload.get("order_configuration")
    if isinstance(request, Refusal):
        client_order_id = payload.get("client_order_id")
        known = core.order_by_client_id(client_order_id) if isinstance(client_order_id, str) else None
        return _create_answer(known or request, configuration)
    return _create_answer(core.create(request, now), configuration)


def _preview(payload: dict[str, Any], core: ClientOrders, now: float) -> RestResponse:
    request = parsing.parse_order(payload, need_client_order_id=False)
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
        "best_bid": bodies.optional_text(preview.best_bid),
        "best_ask": bodies.optional_text(preview.best_ask),
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
        raise parsing.BadRequest("order_ids must be a non-empty list of order ids")
    if len(order_ids) > BATCH_CANCEL_MAX:
        raise parsing.BadRequest(f"at most {BATCH_CANCEL_MAX} order ids per request")
    results = [{"success": ok, "failure_reason": reason, "order_id": order_id}
               for order_id, ok, reason in core.cancel(order_ids, now)]
    return _json({"results": results})


def _edit_errors(reason: str) -> list[dict[str, str]]:
    if not reason:
        return []
    return [{"edit_failure_reason": reason, "preview_failure_reason": "UNKNOWN_PREVIEW_FAILURE_REASON"}]


def _edit(payload: dict[str, Any], core: ClientOrders, now: float) -> RestResponse:
    order_id, price, size = parsing.edit_request(payload)
    if price is None:
        reason = reasons.INVALID_EDITED_PRICE
    elif size is None:
        reason = reasons.INVALID_EDITED_SIZE
    else:
        reason = core.edit(order_id, price, size, now)
    return _json({"success": not reason, "errors": _edit_errors(reason)})


def _edit_preview(payload: dict[str, Any], core: ClientOrders, now: float) -> RestResponse:
    order_id, price, size = parsing.edit_request(payload)
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
        "best_bid": bodies.optional_text(preview.best_bid),
        "best_ask": bodies.optional_text(preview.best_ask),
        "average_filled_price": "0",
    })


def _close_position(payload: dict[str, Any], core: ClientOrders, now: float) -> RestResponse:
    client_order_id, product_id = payload.get("client_order_id"), payload.get("product_id")
    if not isinstance(client_order_id, str) or not client_order_id:
        raise parsing.BadRequest("client_order_id is required")
    if not isinstance(product_id, str) or not product_id:
        raise parsing.BadRequest("product_id is required")
    size = None
    if payload.get("size") not in (None, ""):
        size = parsing.decimal(payload["size"])
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


def _get_order(found: Route, target: str, query: dict[str, list[str]], core: ClientOrders, view: MarketView,
               now: float) -> RestResponse:
    order = core.order(found.arg)
    if order is None:
        return rest.error(404, "NOT_FOUND", f"order {found.arg} not found")
    return _json({"order": bodies.order_json(order, core, _spec(view, order.product_id))})


def _list_orders(found: Route, target: str, query: dict[str, list[str]], core: ClientOrders, view: MarketView,
                 now: float) -> RestResponse:
    order_ids = set(query.get("order_ids", ()))
    product_ids = set(query.get("product_ids", ()))
    statuses = {s.upper() for s in query.get("order_status", ())}
    order_types = {t.upper() for t in query.get("order_types", ())}
    side = (query.get("order_side") or [""])[0].upper()
    product_type = (query.get("product_type") or [""])[0].upper()
    start, end = parsing.times(query, "start_date", "end_date")
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
    page, cursor = parsing.page(query, rows)
    return _json({"orders": [bodies.order_json(o, core, _spec(view, o.product_id)) for o in page],
                  "sequence": "0", "has_next": bool(cursor), "cursor": cursor})


def _list_fills(found: Route, target: str, query: dict[str, list[str]], core: ClientOrders, view: MarketView,
                now: float) -> RestResponse:
    order_ids = set(query.get("order_ids", ()))
    trade_ids = set(query.get("trade_ids", ()))
    product_ids = set(query.get("product_ids", ()))
    start, end = parsing.times(query, "start_sequence_timestamp", "end_sequence_timestamp")
    rows = [
        f for f in core.fills()
        if (not order_ids or f.order_id in order_ids)
        and (not trade_ids or f.trade_id in trade_ids)
        and (not product_ids or f.product_id in product_ids)
        and (start is None or f.ts >= start)
        and (end is None or f.ts <= end)
    ]
    page, cursor = parsing.page(query, rows)
    return _json({"fills": [bodies.fill_json(f, core, _spec(view, f.product_id)) for f in page], "cursor": cursor})


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
    rows = [bodies.account_json(b.currency, b.balance, b.hold, core) for b in core.spot_balances()]
    if found.arg:
        match = next((row for row in rows if row["uuid"] == found.arg), None)
        if match is None:
            return rest.error(404, "NOT_FOUND", f"account {found.arg} not found")
        return _json({"account": match})
    page, cursor = parsing.page(query, rows)
    return _json({"accounts": page, "has_next": bool(cursor), "cursor": cursor, "size": len(page)})


def _balance_summary(found: Route, target: str, query: dict[str, list[str]], core: ClientOrders,
                     view: MarketView, now: float) -> RestResponse:
    return _json({"balance_summary": bodies.balance_summary_json(core.summary(now))})


def _positions(found: Route, target: str, query: dict[str, list[str]], core: ClientOrders, view: MarketView,
               now: float) -> RestResponse:
    positions = core.perp_positions(now)
    if found.arg:
        match = next((p for p in positions if p.product_id == found.arg), None)
        if match is None:
            return rest.error(404, "NOT_FOUND", f"no open position in {found.arg}")
        return _json({"position": bodies.cfm_position_json(match, _spec(view, match.product_id))})
    return _json({"positions": [bodies.cfm_position_json(p, _spec(view, p.product_id)) for p in positions]})


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
