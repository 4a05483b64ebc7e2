"""The pure core of the market data actor: one L2 book and one bar builder per product.

Owns: the books (applying level2 messages, invalidating on gaps and corruption), the bars, the
mark (mid while the book is valid), staleness, each product's latest `status` channel entry and
whether that makes it tradable, and per-product counters.
Must never: do I/O, read a clock (`now` and message timestamps are the time), use floats for
money, or raise on bad venue data (a bad level invalidates the book until its next snapshot).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Union

from actors.market_data.bars import BarBuilder
from actors.market_data.book import BookCorrupt, L2Book
from domain.market import Bar, BookStatus, BookView, L2Update, ProductStatus, ProductTradability, StreamGap, TradePrint
from domain.products import ProductSpec
from domain.staleness import stale

Out = Union[BookStatus, Bar]

_ONE = Decimal(1)

ONLINE = "online"


def status_is_tradable(status: str) -> bool:
    """Only an "online" product takes new risk; "offline", "internal", "delisted", an empty
    status and any value Coinbase adds later do not."""
    return status.strip().lower() == ONLINE


class _Status:
    """A product's latest `status` channel entry and the increment mismatches seen."""

    __slots__ = ("status", "status_message", "ts", "increment_mismatches")

    def __init__(self) -> None:
        self.status = ""
        self.status_message = ""
        self.ts = 0.0
        self.increment_mismatches = 0  # status entries whose increments differ from the ProductSpec


class _Product:
    __slots__ = (
        "spec", "book", "bars", "updated_at", "last_trade_at", "snapshots", "resyncs",
        "updates_applied", "dropped_before_snapshot", "corruptions", "bad_trades",
    )  # fmt: skip

    def __init__(self, spec: ProductSpec, bar_interval_s: float) -> None:
        self.spec = spec
        self.book = L2Book(spec.product_id, None if spec.contract_size == _ONE else spec.contract_size)
        self.bars = BarBuilder(spec.product_id, bar_interval_s)
        self.updated_at: float | None = None  # clock time of the last applied change
        self.last_trade_at: float | None = None
        self.snapshots = 0
        self.resyncs = 0  # snapshots after the first
        self.updates_applied = 0
        self.dropped_before_snapshot = 0  # updates that arrived while the book was invalid
        self.corruptions = 0  # crossed/locked books and unreadable levels
        self.bad_trades = 0


