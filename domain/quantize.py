"""Quantization: fit an order intent onto a product's size and price grids, or refuse it.

Owns the venue's arithmetic rules: sizes floor to `base_increment`, limit and stop prices round to
`price_increment` in the direction that never pays more (BUY down, SELL up), and the minimum size
and minimum notional checks; and the order kinds Coinbase takes (time in force per type, GTD's end
time, post-only only on resting limits, a stop's direction (stop-limit, and the stop-market that
execution holds itself because Coinbase does not), derived when not given: a
stop above the reference price triggers going up, below going down; without a reference a BUY stop
goes up, a SELL stop down). Exact Decimal throughout. Must never check risk limits or trading
state (that is the gate), nor use `quote_increment` as a price tick (it is the quote-funds step,
and differs from the price tick on futures: 0.01 vs 5).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from domain.orders import OrderIntent, PlaceOrder
from domain.products import ProductSpec, round_to_step

SIDES = ("BUY", "SELL")
ORDER_TYPES = ("market", "limit", "stop_limit", "stop_market")
# Held by execution, not the venue (Coinbase has no stop-market order): sent as a market order
# when the mark reaches the stop.
LOCAL_STOP = "stop_market"
STOP_UP, STOP_DOWN = "STOP_DIRECTION_STOP_UP", "STOP_DIRECTION_STOP_DOWN"
# Time in force each order type takes ("" = the type's usual one: IOC for market, GTC otherwise).
TIME_IN_FORCE = {
    "market": ("", "IOC", "FOK"),
    "limit": ("", "GTC", "GTD", "IOC", "FOK"),
    "stop_limit": ("", "GTC", "GTD"),
    LOCAL_STOP: ("", "GTC"),
}


class QuantizedOrder(msgspec.Struct, frozen=True, tag=True):
    """An intent on the product's grids, ready for the pre-trade gate."""

    intent_id: str
    product_id: str
    side: str
    order_type: str
    size: Decimal  # venue units, a multiple of base_increment, >= base_min_size
    limit_price: Decimal | None = None  # on the price_increment grid (limit and stop-limit orders)
    post_only: bool = False
    reduce_only: bool = False
    origin_ns: int = 0
    created_at: float = 0.0
    time_in_force: str = ""
    stop_price: Decimal | None = None  # on the price_increment grid (stop-limit orders only)
    stop_direction: str = ""
    end_time: str = ""

    def as_triggered(self) -> QuantizedOrder:
        """The market order a local stop becomes when its stop is reached."""
        return msgspec.structs.replace(self, order_type="market", time_in_force="", stop_price=None, stop_direction="")

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
            time_in_force=self.time_in_force,
            stop_price=self.stop_price,
            stop_direction=self.stop_direction,
            end_time=self.end_time,
            reduce_only=self.reduce_only,
        )


class Refusal(msgspec.Struct, frozen=True, tag=True):
    """An intent that did not become an order, and why (a short stable reason code)."""

    intent_id: str
    product_id: str
    reason: str
    detail: str = ""


def quantize(intent: OrderIntent, spec: ProductSpec, price: Decimal | None = None) -> QuantizedOrder | Refusal:
    """Quantize `intent` for `spec`. `price` is a reference price (the mark) used for the minimum
    notional check of market orders and a stop's direction; limit orders use their own rounded
    limit price for the notional."""
    if intent.product_id != spec.product_id:
        raise ValueError(f"intent for {intent.product_id} quantized with the spec of {spec.product_id}")

    def refuse(reason: str, detail: str = "") -> Refusal:
        return Refusal(intent_id=intent.intent_id, product_id=intent.product_id, reason=reason, detail=detail)

    if intent.side not in SIDES:
        return refuse("invalid_side", intent.side)
    if intent.order_type not in ORDER_TYPES:
        return refuse("invalid_order_type", intent.order_type)
    kind, tif = intent.order_type, intent.time_in_force
    if tif not in TIME_IN_FORCE[kind]:
        takes = "/".join(t for t in TIME_IN_FORCE[kind] if t)
        return refuse("invalid_time_in_force", f"{kind} takes {takes}, not {tif}")
    if tif == "GTD" and not intent.end_time:
        return refuse("invalid_time_in_force", "GTD needs an end time")
    if intent.end_time and tif != "GTD":
        return refuse("invalid_time_in_force", "an end time needs GTD")
    if intent.post_only and kind == "limit" and tif not in ("", "GTC", "GTD"):
        return refuse("invalid_post_only", f"post-only needs a resting order (GTC or GTD), not {tif}")

    size = round_to_step(intent.size, spec.base_increment, up=False) if intent.size > 0 else Decimal(0)
    if size <= 0 or size < spec.base_min_size:
        return refuse("below_min_size", f"{intent.size} -> {size} < {spec.base_min_size}")

    limit_price: Decimal | None = None
    if kind in ("limit", "stop_limit"):
        if intent.limit_price is None or not intent.limit_price > 0:
            return refuse("invalid_price", str(intent.limit_price))
        limit_price = round_to_step(intent.limit_price, spec.price_increment, up=intent.side == "SELL")
        if limit_price <= 0:
            return refuse("invalid_price", f"{intent.limit_price} -> {limit_price}")

    stop_price: Decimal | None = None
    stop_direction = ""
    if kind in ("stop_limit", LOCAL_STOP):
        if intent.stop_price is None or not intent.stop_price > 0:
            return refuse("invalid_stop_price", str(intent.stop_price))
        stop_price = round_to_step(intent.stop_price, spec.price_increment, up=intent.side == "SELL")
        if stop_price <= 0:
            return refuse("invalid_stop_price", f"{intent.stop_price} -> {stop_price}")
        stop_direction = intent.stop_direction or _stop_direction(intent.side, stop_price, price)
        if stop_direction not in (STOP_UP, STOP_DOWN):
            return refuse("invalid_stop_direction", stop_direction)
    elif intent.stop_price is not None or intent.stop_direction:
        return refuse("invalid_stop_price", f"a {kind} order takes no stop")

    reference = limit_price if limit_price is not None else stop_price if kind == LOCAL_STOP else price
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
        post_only=intent.post_only if kind == "limit" else False,
        reduce_only=intent.reduce_only,
        origin_ns=intent.origin_ns,
        created_at=intent.created_at,
        time_in_force=tif,
        stop_price=stop_price,
        stop_direction=stop_direction,
        end_time=intent.end_time,
    )


def _stop_direction(side: str, stop: Decimal, reference: Decimal | None) -> str:
    if reference is not None and reference > 0 and stop != reference:
        return STOP_UP if stop > reference else STOP_DOWN
    return STOP_UP if side == "BUY" else STOP_DOWN
