"""Quantization: fit an order intent onto a product's size and price grids, or refuse it.

Owns the venue's arithmetic rules: sizes floor to `base_increment`, limit prices round to
`price_increment` in the direction that never pays more (BUY down, SELL up), and the minimum size
and minimum notional checks. Exact Decimal throughout. Must never check risk limits or trading
state (that is the gate), nor use `quote_increment` as a price tick (it is the quote-funds step,
and differs from the price tick on futures: 0.01 vs 5).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from actors.execution.messages import PlaceOrder
from actors.products import ProductSpec, round_to_step
from actors.strategy.messages import OrderIntent

SIDES = ("BUY", "SELL")
ORDER_TYPES = ("market", "limit")


class QuantizedOrder(msgspec.Struct, frozen=True, tag=True):
    """An intent on the product's grids, ready for the pre-trade gate."""

    intent_id: str
    product_id: str
    side: str
    order_type: str
    size: Decimal  # venue units, a multiple of base_increment, >= base_min_size
    limit_price: Decimal | None = None  # on the price_increment grid (limit orders only)
    post_only: bool = False
    reduce_only: bool = False
    origin_ns: int = 0
    created_at: float = 0.0

    def to_place_order(self, client_order_id: str) -> PlaceOrder:
        return PlaceOrder(
            client_order_id=client_order_id,
            product_id=self.product_id,
            side=self.side,
            order_type=self.order_type,
            size=self.size,
            limit_price=self.limit_price,
            post_only=self.post_only,
            origin_ns=self.origin_ns,
        )


class Refusal(msgspec.Struct, frozen=True, tag=True):
    """An intent that did not become an order, and why (a short stable reason code)."""

    intent_id: str
    product_id: str
    reason: str
    detail: str = ""


def quantize(intent: OrderIntent, spec: ProductSpec, price: Decimal | None = None) -> QuantizedOrder | Refusal:
    """Quantize `intent` for `spec`. `price` is a reference price (the mark) used for the minimum
    notional check of market orders; limit orders use their own rounded limit price."""
    if intent.product_id != spec.product_id:
        raise ValueError(f"intent for {intent.product_id} quantized with the spec of {spec.product_id}")

    def refuse(reason: str, detail: str = "") -> Refusal:
        return Refusal(intent_id=intent.intent_id, product_id=intent.product_id, reason=reason, detail=detail)

    if intent.side not in SIDES:
        return refuse("invalid_side", intent.side)
    if intent.order_type not in ORDER_TYPES:
        return refuse("invalid_order_type", intent.order_type)

    size = round_to_step(intent.size, spec.base_increment, up=False) if intent.size > 0 else Decimal(0)
    if size <= 0 or size < spec.base_min_size:
        return refuse("below_min_size", f"{intent.size} -> {size} < {spec.base_min_size}")

    limit_price: Decimal | None = None
    if intent.order_type == "limit":
        if intent.limit_price is None or not intent.limit_price > 0:
            return refuse("invalid_price", str(intent.limit_price))
        limit_price = round_to_step(intent.limit_price, spec.price_increment, up=intent.side == "SELL")
        if limit_price <= 0:
            return refuse("invalid_price", f"{intent.limit_price} -> {limit_price}")

    reference = limit_price if limit_price is not None else price
    if reference is not None and spec.quote_min_size > 0:
        notional = spec.notional(size, reference)
        if notional < spec.quote_min_size:
            return refuse("below_min_notional", f"{notional} < {spec.quote_min_size}")

    return QuantizedOrder(
        intent_id=intent.intent_id,
        product_id=intent.product_id,
        side=intent.side,
        order_type=intent.order_type,
        size=size,
        limit_price=limit_price,
        post_only=intent.post_only if intent.order_type == "limit" else False,
        reduce_only=intent.reduce_only,
        origin_ns=intent.origin_ns,
        created_at=intent.created_at,
    )
