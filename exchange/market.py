"""The synthetic market behind the built-in exchange: seeded fair values, makers and takers.

Owns one matching engine per product and the synthetic participants trading on them: a latent BTC
fair value that switches between up-trends, down-trends and quiet spells, makers (owner "mm")
keeping a ladder of price levels on each side around it, and takers (owner "taker") sending market
orders that walk the book and print trades. The perpetual's fair value is spot times (1 + basis).

Everything happens in market time, driven by `step(now)`: the market runs its own event schedule
(fair-value ticks every 100 ms, taker arrivals) up to `now`, so a seed and a sequence of `now` values
always give the same book, trades and level changes. Randomness comes only from one
`random.Random(seed)`.

Must never read the wall clock, sleep, start threads or know about wire formats. The latent fair
value is a float model quantity; every price and size that reaches the book is an integer number of
the product's increments turned into an exact Decimal.
"""

from __future__ import annotations

import math
import random
from collections import deque
from decimal import Decimal

import msgspec

from domain.matching import BID, BUY, OFFER, SELL, MatchingEngine, SubmitResult, Trade
from domain.products import ProductSpec
from exchange.market_values import LevelChange, MarketStep, MarketTrade, ProductStep, TickerStats

MAKER = "mm"
TAKER = "taker"

QUIET = "quiet"
UP = "up"
DOWN = "down"

FAIR_TICK_S = 0.1  # market-time spacing of fair-value updates and maker refreshes
MAX_CATCH_UP_S = 60.0  # a longer gap between steps skips ahead instead of simulating every tick
RECENT_TRADES = 1000  # prints kept per product: REST market trades answer up to this many

_BPS = 1e-4
# Regime parameters: drift (bps per second, magnitude), volatility (bps per sqrt second),
# taker arrival rate (per second per product) and the probability that a taker buys.
_REGIMES = {
    QUIET: (0.0, 0.25, 1.5, 0.5),
    UP: (1.0, 0.8, 4.0, 0.65),
    DOWN: (1.0, 0.8, 4.0, 0.35),
}
_REGIME_MEAN_S = 30.0
_REGIME_MIN_S = 10.0
_REGIME_MAX_S = 90.0
_BASIS_MEAN = 3 * _BPS
_BASIS_PULL_PER_S = 0.05
_BASIS_VOL = 0.3 * _BPS  # per sqrt second
_BASIS_LIMIT = 50 * _BPS


class _MakerProfile(msgspec.Struct, frozen=True):
    """How the makers quote one product, in increments (ticks of price, lots of size)."""

    level_size_lots: tuple[int, int]  # log-uniform range of one level's size
    taker_size_lots: tuple[int, int]  # log-uniform range of an ordinary taker order
    sweep_size_lots: tuple[int, int]  # an occasional large order that walks several levels
    max_gap_ticks: int  # widest step between neighbouring maker levels
    spread_ticks: tuple[int, int]  # range of the quoted spread
    base_volume_lots: tuple[int, int]  # 24 h volume already traded before the market started


def _profile(spec: ProductSpec, fair: float) -> _MakerProfile:
    """Spot sizes in base units (0.01-2 per level); futures in whole contracts (1-50 per level)."""
    tick = float(spec.price_increment)
    lot = float(spec.base_increment)
    max_gap = max(1, int(fair * 2e-5 / tick))
    if spec.product_type == "FUTURE":
        return _MakerProfile(
            level_size_lots=(max(1, int(1 / lot)), int(50 / lot)),
            taker_size_lots=(max(1, int(1 / lot)), int(20 / lot)),
            sweep_size_lots=(int(20 / lot), int(150 / lot)),
            max_gap_ticks=max_gap,
            spread_ticks=(1, 2),
            base_volume_lots=(int(50_000 / lot), int(200_000 / lot)),
        )
    return _MakerProfile(
        level_size_lots=(max(1, int(0.01 / lot)), int(2 / lot)),
        taker_size_lots=(max(1, int(0.0005 / lot)), int(0.5 / lot)),
        sweep_size_lots=(int(1 / lot), int(5 / lot)),
        max_gap_ticks=max_gap,
        spread_ticks=(1, 3),
        base_volume_lots=(int(5_000 / lot), int(15_000 / lot)),
    )


