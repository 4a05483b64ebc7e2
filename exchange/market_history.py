"""The built-in exchange's market history: OHLCV buckets built from the market's prints, and the
JSON of the REST answers that read history (`products/{id}/candles`, `products/{id}/ticker`).

Owns the bucketing (a bucket with no print yet shows the previous close with volume 0), the
aggregation of one-minute buckets into every Coinbase granularity, and the answer bodies: candles
newest first with `start` in UNIX seconds, market trades newest first with the best bid and ask.
Pure values and functions: must never read clocks, touch sockets or parse requests (`rest.py`
checks the query and passes typed arguments).
"""

from __future__ import annotations

import math
from collections import deque
from decimal import Decimal
from typing import Iterable, Sequence

from domain.products import ProductSpec
from exchange.frames import Candle, price_text, rfc3339_micros, size_text
from exchange.market_values import MarketTrade

GRANULARITIES = {  # Coinbase's candle granularity names -> bucket seconds
    "ONE_MINUTE": 60,
    "FIVE_MINUTE": 300,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600,
    "TWO_HOUR": 7200,
    "FOUR_HOUR": 14400,
    "SIX_HOUR": 21600,
    "ONE_DAY": 86400,
}
MAX_CANDLES = 350  # Coinbase answers at most this many candles per request
MINUTE_HISTORY = 2 * 24 * 60  # one-minute buckets kept for REST candles (two days)


class CandleSeries:
    """One product's OHLCV buckets of `bucket_s` seconds from its prints, in market time."""

    # the open bucket, set by _open_bucket
    start: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    traded: bool

    def __init__(self, price: Decimal, now: float, bucket_s: int, keep: int) -> None:
        self.bucket_s = bucket_s
        self.history: deque[Candle] = deque(maxlen=keep)
        self._open_bucket(self._start_of(now), price)

    def add(self, ts: float, price: Decimal, size: Decimal) -> None:
        self.roll(ts)
        if self._start_of(ts) < self.start:
            return  # a print for a bucket already closed
        if self.traded:
            self.high, self.low = max(self.high, price), min(self.low, price)
        else:
            self.open = self.high = self.low = price
            self.traded = True
        self.close = price
        self.volume += size

    def roll(self, now: float) -> None:
        """Close the current bucket if `now` is past it."""
        start = self._start_of(now)
        if start > self.start:
            self.history.append(self.current())
            self._open_bucket(start, self.close)

    def current(self) -> Candle:
        return Candle(self.start, self.open, self.high, self.low, self.close, self.volume)

    def snapshot(self) -> list[Candle]:
        """Closed buckets then the current one, oldest first."""
        return [*self.history, self.current()]

    def merged(self, seconds: int, windows: int) -> list[Candle]:
        """The last `windows` buckets of `seconds` (a multiple of this series' own), the current
        one last, merged from only the buckets they cover."""
        first = (self.start // seconds - (windows - 1)) * seconds
        covered = [self.current()]
        for candle in reversed(self.history):
            if candle.start < first:
                break
            covered.append(candle)
        covered.reverse()
        return aggregate(covered, seconds)

    def _start_of(self, ts: float) -> int:
        return math.floor(ts / self.bucket_s) * self.bucket_s

    def _open_bucket(self, start: int, price: Decimal) -> None:
        self.start = start
        self.open = self.high = self.low = self.close = price
        self.volume = Decimal(0)
        self.traded = False


def aggregate(buckets: Iterable[Candle], seconds: int) -> list[Candle]:
    """Oldest-first buckets merged into buckets of `seconds` (a multiple of theirs), oldest first.

    Only buckets that traded set open, high, low and close; a merged bucket with no print keeps
    the close it started with, volume 0.
    """
    merged: list[Candle] = []
    group: list[Candle] = []
    for candle in buckets:
        if group and candle.start // seconds != group[0].start // seconds:
            merged.append(_merge(group, seconds))
            group = []
        group.append(candle)
    if group:
        merged.append(_merge(group, seconds))
    return merged


def _merge(group: Sequence[Candle], seconds: int) -> Candle:
    start = group[0].start // seconds * seconds
    traded = [c for c in group if c.volume > 0]
    if not traded:
        close = group[-1].close
        return Candle(start, close, close, close, close, Decimal(0))
    return Candle(start, traded[0].open, max(c.high for c in traded), min(c.low for c in traded),
                  traded[-1].close, sum((c.volume for c in traded), Decimal(0)))


def candles_json(spec: ProductSpec, minute_buckets: Iterable[Candle], start: int, end: int, seconds: int,
                 limit: int = MAX_CANDLES) -> dict:
    """`{"candles": [...]}` for buckets starting in [start, end), newest first, at most `limit`."""
    rows = [c for c in aggregate(minute_buckets, seconds) if start <= c.start < end]
    rows.reverse()
    return {"candles": [
        {
            "start": str(c.start),
            "low": price_text(spec, c.low),
            "high": price_text(spec, c.high),
            "open": price_text(spec, c.open),
            "close": price_text(spec, c.close),
            "volume": size_text(spec, c.volume),
        }
        for c in rows[:limit]
    ]}


def trades_json(spec: ProductSpec, trades: Sequence[MarketTrade], best_bid: Decimal | None,
                best_ask: Decimal | None, limit: int, start: float | None = None,
                end: float | None = None) -> dict:
    """`{"trades": [...], "best_bid", "best_ask"}`: the newest `limit` prints in [start, end)."""
    rows = [t for t in reversed(trades)
            if (start is None or t.ts >= start) and (end is None or t.ts < end)][:limit]
    return {
        "trades": [
            {
                "trade_id": t.trade.trade_id,
                "product_id": t.product_id,
                "price": price_text(spec, t.trade.price),
                "size": size_text(spec, t.trade.size),
                "time": rfc3339_micros(t.ts),
                "side": t.trade.aggressor_side,
                "bid": "",
                "ask": "",
                "exchange": "",
            }
            for t in rows
        ],
        "best_bid": "" if best_bid is None else price_text(spec, best_bid),
        "best_ask": "" if best_ask is None else price_text(spec, best_ask),
    }
