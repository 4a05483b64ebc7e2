"""Fixed-cadence bars of one product, aligned to multiples of the interval on the clock.

Owns: the open bar of one product, its trades and mid observations, and the last close.
Bars mean time, not message count: an interval with no trade and no mid closes as a flat bar at
the last close with zero volume. Trades set the bar's prices; mids stand in only when no trade
printed in the bar.
Must never: read a clock (time comes in with each call), reopen a closed bar, or use floats for
prices or volumes.
"""

from __future__ import annotations

import math
from decimal import Decimal

from domain.market import Bar

_ZERO = Decimal(0)


class _Ohlc:
    __slots__ = ("open", "high", "low", "close")

    def __init__(self, price: Decimal) -> None:
        self.open = self.high = self.low = self.close = price

    def add(self, price: Decimal) -> None:
        if price is self.close:  # the same mid again (the top did not move): nothing changes
            return
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.close = price


class BarBuilder:
    """Builds the bar of index k = floor(ts / interval_s), covering [k * interval_s, (k+1) * interval_s).

    Nothing is emitted before the first price (trade or mid). After a long silence at most
    `max_flat_bars` flat bars are emitted (the most recent ones): enough for any window, bounded
    in memory.
    """

    def __init__(self, product_id: str, interval_s: float, max_flat_bars: int = 10_000) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be positive, not {interval_s!r}")
        self.product_id = product_id
        self.interval_s = float(interval_s)
        self.max_flat_bars = max_flat_bars
        self._index: int | None = None  # index of the open bar
        # index + 1 while a bar is open, else -infinity: ts / interval_s < _next means a bar is open
        # and ts is still in it (floor(x) <= k exactly when x < k + 1), the check done per frame
        self._next: float = -math.inf
        self._trades: _Ohlc | None = None
        self._mids: _Ohlc | None = None
        self._volume = _ZERO
        self._count = 0
        self.last_close: Decimal | None = None
        self.late_trades = 0  # trades stamped before the open bar: folded into it

    def _bar_index(self, ts: float) -> int:
        return math.floor(ts / self.interval_s)

    def advance(self, ts: float, origin_ns: int) -> list[Bar]:
        """Close every bar whose end is <= ts; `origin_ns` is the arrival of what closed them."""
        if ts / self.interval_s < self._next:  # still inside the open bar
            return []
        index = self._index
        if index is None:  # no price yet: nothing to close
            return []
        now_index = self._bar_index(ts)
        if now_index <= index:
            return []
        bars = [self._close_open_bar(index, origin_ns)]
        first_flat = index + 1
        if now_index - first_flat > self.max_flat_bars:
            first_flat = now_index - self.max_flat_bars
        close = self.last_close
        assert close is not None  # set by the bar just closed
        interval = self.interval_s
        for k in range(first_flat, now_index):
            bars.append(
                Bar(self.product_id, k * interval, interval, close, close, close, close, _ZERO, 0, origin_ns)
            )
        self._index = now_index
        self._next = now_index + 1
        return bars

    def _close_open_bar(self, index: int, origin_ns: int) -> Bar:
        prices = self._trades or self._mids
        if prices is None:  # nothing this interval: flat at the last close
            # a bar opens only with a price, so the first bar has one and every later bar a last close
            assert self.last_close is not None
            o = h = lo = c = self.last_close
        else:
            o, h, lo, c = prices.open, prices.high, prices.low, prices.close
        bar = Bar(
            self.product_id, index * self.interval_s, self.interval_s,
            o, h, lo, c, self._volume, self._count, origin_ns,
        )  # fmt: skip
        self.last_close = c
        self._trades = None
        self._mids = None
        self._volume = _ZERO
        self._count = 0
        return bar

    def _start_if_needed(self, ts: float) -> int:
        """Open the first bar if none is open; returns the index of the open bar."""
        index = self._index
        if index is None:
            self._index = index = self._bar_index(ts)
            self._next = index + 1
        return index

    def on_trade(self, price: Decimal, size: Decimal, ts: float, origin_ns: int) -> list[Bar]:
        """Add a trade at `ts`; returns the bars that `ts` closed first."""
        closed = self.advance(ts, origin_ns)
        if self._bar_index(ts) < self._start_if_needed(ts):
            self.late_trades += 1
        if self._trades is None:
            self._trades = _Ohlc(price)
        else:
            self._trades.add(price)
        self._volume += size
        self._count += 1
        return closed

    def on_mid(self, mid: Decimal, ts: float, origin_ns: int) -> list[Bar]:
        """Observe the mid at `ts`; returns the bars that `ts` closed first."""
        if ts / self.interval_s < self._next:  # the usual case, once per book change: inside the open bar
            closed: list[Bar] = []
        else:
            closed = self.advance(ts, origin_ns)
            self._start_if_needed(ts)
        mids = self._mids
        if mids is None:
            self._mids = _Ohlc(mid)
        elif mid is not mids.close:
            mids.add(mid)
        return closed