class _Book:
    """One product's engine, its makers' orders and its running statistics."""

    def __init__(self, spec: ProductSpec, fair: float, rng: random.Random, start_ts: float) -> None:
        self.spec = spec
        self.engine = MatchingEngine(spec.product_id)
        self.profile = _profile(spec, fair)
        self.tick = spec.price_increment
        self.lot = spec.base_increment
        # maker orders by side then price in ticks -> order id
        self.maker_orders: dict[str, dict[int, str]] = {BID: {}, OFFER: {}}
        self.target_levels = {BID: rng.randint(20, 40), OFFER: rng.randint(20, 40)}
        self.spread_ticks = rng.randint(*self.profile.spread_ticks)
        self.next_taker_at = start_ts + rng.expovariate(_REGIMES[QUIET][2])
        self.pending_trades: list[MarketTrade] = []
        self.recent: deque[MarketTrade] = deque(maxlen=RECENT_TRADES)

        self.last_price = self.on_grid(fair)
        self.volume = self.lot * rng.randint(*self.profile.base_volume_lots)
        self.open_24h = self.on_grid(fair * (1 + rng.uniform(-0.03, 0.03)))
        self.low_24h = min(self.open_24h, self.last_price) - self.on_grid(fair * rng.uniform(0, 0.015))
        self.high_24h = max(self.open_24h, self.last_price) + self.on_grid(fair * rng.uniform(0, 0.015))
        self.low_52w = self.on_grid(fair * 0.55)
        self.high_52w = self.on_grid(fair * 1.4)

    def on_grid(self, value: float) -> Decimal:
        return self.tick * round(value / float(self.tick))

    def record(self, ts: float, trades: tuple[Trade, ...]) -> None:
        for trade in trades:
            printed = MarketTrade(self.spec.product_id, ts, trade)
            self.pending_trades.append(printed)
            self.recent.append(printed)
            self.last_price = trade.price
            self.volume += trade.size
            self.low_24h = min(self.low_24h, trade.price)
            self.high_24h = max(self.high_24h, trade.price)
            self.low_52w = min(self.low_52w, trade.price)
            self.high_52w = max(self.high_52w, trade.price)


