"""Sliding-window statistics of one product: the trade tape and the spread history.

Owns: the trades of the last 15 minutes (traded notional over 1, 5 and 15 minutes, trade count and
average size) and the spread samples of the last 5 minutes (average, min, max), each updated
incrementally in O(1) amortised time per event.
  window w at time `now` = the half-open interval (now - w, now]: an event exactly w seconds old
                           has left the window.
  notional               = price x base size, in quote currency.
  spread average         = the mean of the samples in the window (samples, not time-weighted).
Time only moves forward here: each structure keeps the latest time it has seen (from events and
from `stats(now)`), an earlier `now` reads as that latest time, and an event stamped earlier than
the previous one (a reordered print) is stamped with the previous time so the deques stay sorted
(the error is bounded by the reorder distance). An event already older than the longest window is
dropped.
Must never: read a clock, rescan a window, or use floats for money.
"""

from __future__ import annotations

from collections import deque
from decimal import Context, Decimal

import msgspec

_ZERO = Decimal(0)
# Running sums are added to and subtracted from forever, so they must be exact: 60 digits hold
# any realistic sum of prices x sizes exactly (28, the default, could round and then drift).
_SUM = Context(prec=60)
_OUT = Context(prec=28)  # derived values (averages), independent of the caller's context

DEFAULT_TAPE_WINDOWS = (60.0, 300.0, 900.0)
DEFAULT_SPREAD_WINDOW = 300.0


class TapeStats(msgspec.Struct, frozen=True):
    """Trade tape over the windows (1, 5, 15 minutes by default; named after the defaults)."""

    volume_1m: Decimal  # traded notional, quote currency, shortest window
    volume_5m: Decimal  # middle window
    volume_15m: Decimal  # longest window
    trades_15m: int
    avg_trade_size_15m: Decimal  # base units; 0 when no trade


class SpreadSummary(msgspec.Struct, frozen=True):
    """Spread samples over the window (5 minutes by default); None when there is no sample."""

    samples: int
    avg_bps: Decimal | None
    min_bps: Decimal | None
    max_bps: Decimal | None


class _Band:
    """The trades in one band of ages, [previous window, this window), with their running sums."""

    __slots__ = ("trades", "notional", "base")

    def __init__(self) -> None:
        self.trades: deque[tuple[float, Decimal, Decimal]] = deque()  # (ts, notional, base size)
        self.notional = _ZERO
        self.base = _ZERO

    def push(self, trade: tuple[float, Decimal, Decimal]) -> None:
        self.trades.append(trade)
        self.notional = _SUM.add(self.notional, trade[1])
        self.base = _SUM.add(self.base, trade[2])

    def pop_older(self, horizon: float) -> list[tuple[float, Decimal, Decimal]]:
        """Remove and return, oldest first, the trades stamped at or before `horizon`."""
        out = []
        trades = self.trades
        while trades and trades[0][0] <= horizon:
            trade = trades.popleft()
            self.notional = _SUM.subtract(self.notional, trade[1])
            self.base = _SUM.subtract(self.base, trade[2])
            out.append(trade)
        if not trades:  # exact zero, whatever happened before
            self.notional = self.base = _ZERO
        return out


