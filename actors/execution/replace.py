"""Cancel-and-replace: the replacements waiting for their original order to end.

Owns, per original client_order_id, the replacement intent waiting for the original's cancel, and
the rules: a replacement is built from the original order (product, side, order type, time in
force, post-only and reduce-only kept; size, limit and stop price as asked); it goes only once the
original is final, so the two are never live together; it sends the asked total less what the
original filled, and nothing when the original filled completely (too late to replace). Pure. Must
never send anything or check risk: execution quantizes and gates the replacement like any intent.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

import msgspec

from domain.orders import OrderIntent, ReplaceIntent


class ReplaceableOrder(Protocol):
    """What a replacement copies: a sent PlaceOrder, or an armed stop's QuantizedOrder (read-only:
    both are frozen)."""

    @property
    def product_id(self) -> str: ...
    @property
    def side(self) -> str: ...
    @property
    def order_type(self) -> str: ...
    @property
    def size(self) -> Decimal: ...
    @property
    def limit_price(self) -> Decimal | None: ...
    @property
    def post_only(self) -> bool: ...
    @property
    def reduce_only(self) -> bool: ...
    @property
    def time_in_force(self) -> str: ...
    @property
    def stop_price(self) -> Decimal | None: ...
    @property
    def stop_direction(self) -> str: ...
    @property
    def end_time(self) -> str: ...


def replacement_intent(original: ReplaceableOrder, replace: ReplaceIntent) -> OrderIntent:
    """The intent that replaces `original`: its kind, side and flags, the new size and prices."""
    return OrderIntent(
        intent_id=replace.intent_id,
        product_id=original.product_id,
        side=original.side,
        size=original.size if replace.size is None else replace.size,
        order_type=original.order_type,
        limit_price=original.limit_price if replace.limit_price is None else replace.limit_price,
        post_only=original.post_only,
        reduce_only=original.reduce_only,
        reason=replace.reason or f"replaces {replace.replaces}",
        origin_ns=replace.origin_ns,
        created_at=replace.created_at,
        time_in_force=original.time_in_force,
        stop_price=original.stop_price if replace.stop_price is None else replace.stop_price,
        stop_direction=original.stop_direction,
        end_time=original.end_time,
    )


class PendingReplacements:
    """Replacements waiting for their originals to end. Single owner: the execution actor."""

    def __init__(self) -> None:
        self._waiting: dict[str, OrderIntent] = {}

    def __contains__(self, original_client_order_id: object) -> bool:
        return original_client_order_id in self._waiting

    def waiting(self, original_client_order_id: str) -> OrderIntent | None:
        return self._waiting.get(original_client_order_id)

    def originals(self) -> tuple[str, ...]:
        """The client_order_ids whose replacement waits, oldest first."""
        return tuple(self._waiting)

    def add(self, original_client_order_id: str, intent: OrderIntent) -> bool:
        """Wait for the original to end; False if a replacement for it is waiting already."""
        if original_client_order_id in self._waiting:
            return False
        self._waiting[original_client_order_id] = intent
        return True

    def settle(self, original_client_order_id: str, completely_filled: bool,
               filled: Decimal) -> OrderIntent | None:
        """The original ended: its replacement sized to what is left, or None (nothing left, or
        the original filled before it could be cancelled). Forgets the replacement either way."""
        intent = self._waiting.pop(original_client_order_id, None)
        if intent is None or completely_filled:
            return None
        remaining = intent.size - filled
        return msgspec.structs.replace(intent, size=remaining) if remaining > 0 else None

    def clear(self) -> int:
        """Drop every waiting replacement (a halt); how many there were."""
        dropped = len(self._waiting)
        self._waiting.clear()
        return dropped
