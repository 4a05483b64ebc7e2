"""The pure core of the in-process paper venue: our orders filled against the streamed market book.

Owns a simulated exchange for the bot's own orders only. It cannot see the real exchange's queue,
so it matches, per product, in one MatchingEngine holding (a) the market's liquidity mirrored from
level2 as one order per price level, owned by "market" (kept by actors/venue/paper_book.py), and
(b) the bot's resting orders, owned by "bot" (each one's venue-side record and the shapes it may take:
actors/venue/paper_orders.py).
The bot takes mirrored liquidity as TAKER; its resting orders fill as MAKER at their limit price when
the market book moves through them or a market trade prints through them (at an equal price only
after the market quantity estimated ahead of them in the queue has traded).

Time in force: market orders are IOC (or FOK), limits GTC, GTD (expired once an event's time
reaches `end_time`), IOC or FOK. Stop-limit orders wait at the venue, off the book, until the
reference price (the last market trade, else the mid of the mirrored market book) reaches the
stop in its direction, then enter as limits. A cancel for an order the venue has not seen yet (it
is still in flight behind the simulated latency) is remembered and kills the order on arrival.

While none of our orders rest or wait on a product it is idle: nothing the market does there can
make an event, so its level2 changes are handed to the mirror to keep and apply later.

Must never do I/O, read a clock or use floats for money: times come in as arguments, wire strings
are converted to Decimal (here and in the mirror), every result is a list of OrderUpdate / Fill values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from actors.venue.paper_book import MARKET, MarketBook, Mirror
from actors.venue.paper_orders import CANCELLED, EXPIRED, FILLED, OPEN, REJECTED, STOP_UP, BotOrder, invalid_reason
from actors.wire.decimals import finite_decimal
from domain.fees import venue_fee
from domain.market import L2Level, levels_of_sides
from domain.matching import BID, BUY, OFFER, SELL, Trade
from domain.orders import Fill, OrderUpdate, PlaceOrder
from domain.products import ProductSpec

BOT = "bot"

MAKER = "MAKER"
TAKER = "TAKER"

UNKNOWN_PRODUCT = "UNKNOWN_PRODUCT"
INSUFFICIENT_LIQUIDITY = "INSUFFICIENT_LIQUIDITY"
CANCELLED_BEFORE_ARRIVAL = "CANCELLED_BEFORE_ARRIVAL"

_ZERO = Decimal(0)

Event = OrderUpdate | Fill


def _resting_limit(order: BotOrder) -> Decimal:
    """The limit price of an order on the book: only limit orders rest, so it has one."""
    assert order.limit_price is not None
    return order.limit_price


class PaperVenue:
    """Simulated venue for the bot's orders; see the module docstring."""

    def __init__(
        self, products: dict[str, ProductSpec], maker_fee_rate: Decimal, taker_fee_rate: Decimal
    ) -> None:
        self._book = MarketBook(products)
        self._mirrors = self._book.mirrors
        self._maker_fee_rate = maker_fee_rate
        self._taker_fee_rate = taker_fee_rate
        self._orders: dict[str, BotOrder] = {}  # client_order_id -> order, every order ever placed
        self._by_venue_id: dict[str, BotOrder] = {}
        self._order_seq = 0
        self._market_seq = 0
        self._fills: list[Fill] = []
        self._stops: dict[str, BotOrder] = {}  # untriggered stop orders by client_order_id
        self._expiring: dict[str, BotOrder] = {}  # live GTD orders by client_order_id
        self._cancelled_early: set[str] = set()  # cancels that overtook their order
        self._last_trade: dict[str, Decimal] = {}

    @property
    def bad_levels(self) -> int:
        """Level2 entries skipped as unparseable or negative."""
        return self._book.bad_levels

    # ----------------------------------------------------------------- market data in

    def apply_book(
        self,
        product_id: str,
        is_snapshot: bool,
        bids: Iterable[tuple[str, str]],
        offers: Iterable[tuple[str, str]],
        ts: float,
    ) -> list[Event]:
        """`apply_levels` of (price_level, new_quantity) pairs per side."""
        return self.apply_levels(product_id, is_snapshot, levels_of_sides(bids, offers), ts)

    def apply_levels(self, product_id: str, is_snapshot: bool, levels: Sequence[L2Level], ts: float,
                     plain_levels: bool = False) -> list[Event]:
        """Apply a level2 snapshot or update (absolute quantities, bids first); fill bot orders it
        crosses. `plain_levels`: L2Update.plain."""
        mirror = self._mirrors.get(product_id)
        if mirror is None:
            return []
        if self._idle(mirror):
            self._book.defer(mirror, is_snapshot, levels, plain_levels)
            return []
        self._book.catch_up(mirror)
        events: list[Event] = []
        if is_snapshot:
            mirror.clear_market_levels()
        for book_side, price, qty in self._book.valid_levels(levels):
            self._set_market_level(mirror, book_side, price, qty, ts, events)
        if is_snapshot:
            for order in self._resting(product_id):
                self._clip_queue(mirror, order)
        # the mid is the stops' reference: without stops waiting it is not needed
        self._housekeeping(mirror, ts, mirror.mid() if self._stops else None, events)
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
            self._book.catch_up(mirror)
        self._order_seq += 1
        bot = BotOrder(order, f"pv-{self._order_seq:06d}", ts)
        self._orders[bot.client_order_id] = bot
        self._by_venue_id[bot.venue_order_id] = bot
        reason = invalid_reason(order, bot) if mirror is not None else UNKNOWN_PRODUCT
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
            reference = self._last_trade.get(bot.product_id) or mirror.mid()
            self._housekeeping(mirror, ts, reference, events)  # a stop already reached fires now
            return events
        self._submit(mirror, bot, ts, events)
        return events

    def _submit(self, mirror: Mirror, bot: BotOrder, ts: float, events: list[Event]) -> None:
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
        self._book.catch_up(mirror)
        engine = mirror.engine
        return engine.levels(BID, depth), engine.levels(OFFER, depth)

    # ----------------------------------------------------------------- internals

    def _idle(self, mirror: Mirror) -> bool:
        """No order of ours rests, waits (stop) or expires (GTD) on this product."""
        if mirror.engine.owns_resting(BOT):
            return False
        product_id = mirror.spec.product_id
        return not any(o.product_id == product_id for o in self._stops.values()) and \
            not any(o.product_id == product_id for o in self._expiring.values())

    def _housekeeping(self, mirror: Mirror, ts: float, reference: Decimal | None, events: list[Event]) -> None:
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

    def _resting(self, product_id: str) -> list[BotOrder]:
        engine = self._mirrors[product_id].engine
        return [self._by_venue_id[o.order_id] for o in engine.resting_orders(BOT)]

    def _set_market_level(
        self,
        mirror: Mirror,
        book_side: str,
        price: Decimal,
        qty: Decimal,
        ts: float,
        events: list[Event],
    ) -> None:
        # Trades here are the market moving through our resting orders: we are the maker.
        for trade in self._book.set_level(mirror, book_side, price, qty):
            bot = self._by_venue_id[trade.maker_order_id]
            assert bot.limit_price is not None
            self._fill(mirror, bot, trade.price, trade.size, MAKER, ts, events)
            events.append(bot.update())
        self._clip_level_queues(mirror, book_side, price)

    def _after_market_maker_trade(self, mirror: Mirror, trade: Trade) -> None:
        """Our taker trade consumed mirrored liquidity: drop empty levels, clip queues there."""
        if trade.maker_owner != MARKET:
            return
        key = mirror.level_of.get(trade.maker_order_id)
        mirror.forget_if_gone(trade.maker_order_id)
        if key is not None:
            self._clip_level_queues(mirror, *key)

    def _clip_level_queues(self, mirror: Mirror, book_side: str, price: Decimal) -> None:
        """Market quantity ahead of us can only be what is left at the level."""
        if not mirror.engine.owns_resting(BOT):
            return
        for resting in mirror.engine.queue(book_side, price):
            if resting.owner == BOT:
                self._clip_queue(mirror, self._by_venue_id[resting.order_id])

    @staticmethod
    def _clip_queue(mirror: Mirror, bot: BotOrder) -> None:
        assert bot.limit_price is not None
        available = mirror.market_size(_book_side(bot.side), bot.limit_price)
        if bot.queue_ahead > available:
            bot.queue_ahead = available

    def _fill(
        self,
        mirror: Mirror,
        bot: BotOrder,
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


def _book_side(side: str) -> str:
    return BID if side == BUY else OFFER
