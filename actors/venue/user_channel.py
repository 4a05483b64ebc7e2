"""The `user` channel read as orders and fills.

Owns turning the `user` channel's cumulative order states (decoded once, by streaming, into
actors.wire.user's types; positions are ignored here) into OrderUpdates and Fills: a fill is the delta of
`cumulative_quantity` since the last state seen for that order, priced by the change in
`avg_price x cumulative_quantity` over that delta, its fee the change in `total_fees`. Events are
de-duplicated on (order_id, cumulative_quantity), and a replayed older state never produces a
fill. The channel carries no trade id: a derived fill is named "<order_id>:<cumulative_quantity>"
so that the same state always gives the same id; REST fills (with real trade ids) reconcile it
later.
Pure: no I/O, no clock (the frame timestamp comes in). Must never invent liquidity flags (the
channel does not say maker or taker: "UNKNOWN") or trust a number that is not a sane,
non-negative wire decimal (`actors.wire.decimals`): such an order state is counted unreadable.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from actors.wire.decimals import finite_decimal
from actors.wire.user import UserOrder
from domain.orders import Fill, OrderUpdate

_ZERO = Decimal(0)


class _OrderState(msgspec.Struct):
    cumulative: Decimal
    value: Decimal  # avg_price x cumulative: the quote value filled so far
    fees: Decimal
    status: str


_NOTHING = _OrderState(_ZERO, _ZERO, _ZERO, "")


class UserFillDeriver:
    """Cumulative order states in, OrderUpdates and Fills out, each state counted once.

    The state kept per order is the furthest one applied, so any state at or below its
    cumulative quantity (a duplicate, or a replay arriving late) gives no fill.
    """

    def __init__(self) -> None:
        self._orders: dict[str, _OrderState] = {}
        self.duplicates = 0  # the same (order_id, cumulative_quantity, status) again
        self.stale = 0  # an older state than one already applied (a replay out of order)
        self.unreadable = 0

    def on_order(self, order: UserOrder, ts: float) -> tuple[OrderUpdate | None, Fill | None]:
        """Apply one order state: (the order's update, the fill it implies), None where none."""
        cumulative = finite_decimal(order.cumulative_quantity or "0", nonneg=True)
        avg_price = finite_decimal(order.avg_price or "0", nonneg=True)
        fees = finite_decimal(order.total_fees or "0", nonneg=True)
        leaves = finite_decimal(order.leaves_quantity or "0", nonneg=True)
        if cumulative is None or avg_price is None or fees is None or leaves is None:
            self.unreadable += 1
            return None, None
        status = order.status.upper()
        before = self._orders.get(order.order_id, _NOTHING)
        if cumulative < before.cumulative:
            self.stale += 1
            return None, None
        if before is not _NOTHING and cumulative == before.cumulative:
            if status == before.status:
                self.duplicates += 1
                return None, None
            before.status = status  # e.g. OPEN -> CANCELLED: an update, no fill
            return self._update(order, status, cumulative, leaves, ts), None
        value = avg_price * cumulative
        self._orders[order.order_id] = _OrderState(cumulative, value, fees, status)
        update = self._update(order, status, cumulative, leaves, ts)
        delta = cumulative - before.cumulative
        if delta == _ZERO:
            return update, None
        fill = Fill(
            trade_id=f"{order.order_id}:{cumulative}",
            client_order_id=order.client_order_id,
            venue_order_id=order.order_id,
            product_id=order.product_id,
            side=order.order_side.upper(),
            price=(value - before.value) / delta,
            size=delta,
            fee=fees - before.fees,
            liquidity="UNKNOWN",
            ts=ts,
        )
        return update, fill

    @staticmethod
    def _update(order: UserOrder, status: str, cumulative: Decimal, leaves: Decimal, ts: float) -> OrderUpdate:
        return OrderUpdate(
            client_order_id=order.client_order_id,
            venue_order_id=order.order_id,
            product_id=order.product_id,
            status=status,
            filled_size=cumulative,
            leaves_size=leaves,
            reason=order.reject_reason or order.cancel_reason,
            ts=ts,
        )
