"""Stops the venue does not hold: armed here, fired from marks.

Owns the armed stop-market orders (Coinbase has no stop-market order), keyed by client_order_id,
and the rule that fires them: a STOP_DIRECTION_STOP_UP stop fires when the mark reaches or passes
its stop price going up, a STOP_DIRECTION_STOP_DOWN stop going down. A fired stop is removed as it
is returned, so it fires once. Pure: no clock, no I/O. Must never send an order or check risk:
execution gates the market order a fired stop becomes, like any other order.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from domain.quantize import STOP_UP, QuantizedOrder


class ArmedStop(msgspec.Struct, frozen=True):
    client_order_id: str
    order: QuantizedOrder  # order_type "stop_market", on the product's grids
    armed_at: float

    def reached(self, mark: Decimal) -> bool:
        stop = self.order.stop_price
        assert stop is not None  # quantize gives every stop-market a stop price
        return mark >= stop if self.order.stop_direction == STOP_UP else mark <= stop


class LocalStops:
    """The armed stops. Single owner: the execution actor."""

    def __init__(self) -> None:
        self._armed: dict[str, ArmedStop] = {}

    def __len__(self) -> int:
        return len(self._armed)

    def get(self, client_order_id: str) -> ArmedStop | None:
        return self._armed.get(client_order_id)

    def armed(self) -> tuple[ArmedStop, ...]:
        """Every armed stop, in arming order."""
        return tuple(self._armed.values())

    def arm(self, client_order_id: str, order: QuantizedOrder, ts: float) -> bool:
        """Arm a stop; False if this client_order_id is armed already (a repeated decision)."""
        if client_order_id in self._armed:
            return False
        self._armed[client_order_id] = ArmedStop(client_order_id, order, ts)
        return True

    def disarm(self, client_order_id: str) -> ArmedStop | None:
        return self._armed.pop(client_order_id, None)

    def fire(self, product_id: str, mark: Decimal) -> list[ArmedStop]:
        """Disarm and return the stops of `product_id` that `mark` reaches, in arming order."""
        fired = [s for s in self._armed.values() if s.order.product_id == product_id and s.reached(mark)]
        for stop in fired:
            self.disarm(stop.client_order_id)
        return fired
