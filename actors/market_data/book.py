"""One product's level2 order book: price -> size on each side, in venue units.

Owns: the levels of one book, applying snapshots and absolute-size updates from wire strings, the
validity flag (no data is trusted before a snapshot, after `invalidate()` or after a crossed/locked
frame), and read-only queries (top of book, mid, best-first levels, a price band).
Must never: treat `new_quantity` as a delta, use floats for prices or sizes, or hold data for more
than one product.

Each side is three parallel lists in ascending price order: a float key per level (what bisect
compares), the price as a Decimal (what every reader gets) and the size as its wire text. The key
is exact: a price of at most 15 significant digits has a float of its own, and the order of the
floats is the order of the prices (rounding to the nearest float never reverses two numbers), so
two keys are equal exactly when the prices are. A price with more digits is refused as corruption
(no market quotes one), and so is one outside 1e-18..1e18. A float compares in a few nanoseconds
where a Decimal takes tens, and an update to a level already there builds no Decimal at all.

Sizes are validated on arrival but kept as their wire text, and become Decimals only when read:
ingest never needs a size's value (top of book and the mark are prices), and reads are conflated.
Levels streaming marks `plain` (the usual spelling, `actors.wire.decimals.plain`) are applied as
they are; any other is checked here first: a size any zero form ("0.00000000") removes its level,
another spelling is kept in plain notation, and a number that is not a sane wire decimal (a
non-positive price, a negative size) is corruption.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from decimal import Decimal
from itertools import islice
from operator import gt, lt

from actors.wire.decimals import finite_decimal
from domain.market import L2Level, levels_of_sides

Level = tuple[Decimal, Decimal]  # (price, size)
WireLevel = tuple[str, str]  # (price_level, new_quantity)

_TWO = Decimal(2)
EXACT_DIGITS = 15  # significant digits a float keys exactly
PRICE_RANGE = (Decimal("1e-18"), Decimal("1e18"))  # well inside the floats' normal range


class BookCorrupt(ValueError):
    """A level that cannot be a real book entry (bad number, non-positive price, negative size)."""


def _price(text: str) -> Decimal:
    p = Decimal(text)
    if not p.is_finite() or p <= 0:
        raise BookCorrupt(f"bad price {text[:40]!r}")
    if len(p.normalize().as_tuple().digits) > EXACT_DIGITS or not PRICE_RANGE[0] <= p <= PRICE_RANGE[1]:
        raise BookCorrupt(f"price {text[:40]!r}: more than {EXACT_DIGITS} significant digits, or out of range")
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


def _checked(levels: Iterable[L2Level], is_snapshot: bool) -> list[L2Level]:
    """Levels that are not known to be plain, each checked (BookCorrupt) and its size respelled
    ("" for a zero). A snapshot's zero sizes are not levels: their prices are not read."""
    out = []
    for level in levels:
        size = _size_text(level.new_quantity)
        if size or not is_snapshot:
            _price(level.price_level)
        out.append(L2Level(level.side, level.price_level, size))
    return out


class _Side:
    """One side's parallel lists, ascending by price."""

    __slots__ = ("keys", "prices", "sizes")

    def __init__(self, keys: list[float] | None = None, texts: list[str] | None = None,
                 sizes: list[str] | None = None) -> None:
        self.keys: list[float] = keys or []
        self.prices: list[Decimal] = list(map(Decimal, texts)) if texts else []
        self.sizes: list[str] = sizes or []

    @classmethod
    def of_snapshot(cls, levels: list[L2Level], bid: bool) -> _Side:
        """The side's non-zero levels, sorted; for a price listed twice the later size wins and
        the first spelling is kept, as a dict keeps its first key."""
        texts = []
        sizes = []
        for level in levels:
            size = level.new_quantity
            if (level.side == "bid") is bid and size.strip("0."):  # zero sizes are not levels
                texts.append(level.price_level)
                sizes.append(size)
        keys = list(map(float, texts))
        if not keys:
            return cls()
        if not all(map(lt, keys, islice(keys, 1, None))):  # not strictly ascending
            if all(map(gt, keys, islice(keys, 1, None))):  # strictly descending: bids as sent
                keys.reverse()
                texts.reverse()
                sizes.reverse()
            else:
                keys, texts, sizes = _sorted_last_wins(keys, texts, sizes)
        if keys[0] <= 0.0:
            raise BookCorrupt(f"bad price among {len(keys)} levels")
        return cls(keys, texts, sizes)


def _sorted_last_wins(keys: list[float], texts: list[str], sizes: list[str]) -> tuple[list[float], list[str], list[str]]:
    out_keys: list[float] = []
    out_texts: list[str] = []
    out_sizes: list[str] = []
    for i in sorted(range(len(keys)), key=keys.__getitem__):  # stable: later duplicates last
        key = keys[i]
        if out_keys and out_keys[-1] == key:
            out_sizes[-1] = sizes[i]
        else:
            out_keys.append(key)
            out_texts.append(texts[i])
            out_sizes.append(sizes[i])
    return out_keys, out_texts, out_sizes


