"""The portfolio protocol: position and PnL updates, fill repairs, position checks, and the
position and funding records. Frozen values only: must never hold state or import anything of
ours outside `domain`.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from domain.orders import Fill

# -- Messages portfolio publishes ------------------------------------------------------------------


class PortfolioUpdate(msgspec.Struct, frozen=True, tag=True):
    """Equity and signed positions (venue units), for sizing and the pre-trade gate."""

    equity: Decimal
    positions: tuple[tuple[str, Decimal], ...]
    marks: tuple[tuple[str, Decimal], ...]
    ts: float
    maintenance_margin: Decimal = Decimal(0)  # of the open positions at their marks, quote (risk guards)
    # (product_id, trade_id, side) of the last Fill this portfolio handled, applied or a duplicate:
    # execution counts the fills it forwarded after this one on top of `positions`.
    last_fill: tuple[str, str, str] | None = None
    epoch: int = 0  # the publishing portfolio's incarnation: a restarted one rebuilt from the venue


class RepairFills(msgspec.Struct, frozen=True, tag=True):
    """From the reconciler: the venue's fills; portfolio applies the ones it missed (by key)."""

    fills: tuple[Fill, ...]
    ts: float  # when the reconciler had the venue's snapshot (fills after it are not in it)


class CheckPositions(msgspec.Struct, frozen=True, tag=True):
    """From the reconciler, after RepairFills: the venue's signed positions, to compare with ours."""

    positions: tuple[tuple[str, Decimal], ...]
    source: str
    cover: str = "all"  # "all" products, or FUTURES_ONLY (spot holdings are not positions there)


class PositionRecord(msgspec.Struct, frozen=True, tag=True):
    """A position after a change, for the journal."""

    product_id: str
    size: Decimal
    entry: Decimal
    realized_pnl: Decimal
    ts: float


class FundingRecord(msgspec.Struct, frozen=True, tag=True):
    """One funding settlement of a perpetual: `slot` is the epoch-aligned interval number, so a
    settlement is recorded (and restored after a restart) once. `payment` is signed: received > 0."""

    product_id: str
    slot: int
    rate: Decimal
    mark: Decimal
    size: Decimal  # signed position, venue units
    payment: Decimal
    ts: float


class FundingHistoryRequest(msgspec.Struct, frozen=True, tag=True):
    """Ask the journal for every FundingRecord, answered with FundingHistory to `reply_to`."""

    reply_to: str


class FundingHistory(msgspec.Struct, frozen=True, tag=True):
    records: tuple[FundingRecord, ...]
