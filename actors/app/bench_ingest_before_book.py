"""The level2 book as it was when issue 12's ingest work began (commit 0b801fa), frozen for the
bench's same-run comparison (`ingest.vs_before`): Decimal prices bisected through a text -> Decimal
cache, each level a (price, size text) tuple, every size checked again.

Only `bin/perpsbot bench` uses it (through actors.app.bench_ingest_before). Must never be
"improved": it is the measuring stick, and a faster copy would flatter the current path.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from decimal import Decimal
from itertools import compress, islice
from operator import gt, lt

from actors.market_data.book import BookCorrupt
from actors.wire.decimals import finite_decimal

Level = tuple[Decimal, Decimal]  # (price, size)
WireLevel = tuple[str, str]  # (price_level, new_quantity)
_Stored = tuple[Decimal, str]  # (price, size as validated wire text)

_ZERO = Decimal(0)
_TWO = Decimal(2)
_PRICE_CACHE_MAX = 20_000


def _price(text: str) -> Decimal:
    p = Decimal(text)
    if not p.is_finite() or p <= 0:
        raise BookCorrupt(f"bad price {text!r}")
    return p


def _size_text(text: str) -> str:
    """The size text to keep ("" for a zero), or BookCorrupt. The usual spelling costs two string
    scans; anything else is read by Decimal once and rewritten in plain notation."""
    if text.isascii() and text.replace(".", "", 1).isdigit():
        return text if text.strip("0.") else ""
    size = finite_decimal(text, nonneg=True)  # bounded: "1e999999999" is never written out
    if size is None:
        raise BookCorrupt(f"bad size {text[:40]!r}")
    return format(size, "f") if size else ""


def _ascending(prices: list[Decimal]) -> bool:
    """Strictly ascending (so also free of duplicates)."""
    return all(map(lt, prices, islice(prices, 1, None)))


def _sorted_last_wins(prices: list[Decimal], sizes: list[str]) -> tuple[list[Decimal], list[str]]:
    """Ascending prices with their sizes (new lists when reordered); for a price listed twice the
    later size wins, and the price object kept is the first one, as a dict would keep its first
    key. Every price takes part in a comparison (when there are two or more), so a NaN raises."""
    if _ascending(prices):
        return prices, sizes
    if all(map(gt, prices, islice(prices, 1, None))):  # strictly descending: bids as sent
        return prices[::-1], sizes[::-1]
    out_prices: list[Decimal] = []
    out_sizes: list[str] = []
    for i in sorted(range(len(prices)), key=prices.__getitem__):  # stable: later duplicates last
        price = prices[i]
        if out_prices and out_prices[-1] == price:
            out_sizes[-1] = sizes[i]
        else:
            out_prices.append(price)
            out_sizes.append(sizes[i])
    return out_prices, out_sizes


class L2BookBefore:
    """Each side is a list of prices, strictly ascending, and the parallel list of its levels
    (price, size text): best bid is the last bid, best ask the first ask.

    Lists and bisect rather than a hashed map: a Decimal's first hash costs more than a dozen
    comparisons, and a price is never hashed here (its wire text is: the text -> Decimal cache).
    With `base_factor` (the contract size of a future) `band(..., base_units=True)` returns sizes
    in base units.
    """

    __slots__ = (
        "product_id", "base_factor", "_bid_px", "_bids", "_ask_px", "_asks",
        "_valid", "_prices", "_mid_bid", "_mid_ask", "_mid",
    )  # fmt: skip

    def __init__(self, product_id: str, base_factor: Decimal | None = None) -> None:
        self.product_id = product_id
        self.base_factor = base_factor
        self._valid = False
        self._prices: dict[str, Decimal] = {}  # wire price text -> validated Decimal (levels repeat)
        # the last mid computed and the best price objects it came from
        self._mid_bid: Decimal | None = None
        self._mid_ask: Decimal | None = None
        self._mid: Decimal | None = None
        self.invalidate()

    @property
    def valid(self) -> bool:
        return self._valid

    def invalidate(self) -> None:
        """Drop every level: the book must not be read until the next snapshot."""
        self._valid = False
        self._bid_px: list[Decimal] = []
        self._bids: list[_Stored] = []
        self._ask_px: list[Decimal] = []
        self._asks: list[_Stored] = []

    # ------------------------------------------------------------ changes

    def apply_snapshot(self, bids: tuple[WireLevel, ...], offers: tuple[WireLevel, ...]) -> None:
        """Replace the whole book. Raises BookCorrupt (book left invalid) on a bad level."""
        self.invalidate()
        try:
            bid_px, bid_sz = self._side_lists(bids)
            ask_px, ask_sz = self._side_lists(offers)
        except ArithmeticError as exc:  # decimal.InvalidOperation: not a number
            raise BookCorrupt(f"bad level: {exc!r}") from exc
        self._bid_px, self._bids = bid_px, list(zip(bid_px, bid_sz))
        self._ask_px, self._asks = ask_px, list(zip(ask_px, ask_sz))
        self._valid = True
        self._check_crossed()

    def apply_update(self, bids: tuple[WireLevel, ...], offers: tuple[WireLevel, ...]) -> bool:
        """Set absolute sizes; a zero size removes the level. False (nothing done) when invalid.

        Raises BookCorrupt on a bad level, after invalidating the book.
        """
        if not self._valid:
            return False
        try:
            if bids:
                self._apply_side(self._bid_px, self._bids, bids)
            if offers:
                self._apply_side(self._ask_px, self._asks, offers)
        except BookCorrupt:
            self.invalidate()
            raise
        except ArithmeticError as exc:  # decimal.InvalidOperation: not a number, or NaN
            self.invalidate()
            raise BookCorrupt(f"bad level: {exc!r}") from exc
        self._check_crossed()
        return True

    def _price_of(self, text: str) -> Decimal:
        # Decimal construction is a large part of book work; a price text seen before reuses its
        # Decimal.
        cache = self._prices
        price = cache.get(text)
        if price is None:
            price = _price(text)
            if len(cache) >= _PRICE_CACHE_MAX:
                cache.clear()
            cache[text] = price
        return price

    def _side_lists(self, levels: tuple[WireLevel, ...]) -> tuple[list[Decimal], list[str]]:
        """Snapshot levels to ascending (prices, size texts); zero sizes are not levels, so their
        prices are not read. The price cache is left to updates: they touch few of a deep
        snapshot's levels."""
        if not levels:
            return [], []
        texts, size_texts = zip(*levels)
        sizes = list(map(_size_text, size_texts))
        if not all(sizes):  # zero sizes are not levels
            texts = tuple(compress(texts, sizes))
            sizes = list(compress(sizes, sizes))
            if not sizes:
                return [], []
        prices, sizes = _sorted_last_wins(list(map(Decimal, texts)), sizes)
        # sorted, the smallest and largest prices are the ends (a NaN raised while sorting)
        if prices[0] <= _ZERO or not prices[-1].is_finite():
            raise BookCorrupt(f"bad price among {len(prices)} levels")
        return prices, sizes

    def _apply_side(self, prices: list[Decimal], levels: list[_Stored], changes: tuple[WireLevel, ...]) -> None:
        """Apply one side's changes: bisect for the price, then set, insert or delete in place."""
        cache = self._prices
        for price_text, size_text in changes:
            price = cache.get(price_text)
            if price is None:
                price = self._price_of(price_text)
            # the usual spellings inline (see _size_text): "0" to remove, plain digits to set
            if size_text == "0":
                size = ""
            elif size_text.isascii() and size_text.replace(".", "", 1).isdigit():
                size = size_text if size_text.strip("0.") else ""
            else:
                size = _size_text(size_text)
            i = bisect_left(prices, price)
            if i < len(prices) and prices[i] == price:
                if size:
                    levels[i] = (prices[i], size)  # the level keeps its first price object
                else:
                    del prices[i]
                    del levels[i]
            elif size:
                prices.insert(i, price)
                levels.insert(i, (price, size))

    def _check_crossed(self) -> None:
        bid_px = self._bid_px
        ask_px = self._ask_px
        if bid_px and ask_px and bid_px[-1] >= ask_px[0]:
            self.invalidate()

    # ------------------------------------------------------------ queries

    @property
    def best_bid(self) -> Level | None:
        return _level(self._bids[-1]) if self._bids else None

    @property
    def best_ask(self) -> Level | None:
        return _level(self._asks[0]) if self._asks else None

    def top(self) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
        """(best bid price, best ask price, mid), None where a side is empty."""
        bid = self._bid_px[-1] if self._bid_px else None
        ask = self._ask_px[0] if self._ask_px else None
        if bid is None or ask is None:
            return bid, ask, None
        return bid, ask, self._mid_of(bid, ask)

    def _mid_of(self, bid: Decimal, ask: Decimal) -> Decimal:
        # The top often survives a frame untouched: the same price objects give the same mid.
        if bid is self._mid_bid and ask is self._mid_ask:
            return self._mid  # type: ignore[return-value]
        mid = (bid + ask) / _TWO
        self._mid_bid, self._mid_ask, self._mid = bid, ask, mid
        return mid

    @property
    def mid(self) -> Decimal | None:
        if not (self._bid_px and self._ask_px):
            return None
        return self._mid_of(self._bid_px[-1], self._ask_px[0])

    @property
    def bid_levels(self) -> int:
        return len(self._bid_px)

    @property
    def ask_levels(self) -> int:
        return len(self._ask_px)

    def levels(self, side: str, n: int) -> list[Level]:
        """The best `n` levels of one side ("bid", or "ask"/"offer"), best first."""
        if side == "bid":
            return list(map(_level, islice(reversed(self._bids), n)))
        if side in ("ask", "offer"):
            return list(map(_level, islice(self._asks, n)))
        raise ValueError(f"side must be 'bid' or 'ask', not {side!r}")

    def band(
        self, fraction: Decimal, base_units: bool = False
    ) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        """Levels within `fraction * mid` of each best price: bids in [best_bid - f*mid, best_bid],
        asks in [best_ask, best_ask + f*mid], best first; sizes in base units (times
        `base_factor`) when `base_units` is asked of a book that has a factor.

        With one side empty the reference is the other side's best price; empty when both are.
        """
        bid_px = self._bid_px
        ask_px = self._ask_px
        if bid_px and ask_px:
            ref = self._mid_of(bid_px[-1], ask_px[0])
        elif bid_px:
            ref = bid_px[-1]
        elif ask_px:
            ref = ask_px[0]
        else:
            return (), ()
        factor = self.base_factor if base_units else None
        width = fraction * ref
        out_bids: tuple[Level, ...] = ()
        out_asks: tuple[Level, ...] = ()
        if bid_px:
            lo = bisect_left(bid_px, bid_px[-1] - width)
            out_bids = _levels(self._bids[lo:][::-1], factor)
        if ask_px:
            hi = bisect_right(ask_px, ask_px[0] + width)
            out_asks = _levels(self._asks[:hi], factor)
        return out_bids, out_asks


def _level(stored: _Stored) -> Level:
    return stored[0], Decimal(stored[1])


def _levels(stored: list[_Stored], factor: Decimal | None) -> tuple[Level, ...]:
    if factor is None:
        return tuple(map(_level, stored))
    return tuple((price, Decimal(size) * factor) for price, size in stored)
