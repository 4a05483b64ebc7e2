"""Coinbase Advanced Trade order bodies and the outcome of a create-order call.

Owns the exact JSON Coinbase takes for `POST /orders` (one `order_configuration` key per kind:
`market_market_ioc`/`_fok`, `limit_limit_gtc`/`_gtd`/`_fok`, `sor_limit_ioc`,
`stop_limit_stop_limit_gtc`/`_gtd`; `post_only` inside the limit configurations; `leverage` and
`margin_type` at the top level for futures) and the reading of what came back: HTTP 200 with
`success: false` is a rejection with its reason, a 429 is throttling, a 401/403 is an
authentication failure (the order was not taken), and a timeout, a 5xx or an unreadable 200 is an
UNKNOWN outcome that must be settled by a query, never by a retry with a new id.
Pure: bytes in, values out. Must never send anything, invent a `client_order_id`, or send a
`reduce_only` field (Coinbase has none: reduce-only is enforced by execution before sending).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Union

import msgspec

from domain.orders import PlaceOrder

STOP_DIRECTIONS = ("STOP_DIRECTION_STOP_UP", "STOP_DIRECTION_STOP_DOWN")


class OrderBodyError(ValueError):
    """An order that has no Coinbase shape (a kind/time-in-force pair Coinbase does not offer)."""


def decimal_text(value: Decimal) -> str:
    """A Decimal as Coinbase writes numbers: plain digits, never an exponent."""
    return format(value, "f")


def order_configuration(order: PlaceOrder) -> dict[str, dict[str, Any]]:
    """The one-key `order_configuration` for `order`."""
    kind = order.order_type
    tif = order.time_in_force or ("IOC" if kind == "market" else "GTC")
    size = {"base_size": decimal_text(order.size)}
    if kind == "market":
        if tif not in ("IOC", "FOK"):
            raise OrderBodyError(f"a market order is IOC or FOK, not {tif}")
        return {f"market_market_{tif.lower()}": size}
    if order.limit_price is None:
        raise OrderBodyError(f"a {kind} order needs a limit price")
    limit = {**size, "limit_price": decimal_text(order.limit_price)}
    if kind == "limit":
        if tif == "GTC":
            return {"limit_limit_gtc": {**limit, "post_only": order.post_only}}
        if tif == "GTD":
            return {"limit_limit_gtd": {**limit, "end_time": _end_time(order), "post_only": order.post_only}}
        if order.post_only:
            raise OrderBodyError(f"post-only needs a resting order (GTC or GTD), not {tif}")
        if tif == "IOC":
            return {"sor_limit_ioc": limit}
        if tif == "FOK":
            return {"limit_limit_fok": limit}
        raise OrderBodyError(f"unknown time in force {tif!r}")
    if kind == "stop_limit":
        if order.stop_price is None:
            raise OrderBodyError("a stop-limit order needs a stop price")
        if order.stop_direction not in STOP_DIRECTIONS:
            raise OrderBodyError(f"stop direction must be one of {STOP_DIRECTIONS}, not {order.stop_direction!r}")
        stop = {**limit, "stop_price": decimal_text(order.stop_price), "stop_direction": order.stop_direction}
        if tif == "GTC":
            return {"stop_limit_stop_limit_gtc": stop}
        if tif == "GTD":
            return {"stop_limit_stop_limit_gtd": {**stop, "end_time": _end_time(order)}}
        raise OrderBodyError(f"a stop-limit order is GTC or GTD, not {tif}")
    raise OrderBodyError(f"unknown order type {kind!r}")


def _end_time(order: PlaceOrder) -> str:
    if not order.end_time:
        raise OrderBodyError("a GTD order needs an end time")
    return order.end_time


def create_order_body(order: PlaceOrder) -> dict[str, Any]:
    """The JSON object for `POST /orders`."""
    body: dict[str, Any] = {
        "client_order_id": order.client_order_id,
        "product_id": order.product_id,
        "side": order.side,
        "order_configuration": order_configuration(order),
    }
    if order.leverage is not None:
        body["leverage"] = decimal_text(order.leverage)
    if order.margin_type:
        body["margin_type"] = order.margin_type
    return body


def preview_order_body(order: PlaceOrder) -> dict[str, Any]:
    """The JSON object for `POST /orders/preview`: the create body without `client_order_id`."""
    body = create_order_body(order)
    del body["client_order_id"]
    return body


# ---------------------------------------------------------------- outcomes


class Accepted(msgspec.Struct, frozen=True, tag=True):
    client_order_id: str
    order_id: str


class Rejected(msgspec.Struct, frozen=True, tag=True):
    """The venue refused the order; it does not exist. `reason` is Coinbase's code, kept opaque."""

    client_order_id: str
    reason: str
    message: str = ""


class Throttled(msgspec.Struct, frozen=True, tag=True):
    """HTTP 429: not taken; retry with the same client_order_id after the back-off."""

    client_order_id: str
    headers: tuple[tuple[str, str], ...] = ()


class AuthFailed(msgspec.Struct, frozen=True, tag=True):
    """HTTP 401/403: not taken; the credentials or the JWT are wrong."""

    client_order_id: str
    status: int


class Unknown(msgspec.Struct, frozen=True, tag=True):
    """The order may or may not exist: settle by the user channel, a query or reconciliation."""

    client_order_id: str
    why: str


Outcome = Union[Accepted, Rejected, Throttled, AuthFailed, Unknown]


class _Success(msgspec.Struct):
    order_id: str = ""
    client_order_id: str = ""


class _Error(msgspec.Struct):
    error: str = ""
    message: str = ""
    error_details: str = ""
    preview_failure_reason: str = ""
    new_order_failure_reason: str = ""


class _CreateResponse(msgspec.Struct):
    success: bool = False
    success_response: _Success | None = None
    error_response: _Error | None = None
    failure_reason: str = ""  # older responses put the code here


_create_decoder = msgspec.json.Decoder(_CreateResponse, strict=False)  # `"true"` as well as true


def create_order_outcome(
    client_order_id: str, status: int | None, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()
) -> Outcome:
    """What a create-order call did. `status` None means no response (timeout, connection lost)."""
    if status is None:
        return Unknown(client_order_id, "no response")
    if status == 429:
        return Throttled(client_order_id, headers)
    if status in (401, 403):
        return AuthFailed(client_order_id, status)
    if status >= 500:
        return Unknown(client_order_id, f"HTTP {status}")
    if status != 200:  # other 4xx: the request itself was refused, nothing was created
        return Rejected(client_order_id, f"HTTP_{status}", _error_message(body))
    try:
        response = _create_decoder.decode(body)
    except (msgspec.DecodeError, RecursionError):  # RecursionError: nested too deeply
        return Unknown(client_order_id, "unreadable 200 response")
    if response.success:
        order_id = response.success_response.order_id if response.success_response else ""
        if not order_id:
            return Unknown(client_order_id, "success without an order id")
        return Accepted(client_order_id, order_id)
    error = response.error_response or _Error()
    codes = (error.error, error.new_order_failure_reason, error.preview_failure_reason, response.failure_reason)
    reason = next((c for c in codes if c and not c.startswith("UNKNOWN")), "UNKNOWN")
    return Rejected(client_order_id, reason, error.message or error.error_details)


def _error_message(body: bytes) -> str:
    """The message of a non-200 error body (`{"error", "message"}` or `{"errors": [...]}`)."""
    try:
        obj = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return body[:200].decode("utf-8", "replace")
    if isinstance(obj, dict):
        if isinstance(obj.get("message"), str):
            return obj["message"]
        errors = obj.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message", ""))
    return ""
