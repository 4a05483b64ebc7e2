"""A price-time priority limit order book for one product, with matching.

Owns the resting orders of one product and decides trades: fills happen at the resting (maker)
price, best price first and oldest order first within a price; an order never trades with a resting
order of the same owner (it skips over it). Shared by the built-in exchange (the synthetic market and
our orders in one book) and the paper venue (the mirrored market and our orders).

Must never know about wire formats, fees, clocks or threads: callers convert strings to Decimal,
stamp times and turn trades into messages. Not thread-safe: one owner drives it.

Complexity: a submit touches only the levels it crosses (each O(log L) to find) and the orders it
trades with; cancel and amend are O(1) plus O(log L) when a level appears or disappears.
"""

from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal
from typing import Iterator

import msgspec
from sortedcontainers import SortedDict

BUY = "BUY"
SELL = "SELL"
BID = "bid"
OFFER = "offer"

OPEN = "OPEN"
FILLED = "FILLED"
CANCELLED = "CANCELLED"
REJECTED = "REJECTED"

POST_ONLY_CROSSES = "INVALID_LIMIT_PRICE_POST_ONLY"
INVALID_SIZE = "INVALID_SIZE"
INVALID_PRICE = "INVALID_LIMIT_PRICE"
INVALID_SIDE = "INVALID_SIDE"
INVALID_ORDER_TYPE = "INVALID_ORDER_TYPE"
INVALID_TIF = "INVALID_TIME_IN_FORCE"
DUPLICATE_ORDER_ID = "DUPLICATE_ORDER_ID"
FOK_NOT_FILLABLE = "FOK_NOT_FILLABLE"

_ZERO = Decimal(0)


class Trade(msgspec.Struct, frozen=True):
    """One match between a resting (maker) order and an incoming (taker) order."""

    trade_id: str
    maker_order_id: str
    taker_order_id: str
    maker_owner: str
    taker_owner: str
    price: Decimal
    size: Decimal
    aggressor_side: str  # side of the taker: "BUY" / "SELL"


class SubmitResult(msgspec.Struct, frozen=True):
    """Outcome of one submit.

    status: OPEN (rests, possibly partly filled), FILLED, CANCELLED (IOC/FOK/market remainder
    dropped, with or without fills) or REJECTED (nothing happened; see reject_reason).
    """

    order_id: str
    status: str
    trades: tuple[Trade, ...]
    filled: Decimal
    remaining: Decimal
    reject_reason: str = ""


class RestingOrder(msgspec.Struct, frozen=True):
    """Read-only view of a resting order at the moment it was asked for."""

    order_id: str
    owner: str
    side: str  # "BUY" / "SELL"
    price: Decimal
    remaining: Decimal
    size: Decimal  # original size (adjusted by amend_size so that size - remaining = filled)


class _Order:
    __slots__ = ("order_id", "owner", "side", "price", "size", "remaining")

    def __init__(
        self, order_id: str, owner: str, side: str, price: Decimal, size: Decimal, remaining: Decimal
    ) -> None:
        self.order_id = order_id
        self.owner = owner
        self.side = side
        self.price = price
        self.size = size
        self.remaining = remaining

    def view(self) -> RestingOrder:
        return RestingOrder(
            order_id=self.order_id,
            owner=self.owner,
            side=self.side,
            price=self.price,
            remaining=self.remaining,
            size=self.size,
        )


class _Level:
    """The FIFO queue at one price. OrderedDict gives O(1) removal from anywhere in the queue."""

    __slots__ = ("orders", "total")

    def __init__(self) -> None:
        self.orders: OrderedDict[str, _Order] = OrderedDict()
        self.total = _ZERO


def _book_side(side: str) -> str:
    return BID if side == BUY else OFFER


