"""The portfolio actor: positions, PnL, fees, funding and equity from fills and marks.

Owns the Ledger. Publishes equity, positions and margins to strategy, execution and risk on a
timer and after fills, journals positions, and settles hourly funding on perpetual-style products
on the injected clock, journaling each settlement. On (re)start it rebuilds the ledger from the
venue's fills (de-duplicated by trade id) and the journal's funding settlements (once per product
and interval), and tells the orchestrator it synced. On `ctl resume --accept-venue` it takes the
venue's size where reconciliation found it different (AdoptPositions), journaled.
Must never send an order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from loguru import logger

from actors.portfolio.ledger import Ledger, Position
from config.schema import PortfolioConfig
from domain.control import AdoptPositions, Decision, JournalRestarted, PositionMismatch, Synced
from domain.market import BookStatus
from domain.orders import FUTURES_ONLY, Fill, SyncRequest, VenueSnapshot
from domain.portfolio import (
    CheckPositions,
    FundingHistory,
    FundingHistoryRequest,
    FundingRecord,
    PortfolioUpdate,
    PositionRecord,
    RepairFills,
)
from domain.products import ProductSpec
from domain.queries import ReportQuery
from runtime.actor import SupervisedActor

PUBLISH_INTERVAL_S = 1.0
_ZERO = Decimal(0)
_NO_POSITION = Position("", Decimal(0), Decimal(0))


class PublishPortfolio(msgspec.Struct, frozen=True):
    """Timer message: publish equity and positions; settle funding that has come due."""


class PortfolioActor(SupervisedActor):
    def __init__(self, name: str, epoch: int, services: Any, products: dict[str, ProductSpec], config: PortfolioConfig,
                 journal_fills: tuple[Fill, ...] = ()) -> None:
        super().__init__(name, epoch, services)
        self.products = products
        self.config = config
        self.ledger = Ledger(config.starting_cash, products)
        self.journal_products = {f.product_id for f in journal_fills if f.product_id in products}
        for fill in journal_fills:  # a `run` start: the journal is the memory, the venue adds what it lacks
            if fill.product_id in products:
                self.ledger.on_fill(fill)
        self.last_fill: tuple[str, str, str] | None = None  # the last Fill handled: execution's count
        self.repaired = self.metrics.counter("reconcile.fills_repaired")
        self.clean_checks = self.metrics.counter("reconcile.clean_checks")
        self.mismatches = self.metrics.counter("reconcile.mismatches")
        self.last_clean: float | None = None
        self.adopting: set[str] = set()  # products to take the venue's size for, on its next snapshot
        self.checked_keys: set[tuple[str, str, str]] = set()  # the fills of the last RepairFills
        self.checked_at = 0.0  # and when the venue's snapshot was in hand

    def start_core(self) -> None:
        self.ledger.funding_due(self.clock.now())  # baseline: the first funding is the next one due
        for product_id in sorted(self.journal_products):  # the journal's positions follow its fills
            self._journal_position(product_id)
        self.send("venue", SyncRequest(reply_to=self.name))
        self.send("journal", FundingHistoryRequest(reply_to=self.name))
        self.every(PUBLISH_INTERVAL_S, PublishPortfolio())

    def handle(self, message: Any) -> Any:
        kind = type(message)
        if kind is BookStatus:
            if message.mark is not None and message.product_id in self.products:
                self.ledger.on_mark(message.product_id, message.mark)
        elif kind is Fill:
            self.last_fill = (message.product_id, message.trade_id, message.side)
            if message.product_id in self.products and self.ledger.on_fill(message):
                self._journal_position(message.product_id)
                self._publish()
        elif kind is PublishPortfolio:
            self._settle_funding()
            self._publish()
        elif kind is FundingHistory:
            for record in message.records:
                if record.product_id not in self.products:
                    continue  # a product this run does not trade (the data dir's earlier runs)
                self.ledger.restore_funding(record.product_id, record.slot, record.payment)
            self._publish()
        elif kind is VenueSnapshot:
            # The account's history may hold products this run does not trade: they are not ours to count.
            touched = {f.product_id for f in message.fills if f.product_id in self.products and self.ledger.on_fill(f)}
            for product_id in sorted(touched):
                self._journal_position(product_id)  # the journal's positions follow the venue's fills
            if self.adopting and message.positions is not None:
                self._adopt(message)
            self._publish()
            self.tell_supervisor(Synced(self.name))
        elif kind is AdoptPositions:
            self.adopting |= set(message.products) & set(self.products)
            self.send("venue", SyncRequest(reply_to=self.name, positions=True))  # the venue as it is now
        elif kind is JournalRestarted:
            for product_id in sorted(self.products):
                self._journal_position(product_id)
        elif kind is RepairFills:
            self._repair(message.fills, message.ts)
        elif kind is CheckPositions:
            self._check(message)
        elif type(message) is ReportQuery:
            return self.report()
        return None

    def _repair(self, fills: tuple[Fill, ...], read_by: float) -> None:
        """The venue's fills from a reconciliation: the ones we missed (a lost message) applied once."""
        self.checked_keys = {(f.product_id, f.trade_id, f.side) for f in fills}
        self.checked_at = read_by
        missed = [f for f in fills if f.product_id in self.products and self.ledger.on_fill(f)]
        for fill in missed:
            logger.warning("reconcile: portfolio had missed fill {} {} {} {} @ {} (order {}): applied", fill.trade_id,
                           fill.product_id, fill.side, fill.size, fill.price, fill.client_order_id)
        if missed:
            self.repaired.inc(len(missed))
            self.send("journal", Decision(self.clock.now(), "fills_repaired", f"{len(missed)} fills portfolio missed"))
            for product_id in sorted({f.product_id for f in missed}):
                self._journal_position(product_id)
            self._publish()

    def _check(self, check: CheckPositions) -> None:
        """Our positions against the venue's; a difference goes to the orchestrator (REDUCING)."""
        mine = self.ledger.sizes_as_of(self.checked_keys, self.checked_at)  # fills after the snapshot do not count
        venue = dict(check.positions)
        covered = [pid for pid, spec in sorted(self.products.items())
                   if check.cover != FUTURES_ONLY or spec.product_type == "FUTURE"]
        differ = tuple((pid, mine.get(pid, _ZERO), venue.get(pid, _ZERO)) for pid in covered
                       if mine.get(pid, _ZERO) != venue.get(pid, _ZERO))
        if not differ:
            self.clean_checks.inc()
            self.last_clean = self.clock.now()
        else:
            self.mismatches.inc()
            mismatch = PositionMismatch(differ, check.source)
            logger.warning("reconcile: positions differ from the venue's: {}", mismatch.describe())
            self.tell_supervisor(mismatch)

    def _adopt(self, snapshot: VenueSnapshot) -> None:
        """`ctl resume --accept-venue`: each disputed product takes the venue's size, as of this
        snapshot (a fill after it still counts on top)."""
        now = self.clock.now()
        venue = dict(snapshot.positions or ())
        as_of = self.ledger.sizes_as_of({(f.product_id, f.trade_id, f.side) for f in snapshot.fills}, now)
        current = self.ledger.position_sizes()
        for product_id in sorted(self.adopting):
            size = current.get(product_id, _ZERO) + venue.get(product_id, _ZERO) - as_of.get(product_id, _ZERO)
            price = self.ledger.mark(product_id) or self.ledger.positions.get(product_id, _NO_POSITION).entry
            change = self.ledger.adopt(product_id, size, price)
            if change:
                logger.warning("portfolio: {} adopted the venue's size {} (changed by {}) at {}", product_id, size,
                               change, price)
                self.send("journal", Decision(now, "position_adopted", f"{product_id}: {size} (change {change})"))
                self._journal_position(product_id)
        self.adopting = set()

    def _settle_funding(self) -> None:
        now = self.clock.now()
        ledger = self.ledger
        for product_id in ledger.funding_due(now):
            mark = ledger.mark(product_id)
            if mark is None:
                continue
            slot = ledger.funding_slot(product_id, now)
            size = ledger.position_sizes().get(product_id, Decimal(0))
            rate = self.products[product_id].funding_rate
            payment = ledger.apply_funding(product_id, rate, mark, slot)
            # journaled, so a restarted portfolio counts it again (FundingHistory), never twice
            self.send("journal", FundingRecord(product_id, slot, rate, mark, size, payment, now))

    def _publish(self) -> None:
        ledger = self.ledger
        update = PortfolioUpdate(
            equity=ledger.equity,
            positions=tuple(ledger.position_sizes().items()),
            marks=tuple((pid, m) for pid in self.products if (m := ledger.mark(pid)) is not None),
            ts=self.clock.now(),
            maintenance_margin=ledger.maintenance_margin,
            last_fill=self.last_fill,
            epoch=self.epoch,
        )
        self.send("strategy", update)
        self.send("execution", update)
        self.send("risk", update)

    def _journal_position(self, product_id: str) -> None:
        position = self.ledger.positions.get(product_id)
        size = position.size if position else Decimal(0)
        entry = position.entry if position else Decimal(0)
        self.send("journal", PositionRecord(product_id, size, entry, self.ledger.realized_pnl, self.clock.now()))

    def _position_report(self, product_id: str, position: Any) -> dict[str, Any]:
        realized, funding = self.ledger.product_pnl(product_id)
        return {"size": position.size, "entry": position.entry, "realized_pnl": realized, "funding": funding,
                "liquidation_price": self.ledger.liquidation_price(product_id)}

    def report(self) -> dict[str, Any]:
        ledger = self.ledger
        return {
            "realized_pnl": ledger.realized_pnl, "unrealized_pnl": ledger.unrealized_pnl, "fees": ledger.fees,
            "funding": ledger.funding, "equity": ledger.equity,
            "positions": {pid: self._position_report(pid, p) for pid, p in ledger.positions.items()},
            "margin_used": ledger.margin_used, "margin_available": ledger.margin_available,
            "drawdown": ledger.drawdown, "last_clean_reconcile": self.last_clean,
        }
