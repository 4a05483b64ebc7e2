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
