"""The pure core of the in-process paper venue: our orders filled against the streamed market book.

Owns a simulated exchange for the bot's own orders only. It cannot see the real exchange's queue,
so it keeps, per product, one MatchingEngine holding (a) the market's liquidity mirrored from level2
as one order per price level, owned by "market", and (b) the bot's resting orders, owned by "bot".
The bot takes mirrored liquidity as TAKER; its resting orders fill as MAKER at their limit price when
the market book moves through them or a market trade prints through them (at an equal price only
after the market quantity estimated ahead of them in the queue has traded).

Time in force: market orders are IOC (or FOK), limits GTC, GTD (expired once an event's time
reaches `end_time`), IOC or FOK. Stop-limit orders wait at the venue, off the book, until the
reference price (the last market trade, else the mid of the mirrored market book) reaches the
stop in its direction, then enter as limits. A cancel for an order the venue has not seen yet (it
is still in flight behind the simulated latency) is remembered and kills the order on arrival.

While none of our orders rest or wait on a product, nothing the market does there can make an event,
so its level2 changes are only parsed and kept, conflated per level (the last quantity wins), and
applied when an order for it arrives, when its book is read, or once enough levels are waiting.
The result is the same as applying every change as it comes, at a fraction of the cost.

Must never do I/O, read a clock or use floats for money: times come in as arguments, wire strings
are converted here to Decimal, every result is a list of OrderUpdate / Fill values.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Iterable, Iterator

from actors.wire.decimals import finite_decimal, plain
from actors.wire.timestamps import parse_timestamp
from domain.fees import venue_fee
from domain.matching import BID, BUY, OFFER, SELL, MatchingEngine, Trade
from domain.orders import Fill, OrderUpdate, PlaceOrder
from domain.products import ProductSpec

BOT = "bot"
MARKET = "market"

OPEN = "OPEN"
FILLED = "FILLED"
CANCELLED = "CANCELLED"
REJECTED = "REJECTED"
EXPIRED = "EXPIRED"
STOP_UP = "STOP_DIRECTION_STOP_UP"
STOP_DOWN = "STOP_DIRECTION_STOP_DOWN"

MAKER = "MAKER"
TAKER = "TAKER"

UNKNOWN_PRODUCT = "UNKNOWN_PRODUCT"
INSUFFICIENT_LIQUIDITY = "INSUFFICIENT_LIQUIDITY"
INVALID_ORDER = "INVALID_ORDER"
CANCELLED_BEFORE_ARRIVAL = "CANCELLED_BEFORE_ARRIVAL"

PENDING_LEVELS_MAX = 256  # deferred level changes per product before they are applied anyway
_ZERO = Decimal(0)

Event = OrderUpdate | Fill


class _BotOrder:
    """Mutable venue-side state of one of our orders (the messages built from it are frozen)."""

    __slots__ = (
        "client_order_id", "venue_order_id", "product_id", "side", "size", "limit_price",
        "filled", "status", "reason", "queue_ahead", "ts", "tif", "end_ts", "stop_price", "stop_direction",
        "post_only", "triggered", "order_type",
    )

    def __init__(self, order: PlaceOrder, venue_order_id: str, ts: float) -> None:
        self.client_order_id = order.client_order_id
        self.venue_order_id = venue_order_id
        self.product_id = order.product_id
        self.side = order.side
        self.size = order.size
        self.limit_price = order.limit_price
        self.filled = _ZERO
        self.status = OPEN
        self.reason = ""
        self.queue_ahead = _ZERO  # market quantity ahead of us at our price (estimate)
        self.ts = ts
        self.tif = order.time_in_force or ("IOC" if order.order_type == "market" else "GTC")
        self.end_ts: float | None = None  # GTD expiry (epoch seconds)
        self.stop_price = order.stop_price
        self.stop_direction = order.stop_direction
        self.post_only = order.post_only
        self.triggered = order.order_type != "stop_limit"  # a stop waits off the book until then
        self.order_type = "market" if order.order_type == "market" else "limit"  # a stop enters as a limit

    @property
    def leaves(self) -> Decimal:
        return self.size - self.filled if self.status == OPEN else _ZERO

    def update(self) -> OrderUpdate:
        return OrderUpdate(
            client_order_id=self.client_order_id,
            venue_order_id=self.venue_order_id,
            product_id=self.product_id,
            status=self.status,
            filled_size=self.filled,
            leaves_size=self.leaves,
            reason=self.reason,
            ts=self.ts,
        )


def _resting_limit(order: _BotOrder) -> Decimal:
    """The limit price of an order on the book: only limit orders rest, so it has one."""
    assert order.limit_price is not None
    return order.limit_price


class _Mirror:
    """One product's engine plus the index of its market-owned level orders."""

    __slots__ = ("spec", "engine", "levels", "level_of", "trade_seq", "pending", "pending_reset")

    def __init__(self, spec: ProductSpec) -> None:
        self.spec = spec
        self.engine = MatchingEngine(spec.product_id, track_changes=False)
        self.levels: dict[tuple[str, Decimal], str] = {}  # (book side, price) -> market order id
        self.level_of: dict[str, tuple[str, Decimal]] = {}  # market order id -> (book side, price)
        self.trade_seq = 0
        self.pending: dict[tuple[str, str], str] = {}  # deferred (side, price text) -> quantity text
        self.pending_reset = False  # a snapshot is among them: the mirrored levels go first

    def market_size(self, book_side: str, price: Decimal) -> Decimal:
        order_id = self.levels.get((book_side, price))
        if order_id is None:
            return _ZERO
        order = self.engine.order(order_id)
        return order.remaining if order is not None else _ZERO

    def forget_if_gone(self, order_id: str) -> None:
        if self.engine.order(order_id) is None and order_id in self.level_of:
            del self.levels[self.level_of.pop(order_id)]


