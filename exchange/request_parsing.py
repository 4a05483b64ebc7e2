"""Reading the built-in exchange's private requests: JSON bodies, order configurations, decimals,
times and the paging parameters, refused the way Coinbase refuses them.

Owns what a request value may be: a decimal only as plain ASCII of bounded length and magnitude
(a hostile `1e999999999` must be refused before any arithmetic sees it), times only as RFC 3339,
integers only as bounded ASCII digits, bodies only as JSON objects of bounded nesting. A body no
endpoint can read raises `BadRequest` (HTTP 400 INVALID_ARGUMENT); a value no order can carry is a
`Refusal` with Coinbase's failure reason. Pure: must never touch the client or the market.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from exchange import failure_reasons as reasons
from exchange import rest
from exchange.orders import ORDER_KINDS, OrderRequest, Refusal

MAX_NUMBER_CHARS = 40  # a wire decimal longer than this is refused before it is read
MAX_EXPONENT, MIN_EXPONENT = 15, -18  # no price, size or leverage of a listed product comes near
_PLAIN_DECIMAL = re.compile(r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]{1,3})?")
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class BadRequest(Exception):
    """A request the endpoint cannot read: HTTP 400 INVALID_ARGUMENT."""


def decode_body(body: bytes) -> dict[str, Any]:
    try:
        payload = msgspec.json.decode(body or b"{}")
    except msgspec.DecodeError:
        raise BadRequest("the body is not JSON") from None
    except RecursionError:  # msgspec's nesting limit
        raise BadRequest("the body nests too deeply") from None
    if not isinstance(payload, dict):
        raise BadRequest("the body must be a JSON object")
    return payload


def parse_order(payload: dict[str, Any], need_client_order_id: bool = True) -> OrderRequest | Refusal:
    """A create (or preview) body as an OrderRequest; a Refusal for values that cannot be an order;
    `BadRequest` for a body missing what every order needs."""
    client_order_id = payload.get("client_order_id", "")
    if need_client_order_id and (not isinstance(client_order_id, str) or not client_order_id):
        raise BadRequest("client_order_id is required")
    product_id = payload.get("product_id")
    side = payload.get("side")
    configuration = payload.get("order_configuration")
    if not isinstance(product_id, str) or not product_id:
        raise BadRequest("product_id is required")
    if not isinstance(side, str):
        raise BadRequest("side is required")
    if not isinstance(configuration, dict) or len(configuration) != 1:
        raise BadRequest("order_configuration must hold exactly one order kind")
    (kind, config), = configuration.items()
    if kind not in ORDER_KINDS:
        return Refusal(reasons.UNSUPPORTED_ORDER_CONFIGURATION, f"order kind {kind!r} is not supported")
    if not isinstance(config, dict):
        raise BadRequest(f"order_configuration.{kind} must be an object")
    fields: dict[str, Any] = {}
    for name, code in (("base_size", reasons.INVALID_SIZE_PRECISION), ("quote_size", reasons.INVALID_SIZE_PRECISION),
                       ("limit_price", reasons.INVALID_PRICE_PRECISION),
                       ("stop_price", reasons.INVALID_PRICE_PRECISION)):
        if config.get(name) in (None, ""):
            continue
        value = decimal(config[name])
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
        leverage = decimal(payload["leverage"])
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


def decimal(value: object) -> Decimal | None:
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
    The exchange's own reader: the bot's must not be what the oracle checks it against."""
    match = _RFC3339.fullmatch(text.strip()) if len(text) <= 64 else None
    if match is None:
        return None
    stamp, fraction, zone = match.groups()
    try:
        moment = datetime.fromisoformat(stamp + ("+00:00" if zone in ("Z", "z") else zone))
    except ValueError:
        return None
    return moment.timestamp() + (float(f"0.{fraction}") if fraction else 0.0)


def edit_request(payload: dict[str, Any]) -> tuple[str, Decimal | None, Decimal | None]:
    """An edit's order id, price and size (None when not a number); both must be sent."""
    order_id, price, size = payload.get("order_id"), payload.get("price"), payload.get("size")
    if not isinstance(order_id, str) or not order_id:
        raise BadRequest("order_id is required")
    if price in (None, "") or size in (None, ""):
        raise BadRequest("an edit sends both price and size")
    return order_id, decimal(price), decimal(size)


def page(query: dict[str, list[str]], rows: list[Any]) -> tuple[list[Any], str]:
    """(this page's rows, the cursor of the next page or "")."""
    raw_limit = (query.get("limit") or [""])[0]
    limit = DEFAULT_LIMIT
    if raw_limit:
        asked = rest.digits(raw_limit, 9)
        if not asked:
            raise BadRequest(f"limit must be a positive integer, not {raw_limit[:40]!r}")
        limit = min(asked, MAX_LIMIT)
    raw_cursor = (query.get("cursor") or [""])[0]
    start = rest.digits(raw_cursor, 12) if raw_cursor else 0
    if start is None:
        raise BadRequest(f"cursor {raw_cursor[:40]!r} is not one this endpoint gave")
    page = rows[start:start + limit]
    more = start + limit < len(rows)
    return page, str(start + limit) if more else ""


def times(query: dict[str, list[str]], start_name: str, end_name: str) -> tuple[float | None, float | None]:
    bounds: list[float | None] = []
    for name in (start_name, end_name):
        raw = (query.get(name) or [""])[0]
        if not raw:
            bounds.append(None)
            continue
        ts = parse_time(raw)
        if ts is None:
            raise BadRequest(f"{name} {raw!r} is not an RFC 3339 time")
        bounds.append(ts)
    return bounds[0], bounds[1]
