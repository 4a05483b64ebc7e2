"""Messages strategy emits: order intents."""

from __future__ import annotations

from decimal import Decimal

import msgspec


class OrderIntent(msgspec.Struct, frozen=True, tag=True):
    """A decision to trade. `intent_id` is derived from the decision, so a replay of the same
    decision yields the same id (and the same client_order_id downstream)."""

    intent_id: str
    product_id: str
    side: str  # "BUY" / "SELL"
    size: Decimal  # venue units (base for spot, contracts for futures), before quantization
    order_type: str = "market"  # "market" / "limit" / "stop_limit"
    limit_price: Decimal | None = None
    post_only: bool = False
    reduce_only: bool = False
    reason: str = ""
    origin_ns: int = 0
    created_at: float = 0.0
    # Coinbase order kinds beyond market/limit (see execution.messages.PlaceOrder); "" = usual one.
    time_in_force: str = ""  # "GTC", "GTD", "IOC", "FOK"
    stop_price: Decimal | None = None  # order_type "stop_limit"
    stop_direction: str = ""  # "" derives it: from the stop against the mark, else from the side
    end_time: str = ""  # RFC 3339, GTD only


class ReplaceIntent(msgspec.Struct, frozen=True, tag=True):
    """Cancel-and-replace the live order (or armed local stop) of an earlier intent.

    The replacement keeps the original's product, side, order type, time in force, post-only and
    reduce-only; only the fields given here change. `size` is the new total, the part the original
    already filled included (as in FIX cancel/replace), so the replacement sends what is left of
    it. `intent_id` is this decision's own id: the replacement's client_order_id derives from it."""

    intent_id: str
    replaces: str  # the intent_id of the order to replace
    size: Decimal | None = None  # None: the original's size
    limit_price: Decimal | None = None  # None: the original's
    stop_price: Decimal | None = None  # None: the original's
    reason: str = ""
    origin_ns: int = 0
    created_at: float = 0.0


class CancelIntent(msgspec.Struct, frozen=True, tag=True):
    """Cancel the live order (or disarm the local stop) of an earlier intent."""

    intent_id: str  # the intent whose order to cancel
    reason: str = ""
