"""The built-in exchange's market feed: what its public channels send, and when.

Owns the frames of each market step (`l2_data` updates, `market_trades`, `ticker` when a product's
stats change), heartbeats (every `heartbeat_interval_s` per subscribed connection), `ticker_batch`
(every 5 s), `candles` (5-minute buckets, the current one every second), the minute candles REST
aggregates into every granularity, the subscribe snapshots of the public channels (level2,
ticker, ticker_batch, market_trades, candles, status), the products' `status` entries, and the
market view public and private REST answer from.

Every method runs with the server lock held, so a snapshot is always followed by exactly the
updates after it. Must never step the market (the market thread does), send on a socket (it only
queues onto sessions), or decide chaos (the caller says when heartbeats are suppressed and whether
a level2 snapshot is deferred).
"""

from __future__ import annotations

import time
from typing import Callable

from domain.products import ProductSpec
from exchange import frames, rest
from exchange.frames import PendingFrame
from exchange.market import MarketStep, SyntheticMarket, TickerStats
from exchange.market_history import MINUTE_HISTORY, CandleSeries
from exchange.ws_session import CANDLES, HEARTBEATS, LEVEL2, MARKET_TRADES, STATUS, TICKER, TICKER_BATCH, Session

CANDLE_SECONDS = 300
CANDLE_WINDOWS = 13  # buckets in a candles snapshot: the last hour's 12 closed ones and the current one
TRADES_SNAPSHOT = 50  # prints in a market_trades snapshot