class SyntheticMarket:
    """A deterministic synthetic market over the given products. See the module docstring."""

    def __init__(self, products: dict[str, ProductSpec], seed: int, start_ts: float) -> None:
        self._rng = random.Random(seed)
        self._start_ts = start_ts
        self._now = start_ts
        self._fair_ticks_done = 0
        self._spot_fair = self._rng.uniform(85_000.0, 97_000.0)
        self._basis = _BASIS_MEAN
        self._regime = QUIET
        self._regime_drift = 0.0
        self._regime_until = start_ts + self._regime_length()
        self._order_seq = 0
        self._books: dict[str, _Book] = {}
        for product_id, spec in products.items():
            self._books[product_id] = _Book(spec, self._fair_of(spec), self._rng, start_ts)
        for book in self._books.values():
            self._requote(book, start_ts, opening=True)
            book.engine.drain_changes()  # the opening book is what book() shows, not a change

    # ----------------------------------------------------------------- driving

    def step(self, now: float) -> MarketStep:
        """Advance market time to `now` (never backwards) and report what changed since last step."""
        if now - self._now > MAX_CATCH_UP_S:
            skipped = int((now - MAX_CATCH_UP_S - self._start_ts) / FAIR_TICK_S)
            self._fair_ticks_done = max(self._fair_ticks_done, skipped)
            for book in self._books.values():
                book.next_taker_at = max(book.next_taker_at, now - MAX_CATCH_UP_S)
        while True:
            next_fair = self._start_ts + (self._fair_ticks_done + 1) * FAIR_TICK_S
            taker_book = min(self._books.values(), key=lambda b: b.next_taker_at, default=None)
            if taker_book is not None and taker_book.next_taker_at < next_fair:
                if taker_book.next_taker_at > now:
                    break
                self._taker_arrives(taker_book)
            else:
                if next_fair > now:
                    break
                self._fair_tick(next_fair)
        self._now = max(self._now, now)
        products = []
        for product_id, book in self._books.items():
            changes = tuple(LevelChange(s, p, q) for s, p, q in book.engine.drain_changes())
            trades = tuple(book.pending_trades)
            book.pending_trades.clear()
            products.append(ProductStep(product_id, changes, trades))
        return MarketStep(now, tuple(products))

    def submit(
        self,
        product_id: str,
        now: float,
        order_id: str,
        owner: str,
        side: str,
        size: Decimal,
        order_type: str = "limit",
        limit_price: Decimal | None = None,
        post_only: bool = False,
        tif: str = "GTC",
    ) -> SubmitResult:
        """Submit an order from outside the market (an exchange client) to the product's engine.

        Same arguments as `MatchingEngine.submit`; its trades are stamped `now` and print in the
        next step like any other, and the makers may trade with what rests.
        """
        book = self._books[product_id]
        result = book.engine.submit(order_id, owner, side, size, order_type, limit_price, post_only, tif)
        book.record(now, result.trades)
        return result

    # ----------------------------------------------------------------- queries

    @property
    def now(self) -> float:
        return self._now

    @property
    def regime(self) -> str:
        return self._regime

    def product_ids(self) -> tuple[str, ...]:
        return tuple(self._books)

    def spec(self, product_id: str) -> ProductSpec:
        return self._books[product_id].spec

    def engine(self, product_id: str) -> MatchingEngine:
        """The product's engine. Callers that submit directly should prefer `submit`."""
        return self._books[product_id].engine

    def fair_value(self, product_id: str) -> Decimal:
        """The makers' current fair value, rounded to the product's price grid."""
        book = self._books[product_id]
        return book.on_grid(self._fair_of(book.spec))

    def book(
        self, product_id: str, depth: int | None = None
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """(bids, offers) aggregated over all owners, best first, sizes in venue units."""
        engine = self._books[product_id].engine
        return engine.levels(BID, depth), engine.levels(OFFER, depth)

    def recent_trades(self, product_id: str) -> tuple[MarketTrade, ...]:
        """The last trades of the product, oldest first (at most RECENT_TRADES)."""
        return tuple(self._books[product_id].recent)

    def ticker(self, product_id: str) -> TickerStats:
        book = self._books[product_id]
        engine = book.engine
        best_bid, best_ask = engine.best_bid(), engine.best_ask()
        change = (book.last_price - book.open_24h) / book.open_24h * 100
        return TickerStats(
            product_id=product_id,
            price=book.last_price,
            volume_24_h=book.volume,
            low_24_h=book.low_24h,
            high_24_h=book.high_24h,
            low_52_w=book.low_52w,
            high_52_w=book.high_52w,
            price_percent_chg_24_h=change.quantize(Decimal("0.00000001")),
            best_bid=best_bid,
            best_bid_quantity=engine.level_size(BID, best_bid) if best_bid is not None else Decimal(0),
            best_ask=best_ask,
            best_ask_quantity=engine.level_size(OFFER, best_ask) if best_ask is not None else Decimal(0),
        )

    # ----------------------------------------------------------------- fair value

    def _fair_of(self, spec: ProductSpec) -> float:
        return self._spot_fair * (1 + self._basis) if spec.is_perpetual else self._spot_fair

    def _regime_length(self) -> float:
        length = self._rng.expovariate(1 / _REGIME_MEAN_S)
        return min(_REGIME_MAX_S, max(_REGIME_MIN_S, length))

    def _next_regime(self) -> None:
        if self._regime == QUIET or self._rng.random() < 0.4:
            self._regime = UP if self._rng.random() < 0.5 else DOWN
            self._regime_drift = _REGIMES[UP][0] * self._rng.uniform(0.3, 1.5)
        else:
            self._regime = QUIET
            self._regime_drift = 0.0

    def _fair_tick(self, ts: float) -> None:
        self._fair_ticks_done += 1
        while ts >= self._regime_until:
            self._next_regime()
            self._regime_until += self._regime_length()
        direction = {UP: 1.0, DOWN: -1.0, QUIET: 0.0}[self._regime]
        vol = _REGIMES[self._regime][1]
        log_move = (direction * self._regime_drift * FAIR_TICK_S
                    + vol * math.sqrt(FAIR_TICK_S) * self._rng.gauss(0.0, 1.0)) * _BPS
        self._spot_fair *= math.exp(log_move)
        self._basis += (_BASIS_PULL_PER_S * (_BASIS_MEAN - self._basis) * FAIR_TICK_S
                        + _BASIS_VOL * math.sqrt(FAIR_TICK_S) * self._rng.gauss(0.0, 1.0))
        self._basis = min(_BASIS_LIMIT, max(-_BASIS_LIMIT, self._basis))
        for book in self._books.values():
            if self._rng.random() < 0.02:
                book.spread_ticks = self._rng.randint(*book.profile.spread_ticks)
            if self._rng.random() < 0.01:
                side = BID if self._rng.random() < 0.5 else OFFER
                book.target_levels[side] = self._rng.randint(20, 40)
            self._requote(book, ts)

    # ----------------------------------------------------------------- makers

    def _requote(self, book: _Book, ts: float, opening: bool = False) -> None:
        """Move the makers' ladder to the current fair value without ever crossing themselves.

        Maker orders never trade with each other (same owner), so a maker bid above a maker offer
        would rest and cross the book. Before placing anything the makers cancel every bid above
        the new top bid and every offer below the new top offer; as top bid < top offer, what they
        then place can only trade with other owners' orders.
        """
        fair_ticks = self._fair_of(book.spec) / float(book.tick)
        bid_top = math.floor(fair_ticks - book.spread_ticks / 2)
        ask_top = max(bid_top + 1, math.ceil(fair_ticks + book.spread_ticks / 2))
        self._forget_filled(book)
        for side, top in ((BID, bid_top), (OFFER, ask_top)):
            orders = book.maker_orders[side]
            stale = [t for t in orders if (t > top if side == BID else t < top)]
            for ticks in stale:
                book.engine.cancel(orders.pop(ticks))
        for side, top in ((BID, bid_top), (OFFER, ask_top)):
            self._fill_ladder(book, side, top, ts, always_top=opening)
            self._churn(book, side)

    def _forget_filled(self, book: _Book) -> None:
        for orders in book.maker_orders.values():
            gone = [t for t, oid in orders.items() if book.engine.order(oid) is None]
            for ticks in gone:
                del orders[ticks]

    def _fill_ladder(self, book: _Book, side: str, top: int, ts: float, always_top: bool) -> None:
        """Place the top level (usually), close gaps wider than the profile allows, extend the
        ladder to its target length, then trim levels beyond the target."""
        orders = book.maker_orders[side]
        away = -1 if side == BID else 1  # direction of worse prices, in ticks
        max_gap = book.profile.max_gap_ticks
        if top not in orders and (always_top or not orders or self._rng.random() < 0.6):
            self._place(book, side, top, ts)
        levels = sorted(orders, reverse=side == BID)
        previous = levels[0] if levels else top
        for ticks in levels[1:]:
            while (ticks - previous) * away > max_gap:
                previous += away * self._rng.randint(1, max_gap)
                if (ticks - previous) * away <= 0:
                    break
                self._place(book, side, previous, ts)
            previous = ticks
        target = book.target_levels[side]
        while len(orders) < target:
            previous += away * self._rng.randint(1, max_gap)
            if previous <= 0:
                break
            self._place(book, side, previous, ts)
        if len(orders) > target:
            for ticks in sorted(orders, reverse=side == BID)[target:]:
                book.engine.cancel(orders.pop(ticks))

    def _churn(self, book: _Book, side: str) -> None:
        """Now and then a maker resizes one level, as real books flicker without trades."""
        orders = book.maker_orders[side]
        if not orders or self._rng.random() >= 0.5:
            return
        ticks = sorted(orders)[self._rng.randrange(len(orders))]
        book.engine.amend_size(orders[ticks], self._level_size(book))

    def _place(self, book: _Book, side: str, ticks: int, ts: float) -> None:
        self._order_seq += 1
        order_id = f"{MAKER}-{self._order_seq}"
        result = book.engine.submit(
            order_id, MAKER, BUY if side == BID else SELL, self._level_size(book),
            order_type="limit", limit_price=book.tick * ticks,
        )
        book.record(ts, result.trades)
        if result.remaining > 0 and result.status == "OPEN":
            book.maker_orders[side][ticks] = order_id

    def _level_size(self, book: _Book) -> Decimal:
        return book.lot * self._log_uniform(*book.profile.level_size_lots)

    def _log_uniform(self, low: int, high: int) -> int:
        return max(low, min(high, round(math.exp(self._rng.uniform(math.log(low), math.log(high))))))

    # ----------------------------------------------------------------- takers

    def _taker_arrives(self, book: _Book) -> None:
        ts = book.next_taker_at
        _, _, rate, buy_probability = _REGIMES[self._regime]
        side = BUY if self._rng.random() < buy_probability else SELL
        sizes = book.profile.sweep_size_lots if self._rng.random() < 0.05 else book.profile.taker_size_lots
        self._order_seq += 1
        result = book.engine.submit(
            f"{TAKER}-{self._order_seq}", TAKER, side, book.lot * self._log_uniform(*sizes),
            order_type="market",
        )
        book.record(ts, result.trades)
        book.next_taker_at = ts + self._rng.expovariate(rate)
