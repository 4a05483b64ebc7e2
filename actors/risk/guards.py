"""Runtime risk guards: conditions that, while they hold, limit what trading may do.

Owns four guards and their verdicts (OK < WARN < REDUCING < HALTED):
- daily loss: the loss since the start-of-day equity (the first equity seen in a UTC day) as a
  percentage of it; a breach latches REDUCING until the UTC-midnight roll, however equity moves;
- liquidation buffer: (equity - maintenance margin) / equity under the minimum -> REDUCING;
- volatility breaker: the root mean square of the last N bar returns of a product, in basis
  points, against warn / reducing / halted thresholds; once tripped, a level falls only after
  `cooldown_s` in which it has not been met again;
- concentration: one product's share of gross exposure over the cap -> WARN.
Pure: time, equity, margins and bars come in as arguments; exact Decimal arithmetic. Must never
change the trading state itself (the orchestrator owns it) or cancel orders.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from domain.control import HALTED, LEVELS, OK, REDUCING, WARN, Verdict, utc_day

_RANK = {level: i for i, level in enumerate(LEVELS)}
_ZERO = Decimal(0)
_ONE = Decimal(1)
_HUNDRED = Decimal(100)
_BPS = Decimal(10_000)


def worst(verdicts: list[Verdict]) -> str:
    """The most severe level among `verdicts` (OK when there are none)."""
    return max((v.level for v in verdicts), key=_RANK.__getitem__, default=OK)


class DailyLossGuard:
    """Loss against start-of-day equity, latched until the UTC day rolls over."""

    def __init__(self, max_loss_pct: Decimal) -> None:
        if not _ZERO < max_loss_pct < _HUNDRED:
            raise ValueError(f"max_loss_pct must be in (0, 100), got {max_loss_pct}")
        self.max_loss_pct = max_loss_pct
        self.day: int | None = None
        self.start_equity: Decimal | None = None
        self.latched = False
        self.loss_pct = _ZERO

    def restore(self, day: int, start_equity: Decimal) -> None:
        """A restart: the day's start as journaled, so a loss before it still counts (a restart must
        not reset the day's baseline to an equity already down)."""
        if self.day is None:
            self.day, self.start_equity = day, start_equity

    def on_equity(self, equity: Decimal, now: float) -> Verdict:
        day = utc_day(now)
        if day != self.day:  # the UTC-midnight roll: a new start of day, the latch released
            self.day, self.start_equity, self.latched = day, equity, False
        start = self.start_equity
        self.loss_pct = (start - equity) / start * _HUNDRED if start and start > _ZERO else _ZERO
        if self.loss_pct >= self.max_loss_pct:
            self.latched = True
        if self.latched:
            return Verdict("daily_loss", REDUCING,
                           f"day loss reached {self.max_loss_pct}% of {start} (now {self.loss_pct:.2f}%)")
        return Verdict("daily_loss", OK, f"day loss {self.loss_pct:.2f}%")


class LiquidationBufferGuard:
    def __init__(self, min_buffer_pct: Decimal) -> None:
        self.min_buffer_pct = min_buffer_pct

    def check(self, equity: Decimal, maintenance_margin: Decimal) -> Verdict:
        if equity <= _ZERO:
            return Verdict("liquidation_buffer", HALTED, f"equity {equity} is not positive")
        buffer_pct = (equity - maintenance_margin) / equity * _HUNDRED
        if buffer_pct < self.min_buffer_pct:
            return Verdict("liquidation_buffer", REDUCING,
                           f"buffer {buffer_pct:.2f}% under {self.min_buffer_pct}%")
        return Verdict("liquidation_buffer", OK, f"buffer {buffer_pct:.2f}%")


class VolatilityBreaker:
    """Realised volatility of one product's bar returns against three thresholds (bps)."""

    def __init__(self, product_id: str, window: int, warn_bps: Decimal, reducing_bps: Decimal,
                 halted_bps: Decimal, cooldown_s: float) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        if not warn_bps <= reducing_bps <= halted_bps:
            raise ValueError("thresholds must rise: warn <= reducing <= halted")
        self.product_id = product_id
        self.thresholds = ((HALTED, halted_bps), (REDUCING, reducing_bps), (WARN, warn_bps))
        self.cooldown_s = cooldown_s
        self._returns: deque[Decimal] = deque(maxlen=window)
        self._last_close: Decimal | None = None
        self.level = OK
        self._level_met_at = 0.0  # last time the current level's threshold was met
        self.vol_bps = _ZERO

    def on_bar(self, close: Decimal, now: float) -> Verdict:
        if self._last_close is not None and self._last_close > _ZERO:
            self._returns.append(close / self._last_close - _ONE)
        self._last_close = close
        if self._returns:
            mean_square = sum((r * r for r in self._returns), _ZERO) / len(self._returns)
            self.vol_bps = mean_square.sqrt() * _BPS
        measured = next((level for level, bps in self.thresholds if self.vol_bps >= bps), OK)
        if _RANK[measured] >= _RANK[self.level]:
            self.level, self._level_met_at = measured, now
        elif now - self._level_met_at >= self.cooldown_s:  # calm for a whole cooldown: step down
            self.level, self._level_met_at = measured, now
        return Verdict(f"volatility:{self.product_id}", self.level, f"realised vol {self.vol_bps:.1f} bps")


def concentration(exposures: dict[str, Decimal], max_share_pct: Decimal, min_gross: Decimal = _ZERO) -> list[Verdict]:
    """WARN for each product whose share of gross exposure exceeds the cap (only with more than
    one product held and gross exposure above `min_gross`)."""
    gross = sum((abs(e) for e in exposures.values()), _ZERO)
    held = [p for p, e in exposures.items() if e]
    if gross <= min_gross or gross == _ZERO or len(held) < 2:
        return []
    out = []
    for product_id in held:
        share = abs(exposures[product_id]) / gross * _HUNDRED
        if share > max_share_pct:
            out.append(Verdict(f"concentration:{product_id}", WARN, f"{share:.1f}% of gross exposure"))
    return out