class PaperVenue:
    """Simulated venue for the bot's orders; see the module docstring."""

    def __init__(
        self, products: dict[str, ProductSpec], maker_fee_rate: Decimal, taker_fee_rate: Decimal
    ) -> None:
        self._mirrors = {pid: _Mirror(spec) for pid, spec in products.items()}
        self._maker_fee_rate = maker_fee_rate
        self._taker_fee_rate = taker_fee_rate
        self._orders: dict[str, _BotOrder] = {}  # client_order_id -> order, every order ever placed
        self._by_venue_id: dict[str, _BotOrder] = {}
        self._order_seq = 0
        self._market_seq = 0
        self._fills: list[Fill] = []
        self._stops: dict[str, _BotOrder] = {}  # untriggered stop orders by client_order_id
        self._expiring: dict[str, _BotOrder] = {}  # live GTD orders by client_order_id
        self._cancelled_early: set[str] = set()  # cancels that overtook their order
        self._last_trade: dict[str, Decimal] = {}
        self.bad_levels = 0  # level2 entries skipped as unparseable or negative

    # ----------------------------------------------------------------- market data in

    def apply_book(
        self,
        product_id: str,
        is_snapshot: bool,
        bids: Iterable[tuple[str, str]],
        offers: Iterable[tuple[str, str]],
        ts: float,
    ) -> list[Event]:
        """Apply a level2 snapshot or update (absolute quantities); fill bot orders it crosses."""
        mirror = self._mirrors.get(product_id)
        if mirror is None:
            return []
        if self._idle(mirror):
            self._defer_book(mirror, is_snapshot, bids, offers)
            return []
        self._catch_up(mirror)
        events: list[Event] = []
        if is_snapshot:
            self._clear_market_levels(mirror)
        for book_side, price, qty in self._valid_levels(bids, offers):
            self._set_market_level(mirror, book_side, price, qty, ts, events)
        if is_snapshot:
            for order in self._resting(product_id):
                self._clip_queue(mirror, order)
        # the mid is the stops' reference: without stops waiting it is not needed
        self._housekeeping(mirror, ts, self._mid(mirror) if self._stops else None, events)
        return events

    def apply_trade(
        self, product_id: str, price: str, size: str, aggressor_side: str, ts: float
    ) -> list[Event]:
        """A market trade print: fill bot orders on the passive side that it trades through."""
        mirror = self._mirrors.get(product_id)
        print_price, print_size = finite_decimal(price, nonneg=True), finite_decimal(size, nonneg=True)
        if mirror is None or print_price is None or print_size is None or print_size <= 0:
            return []
        self._last_trade[product_id] = print_price
        if aggressor_side == SELL:
            passive_side, better = BUY, (lambda limit: limit > print_price)
        elif aggressor_side == BUY:
            passive_side, better = SELL, (lambda limit: limit < print_price)
        else:
            return []
        candidates = [o for o in self._resting(product_id) if o.side == passive_side]
        # best price first; sort is stable, so time priority holds within a price
        candidates.sort(key=_resting_limit, reverse=passive_side == BUY)
        events: list[Event] = []
        budget = print_size
        for order in candidates:
            assert order.limit_price is not None
            if better(order.limit_price):
                qty = min(order.size - order.filled, budget)
            elif order.limit_price == print_price:
                qty = min(order.size - order.filled, max(_ZERO, budget - order.queue_ahead))
                order.queue_ahead = max(_ZERO, order.queue_ahead - print_size)
            else:
                break
            if qty > 0:
                budget -= qty
                mirror.engine.amend_size(order.venue_order_id, order.size - order.filled - qty)
                self._fill(mirror, order, order.limit_price, qty, MAKER, ts, events)
                events.append(order.update())
        self._housekeeping(mirror, ts, print_price, events)
        return events

    # ----------------------------------------------------------------- orders in

    def place(self, order: PlaceOrder, ts: float) -> list[Event]:
        """Accept, fill and/or rest one order. A repeated client_order_id changes nothing."""
        known = self._orders.get(order.client_order_id)
        if known is not None:
            return [known.update()]
        mirror = self._mirrors.get(order.product_id)
        if mirror is not None:
            self._catch_up(mirror)
        self._order_seq += 1
        bot = _BotOrder(order, f"pv-{self._order_seq:06d}", ts)
        self._orders[bot.client_order_id] = bot
        self._by_venue_id[bot.venue_order_id] = bot
        reason = _invalid(order, bot) if mirror is not None else UNKNOWN_PRODUCT
        if bot.client_order_id in self._cancelled_early:
            self._cancelled_early.discard(bot.client_order_id)
            bot.status, bot.reason = CANCELLED, CANCELLED_BEFORE_ARRIVAL
            return [bot.update()]
        if reason:
            bot.status, bot.reason = REJECTED, reason
            return [bot.update()]
        assert mirror is not None
        events: list[Event] = []
        if bot.end_ts is not None:
            self._expiring[bot.client_order_id] = bot
        if not bot.triggered:
            self._stops[bot.client_order_id] = bot
            events.append(bot.update())
            reference = self._last_trade.get(bot.product_id) or self._mid(mirror)
            self._housekeeping(mirror, ts, reference, events)  # a stop already reached fires now
            return events
        self._submit(mirror, bot, ts, events)
        return events

    def _submit(self, mirror: _Mirror, bot: _BotOrder, ts: float, events: list[Event]) -> None:
        """Send a (triggered) order into the engine: take what crosses, rest or drop the rest."""
        result = mirror.engine.submit(
            bot.venue_order_id,
            BOT,
            bot.side,
            bot.size,
            order_type=bot.order_type,
            limit_price=bot.limit_price if bot.order_type == "limit" else None,
            post_only=bot.post_only,
            tif="GTC" if bot.tif in ("GTC", "GTD") else bot.tif,  # GTD expiry is kept here
        )
        if result.status == REJECTED:
            bot.status, bot.reason = REJECTED, result.reject_reason
            self._expiring.pop(bot.client_order_id, None)
            events.append(bot.update())
            return
        for trade in result.trades:
            self._fill(mirror, bot, trade.price, trade.size, TAKER, ts, events)
            self._after_market_maker_trade(mirror, trade)
        if result.status == OPEN:
            assert bot.limit_price is not None
            bot.queue_ahead = mirror.market_size(_book_side(bot.side), bot.limit_price)
        elif result.status == CANCELLED:
            bot.status, bot.reason = CANCELLED, INSUFFICIENT_LIQUIDITY
        if bot.status != OPEN:
            self._expiring.pop(bot.client_order_id, None)
        bot.ts = ts
        events.append(bot.update())

    def cancel(self, client_order_id: str, ts: float) -> list[Event]:
        """Cancel one resting order; unknown or already finished orders give no events."""
        bot = self._orders.get(client_order_id)
        if bot is None:  # still in flight: it dies on arrival
            self._cancelled_early.add(client_order_id)
            return []
        if bot.status != OPEN:
            return []
        self._mirrors[bot.product_id].engine.cancel(bot.venue_order_id)  # a waiting stop is not there
        self._stops.pop(client_order_id, None)
        self._expiring.pop(client_order_id, None)
        bot.status, bot.ts = CANCELLED, ts
        return [bot.update()]

    def cancel_all(self, ts: float) -> list[Event]:
        """Cancel every resting bot order, in the order they were placed."""
        events: list[Event] = []
        for bot in [o for o in self._orders.values() if o.status == OPEN]:
            events.extend(self.cancel(bot.client_order_id, ts))
        return events

    # ----------------------------------------------------------------- queries

    def open_orders(self) -> tuple[OrderUpdate, ...]:
        return tuple(o.update() for o in self._orders.values() if o.status == OPEN)

    def fills(self) -> tuple[Fill, ...]:
        return tuple(self._fills)

    def orders(self) -> tuple[OrderUpdate, ...]:
        """Every order this venue was given, as it stands now (any status)."""
        return tuple(o.update() for o in self._orders.values())

    def order(self, client_order_id: str) -> OrderUpdate | None:
        bot = self._orders.get(client_order_id)
        return bot.update() if bot is not None else None

    def queue_ahead(self, client_order_id: str) -> Decimal | None:
        """The estimated market quantity ahead of a resting order at its price."""
        bot = self._orders.get(client_order_id)
        return bot.queue_ahead if bot is not None and bot.status == OPEN else None

    def book(self, product_id: str, depth: int | None = None) -> tuple[list, list]:
        """(bids, offers) of the mirror including our resting orders, best first."""
        mirror = self._mirrors[product_id]
        self._catch_up(mirror)
        engine = mirror.engine
        return engine.levels(BID, depth), engine.levels(OFFER, depth)

    # ----------------------------------------------------------------- internals

    def _idle(self, mirror: _Mirror) -> bool:
        """No order of ours rests, waits (stop) or expires (GTD) on this product."""
        if mirror.engine.owns_resting(BOT):
            return False
        product_id = mirror.spec.product_id
        return not any(o.product_id == product_id for o in self._stops.values()) and \
            not any(o.product_id == product_id for o in self._expiring.values())

    def _defer_book(self, mirror: _Mirror, is_snapshot: bool, bids: Iterable[tuple[str, str]],
                    offers: Iterable[tuple[str, str]]) -> None:
        """Keep the level changes as their checked wire text: an idle product's book is read only
        when an order comes (or too many changes wait), and a level changed many times meanwhile
        becomes a Decimal once. A rewritten level moves to the end, so the changes are applied in
        the order of their last writes (two spellings of one price then end as on arrival)."""
        pending = mirror.pending
        if is_snapshot:
            pending.clear()
            mirror.pending_reset = True
        for book_side, entries in ((BID, bids), (OFFER, offers)):
            for price_text, qty_text in entries:
                if not (plain(price_text) and plain(qty_text) and price_text.strip("0.")) \
                        and self._read_level(price_text, qty_text) is None:
                    continue
                key = (book_side, price_text)
                pending.pop(key, None)
                pending[key] = qty_text
        if len(pending) > PENDING_LEVELS_MAX:
            self._catch_up(mirror)

    def _read_level(self, price_text: str, qty_text: str) -> tuple[Decimal, Decimal] | None:
        """(price, quantity) of a readable level; None, counted as bad, for any other."""
        price, qty = finite_decimal(price_text), finite_decimal(qty_text)
        if price is None or qty is None or qty < 0 or price <= 0:
            self.bad_levels += 1
            return None
        return price, qty

    def _valid_levels(self, bids: Iterable[tuple[str, str]], offers: Iterable[tuple[str, str]]
                      ) -> Iterator[tuple[str, Decimal, Decimal]]:
        """(book side, price, quantity) of each readable level; the others are counted as bad."""
        for book_side, entries in ((BID, bids), (OFFER, offers)):
            for price_text, qty_text in entries:
                level = self._read_level(price_text, qty_text)
                if level is not None:
                    yield book_side, level[0], level[1]

    def _catch_up(self, mirror: _Mirror) -> None:
        """Apply the deferred level changes. They were kept only while the product was idle, and
        it still is (nothing of ours can rest there without passing here first), so the order
        they are applied in does not matter (market levels never trade with each other) and no
        event can come of them."""
        if mirror.pending_reset:
            mirror.pending_reset = False
            self._clear_market_levels(mirror)
        if not mirror.pending:
            return
        pending, mirror.pending = mirror.pending, {}
        no_events: list[Event] = []
        for (book_side, price_text), qty_text in pending.items():  # checked on arrival: readable
            self._set_market_level(mirror, book_side, Decimal(price_text), Decimal(qty_text), 0.0, no_events)

    @staticmethod
    def _clear_market_levels(mirror: _Mirror) -> None:
        for order_id in list(mirror.level_of):
            mirror.engine.cancel(order_id)
        mirror.levels.clear()
        mirror.level_of.clear()

    def _housekeeping(self, mirror: _Mirror, ts: float, reference: Decimal | None, events: list[Event]) -> None:
        """After an event at `ts`: expire GTD orders whose end has come, fire reached stops."""
        product_id = mirror.spec.product_id
        for bot in [o for o in self._expiring.values() if o.product_id == product_id]:
            if bot.end_ts is not None and ts >= bot.end_ts and bot.status == OPEN:
                mirror.engine.cancel(bot.venue_order_id)
                self._stops.pop(bot.client_order_id, None)
                del self._expiring[bot.client_order_id]
                bot.status, bot.ts = EXPIRED, ts
                events.append(bot.update())
        if reference is None:
            return
        for bot in [o for o in self._stops.values() if o.product_id == product_id]:
            assert bot.stop_price is not None
            if reference >= bot.stop_price if bot.stop_direction == STOP_UP else reference <= bot.stop_price:
                del self._stops[bot.client_order_id]
                bot.triggered = True
                self._submit(mirror, bot, ts, events)

    @staticmethod
    def _mid(mirror: _Mirror) -> Decimal | None:
        bid, ask = mirror.engine.best_bid(), mirror.engine.best_ask()
        return (bid + ask) / 2 if bid is not None and ask is not None else None

    def _resting(self, product_id: str) -> list[_BotOrder]:
        engine = self._mirrors[product_id].engine
        return [self._by_venue_id[o.order_id] for o in engine.resting_orders(BOT)]

    def _set_market_level(
        self,
        mirror: _Mirror,
        book_side: str,
        price: Decimal,
        qty: Decimal,
        ts: float,
        events: list[Event],
    ) -> None:
        key = (book_side, price)
        order_id = mirror.levels.get(key)
        if order_id is not None:
            if qty == 0:
                mirror.engine.cancel(order_id)
                mirror.forget_if_gone(order_id)
            else:
                # An existing market level never crosses a bot order (it would have traded), so
                # resizing in place cannot create a cross.
                mirror.engine.amend_size(order_id, qty)
        elif qty > 0:
            self._market_seq += 1
            order_id = f"mkt-{self._market_seq}"
            result = mirror.engine.submit(
                order_id, MARKET, BUY if book_side == BID else SELL, qty, limit_price=price
            )
            # Trades here are the market moving through our resting orders: we are the maker.
            for trade in result.trades:
                bot = self._by_venue_id[trade.maker_order_id]
                assert bot.limit_price is not None
                self._fill(mirror, bot, trade.price, trade.size, MAKER, ts, events)
                events.append(bot.update())
            if result.status == OPEN:
                mirror.levels[key] = order_id
                mirror.level_of[order_id] = key
        self._clip_level_queues(mirror, book_side, price)

    def _after_market_maker_trade(self, mirror: _Mirror, trade: Trade) -> None:
        """Our taker trade consumed mirrored liquidity: drop empty levels, clip queues there."""
        if trade.maker_owner != MARKET:
            return
        key = mirror.level_of.get(trade.maker_order_id)
        mirror.forget_if_gone(trade.maker_order_id)
        if key is not None:
            self._clip_level_queues(mirror, *key)

    def _clip_level_queues(self, mirror: _Mirror, book_side: str, price: Decimal) -> None:
        """Market quantity ahead of us can only be what is left at the level."""
        if not mirror.engine.owns_resting(BOT):
            return
        for resting in mirror.engine.queue(book_side, price):
            if resting.owner == BOT:
                self._clip_queue(mirror, self._by_venue_id[resting.order_id])

    @staticmethod
    def _clip_queue(mirror: _Mirror, bot: _BotOrder) -> None:
        assert bot.limit_price is not None
        available = mirror.market_size(_book_side(bot.side), bot.limit_price)
        if bot.queue_ahead > available:
            bot.queue_ahead = available

    def _fill(
        self,
        mirror: _Mirror,
        bot: _BotOrder,
        price: Decimal,
        size: Decimal,
        liquidity: str,
        ts: float,
        events: list[Event],
    ) -> None:
        """Record one fill of a bot order (its engine state is already updated by the caller)."""
        rate = self._maker_fee_rate if liquidity == MAKER else self._taker_fee_rate
        fee = venue_fee(mirror.spec.notional(size, price), rate)
        mirror.trade_seq += 1
        fill = Fill(
            trade_id=f"{mirror.spec.product_id}-{mirror.trade_seq}",
            client_order_id=bot.client_order_id,
            venue_order_id=bot.venue_order_id,
            product_id=bot.product_id,
            side=bot.side,
            price=price,
            size=size,
            fee=fee,
            liquidity=liquidity,
            ts=ts,
        )
        self._fills.append(fill)
        events.append(fill)
        bot.filled += size
        bot.ts = ts
        if bot.filled == bot.size:
            bot.status = FILLED


def _invalid(order: PlaceOrder, bot: _BotOrder) -> str:
    """Why the venue refuses an order's shape ("" when it does not); sets the GTD expiry."""
    if order.order_type not in ("market", "limit", "stop_limit"):
        return INVALID_ORDER
    if order.order_type == "stop_limit":
        if order.stop_price is None or order.limit_price is None or order.stop_direction not in (STOP_UP, STOP_DOWN):
            return INVALID_ORDER
        if bot.tif not in ("GTC", "GTD"):
            return INVALID_ORDER
    if bot.tif == "GTD":
        try:
            bot.end_ts = parse_timestamp(order.end_time)
        except ValueError:
            return INVALID_ORDER
    elif bot.tif not in ("GTC", "IOC", "FOK"):
        return INVALID_ORDER
    return ""


def _book_side(side: str) -> str:
    return BID if side == BUY else OFFER
