"""The portfolio ledger: positions, realized and unrealized PnL, fees, funding and equity.

Owns the account's positions and money, built only from fills, marks and funding payments.
Must never decide trades, talk to a venue, or read the clock (times come in as arguments).

One accounting for spot and perpetuals (mark-to-market, as a futures account does it):

    equity     = starting_cash + realized_pnl - fees + funding + unrealized_pnl
    cash       = starting_cash + realized_pnl - fees + funding
    unrealized = sum over positions of (mark - entry) x size x contract_size

`size` is signed in venue units (negative = short), so the formula gives shorts the right sign.
For spot this equals the cash-and-holdings view (cash after paying for the coins plus their value
at the mark); the ledger simply does not move notional through `cash`.

Positions use a weighted-average entry, kept as an exact signed cost basis (sum of size x price).
Reducing realizes (fill price - entry) on the closed quantity; a fill through zero closes the whole
position (realized) and opens the remainder at the fill price. The one inexact step is releasing a
proportional share of the cost basis on a partial close (a division, at Decimal's 28 digits).
"""

from __future__ import annotations

import math
from decimal import Decimal

import msgspec

from domain.margin import liquidation_price, maintenance_margin
from domain.orders import Fill
from domain.products import ProductSpec

_ZERO = Decimal(0)


class Position(msgspec.Struct, frozen=True):
    product_id: str
    size: Decimal  # signed venue units
    entry: Decimal  # weighted-average entry price (0 when flat)


class _Book:
    """Mutable per-product state inside the ledger."""

    __slots__ = ("size", "cost", "realized_pnl", "funding")

    def __init__(self) -> None:
        self.size = _ZERO
        self.cost = _ZERO  # signed: sum of size x price over the open quantity
        self.realized_pnl = _ZERO  # this product's share of the ledger's totals
        self.funding = _ZERO

    @property
    def entry(self) -> Decimal:
        return self.cost / self.size if self.size else _ZERO