class MarketFeed:
    """The public channels' frames, queued onto the subscribed sessions (lock held throughout)."""

    def __init__(
        self,
        market: SyntheticMarket,
        products: dict[str, ProductSpec],
        sessions: dict[int, Session],
        clock: Callable[[], float],
        heartbeat_interval_s: float,
        ticker_batch_interval_s: float,
        candle_interval_s: float,
    ) -> None:
        self._market = market
        self._products = products
        self._sessions = sessions
        self._clock = clock
        self._heartbeat_interval_s = heartbeat_interval_s
        self._ticker_batch_interval_s = ticker_batch_interval_s
        self._candle_interval_s = candle_interval_s
        self._last_tickers: dict[str, TickerStats] = {}
        self._minute_candles = {  # what the candles channel and every REST granularity merge
            product_id: CandleSeries(market.ticker(product_id).price, market.now, 60, MINUTE_HISTORY)
            for product_id in products
        }
        self._started_at = time.monotonic()
        self._next_ticker_batch = self._next_candles = 0.0  # monotonic, set by start()
        self._product_status: dict[str, tuple[str, str]] = {}  # (status, message); absent: online

    def start(self, started_at: float) -> None:
        """Count uptime and the periodic channels' times from `started_at` (monotonic)."""
        self._started_at = started_at
        self._next_ticker_batch = started_at + self._ticker_batch_interval_s
        self._next_candles = started_at + self._candle_interval_s

    def broadcast(self, step: MarketStep) -> None:
        """Queue this step's frames for the sessions subscribed to them (lock held)."""
        ts = self._clock()
        for product in step.products:
            product_id = product.product_id
            spec = self._products[product_id]
            minutes = self._minute_candles[product_id]
            for printed in product.trades:
                minutes.add(printed.ts, printed.trade.price, printed.trade.size)
            if product.changes:
                self._publish(LEVEL2, product_id, frames.l2_update(ts, spec, product.changes, step.ts))
            if product.trades:
                self._publish(MARKET_TRADES, product_id,
                              frames.market_trades(ts, frames.UPDATE, spec, product.trades))
            stats = self._market.ticker(product_id)
            if stats != self._last_tickers.get(product_id):
                self._last_tickers[product_id] = stats
                self._publish(TICKER, product_id, frames.ticker(ts, frames.UPDATE, spec, stats))

    def _publish(self, channel: str, product_id: str, frame: PendingFrame) -> None:
        for session in self._sessions.values():
            if product_id in session.subscriptions.get(channel, ()):
                session.enqueue(frame)

    def _subscribed(self, channel: str, product_id: str) -> bool:
        return any(product_id in s.subscriptions.get(channel, ()) for s in self._sessions.values())

    def start_heartbeats(self, session: Session) -> None:
        """A first heartbeats subscribe: the session's first beat is one interval from now."""
        session.next_heartbeat = time.monotonic() + self._heartbeat_interval_s

    def send_heartbeats(self, now: float, suppressed_until: float) -> None:
        """Beat every heartbeats subscriber that is due; `suppressed_until` is chaos no_heartbeat's
        end (clock time)."""
        # During a no_heartbeat window the counter keeps counting: the beats are lost, not late.
        suppressed = self._clock() < suppressed_until
        for session in self._sessions.values():
            if HEARTBEATS in session.subscriptions and now >= session.next_heartbeat:
                session.heartbeat_counter += 1
                session.next_heartbeat = max(session.next_heartbeat + self._heartbeat_interval_s, now)
                if suppressed:
                    continue
                uptime = now - self._started_at
                session.enqueue(frames.heartbeat(self._clock(), session.heartbeat_counter, uptime))

    def send_periodic(self, now: float, ts: float) -> None:
        """ticker_batch every few seconds, the current candle every second (lock held)."""
        if now >= self._next_ticker_batch:
            self._next_ticker_batch = max(self._next_ticker_batch + self._ticker_batch_interval_s, now)
            for product_id, spec in self._products.items():
                if self._subscribed(TICKER_BATCH, product_id):
                    stats = self._market.ticker(product_id)
                    frame = frames.ticker(ts, frames.UPDATE, spec, stats, channel=frames.TICKER_BATCH)
                    self._publish(TICKER_BATCH, product_id, frame)
        if now >= self._next_candles:
            self._next_candles = max(self._next_candles + self._candle_interval_s, now)
            for product_id, spec in self._products.items():
                series = self._minute_candles[product_id]
                series.roll(self._market.now)
                if self._subscribed(CANDLES, product_id):
                    frame = frames.candles(ts, frames.UPDATE, spec, series.merged(CANDLE_SECONDS, 1))
                    self._publish(CANDLES, product_id, frame)

    def send_snapshots(self, session: Session, channel: str, product_ids: list[str], ts: float,
                       defer_l2: Callable[[float, Session, str], bool]) -> None:
        """Queue the initial data of a public channel's products after a subscribe (lock held).
        `defer_l2` says whether chaos sends a level2 snapshot later instead (it then queues it)."""
        if channel == STATUS:
            specs = [self._products[p] for p in product_ids]
            session.enqueue(frames.status(ts, frames.SNAPSHOT, specs, self._product_status))
            return
        for product_id in product_ids:
            spec = self._products[product_id]
            if channel == LEVEL2:
                if not defer_l2(ts, session, product_id):  # chaos: updates flow, the snapshot comes late
                    session.enqueue(self.l2_snapshot(product_id))
            elif channel in (TICKER, TICKER_BATCH):
                stats = self._market.ticker(product_id)
                session.enqueue(frames.ticker(ts, frames.SNAPSHOT, spec, stats, channel=channel))
            elif channel == MARKET_TRADES:
                recent = self._market.recent_trades(product_id)[-TRADES_SNAPSHOT:]
                session.enqueue(frames.market_trades(ts, frames.SNAPSHOT, spec, recent))
            elif channel == CANDLES:
                series = self._minute_candles[product_id]
                series.roll(self._market.now)
                session.enqueue(frames.candles(ts, frames.SNAPSHOT, spec, series.merged(CANDLE_SECONDS, CANDLE_WINDOWS)))

    def l2_snapshot(self, product_id: str) -> PendingFrame:
        bids, offers = self._market.book(product_id)
        spec = self._products[product_id]
        return frames.l2_snapshot(self._clock(), spec, bids, offers, self._market.now)

    def set_status(self, product_id: str, spec: ProductSpec, status: str, message: str) -> None:
        """Record a product's status entry and, when it changed, send its subscribers an update
        (lock held)."""
        if self._product_status.get(product_id, (frames.ONLINE, "")) == (status, message):
            return
        self._product_status[product_id] = (status, message)
        frame = frames.status(self._clock(), frames.UPDATE, [spec], self._product_status)
        self._publish(STATUS, product_id, frame)

    def market_view(self) -> rest.MarketView:
        """What REST answers from: every product's book, ticker, minute candles and prints (lock held)."""
        products = []
        for product_id, spec in self._products.items():
            bids, offers = self._market.book(product_id)
            minutes = self._minute_candles[product_id]
            minutes.roll(self._market.now)
            products.append(rest.ProductView(spec, self._market.ticker(product_id), tuple(bids), tuple(offers),
                                             tuple(minutes.snapshot()), self._market.recent_trades(product_id)))
        return rest.MarketView(tuple(products), self._market.now, self._clock())