class MarketDataCore:
    """Routes level2, trade and gap messages to each product's book and bars."""

    def __init__(
        self,
        products: dict[str, ProductSpec],
        bar_interval_s: float,
        stale_after_s: float,
        view_band: Decimal = Decimal("0.05"),
    ) -> None:
        self.stale_after_s = stale_after_s
        self.view_band = view_band
        self._products = {pid: _Product(spec, bar_interval_s) for pid, spec in products.items()}
        self.unknown_products = 0
        self._statuses: dict[str, _Status] = {}  # only products a status entry named

    # ------------------------------------------------------------ inputs

    def on_l2(self, msg: L2Update) -> list[Out]:
        """Apply one level2 event: bars closed by the time advancing, then a BookStatus if the
        book changed (or became invalid)."""
        p = self._products.get(msg.product_id)
        if p is None:
            self.unknown_products += 1
            return []
        book = p.book
        bars = p.bars
        ts = msg.ts
        recv_ns = msg.recv_ns
        try:
            if not book.apply(msg.levels, msg.is_snapshot, msg.plain):
                p.dropped_before_snapshot += 1
                return bars.advance(ts, recv_ns)  # type: ignore[return-value]
            if msg.is_snapshot:
                p.snapshots += 1
                if p.snapshots > 1:
                    p.resyncs += 1
            else:
                p.updates_applied += 1
        except BookCorrupt:
            pass  # the book invalidated itself
        p.updated_at = ts
        out: list[Out]
        if not book.valid:
            p.corruptions += 1
            out = bars.advance(ts, recv_ns)  # type: ignore[assignment]
            out.append(self._status(p, recv_ns))
            return out
        best_bid, best_ask, mark = book.top()
        # on_mid closes the bars `ts` ends before it takes the mid, as advance would
        out = bars.advance(ts, recv_ns) if mark is None else bars.on_mid(mark, ts, recv_ns)  # type: ignore[assignment]
        out.append(BookStatus(p.spec.product_id, True, best_bid, best_ask, mark, ts or 0.0, recv_ns))
        return out

    def on_trade(self, msg: TradePrint) -> list[Bar]:
        """Add a trade to its product's bars (volume in base units); returns the bars it closed."""
        p = self._products.get(msg.product_id)
        if p is None:
            self.unknown_products += 1
            return []
        try:
            price = Decimal(msg.price)
            size = Decimal(msg.size)
            if not (price.is_finite() and size.is_finite()) or price <= 0 or size < 0:
                raise InvalidOperation
        except InvalidOperation:
            p.bad_trades += 1
            return p.bars.advance(msg.ts, msg.recv_ns)
        p.last_trade_at = msg.ts
        if p.spec.contract_size != _ONE:
            size = p.spec.base_units(size)
        return p.bars.on_trade(price, size, msg.ts, msg.recv_ns)

    def on_gap(self, msg: StreamGap) -> list[BookStatus]:
        """Frames were lost: the named books are invalid until their next snapshot."""
        out: list[BookStatus] = []
        for pid in msg.product_ids:
            p = self._products.get(pid)
            if p is None:
                continue
            p.book.invalidate()
            out.append(self._status(p, 0))
        return out

    def on_status(self, msg: ProductStatus) -> tuple[ProductTradability | None, str | None]:
        """Record a product's status entry: (its tradability to publish, a warning to log the first
        time its increments differ from the ProductSpec, else None).

        Differing increments are counted, never applied: orders keep the rules they started with
        rather than being re-quantized mid-run.
        """
        p = self._products.get(msg.product_id)
        if p is None:
            self.unknown_products += 1
            return None, None
        st = self._statuses.get(msg.product_id)
        if st is None:
            st = self._statuses[msg.product_id] = _Status()
        st.status = msg.status
        st.status_message = msg.status_message
        st.ts = msg.ts
        warning = None
        differences = _increment_differences(p.spec, msg)
        if differences:
            st.increment_mismatches += 1
            if st.increment_mismatches == 1:
                warning = f"{msg.product_id}: status increments differ from the product rules in use " \
                          f"({'; '.join(differences)}); keeping the product rules"
        return self._tradability(msg.product_id, st), warning

    def _tradability(self, product_id: str, st: _Status) -> ProductTradability:
        return ProductTradability(product_id, status_is_tradable(st.status), st.status, st.status_message, st.ts)

    def _status(self, p: _Product, recv_ns: int) -> BookStatus:
        book = p.book
        if not book.valid:
            return BookStatus(p.spec.product_id, False, None, None, None, p.updated_at or 0.0, recv_ns)
        best_bid, best_ask, mark = book.top()
        return BookStatus(p.spec.product_id, True, best_bid, best_ask, mark, p.updated_at or 0.0, recv_ns)

    # ------------------------------------------------------------ queries

    def view(self, product_id: str) -> BookView:
        """Levels within `view_band` of the best prices, sizes in base units, best first."""
        p = self._products[product_id]
        ts = p.updated_at or 0.0
        if not p.book.valid:
            return BookView(product_id, False, (), (), ts)
        bids, asks = p.book.band(self.view_band, base_units=True)
        return BookView(product_id, True, bids, asks, ts)

    def is_stale(self, product_id: str, now: float) -> bool:
        """True when the book is invalid or has not changed for more than stale_after_s."""
        p = self._products.get(product_id)
        return p is None or stale(p.book.valid, p.updated_at, now, self.stale_after_s)

    def is_tradable(self, product_id: str) -> bool:
        """False once a status entry said anything but "online"; True before any status entry."""
        st = self._statuses.get(product_id)
        return st is None or status_is_tradable(st.status)

    def tradabilities(self) -> list[ProductTradability]:
        """The tradability of every product a status entry has named."""
        return [self._tradability(pid, st) for pid, st in self._statuses.items()]

    def book(self, product_id: str) -> L2Book:
        return self._products[product_id].book

    def report(self, product_id: str) -> dict[str, Any]:
        p = self._products[product_id]
        st = self._statuses.get(product_id)
        book = p.book
        bid = book.best_bid
        ask = book.best_ask
        return {
            "valid": book.valid,
            "best_bid": bid[0] if bid is not None else None,
            "best_ask": ask[0] if ask is not None else None,
            "mark": book.mid if book.valid else None,
            "bid_levels": book.bid_levels,
            "ask_levels": book.ask_levels,
            "resyncs": p.resyncs,
            "snapshots": p.snapshots,
            "updates_applied": p.updates_applied,
            "dropped_before_snapshot": p.dropped_before_snapshot,
            "corruptions": p.corruptions,
            "bad_trades": p.bad_trades,
            "updated_at": p.updated_at,
            "last_trade_at": p.last_trade_at,
            "status": st.status if st is not None else None,
            "status_increment_mismatches": st.increment_mismatches if st is not None else 0,
        }


def _increment_differences(spec: ProductSpec, msg: ProductStatus) -> list[str]:
    """Each increment the status entry states that differs numerically from `spec`'s."""
    out = []
    for name, wire, ours in (("base_increment", msg.base_increment, spec.base_increment),
                             ("quote_increment", msg.quote_increment, spec.quote_increment)):
        if not wire:
            continue  # not stated
        try:
            same = Decimal(wire) == ours
        except InvalidOperation:  # unreadable (or a signalling NaN)
            same = False
        if not same:
            out.append(f"{name} {wire!r}, ours {ours}")
    return out
