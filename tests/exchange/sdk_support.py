"""Coinbase's official Python SDK pointed at the built-in exchange, and the documented field types
its answers must have.

The SDK always sends to `https://api.coinbase.com` and signs that host into the JWT `uri`; a
transport adapter mounted on its `requests` session carries each request to the exchange on
127.0.0.1 instead, unchanged (the GET body `{}` included), so the exchange sees what production
would. Checkers assert Coinbase's spellings: decimals as strings, RFC 3339 UTC times, enum values.
"""

from __future__ import annotations

import re
from typing import Any, Callable

# The official SDK, installed by the test command with --no-deps (it pins websockets < 14, which
# the built-in exchange outgrew; its REST side needs requests, PyJWT and cryptography).
from coinbase.rest import RESTClient  # noqa: E402
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from requests.adapters import HTTPAdapter

from exchange.server import ExchangeServer

API_ORIGIN = "https://api.coinbase.com"
KEY_NAME = "organizations/sdk-org/apiKeys/sdk-key"
KEY = ec.generate_private_key(ec.SECP256R1())
PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()).decode()
PUBLIC_PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()


class Loopback(HTTPAdapter):
    """Sends what the SDK addressed to api.coinbase.com to the exchange's address; records it."""

    def __init__(self, exchange_url: str) -> None:
        super().__init__()
        self.exchange_url = exchange_url.rstrip("/")
        self.sent: list[tuple[str, str, bytes | None]] = []  # (method, path and query, body)

    def send(self, request: Any, **kwargs: Any) -> Any:
        assert request.url.startswith(API_ORIGIN + "/"), request.url
        self.sent.append((request.method, request.url[len(API_ORIGIN):], request.body))
        request.url = self.exchange_url + request.url[len(API_ORIGIN):]
        return super().send(request, **kwargs)


def sdk_client(server: ExchangeServer, key_name: str = KEY_NAME, pem: str = PEM) -> tuple[RESTClient, Loopback]:
    client = RESTClient(api_key=key_name, api_secret=pem, timeout=5)
    adapter = Loopback(server.rest_url)
    client.session.mount(API_ORIGIN, adapter)
    return client, adapter


# ------------------------------------------------------------------ documented field types

_DECIMAL = re.compile(r"-?\d+(\.\d+)?")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

ORDER_STATUSES = {"PENDING", "OPEN", "FILLED", "CANCELLED", "EXPIRED", "FAILED", "UNKNOWN_ORDER_STATUS",
                  "QUEUED", "CANCEL_QUEUED", "EDIT_QUEUED"}
TIME_IN_FORCE = {"UNKNOWN_TIME_IN_FORCE", "GOOD_UNTIL_DATE_TIME", "GOOD_UNTIL_CANCELLED",
                 "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL"}
ORDER_TYPES = {"UNKNOWN_ORDER_TYPE", "MARKET", "LIMIT", "STOP", "STOP_LIMIT", "BRACKET"}
TRIGGER_STATUSES = {"UNKNOWN_TRIGGER_STATUS", "INVALID_ORDER_TYPE", "STOP_PENDING", "STOP_TRIGGERED"}
SIDES = {"BUY", "SELL"}
PRODUCT_TYPES = {"SPOT", "FUTURE", "UNKNOWN_PRODUCT_TYPE"}
LIQUIDITY = {"MAKER", "TAKER", "UNKNOWN_LIQUIDITY_INDICATOR"}


def decimal(value: Any) -> bool:
    return isinstance(value, str) and _DECIMAL.fullmatch(value) is not None


def decimal_or_empty(value: Any) -> bool:
    return value == "" or decimal(value)


def rfc3339(value: Any) -> bool:
    return isinstance(value, str) and _RFC3339.fullmatch(value) is not None


def rfc3339_or_none(value: Any) -> bool:
    return value is None or rfc3339(value)


def uuid(value: Any) -> bool:
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def boolean(value: Any) -> bool:
    return isinstance(value, bool)


def text(value: Any) -> bool:
    return isinstance(value, str)


def one_of(*values: str) -> Callable[[Any], bool]:
    allowed = set(values[0]) if len(values) == 1 and isinstance(values[0], set) else set(values)
    return lambda value: value in allowed


def money(value: Any) -> bool:
    return isinstance(value, dict) and decimal(value.get("value")) and text(value.get("currency"))


def integer_text(value: Any) -> bool:
    return isinstance(value, str) and value.isdigit()


def check(row: Any, fields: dict[str, Callable[[Any], bool]], where: str = "") -> None:
    """Every named field is present with its documented type (the SDK object or a dict)."""
    data = row.to_dict() if hasattr(row, "to_dict") else row
    for name, is_right in fields.items():
        assert name in data, f"{where}: {name} missing from {sorted(data)}"
        assert is_right(data[name]), f"{where}: {name} = {data[name]!r}"


ORDER_FIELDS = {
    "order_id": uuid, "product_id": text, "user_id": text, "order_configuration": lambda v: isinstance(v, dict),
    "side": one_of(SIDES), "client_order_id": text, "status": one_of(ORDER_STATUSES),
    "time_in_force": one_of(TIME_IN_FORCE), "created_time": rfc3339, "completion_percentage": decimal,
    "filled_size": decimal, "average_filled_price": decimal, "number_of_fills": integer_text,
    "filled_value": decimal, "pending_cancel": boolean, "size_in_quote": boolean, "total_fees": decimal,
    "size_inclusive_of_fees": boolean, "total_value_after_fees": decimal,
    "trigger_status": one_of(TRIGGER_STATUSES), "order_type": one_of(ORDER_TYPES), "reject_reason": text,
    "settled": boolean, "product_type": one_of(PRODUCT_TYPES), "outstanding_hold_amount": decimal,
    "last_fill_time": rfc3339_or_none, "edit_history": lambda v: isinstance(v, list),
}
FILL_FIELDS = {
    "entry_id": text, "trade_id": text, "order_id": uuid, "trade_time": rfc3339, "trade_type": one_of("FILL"),
    "price": decimal, "size": decimal, "commission": decimal, "product_id": text,
    "sequence_timestamp": rfc3339, "liquidity_indicator": one_of(LIQUIDITY), "size_in_quote": boolean,
    "user_id": text, "side": one_of(SIDES),
}
PRODUCT_FIELDS = {
    "product_id": text, "price": decimal, "price_percentage_change_24h": decimal, "volume_24h": decimal,
    "base_increment": decimal, "quote_increment": decimal, "quote_min_size": decimal,
    "quote_max_size": decimal, "base_min_size": decimal, "base_max_size": decimal, "is_disabled": boolean,
    "status": text, "cancel_only": boolean, "limit_only": boolean, "post_only": boolean,
    "trading_disabled": boolean, "product_type": one_of(PRODUCT_TYPES), "price_increment": decimal,
    "mid_market_price": decimal_or_empty,
}
BOOK_FIELDS = {"product_id": text, "bids": lambda v: isinstance(v, list), "asks": lambda v: isinstance(v, list),
               "time": rfc3339}
LEVEL_FIELDS = {"price": decimal, "size": decimal}
POSITION_FIELDS = {
    "product_id": text, "expiration_time": rfc3339, "side": one_of("LONG", "SHORT"),
    "number_of_contracts": decimal, "current_price": money, "avg_entry_price": money,
    "unrealized_pnl": money, "daily_realized_pnl": money, "entry_vwap": money, "liquidation_price": money,
    "im_contribution": money, "mm_contribution": money, "position_notional": money, "leverage": decimal,
    "contract_size": decimal,
}