class Ledger:
    """Single owner: the portfolio actor. Every fill is applied at most once (by trade id)."""

    def __init__(self, starting_cash: Decimal, products: dict[str, ProductSpec]) -> None:
        self.starting_cash = starting_cash
        self._specs = dict(products)
        self._books = {pid: _Book() for pid in self._specs}
        self._marks: dict[str, Decimal] = {}
        self._seen: dict[tuple[str, str, str], tuple[Decimal, float]] = {}  # applied fill -> (signed size, ts)
        self._adopted: dict[str, Decimal] = {}  # per product, what adopt() changed
        self._funding_slot: dict[str, int] = {}
        self._funding_settled: set[tuple[str, int]] = set()  # (product, slot) settled or restored
        self.realized_pnl = _ZERO
        self.fees = _ZERO
        self.funding = _ZERO
        self.duplicate_fills = 0
        self.peak_equity = starting_cash

    # -- inputs ----------------------------------------------------------------------------

    def on_fill(self, fill: Fill) -> bool:
        """Apply a fill. False if this trade was already applied (nothing changes)."""
        # A self-trade gives both of our sides the same trade id, hence the side in the key.
        key = (fill.product_id, fill.trade_id, fill.side)
        if key in self._seen:
            self.duplicate_fills += 1
            return False
        spec = self._spec(fill.product_id)
        if fill.side not in ("BUY", "SELL") or not fill.size > 0:
            raise ValueError(f"bad fill {fill.trade_id}: side {fill.side!r}, size {fill.size}")
        book = self._books[fill.product_id]
        delta = fill.size if fill.side == "BUY" else -fill.size
        self._seen[key] = (delta, fill.ts)
        if book.size == 0 or (book.size > 0) == (delta > 0):
            book.cost += delta * fill.price
        else:
            closed = min(abs(delta), abs(book.size))  # quantity closed, >= 0
            if closed == abs(book.size):
                released = book.cost
            else:
                released = book.cost * closed / abs(book.size)
            # Closing `closed` units of a long at p realizes (p x closed - released cost); the
            # same expression with signs is right for a short (released is negative there).
            sign = 1 if book.size > 0 else -1
            realized = (fill.price * closed * sign - released) * spec.contract_size
            self.realized_pnl += realized
            book.realized_pnl += realized
            book.cost -= released
            remainder = abs(delta) - closed  # opens on the other side at the fill price
            if remainder > 0:
                book.cost = (remainder if delta > 0 else -remainder) * fill.price
        book.size += delta
        if book.size == 0:
            book.cost = _ZERO
        self.fees += fill.fee
        self._marks.setdefault(fill.product_id, fill.price)
        self._observe_equity()
        return True

    def on_mark(self, product_id: str, mark: Decimal) -> None:
        self._spec(product_id)
        self._marks[product_id] = mark
        if self._books[product_id].size:
            self._observe_equity()

    def _observe_equity(self) -> None:
        equity = self.equity
        if equity > self.peak_equity:
            self.peak_equity = equity

    def apply_funding(self, product_id: str, rate: Decimal, mark: Decimal, slot: int | None = None) -> Decimal:
        """Settle one funding interval: payment = -(size x contract_size x mark x rate).
        A positive rate makes longs pay and shorts receive. Returns the payment (0 for spot, and
        for a `slot` already settled)."""
        spec = self._spec(product_id)
        if not spec.is_perpetual:
            return _ZERO
        if slot is not None:
            if (product_id, slot) in self._funding_settled:
                return _ZERO
            self._funding_settled.add((product_id, slot))
        book = self._books[product_id]
        payment = -(book.size * spec.contract_size * mark * rate)
        self.funding += payment
        book.funding += payment
        return payment

    def adopt(self, product_id: str, size: Decimal, price: Decimal) -> Decimal:
        """Take the venue's size where reconciliation found ours different (an operator's `ctl
        resume --accept-venue`): no PnL is realized; a position that keeps its side keeps its
        entry, one that opens or changes side enters at `price` (the mark). Returns the change."""
        self._spec(product_id)
        book = self._books[product_id]
        change = size - book.size
        if change:
            self._adopted[product_id] = self._adopted.get(product_id, _ZERO) + change
            entry = book.entry if book.size and (book.size > 0) == (size > 0) else price
            book.size, book.cost = size, size * entry
            self._observe_equity()
        return change

    def restore_funding(self, product_id: str, slot: int, payment: Decimal) -> bool:
        """A settlement recorded before a restart: counted once, and never settled again."""
        self._spec(product_id)
        if (product_id, slot) in self._funding_settled:
            return False
        self._funding_settled.add((product_id, slot))
        self.funding += payment
        self._books[product_id].funding += payment
        last = self._funding_slot.get(product_id)
        self._funding_slot[product_id] = slot if last is None else max(last, slot)
        return True

    def funding_slot(self, product_id: str, now: float) -> int:
        """The epoch-aligned funding interval `now` falls in."""
        return math.floor(now / self._spec(product_id).funding_interval_s)

    def funding_due(self, now: float) -> list[str]:
        """Perpetuals whose funding time has passed since the last call: funding settles at each
        epoch-aligned multiple of the product's interval (the top of each hour for 3600 s), once
        per interval however often this is called. The first call only sets the baseline, so a
        ledger started mid-hour first pays at the next top of the hour."""
        due: list[str] = []
        for pid, spec in self._specs.items():
            if not spec.is_perpetual or spec.funding_interval_s <= 0:
                continue
            slot = math.floor(now / spec.funding_interval_s)
            last = self._funding_slot.get(pid)
            self._funding_slot[pid] = slot if last is None else max(last, slot)
            if last is not None and slot > last:
                due.append(pid)
        return due

    # -- views -----------------------------------------------------------------------------

    @property
    def positions(self) -> dict[str, Position]:
        """Open positions (non-zero size) by product."""
        return {
            pid: Position(product_id=pid, size=b.size, entry=b.entry)
            for pid, b in self._books.items()
            if b.size != 0
        }

    def sizes_as_of(self, listed: set[tuple[str, str, str]], cutoff: float) -> dict[str, Decimal]:
        """Signed size per product as of a venue snapshot that listed the fills `listed` and was
        read by `cutoff`: an applied fill it does not list counts only if it is no newer than the
        cutoff (so it should have been listed: it is not the venue's), and adoptions count."""
        sizes = dict(self._adopted)
        for key, (delta, ts) in self._seen.items():
            if key in listed or ts <= cutoff:
                sizes[key[0]] = sizes.get(key[0], _ZERO) + delta
        return sizes

    def position_sizes(self) -> dict[str, Decimal]:
        """Signed sizes of open positions, the shape `CrossoverCore.on_portfolio` takes."""
        return {pid: b.size for pid, b in self._books.items() if b.size != 0}

    def mark(self, product_id: str) -> Decimal | None:
        """The last mark, or the first fill price if no mark has arrived yet."""
        return self._marks.get(product_id)

    @property
    def unrealized_pnl(self) -> Decimal:
        total = _ZERO
        for pid, book in self._books.items():
            mark = self._marks.get(pid)
            if book.size and mark is not None:
                total += (mark * book.size - book.cost) * self._specs[pid].contract_size
        return total

    @property
    def cash(self) -> Decimal:
        return self.starting_cash + self.realized_pnl - self.fees + self.funding

    @property
    def equity(self) -> Decimal:
        return self.cash + self.unrealized_pnl

    @property
    def gross_exposure(self) -> Decimal:
        """Sum of |size x contract_size x mark| over positions, in quote currency."""
        total = _ZERO
        for pid, book in self._books.items():
            mark = self._marks.get(pid)
            if book.size and mark is not None:
                total += abs(self._specs[pid].notional(book.size, mark))
        return total

    def exposure(self, product_id: str) -> Decimal:
        """|notional| of one product's position at its mark (0 when flat or unmarked)."""
        book, mark = self._books[product_id], self._marks.get(product_id)
        if not book.size or mark is None:
            return _ZERO
        return abs(self._specs[product_id].notional(book.size, mark))

    @property
    def leverage(self) -> Decimal:
        """Gross exposure / equity; infinite when there is exposure and no positive equity."""
        gross, equity = self.gross_exposure, self.equity
        if gross == 0:
            return _ZERO
        if equity <= 0:
            return Decimal("Infinity")
        return gross / equity

    @property
    def drawdown(self) -> Decimal:
        """Fall of equity from its highest point, as a fraction of that point (0 at a new high)."""
        peak = self.peak_equity
        return max(_ZERO, (peak - self.equity) / peak) if peak > 0 else _ZERO

    def _margins(self, rate_of: str) -> Decimal:
        total = _ZERO
        for pid, book in self._books.items():
            mark = self._marks.get(pid)
            if book.size and mark is not None:
                spec = self._specs[pid]
                total += abs(spec.notional(book.size, mark)) * getattr(spec, rate_of)
        return total

    @property
    def margin_used(self) -> Decimal:
        """Initial margin of the open positions at their marks (spot: its whole value)."""
        return self._margins("initial_margin_rate")

    @property
    def maintenance_margin(self) -> Decimal:
        return self._margins("maintenance_margin_rate")

    @property
    def margin_available(self) -> Decimal:
        return self.equity - self.margin_used

    def product_pnl(self, product_id: str) -> tuple[Decimal, Decimal]:
        """(realized PnL, funding) of one product since the ledger started."""
        book = self._books[product_id]
        return book.realized_pnl, book.funding

    def liquidation_price(self, product_id: str) -> Decimal | None:
        """The mark at which equity would fall to the maintenance margin, other marks unchanged
        (cross margin); None when flat, unmarked, not liquidatable, or no positive price does it.
        The formula is the one the pre-trade gate projects with (domain.margin)."""
        spec = self._spec(product_id)
        size, mark = self._books[product_id].size, self._marks.get(product_id)
        if not size or mark is None:
            return None
        others = self.maintenance_margin - maintenance_margin(spec, size, mark)
        return liquidation_price(spec, size, mark, self.equity, others)

    def _spec(self, product_id: str) -> ProductSpec:
        spec = self._specs.get(product_id)
        if spec is None:
            raise ValueError(f"unknown product {product_id!r}")
        return spec