class MatchingEngine:
    """The order book and matcher of one product. See the module docstring for the rules."""

    def __init__(self, product_id: str, trade_id_prefix: str = "", track_changes: bool = True) -> None:
        self.product_id = product_id
        self._trade_id_prefix = trade_id_prefix
        self._trade_seq = 0
        self._track_changes = track_changes
        # price -> level; bids best = highest (last), offers best = lowest (first)
        self._bids: SortedDict = SortedDict()
        self._offers: SortedDict = SortedDict()
        self._orders: dict[str, _Order] = {}
        self._by_owner: dict[str, dict[str, _Order]] = {}
        # (book side, price) in first-change order since the last drain
        self._changed: dict[tuple[str, Decimal], None] = {}

    # ----------------------------------------------------------------- orders in

    def submit(
        self,
        order_id: str,
        owner: str,
        side: str,
        size: Decimal,
        order_type: str = "limit",
        limit_price: Decimal | None = None,
        post_only: bool = False,
        tif: str = "GTC",
    ) -> SubmitResult:
        """Match an incoming order, then rest (GTC limit) or drop (market, IOC, FOK) the remainder.

        Rejections leave the book untouched. A duplicate is an id that is currently resting.
        """
        reason = self._validate(order_id, side, size, order_type, limit_price, post_only, tif)
        if not reason and post_only and self._crosses(side, limit_price):
            reason = POST_ONLY_CROSSES
        if not reason and tif == "FOK" and self._fillable(owner, side, size, limit_price) < size:
            reason = FOK_NOT_FILLABLE
        if reason:
            return SubmitResult(order_id, REJECTED, (), _ZERO, size, reason)

        trades = self._match(order_id, owner, side, size, limit_price)
        filled = sum((t.size for t in trades), _ZERO)
        remaining = size - filled
        if remaining == 0:
            status = FILLED
        elif order_type == "limit" and tif == "GTC":
            assert limit_price is not None
            self._rest(_Order(order_id, owner, side, limit_price, size, remaining))
            status = OPEN
        else:
            status = CANCELLED
        return SubmitResult(order_id, status, tuple(trades), filled, remaining)

    def cancel(self, order_id: str) -> Decimal | None:
        """Remove a resting order; returns the size cancelled, None if it is not resting."""
        order = self._orders.get(order_id)
        if order is None:
            return None
        self._unrest(order)
        return order.remaining

    def amend_size(self, order_id: str, new_remaining: Decimal) -> None:
        """Set a resting order's remaining size in place (queue position kept); <= 0 removes it.

        Unknown ids are ignored. The order's `size` moves by the same amount so filled is unchanged.
        """
        order = self._orders.get(order_id)
        if order is None:
            return
        if new_remaining <= 0:
            self._unrest(order)
            return
        delta = new_remaining - order.remaining
        if delta == 0:
            return
        order.remaining = new_remaining
        order.size += delta
        level = self._side_book(order.side)[order.price]
        level.total += delta
        self._mark(order.side, order.price)

    # ----------------------------------------------------------------- queries

    def best_bid(self) -> Decimal | None:
        return self._bids.peekitem(-1)[0] if self._bids else None

    def best_ask(self) -> Decimal | None:
        return self._offers.peekitem(0)[0] if self._offers else None

    def levels(self, side: str, depth: int | None = None) -> list[tuple[Decimal, Decimal]]:
        """Aggregated (price, total size) of side "bid"/"offer", best first, all owners."""
        out: list[tuple[Decimal, Decimal]] = []
        for price, level in self._iter_levels(self._book_of(side), side == BID):
            if depth is not None and len(out) >= depth:
                break
            out.append((price, level.total))
        return out

    def level_size(self, side: str, price: Decimal) -> Decimal:
        level = self._book_of(side).get(price)
        return level.total if level is not None else _ZERO

    def order(self, order_id: str) -> RestingOrder | None:
        order = self._orders.get(order_id)
        return order.view() if order is not None else None

    def resting_orders(self, owner: str | None = None) -> list[RestingOrder]:
        """Resting orders (of one owner, or all) in the order they came to rest."""
        source = self._orders if owner is None else self._by_owner.get(owner, {})
        return [o.view() for o in source.values()]

    def owns_resting(self, owner: str) -> bool:
        """Whether `owner` has any order resting (O(1))."""
        return bool(self._by_owner.get(owner))

    def queue(self, side: str, price: Decimal) -> list[RestingOrder]:
        """The orders at one level, front of the queue first."""
        level = self._book_of(side).get(price)
        return [o.view() for o in level.orders.values()] if level is not None else []

    def drain_changes(self) -> list[tuple[str, Decimal, Decimal]]:
        """(side, price, new aggregate size; 0 = gone) per level changed since the last drain.

        One entry per level, in the order levels first changed; a level that changed and came back
        to its old size is still reported (a harmless repeat of the current size).
        """
        out = [(side, price, self.level_size(side, price)) for side, price in self._changed]
        self._changed.clear()
        return out

    # ----------------------------------------------------------------- internals

    def _validate(
        self,
        order_id: str,
        side: str,
        size: Decimal,
        order_type: str,
        limit_price: Decimal | None,
        post_only: bool,
        tif: str,
    ) -> str:
        if side not in (BUY, SELL):
            return INVALID_SIDE
        if order_type not in ("limit", "market"):
            return INVALID_ORDER_TYPE
        if tif not in ("GTC", "IOC", "FOK"):
            return INVALID_TIF
        if not size > 0:
            return INVALID_SIZE
        if order_type == "limit" and (limit_price is None or not limit_price > 0):
            return INVALID_PRICE
        if order_type == "market" and post_only:
            return INVALID_ORDER_TYPE
        if order_id in self._orders:
            return DUPLICATE_ORDER_ID
        return ""

    def _side_book(self, side: str) -> SortedDict:
        return self._bids if side == BUY else self._offers

    def _book_of(self, book_side: str) -> SortedDict:
        if book_side == BID:
            return self._bids
        if book_side == OFFER:
            return self._offers
        raise ValueError(f"book side must be 'bid' or 'offer', not {book_side!r}")

    @staticmethod
    def _iter_levels(book: SortedDict, descending: bool) -> Iterator[tuple[Decimal, _Level]]:
        """Levels best first. The caller must not add or remove levels while iterating."""
        keys = reversed(book.keys()) if descending else iter(book.keys())
        for price in keys:
            yield price, book[price]

    def _crosses(self, side: str, limit_price: Decimal | None) -> bool:
        if side == BUY:
            best = self.best_ask()
            return best is not None and (limit_price is None or best <= limit_price)
        best = self.best_bid()
        return best is not None and (limit_price is None or best >= limit_price)

    def _opposite_levels(
        self, side: str, limit_price: Decimal | None
    ) -> Iterator[tuple[Decimal, _Level]]:
        """Opposite-side levels an order of `side` at `limit_price` may trade with, best first."""
        if side == BUY:
            for price, level in self._iter_levels(self._offers, descending=False):
                if limit_price is not None and price > limit_price:
                    return
                yield price, level
        else:
            for price, level in self._iter_levels(self._bids, descending=True):
                if limit_price is not None and price < limit_price:
                    return
                yield price, level

    def _fillable(self, owner: str, side: str, size: Decimal, limit_price: Decimal | None) -> Decimal:
        """How much of `size` could trade now (stops counting once it reaches size)."""
        total = _ZERO
        for _, level in self._opposite_levels(side, limit_price):
            for maker in level.orders.values():
                if maker.owner != owner:
                    total += maker.remaining
                    if total >= size:
                        return total
        return total

    def _match(
        self, order_id: str, owner: str, side: str, size: Decimal, limit_price: Decimal | None
    ) -> list[Trade]:
        trades: list[Trade] = []
        remaining = size
        emptied: list[Decimal] = []
        maker_side = SELL if side == BUY else BUY
        for price, level in self._opposite_levels(side, limit_price):
            done: list[_Order] = []
            touched = False
            for maker in level.orders.values():
                if maker.owner == owner:
                    continue
                touched = True
                qty = maker.remaining if maker.remaining < remaining else remaining
                maker.remaining -= qty
                level.total -= qty
                remaining -= qty
                self._trade_seq += 1
                trades.append(
                    Trade(
                        trade_id=f"{self._trade_id_prefix}{self._trade_seq}",
                        maker_order_id=maker.order_id,
                        taker_order_id=order_id,
                        maker_owner=maker.owner,
                        taker_owner=owner,
                        price=price,
                        size=qty,
                        aggressor_side=side,
                    )
                )
                if maker.remaining == 0:
                    done.append(maker)
                if remaining == 0:
                    break
            if touched:
                self._mark(maker_side, price)
            if done:
                for maker in done:
                    del level.orders[maker.order_id]
                    del self._orders[maker.order_id]
                    del self._by_owner[maker.owner][maker.order_id]
                if not level.orders:
                    emptied.append(price)
            if remaining == 0:
                break
        book = self._side_book(maker_side)
        for price in emptied:
            del book[price]
        return trades

    def _rest(self, order: _Order) -> None:
        book = self._side_book(order.side)
        level = book.get(order.price)
        if level is None:
            level = _Level()
            book[order.price] = level
        level.orders[order.order_id] = order
        level.total += order.remaining
        self._orders[order.order_id] = order
        self._by_owner.setdefault(order.owner, {})[order.order_id] = order
        self._mark(order.side, order.price)

    def _unrest(self, order: _Order) -> None:
        book = self._side_book(order.side)
        level = book[order.price]
        del level.orders[order.order_id]
        level.total -= order.remaining
        if not level.orders:
            del book[order.price]
        del self._orders[order.order_id]
        del self._by_owner[order.owner][order.order_id]
        self._mark(order.side, order.price)

    def _mark(self, side: str, price: Decimal) -> None:
        if self._track_changes:
            self._changed[(_book_side(side), price)] = None
