"""One product's level2 order book: price -> size on each side, in venue units.

Owns: the levels of one book, applying snapshots and absolute-size updates from wire strings, the
validity flag (no data is trusted before a snapshot, after `invalidate()` or after a crossed/locked
frame), and read-only queries (top of book, mid, best-first levels, a price band).
Must never: treat `new_quantity` as a delta, compare sizes as strings, use floats for prices or
sizes, or hold data for more than one product.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import islice

from sortedcontainers import SortedDict

Level = tuple[Decimal, Decimal]  # (price, size)
WireLevel = tuple[str, str]  # (price_level, new_quantity)

_TWO = Decimal(2)
_PRICE_CACHE_MAX = 20_000


class BookCorrupt(ValueError):
    """A level that cannot be a real book entry (bad number, non-positive price, negative size)."""


def _price(text: str) -> Decimal:
    p = Decimal(text)
    if not p.is_finite() or p <= 0:
        raise BookCorrupt(f"bad price {text!r}")
    return p


class L2Book:
    """Ascending SortedDicts for both sides: best bid is the last bid key, best ask the first ask."""

    __slots__ = ("product_id", "_bids", "_asks", "_valid", "_prices")

    def __init__(self, product_id: str) -> None:
        self.product_id = product_id
        self._bids: SortedDict = SortedDict()
        self._asks: SortedDict = SortedDict()
        self._valid = False
        self._prices: dict[str, Decimal] = {}  # wire price text -> validated Decimal (levels repeat)

    @property
    def valid(self) -> bool:
        return self._valid

    def invalidate(self) -> None:
        """Drop every level: the book must not be read until the next snapshot."""
        self._valid = False
        self._bids = SortedDict()
        self._asks = SortedDict()

    # ------------------------------------------------------------ changes

    def apply_snapshot(self, bids: tuple[WireLevel, ...], offers: tuple[WireLevel, ...]) -> None:
        """Replace the whole book. Raises BookCorrupt (book left invalid) on a bad level."""
        self.invalidate()
        try:
            new_bids = SortedDict(self._side_dict(bids))  # one sort, not an insort per level
            new_asks = SortedDict(self._side_dict(offers))
        except ArithmeticError as exc:  # decimal.InvalidOperation: not a number
            raise BookCorrupt(f"bad level: {exc!r}") from exc
        self._bids = new_bids
        self._asks = new_asks
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
                self._apply_side(self._bids, bids)
            if offers:
                self._apply_side(self._asks, offers)
        except BookCorrupt:
            self.invalidate()
            raise
        except ArithmeticError as exc:  # decimal.InvalidOperation: not a number, or NaN
            self.invalidate()
            raise BookCorrupt(f"bad level: {exc!r}") from exc
        self._check_crossed()
        return True

    def _price_of(self, text: str) -> Decimal:
        # Decimal construction plus its first hash (~1.5 us) dominate book work; a price text
        # seen before reuses its Decimal, whose hash is cached.
        cache = self._prices
        price = cache.get(text)
        if price is None:
            price = _price(text)
            if len(cache) >= _PRICE_CACHE_MAX:
                cache.clear()
            cache[text] = price
        return price

    def _side_dict(self, levels: tuple[WireLevel, ...]) -> dict[Decimal, Decimal]:
        """Snapshot levels to a plain dict; zero sizes (any decimal form) are not levels."""
        price_of = self._price_of
        out: dict[Decimal, Decimal] = {}
        for price_text, size_text in levels:
            size = Decimal(size_text)
            if size > 0:
                if size.is_infinite():
                    raise BookCorrupt(f"bad size {size_text!r}")
                out[price_of(price_text)] = size
            elif size != 0:  # negative (NaN raised at the comparison above)
                raise BookCorrupt(f"bad size {size_text!r}")
        return out

    def _apply_side(self, book: SortedDict, levels: tuple[WireLevel, ...]) -> None:
        cache = self._prices
        for price_text, size_text in levels:
            price = cache.get(price_text)
            if price is None:
                price = self._price_of(price_text)
            size = Decimal(size_text)
            if size > 0:
                if size.is_infinite():
                    raise BookCorrupt(f"bad size {size_text!r}")
                book[price] = size
            elif size == 0:
                book.pop(price, None)
            else:  # negative
                raise BookCorrupt(f"bad size {size_text!r}")

    def _check_crossed(self) -> None:
        bids = self._bids
        asks = self._asks
        if bids and asks and bids.peekitem(-1)[0] >= asks.peekitem(0)[0]:
            self.invalidate()

    # ------------------------------------------------------------ queries

    @property
    def best_bid(self) -> Level | None:
        return self._bids.peekitem(-1) if self._bids else None

    @property
    def best_ask(self) -> Level | None:
        return self._asks.peekitem(0) if self._asks else None

    @property
    def mid(self) -> Decimal | None:
        if not (self._bids and self._asks):
            return None
        return (self._bids.peekitem(-1)[0] + self._asks.peekitem(0)[0]) / _TWO

    @property
    def bid_levels(self) -> int:
        return len(self._bids)

    @property
    def ask_levels(self) -> int:
        return len(self._asks)

    def levels(self, side: str, n: int) -> list[Level]:
        """The best `n` levels of one side ("bid", or "ask"/"offer"), best first."""
        if side == "bid":
            book = self._bids
            keys = islice(reversed(book), n)
        elif side in ("ask", "offer"):
            book = self._asks
            keys = islice(book, n)
        else:
            raise ValueError(f"side must be 'bid' or 'ask', not {side!r}")
        return [(k, book[k]) for k in keys]

    def band(self, fraction: Decimal) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        """Levels within `fraction * mid` of each best price: bids in [best_bid - f*mid, best_bid],
        asks in [best_ask, best_ask + f*mid], best first.

        With one side empty the reference is the other side's best price; empty when both are.
        """
        bids = self._bids
        asks = self._asks
        if bids and asks:
            ref = (bids.peekitem(-1)[0] + asks.peekitem(0)[0]) / _TWO
        elif bids:
            ref = bids.peekitem(-1)[0]
        elif asks:
            ref = asks.peekitem(0)[0]
        else:
            return (), ()
        width = fraction * ref
        out_bids: tuple[Level, ...] = ()
        out_asks: tuple[Level, ...] = ()
        if bids:
            lo = bids.peekitem(-1)[0] - width
            out_bids = tuple((k, bids[k]) for k in bids.irange(minimum=lo, reverse=True))
        if asks:
            hi = asks.peekitem(0)[0] + width
            out_asks = tuple((k, asks[k]) for k in asks.irange(maximum=hi))
        return out_bids, out_asks
