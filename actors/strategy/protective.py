"""Protective stops: a trailing stop-loss under every open position, from bar closes.

Owns, per product, the stop this core last asked for (its intent id, side, size and stop price)
and the rules: a position gets a reduce-only stop-market `stop_loss_bps` away from the close on
the losing side (below a long, above a short); as the close moves the right way the stop follows
it (never back), and a stop that no longer fits the position (size changed) is replaced; a flip
cancels the old stop and arms a new one; a flat position cancels it. Stop-markets are held and
fired by execution (Coinbase holds none), which also refuses one that would flip the position.
Pure and deterministic: the same bars and positions give the same intents with the same ids. Must
never size the position itself or decide direction (that is the crossover core).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Union

import msgspec

from domain.market import Bar
from domain.orders import CancelIntent, OrderIntent, ReplaceIntent
from domain.quantize import LOCAL_STOP, STOP_DOWN, STOP_UP

StopIntent = Union[OrderIntent, ReplaceIntent, CancelIntent]

_ZERO = Decimal(0)
_BPS = Decimal(10_000)
TRAIL_STEP = Decimal("0.1")  # the stop follows once it would move a tenth of its distance


class _Stop(msgspec.Struct):
    intent_id: str
    side: str
    size: Decimal
    stop_price: Decimal


class ProtectiveStops:
    def __init__(self, stop_loss_bps: Decimal) -> None:
        if stop_loss_bps < 0:
            raise ValueError(f"stop_loss_bps must be >= 0, got {stop_loss_bps}")
        self._fraction = stop_loss_bps / _BPS
        self._stops: dict[str, _Stop] = {}

    @property
    def enabled(self) -> bool:
        return self._fraction > 0

    def restore(self, product_id: str, intent_id: str, side: str, size: Decimal, stop_price: Decimal) -> None:
        """After a restart: the stop execution holds armed for `product_id` is this core's own, so
        the next bar trails or replaces it instead of arming a second one."""
        self._stops[product_id] = _Stop(intent_id, side, size, stop_price)

    def on_bar(self, bar: Bar, position: Decimal) -> list[StopIntent]:
        """The intents that keep `bar.product_id`'s stop matching `position` after this bar."""
        if not self.enabled:
            return []
        current = self._stops.get(bar.product_id)
        intent_id = f"{bar.product_id}:{round(bar.start * 1000)}:stop"
        if position == 0:
            if current is None:
                return []
            del self._stops[bar.product_id]
            return [CancelIntent(current.intent_id, "flat")]
        side = "SELL" if position > 0 else "BUY"
        size = abs(position)
        trail = bar.close * (1 - self._fraction) if position > 0 else bar.close * (1 + self._fraction)
        out: list[StopIntent] = []
        if current is not None and current.side == side:
            better = max(current.stop_price, trail) if position > 0 else min(current.stop_price, trail)
            step = bar.close * self._fraction * TRAIL_STEP
            moved = abs(better - current.stop_price) >= step
            if not moved and size == current.size:
                return []
            price = better if moved else current.stop_price
            self._stops[bar.product_id] = _Stop(intent_id, side, size, price)
            return [ReplaceIntent(intent_id, replaces=current.intent_id, size=size, stop_price=price,
                                  reason="trail" if moved else "resize", origin_ns=bar.origin_ns,
                                  created_at=bar.start + bar.interval_s)]
        if current is not None:  # the position flipped: the old stop is on the wrong side
            out.append(CancelIntent(current.intent_id, "flipped"))
        self._stops[bar.product_id] = _Stop(intent_id, side, size, trail)
        out.append(OrderIntent(
            intent_id=intent_id, product_id=bar.product_id, side=side, size=size, order_type=LOCAL_STOP,
            stop_price=trail, stop_direction=STOP_DOWN if position > 0 else STOP_UP, reduce_only=True,
            reason="protective_stop", origin_ns=bar.origin_ns, created_at=bar.start + bar.interval_s))
        return out