class TradeTape:
    """Traded notional, count and average size over three nested windows of trades.

    Each trade lives in exactly one band: band k holds the trades inside window k but outside
    window k-1. As time advances a trade moves from band to band and then out, so each trade is
    touched at most once per window: O(1) amortised per trade, and a window's totals are the sums
    of its bands.
    """

    def __init__(self, windows: tuple[float, float, float] = DEFAULT_TAPE_WINDOWS) -> None:
        if len(windows) != 3 or not 0 < windows[0] < windows[1] < windows[2]:
            raise ValueError(f"windows must be three increasing positive seconds, got {windows!r}")
        self.windows = tuple(float(w) for w in windows)
        self._bands = tuple(_Band() for _ in self.windows)
        self._now = float("-inf")  # latest time seen
        self._last_ts = float("-inf")  # stamp of the newest trade

    def add_trade(self, price: Decimal, size_base: Decimal, ts: float) -> bool:
        """Record a trade; False (ignored) for a non-positive price or size or a too-old trade."""
        if price <= 0 or size_base <= 0 or ts <= self._now - self.windows[-1]:
            return False
        stamp = max(ts, self._last_ts)
        self._last_ts = stamp
        self._bands[0].push((stamp, _SUM.multiply(price, size_base), size_base))
        self._advance(stamp)
        return True

    def stats(self, now: float) -> TapeStats:
        self._advance(now)
        b1, b5, b15 = self._bands
        v1 = b1.notional
        v5 = _SUM.add(v1, b5.notional)
        v15 = _SUM.add(v5, b15.notional)
        count = len(b1.trades) + len(b5.trades) + len(b15.trades)
        base = _SUM.add(_SUM.add(b1.base, b5.base), b15.base)
        avg = _OUT.divide(base, Decimal(count)) if count else _ZERO
        return TapeStats(
            volume_1m=v1, volume_5m=v5, volume_15m=v15, trades_15m=count, avg_trade_size_15m=avg
        )

    def _advance(self, now: float) -> None:
        if now > self._now:
            self._now = now
        now = self._now
        last = len(self._bands) - 1
        for k, band in enumerate(self._bands):
            for trade in band.pop_older(now - self.windows[k]):
                if k < last:
                    self._bands[k + 1].push(trade)


class SpreadStats:
    """Average, min and max of spread samples over a sliding window.

    The average comes from a running sum; min and max from monotonic deques (the minimum deque
    keeps values non-decreasing from oldest to newest, so its oldest entry is the window's
    minimum; the maximum deque mirrors it), each sample entering and leaving each deque once.
    """

    def __init__(self, window: float = DEFAULT_SPREAD_WINDOW) -> None:
        if not window > 0:
            raise ValueError(f"window must be positive seconds, got {window!r}")
        self.window = float(window)
        self._samples: deque[tuple[float, Decimal]] = deque()
        self._mins: deque[tuple[float, Decimal]] = deque()
        self._maxs: deque[tuple[float, Decimal]] = deque()
        self._sum = _ZERO
        self._now = float("-inf")
        self._last_ts = float("-inf")

    def add(self, spread_bps: Decimal, ts: float) -> bool:
        """Record a sample; False (ignored) when it is already older than the window."""
        if ts <= self._now - self.window:
            return False
        stamp = max(ts, self._last_ts)
        self._last_ts = stamp
        sample = (stamp, spread_bps)
        self._samples.append(sample)
        self._sum = _SUM.add(self._sum, spread_bps)
        mins, maxs = self._mins, self._maxs
        while mins and mins[-1][1] >= spread_bps:
            mins.pop()
        mins.append(sample)
        while maxs and maxs[-1][1] <= spread_bps:
            maxs.pop()
        maxs.append(sample)
        self._advance(stamp)
        return True

    def stats(self, now: float) -> SpreadSummary:
        self._advance(now)
        n = len(self._samples)
        if not n:
            return SpreadSummary(0, None, None, None)
        return SpreadSummary(
            samples=n,
            avg_bps=_OUT.divide(self._sum, Decimal(n)),
            min_bps=self._mins[0][1],
            max_bps=self._maxs[0][1],
        )

    def _advance(self, now: float) -> None:
        if now > self._now:
            self._now = now
        horizon = self._now - self.window
        samples = self._samples
        while samples and samples[0][0] <= horizon:
            self._sum = _SUM.subtract(self._sum, samples.popleft()[1])
        if not samples:
            self._sum = _ZERO
        for mono in (self._mins, self._maxs):
            while mono and mono[0][0] <= horizon:
                mono.popleft()
