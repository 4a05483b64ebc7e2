"""The moving-average crossover strategy core: bars in, order intents out.

Owns, per product, the window of recent closes, the sign of (short SMA - long SMA), a pending
confirmation, and the sizing inputs (equity and positions) the portfolio last reported. Decides a
target position on a fresh cross and emits the intent that moves the current position there.
Must never talk to a venue, quantize for the venue's rules beyond the size step, check risk limits
(that is the pre-trade gate, actors.risk.gate), read the clock, or keep state that is not derived from its inputs:
the same bars and portfolio updates always give the same intents with the same ids (a restart
restores that state from a snapshot, so it carries on as if it had seen the bars itself).
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Any

from actors.strategy.state import CrossoverSnapshot
from domain.market import Bar
from domain.orders import OrderIntent
from domain.products import ProductSpec, round_to_step

_ZERO = Decimal(0)


class _ProductState:
    """What the core remembers about one product between bars."""

    def __init__(self, long_window: int) -> None:
        self.closes: deque[Decimal] = deque(maxlen=long_window)
        self.last_sign = 0  # last non-zero sign of short-long once the long window is full
        self.primed = False  # the long window has been full at least once
        self.pending_sign = 0  # a cross waiting for confirmation, 0 if none
        self.pending_held = 0  # further bars the pending sign has held


class CrossoverCore:
    """Simple-moving-average crossover over bar closes, acting once per fresh cross.

    A cross is fresh when the sign of (short SMA - long SMA) differs from the last non-zero sign
    (equal averages carry no opinion). With `confirmation_bars=k` the new sign must hold for k
    further bars before the core acts; a bar where it does not hold drops the pending cross.
    Up-cross targets a long position; down-cross targets a short on perpetuals, flat on spot.
    """

    def __init__(
        self,
        *,
        products: dict[str, ProductSpec],
        short_window: int = 5,
        long_window: int = 20,
        confirmation_bars: int = 0,
        equity_fraction: Decimal = Decimal("0.1"),
        target_leverage: Decimal = Decimal("1"),
        equity: Decimal = _ZERO,
    ) -> None:
        if not 1 <= short_window < long_window:
            raise ValueError(f"need 1 <= short_window < long_window, got {short_window}, {long_window}")
        if confirmation_bars < 0:
            raise ValueError(f"confirmation_bars must be >= 0, got {confirmation_bars}")
        self._products = dict(products)
        self._short = short_window
        self._long = long_window
        self._confirm = confirmation_bars
        self._fraction = equity_fraction
        self._leverage = target_leverage
        self._equity = equity
        self._positions: dict[str, Decimal] = {}
        self._enabled = True
        self._state = {pid: _ProductState(long_window) for pid in self._products}

    @classmethod
    def from_config(cls, cfg: Any, products: dict[str, ProductSpec], equity: Decimal = _ZERO) -> CrossoverCore:
        """Build from a `config.schema.StrategyConfig` (only the products it lists are traded)."""
        return cls(
            products={pid: products[pid] for pid in cfg.products},
            short_window=cfg.short_window,
            long_window=cfg.long_window,
            confirmation_bars=cfg.confirmation_bars,
            equity_fraction=cfg.equity_fraction,
            target_leverage=cfg.target_leverage,
            equity=equity,
        )

    @property
    def enabled(self) -> bool:
        return self._enabled

    def set_enabled(self, enabled: bool) -> None:
        """A disabled (HALTED) strategy keeps tracking bars but emits nothing; crosses seen while
        disabled are consumed, never acted on later."""
        self._enabled = enabled

    def on_portfolio(self, equity: Decimal, positions: dict[str, Decimal]) -> None:
        """Sizing inputs: account equity (quote) and signed positions in venue units."""
        self._equity = equity
        self._positions = dict(positions)

    def position(self, product_id: str) -> Decimal:
        """The signed position the portfolio last reported for `product_id` (venue units)."""
        return self._positions.get(product_id, _ZERO)

    def trades(self, product_id: str) -> bool:
        """Whether this core trades `product_id` (the configured products only)."""
        return product_id in self._state

    def signal(self, product_id: str) -> int:
        """The last non-zero sign of short-long (+1 above, -1 below, 0 not yet known)."""
        return self._state[product_id].last_sign

    def snapshot(self, bar: Bar) -> CrossoverSnapshot | None:
        """`bar.product_id`'s state after `bar`, to journal; None for a product not traded."""
        state = self._state.get(bar.product_id)
        if state is None:
            return None
        return CrossoverSnapshot(tuple(state.closes), state.last_sign, state.primed, state.pending_sign,
                                 state.pending_held, bar.start + bar.interval_s, bar.interval_s)

    def restore(self, product_id: str, snapshot: CrossoverSnapshot) -> bool:
        """Take back a journaled state; False (ignored) for a product not traded here."""
        state = self._state.get(product_id)
        if state is None:
            return False
        state.closes.clear()
        state.closes.extend(snapshot.closes[-self._long:])
        state.last_sign, state.primed = snapshot.last_sign, snapshot.primed and len(state.closes) == self._long
        state.pending_sign, state.pending_held = snapshot.pending_sign, snapshot.pending_held
        return True

    def on_bar(self, bar: Bar) -> OrderIntent | None:
        state = self._state.get(bar.product_id)
        if state is None:
            return None
        state.closes.append(bar.close)
        if len(state.closes) < self._long:
            return None
        sign = self._sign(state.closes)
        if not state.primed:
            state.primed = True
            state.last_sign = sign
            return None
        direction = self._advance(state, sign)
        if direction == 0 or not self._enabled:
            return None
        return self._intent(bar, direction)

    def _sign(self, closes: deque[Decimal]) -> int:
        recent = list(closes)
        short_sum = sum(recent[-self._short :], _ZERO)
        long_sum = sum(recent, _ZERO)
        # short/S - long/L compared without division: exact in Decimal.
        diff = short_sum * self._long - long_sum * self._short
        return (diff > 0) - (diff < 0)

    def _advance(self, state: _ProductState, sign: int) -> int:
        """Update the cross state with this bar's sign; return the direction to act on, or 0."""
        if sign == 0:
            state.pending_sign = 0
            return 0
        if sign != state.last_sign:
            state.last_sign = sign
            if self._confirm == 0:
                return sign
            state.pending_sign, state.pending_held = sign, 0
            return 0
        if state.pending_sign == sign:
            state.pending_held += 1
            if state.pending_held >= self._confirm:
                state.pending_sign = 0
                return sign
        return 0

    def _intent(self, bar: Bar, direction: int) -> OrderIntent | None:
        spec = self._products[bar.product_id]
        current = self._positions.get(bar.product_id, _ZERO)
        target = _ZERO
        if direction > 0 or spec.is_perpetual:
            magnitude = self._target_size(spec, bar.close)
            target = magnitude if direction > 0 else -magnitude
        delta = target - current
        size = round_to_step(abs(delta), spec.base_increment, up=False)
        if size <= 0:
            return None
        side = "BUY" if delta > 0 else "SELL"
        reduces = abs(target) < abs(current) and (target == 0 or (target > 0) == (current > 0))
        return OrderIntent(
            intent_id=f"{bar.product_id}:{round(bar.start * 1000)}:{side}",
            product_id=bar.product_id,
            side=side,
            size=size,
            reduce_only=reduces,
            reason="cross_up" if direction > 0 else "cross_down",
            origin_ns=bar.origin_ns,
            created_at=bar.start + bar.interval_s,
        )

    def _target_size(self, spec: ProductSpec, price: Decimal) -> Decimal:
        if price <= 0 or self._equity <= 0:
            return _ZERO
        notional = self._equity * self._fraction * self._leverage
        return round_to_step(notional / (price * spec.contract_size), spec.base_increment, up=False)