class L2Book:
    """Best bid is the last bid, best ask the first ask. With `base_factor` (the contract size of a
    future) `band(..., base_units=True)` returns sizes in base units. `valid` is for reading only
    (an attribute, not a property: it is read after every change)."""

    __slots__ = ("product_id", "base_factor", "_bids", "_asks", "valid", "_mid_bid", "_mid_ask", "_mid")

    def __init__(self, product_id: str, base_factor: Decimal | None = None) -> None:
        self.product_id = product_id
        self.base_factor = base_factor
        self.valid = False
        # the last mid computed and the best price objects it came from
        self._mid_bid: Decimal | None = None
        self._mid_ask: Decimal | None = None
        self._mid: Decimal | None = None
        self.invalidate()

    def invalidate(self) -> None:
        """Drop every level: the book must not be read until the next snapshot."""
        self.valid = False
        self._bids = _Side()
        self._asks = _Side()

    # ------------------------------------------------------------ changes

    def apply(self, levels: Iterable[L2Level], is_snapshot: bool, plain: bool = False) -> bool:
        """Replace the book (a snapshot) or set absolute sizes (an update: a zero size removes the
        level). An update to an invalid book does nothing and gives False. `plain`: the levels are
        known to be in the usual spelling (L2Update.plain) and are not checked again.

        An update bisects each level's key, then sets, inserts or deletes in place; a level keeps
        its first price object. (The loop is here, not in a method of its own: this runs for every
        level2 event, and a call costs about as much as a level.)

        Raises BookCorrupt on a bad level, after invalidating the book.
        """
        if is_snapshot:
            self.invalidate()
        elif not self.valid:
            return False
        bids = self._bids
        asks = self._asks
        try:
            if not plain:
                levels = _checked(levels, is_snapshot)
            if is_snapshot:
                listed = levels if isinstance(levels, list) else list(levels)
                self._bids = bids = _Side.of_snapshot(listed, True)
                self._asks = asks = _Side.of_snapshot(listed, False)
                self.valid = True
            else:
                bid_keys, bid_prices, bid_sizes = bids.keys, bids.prices, bids.sizes
                ask_keys, ask_prices, ask_sizes = asks.keys, asks.prices, asks.sizes
                for level in levels:
                    text = level.price_level
                    key = float(text)
                    if key <= 0.0:
                        raise BookCorrupt(f"bad price {text[:40]!r}")
                    size = level.new_quantity
                    if level.side == "bid":
                        keys, prices, sizes = bid_keys, bid_prices, bid_sizes
                    else:
                        keys, prices, sizes = ask_keys, ask_prices, ask_sizes
                    i = bisect_left(keys, key)
                    if i < len(keys) and keys[i] == key:
                        if size.strip("0."):
                            sizes[i] = size
                        else:
                            del keys[i]
                            del prices[i]
                            del sizes[i]
                    elif size.strip("0."):
                        keys.insert(i, key)
                        prices.insert(i, Decimal(text))
                        sizes.insert(i, size)
        except BookCorrupt:
            self.invalidate()
            raise
        except (ArithmeticError, ValueError) as exc:  # not a number (Decimal or float refused it)
            self.invalidate()
            raise BookCorrupt(f"bad level: {exc!r}") from exc
        if bids.keys and asks.keys and bids.keys[-1] >= asks.keys[0]:  # crossed or locked
            self.invalidate()
        return True

    def apply_snapshot(self, bids: Iterable[WireLevel], offers: Iterable[WireLevel]) -> None:
        """`apply` of (price_level, new_quantity) pairs per side, checked."""
        self.apply(levels_of_sides(bids, offers), True)

    def apply_update(self, bids: Iterable[WireLevel], offers: Iterable[WireLevel]) -> bool:
        return self.apply(levels_of_sides(bids, offers), False)

    # ------------------------------------------------------------ queries

    @property
    def best_bid(self) -> Level | None:
        bids = self._bids
        return (bids.prices[-1], Decimal(bids.sizes[-1])) if bids.keys else None

    @property
    def best_ask(self) -> Level | None:
        asks = self._asks
        return (asks.prices[0], Decimal(asks.sizes[0])) if asks.keys else None

    def top(self) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
        """(best bid price, best ask price, mid), None where a side is empty."""
        bid_px = self._bids.prices
        ask_px = self._asks.prices
        if not (bid_px and ask_px):
            return (bid_px[-1] if bid_px else None), (ask_px[0] if ask_px else None), None
        bid = bid_px[-1]
        ask = ask_px[0]
        if bid is self._mid_bid and ask is self._mid_ask:  # _mid_of, inlined: this runs every frame
            return bid, ask, self._mid
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
        return self.top()[2]

    @property
    def bid_levels(self) -> int:
        return len(self._bids.keys)

    @property
    def ask_levels(self) -> int:
        return len(self._asks.keys)

    def levels(self, side: str, n: int) -> list[Level]:
        """The best `n` levels of one side ("bid", or "ask"/"offer"), best first."""
        if side == "bid":
            bids = self._bids
            return _levels(islice(reversed(bids.prices), n), islice(reversed(bids.sizes), n), None)
        if side in ("ask", "offer"):
            asks = self._asks
            return _levels(islice(asks.prices, n), islice(asks.sizes, n), None)
        raise ValueError(f"side must be 'bid' or 'ask', not {side!r}")

    def band(
        self, fraction: Decimal, base_units: bool = False
    ) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        """Levels within `fraction * mid` of each best price: bids in [best_bid - f*mid, best_bid],
        asks in [best_ask, best_ask + f*mid], best first; sizes in base units (times
        `base_factor`) when `base_units` is asked of a book that has a factor.

        With one side empty the reference is the other side's best price; empty when both are.
        """
        bid_px = self._bids.prices
        ask_px = self._asks.prices
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
            out_bids = tuple(_levels(reversed(bid_px[lo:]), reversed(self._bids.sizes[lo:]), factor))
        if ask_px:
            hi = bisect_right(ask_px, ask_px[0] + width)
            out_asks = tuple(_levels(ask_px[:hi], self._asks.sizes[:hi], factor))
        return out_bids, out_asks


def _levels(prices: Iterable[Decimal], sizes: Iterable[str], factor: Decimal | None) -> list[Level]:
    if factor is None:
        return [(price, Decimal(size)) for price, size in zip(prices, sizes)]
    return [(price, Decimal(size) * factor) for price, size in zip(prices, sizes)]
