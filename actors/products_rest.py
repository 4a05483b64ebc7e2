"""Product rules read from the products endpoint (`GET /api/v3/brokerage/market/products/{id}`).

Owns turning Coinbase's product object into a ProductSpec: `price_increment` is the limit-price
tick (not `quote_increment`), futures carry `future_product_details` (contract size, funding
rate and interval); a perpetual is recognised by a non-empty funding rate or interval, or "PERP"
in its display name. Every number is read through `actors.wire.decimals` (increments and sizes not
negative): a product with a bad one, or an answer nested too deeply, is unreadable (ProductsError).
Blocking HTTP: call it from the main thread before the actor tree starts, never from an actor handler.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from decimal import Decimal

import msgspec

from actors.wire.decimals import describe, finite_decimal
from domain.products import ProductSpec


class _FutureDetails(msgspec.Struct):
    contract_size: str = ""
    funding_rate: str = ""
    funding_interval: str = ""  # e.g. "3600s"
    contract_expiry_type: str = ""


class _Product(msgspec.Struct):
    product_id: str
    base_increment: str
    quote_increment: str
    price_increment: str = ""
    base_min_size: str = "0"
    quote_min_size: str = "0"
    product_type: str = "SPOT"
    display_name: str = ""
    base_currency_id: str = ""
    quote_currency_id: str = ""
    future_product_details: _FutureDetails | None = None
    trading_disabled: bool = False
    cancel_only: bool = False
    limit_only: bool = False
    post_only: bool = False


_decoder = msgspec.json.Decoder(_Product, strict=False)  # booleans may come as "true"


class ProductsError(Exception):
    pass


def _number(text: str, field: str, nonneg: bool = True) -> Decimal:
    value = finite_decimal(text, nonneg)
    if value is None:
        raise ValueError(f"{field} {describe(text)} is not a sane number")
    return value


def spec_from_json(body: bytes) -> ProductSpec:
    try:
        p = _decoder.decode(body)
        details = p.future_product_details
        is_perp = details is not None and (bool(details.funding_rate) or bool(details.funding_interval)) \
            or "PERP" in p.display_name.upper()
        interval = details.funding_interval.rstrip("s") if details and details.funding_interval else ""
        return ProductSpec(
            product_id=p.product_id,
            product_type=p.product_type,
            base_currency=p.base_currency_id,
            quote_currency=p.quote_currency_id,
            base_increment=_number(p.base_increment, "base_increment"),
            price_increment=_number(p.price_increment or p.quote_increment, "price_increment"),
            quote_increment=_number(p.quote_increment, "quote_increment"),
            base_min_size=_number(p.base_min_size or "0", "base_min_size"),
            quote_min_size=_number(p.quote_min_size or "0", "quote_min_size"),
            contract_size=_number(details.contract_size, "contract_size") if details and details.contract_size
            else Decimal(1),
            is_perpetual=is_perp,
            funding_interval_s=int(_number(interval, "funding_interval")) if interval else 0,
            funding_rate=_number(details.funding_rate, "funding_rate", nonneg=False) if details and details.funding_rate
            else Decimal(0),
            display_name=p.display_name,
            trading_disabled=p.trading_disabled,
            cancel_only=p.cancel_only,
            limit_only=p.limit_only,
            post_only=p.post_only,
        )
    except (msgspec.DecodeError, RecursionError, ValueError) as exc:  # ValidationError is a DecodeError
        raise ProductsError(f"unreadable product: {exc}") from None


def fetch_products(rest_base: str, product_ids: tuple[str, ...], timeout_s: float = 5.0) -> dict[str, ProductSpec]:
    specs = {}
    for product_id in product_ids:
        url = f"{rest_base.rstrip('/')}/api/v3/brokerage/market/products/{product_id}"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                specs[product_id] = spec_from_json(response.read())
        except (urllib.error.URLError, OSError) as exc:
            raise ProductsError(f"{product_id}: {exc}") from None
    return specs
