"""The paper venue's mirror of the market book: each product's level2 held as one order per price level.

Owns, per product, the MatchingEngine the paper venue matches in and, in it, the market's liquidity
mirrored from level2 as one order per price level, owned by "market" (the bot's resting orders in the
same engine, owned by "bot", belong to the venue: actors/venue/paper.py). Setting a level hands back the
trades it made against resting orders; what they mean for the bot's orders is the venue's to say.

While none of our orders rest or wait on a product, nothing the market does there can make an event,
so its level2 changes are only parsed and kept, conflated per level (the last quantity wins), and
applied when an order for it arrives, when its book is read, or once enough levels are waiting.
The result is the same as applying every change as it comes, at a fraction of the cost. Whether a
product is idle is the venue's to say.

Must never know the bot's orders (it imports nothing of the venue's), do I/O, read a clock or use
floats for money: wire strings are converted here to Decimal.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal

from actors.wire.decimals import finite_decimal, plain
from domain.market import L2Level
from domain.matching import BID, BUY, OFFER, OPEN, SELL, MatchingEngine, Trade
from domain.products import ProductSpec

MARKET = "market"

PENDING_LEVELS_MAX = 256  # deferred level changes per product before they are applied anyway
_ZERO = Decimal(0)


class Mirror:
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

    def clear_market_levels(self) -> None:
        for order_id in list(self.level_of):
            self.engine.cancel(order_id)
        self.levels.clear()
        self.level_of.clear()

    def mid(self) -> Decimal | None:
        bid, ask = self.engine.best_bid(), self.engine.best_ask()
        return (bid + ask) / 2 if bid is not None and ask is not None else None


class MarketBook:
    """Every product's mirror, with the counters they share; see the module docstring."""

    def __init__(self, products: dict[str, ProductSpec]) -> None:
        self.mirrors = {pid: Mirror(spec) for pid, spec in products.items()}
        self._market_seq = 0
        self.bad_levels = 0  # level2 entries skipped as unparseable or negative

    def defer(self, mirror: Mirror, is_snapshot: bool, levels: Sequence[L2Level], plain_levels: bool = False) -> None:
        """Keep the level changes as their checked wire text: an idle product's book is read only
        when an order comes (or too many changes wait), and a level changed many times meanwhile
        becomes a Decimal once. A rewritten level moves to the end, so the changes are applied in
        the order of their last writes (two spellings of one price then end as on arrival). Bids
        are taken first, then offers. `plain_levels`: every text is known plain (L2Update.plain)."""
        pending = mirror.pending
        if is_snapshot:
            pending.clear()
            mirror.pending_reset = True
        for book_side, bid in ((BID, True), (OFFER, False)):
            for level in levels:
                if (level.side == "bid") is not bid:
                    continue
                price_text = level.price_level
                qty_text = level.new_quantity
                if not ((plain_levels or plain(price_text) and plain(qty_text)) and price_text.strip("0.")) \
                        and self._read_level(price_text, qty_text) is None:
                    continue
                key = (book_side, price_text)
                pending.pop(key, None)
                pending[key] = qty_text
        if len(pending) > PENDING_LEVELS_MAX:
            self.catch_up(mirror)

    def _read_level(self, price_text: str, qty_text: str) -> tuple[Decimal, Decimal] | None:
        """(price, quantity) of a readable level; None, counted as bad, for any other."""
        price, qty = finite_decimal(price_text), finite_decimal(qty_text)
        if price is None or qty is None or qty < 0 or price <= 0:
            self.bad_levels += 1
            return None
        return price, qty

    def valid_levels(self, levels: Sequence[L2Level]) -> Iterator[tuple[str, Decimal, Decimal]]:
        """(book side, price, quantity) of each readable level, bids first; the others are counted
        as bad."""
        for book_side, bid in ((BID, True), (OFFER, False)):
            for level in levels:
                if (level.side == "bid") is bid:
                    read = self._read_level(level.price_level, level.new_quantity)
                    if read is not None:
                        yield book_side, read[0], read[1]

    def catch_up(self, mirror: Mirror) -> None:
        """Apply the deferred level changes. They were kept only while the product was idle, and
        it still is (nothing of ours can rest there without passing here first), so the order
        they are applied in does not matter (market levels never trade with each other) and no
        event can come of them (so the trades set_level hands back, always none here, are not read)."""
        if mirror.pending_reset:
            mirror.pending_reset = False
            mirror.clear_market_levels()
        if not mirror.pending:
            return
        pending, mirror.pending = mirror.pending, {}
        for (book_side, price_text), qty_text in pending.items():  # checked on arrival: readable
            self.set_level(mirror, book_side, Decimal(price_text), Decimal(qty_text))

    def set_level(self, mirror: Mirror, book_side: str, price: Decimal, qty: Decimal) -> tuple[Trade, ...]:
        """Set one mirrored level to an absolute quantity; the trades a new level made, if any."""
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
            if result.status == OPEN:
                mirror.levels[key] = order_id
                mirror.level_of[order_id] = key
            return result.trades
        return ()
