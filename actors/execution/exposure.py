"""What the pre-trade gate counts as held: portfolio's positions, the fills on their way to it, and
the open size of execution's own live orders.

Owns the positions and marks portfolio last published, the fills execution forwarded since that
the update had not applied yet (matched by the `last_fill` key each PortfolioUpdate carries; a
restarted portfolio, a new `epoch`, rebuilt itself from the venue and confirms them all), and the
sums the gate reads from them: the position of a product, the unfilled size of live orders on a
side, the other products' gross exposure and maintenance margin at their worst side. So a fill on
its way from the live orders to the position is still counted, and orders sent in a row
are judged together. Pure: execution's actor feeds it and reads it. Must never size an order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from actors.execution.orders import OrderRecord
from domain.margin import maintenance_margin
from domain.orders import Fill
from domain.portfolio import PortfolioUpdate
from domain.products import ProductSpec

_ZERO = Decimal(0)
FillKey = tuple[str, str, str]  # (product, trade id, side): portfolio's ledger key


class Exposure:
    def __init__(self, products: dict[str, ProductSpec]) -> None:
        self.products = products
        self.equity = _ZERO
        self.positions: dict[str, Decimal] = {}  # as portfolio last published them
        self.marks: dict[str, Decimal] = {}
        self.unconfirmed: dict[FillKey, tuple[str, Decimal]] = {}  # oldest first
        self.portfolio_epoch: int | None = None

    def forwarded(self, fill: Fill) -> None:
        """A fill sent on to portfolio: counted until an update says portfolio applied it."""
        delta = fill.size if fill.side == "BUY" else -fill.size
        self.unconfirmed[(fill.product_id, fill.trade_id, fill.side)] = (fill.product_id, delta)

    def on_portfolio(self, update: PortfolioUpdate) -> None:
        self.equity = update.equity
        self.positions = dict(update.positions)
        self.marks = dict(update.marks)
        if self.portfolio_epoch is None:
            self.portfolio_epoch = update.epoch
        if update.epoch != self.portfolio_epoch:
            # A restarted portfolio rebuilt itself from the venue, which has every fill we forwarded
            # to the one before it; what it lost in its mailbox is in its positions now.
            self.portfolio_epoch = update.epoch
            self.unconfirmed.clear()
        elif update.last_fill in self.unconfirmed:
            unconfirmed = self.unconfirmed
            for key in list(unconfirmed):  # applied in the order we forwarded them
                del unconfirmed[key]
                if key == update.last_fill:
                    break

    def position(self, product_id: str) -> Decimal:
        """Portfolio's position plus the fills forwarded that it has not applied yet."""
        position = self.positions.get(product_id, _ZERO)
        for pid, delta in self.unconfirmed.values():
            if pid == product_id:
                position += delta
        return position

    @staticmethod
    def open_size(live: Iterable[OrderRecord], product_id: str, side: str) -> Decimal:
        """Unfilled size of this product's live orders on `side`."""
        return sum((max(_ZERO, r.size - r.filled_size) for r in live if r.product_id == product_id and r.side == side),
                   _ZERO)

    def open_reducing(self, live: Iterable[OrderRecord], product_id: str) -> Decimal:
        """Unfilled size of the live orders that shrink this product's position: a reduce-only
        order must leave room for them, or together they could flip it."""
        position = self.position(product_id)
        return self.open_size(live, product_id, "SELL" if position > 0 else "BUY") if position else _ZERO

    def others(self, live: Sequence[OrderRecord], excluding: str) -> tuple[Decimal, Decimal]:
        """(gross exposure, maintenance margin) of every marked product but `excluding`, quote, each
        at the larger of its positions once its live BUYs or its live SELLs have filled."""
        gross = maintenance = _ZERO
        for product_id in set(self.positions) | {r.product_id for r in live}:
            mark = self.marks.get(product_id)
            spec = self.products.get(product_id)
            if product_id == excluding or mark is None or spec is None:
                continue
            size = self.position(product_id)
            size = max(size + self.open_size(live, product_id, "BUY"), size - self.open_size(live, product_id, "SELL"),
                       key=abs)
            gross += abs(spec.notional(size, mark))
            maintenance += maintenance_margin(spec, size, mark)
        return gross, maintenance
