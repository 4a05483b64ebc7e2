"""Paginated REST reads of the venue's orders and fills, as the gateway needs them after a restart,
a reconnect or before a cancel-all.

Owns the typed decode of `GET /orders/historical/batch` and `GET /orders/historical/fills` pages
(and, when asked, the one page of `GET /cfm/positions`)
(only the fields used; Coinbase adds fields, so unknown ones are ignored), the cursor walk (the
next page is asked while the answer carries a new cursor; an orders page also says `has_next`),
the fills watermark (`fills_since`: only fills sequenced since then, then every fill of each order
among them, so an order's fills are always whole), and which orders count as live. A failed page is
reported as failed, to be asked again as it was.
Pure: responses in, requests out. Must never send a request, read a clock, or filter orders on
`OPEN` alone at the venue (that hides PENDING and QUEUED ones): live orders are chosen here.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, Union

import msgspec

from actors.venue import coinbase_rest as rest
from actors.wire.decimals import finite_decimal
from actors.wire.timestamps import parse_timestamp

# Orders a cancel can still reach; CANCEL_QUEUED is already on its way out.
CANCELABLE = frozenset({"PENDING", "QUEUED", "OPEN"})
LIVE = CANCELABLE | {"CANCEL_QUEUED"}
MAX_PAGES = 1_000  # per list: a venue that keeps answering with new cursors is cut off here
ORDERS, FILLS, POSITIONS = "orders", "fills", "positions"
# A windowed fills read starts this long before the newest fill already counted: it covers clock
# skew between trade and sequence times, and any fill missed by a reader whose reconciliation runs
# every minute (reconcile.interval_s) many times over.
FILLS_LOOKBACK_S = 3_600.0
ORDER_IDS_PER_PAGE = 50  # the orders named in one fills query when a windowed read completes them
_ZERO = Decimal(0)


class RestOrder(msgspec.Struct, frozen=True):
    order_id: str
    client_order_id: str = ""
    product_id: str = ""
    side: str = ""
    status: str = ""
    filled_size: str = "0"
    average_filled_price: str = "0"
    total_fees: str = "0"
    order_configuration: dict[str, Any] = msgspec.field(default_factory=dict)
    reject_reason: str = ""
    cancel_message: str = ""

    def base_size(self) -> Decimal | None:
        """The order's size from its one-key configuration, None when it does not say."""
        for config in self.order_configuration.values():
            if isinstance(config, dict) and config.get("base_size"):
                return finite_decimal(config["base_size"], nonneg=True)
        return None

    def filled(self) -> Decimal:
        return finite_decimal(self.filled_size, nonneg=True) or _ZERO

    def leaves(self) -> Decimal:
        size = self.base_size()
        if size is None or self.status.upper() not in LIVE:
            return _ZERO
        return max(_ZERO, size - self.filled())


class RestFill(msgspec.Struct, frozen=True):
    trade_id: str
    order_id: str = ""
    product_id: str = ""
    side: str = ""
    price: str = "0"
    size: str = "0"
    commission: str = "0"
    liquidity_indicator: str = ""
    trade_time: str = ""
    sequence_timestamp: str = ""

    def when(self) -> tuple[float, str]:
        """The order fills happened in: trade time, then the venue's sequence stamp (lists may
        come newest first)."""
        try:
            return parse_timestamp(self.trade_time), self.sequence_timestamp
        except ValueError:
            return 0.0, self.sequence_timestamp


class _OrdersPage(msgspec.Struct):
    orders: tuple[RestOrder, ...] = ()
    has_next: bool = True  # absent: trust the cursor alone
    cursor: str = ""


class _FillsPage(msgspec.Struct):
    fills: tuple[RestFill, ...] = ()
    cursor: str = ""


class Amount(msgspec.Struct, frozen=True):
    value: str = "0"
    currency: str = "USD"


# A money field of `cfm/positions`: production sends `{value, currency}`, the reference a string.
Money = Union[str, Amount]


class RestPosition(msgspec.Struct, frozen=True):
    product_id: str
    side: str = ""
    number_of_contracts: str = "0"
    avg_entry_price: Money = "0"
    unrealized_pnl: Money = "0"

    @property
    def contracts(self) -> Decimal | None:
        """Signed contracts (short negative), None when unreadable."""
        contracts = finite_decimal(self.number_of_contracts)
        if contracts is None:
            return None
        return -contracts if self.side.upper() == "SHORT" else contracts


def money(field: Money) -> Decimal | None:
    """The amount of a money field in either shape, None when unreadable."""
    return finite_decimal(field if isinstance(field, str) else field.value)


class _PositionsPage(msgspec.Struct):
    positions: tuple[RestPosition, ...] = ()


def decode_positions(body: bytes) -> dict[str, RestPosition]:
    """The positions of a `cfm/positions` answer by product; ValueError when it cannot be read."""
    try:
        held = _positions_decoder.decode(body).positions
    except (msgspec.DecodeError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise ValueError(f"unreadable positions page: {exc}") from None
    for p in held:
        if p.contracts is None or money(p.avg_entry_price) is None or money(p.unrealized_pnl) is None:
            raise ValueError(f"unreadable positions page: {p.product_id} {p.number_of_contracts!r}")
    return {p.product_id: p for p in held}


_positions_decoder = msgspec.json.Decoder(_PositionsPage, strict=False)
_orders_decoder = msgspec.json.Decoder(_OrdersPage, strict=False)
_fills_decoder = msgspec.json.Decoder(_FillsPage, strict=False)


class Next(msgspec.Struct, frozen=True):
    """Ask this page next."""

    request: rest.Request


class Failed(msgspec.Struct, frozen=True):
    """The page did not come: ask the same request again after a back-off."""

    why: str
    throttled: bool = False
    headers: tuple[tuple[str, str], ...] = ()


class Complete(msgspec.Struct, frozen=True):
    """This list has been read to its end."""


PageResult = Union[Next, Failed, Complete]


def sequence_timestamp(ts: float) -> str:
    """`ts` (epoch seconds) as the fills list's `start_sequence_timestamp` (RFC 3339, UTC)."""
    whole = int(ts // 1)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((ts - whole) * 1e6):06d}Z"


def fills_since(newest_fill: float | None) -> str:
    """Where a windowed fills read starts: FILLS_LOOKBACK_S before the newest fill already counted
    (`fills_since` for a Listing); "" (the whole history) when none was."""
    return "" if newest_fill is None else sequence_timestamp(newest_fill - FILLS_LOOKBACK_S)


class Listing:
    """One read of the orders list, the fills list or both, page by page. `order_ids` (venue ids)
    narrows both lists at the venue; callers still check what comes back.

    `fills_since` (RFC 3339, see `sequence_timestamp`) reads the fills list from that moment only,
    then asks again for every fill of each order seen in it (ORDER_IDS_PER_PAGE orders a query),
    so a reader that counts an order's fills cumulatively never sees only its tail."""

    def __init__(self, orders: bool = True, fills: bool = True, order_ids: tuple[str, ...] = (),
                 page_size: int = 100, positions: bool = False, fills_since: str = "") -> None:
        self.order_ids = order_ids
        self.fills_since = "" if order_ids else fills_since  # named orders are read whole anyway
        self._completing: list[tuple[str, ...]] | None = None  # order-id batches still to read whole
        self._batch: tuple[str, ...] = ()
        self.page_size = page_size
        self.orders: list[RestOrder] = []
        self.fills: list[RestFill] = []
        self.positions: dict[str, Decimal] | None = None  # cfm/positions, signed contracts, when asked
        self.pages = 0
        self.truncated = False  # cut off at MAX_PAGES
        self._open: set[str] = set()
        self._cursors: dict[str, set[str]] = {ORDERS: set(), FILLS: set(), POSITIONS: set()}
        self._counts = {ORDERS: 0, FILLS: 0, POSITIONS: 0}
        self._current: dict[str, rest.Request] = {}  # the page asked last, per list
        self._wanted = [w for w, on in ((ORDERS, orders), (FILLS, fills), (POSITIONS, positions)) if on]

    def start(self) -> list[tuple[str, rest.Request]]:
        """The first page of each list wanted."""
        self._open = set(self._wanted)
        return [(which, self._request(which, "")) for which in self._wanted]

    def current(self, which: str) -> rest.Request:
        """The page asked last of `which`: what to ask again after a Failed."""
        return self._current[which]

    @property
    def done(self) -> bool:
        return not self._open

    def on_page(self, which: str, response: rest.Response) -> PageResult:
        if response.status == 429:
            return Failed("HTTP 429", throttled=True, headers=response.headers)
        if which == POSITIONS and response.status != 200:  # an account without futures: positions unknown
            self._open.discard(which)
            return Complete()
        if response.status != 200:
            return Failed(response.error or f"HTTP {response.status}")
        try:
            if which == POSITIONS:  # one page, no cursor
                try:
                    held = decode_positions(response.body)
                except ValueError as exc:
                    return Failed(str(exc))
                self.positions = {pid: p.contracts or _ZERO for pid, p in held.items()}
                self.pages += 1
                self._open.discard(which)
                return Complete()
            if which == ORDERS:
                page: Any = _orders_decoder.decode(response.body)
                self.orders.extend(page.orders)
                more = page.has_next
            else:
                page = _fills_decoder.decode(response.body)
                self.fills.extend(page.fills)
                more = True
        except (msgspec.DecodeError, RecursionError) as exc:  # RecursionError: nested too deeply
            return Failed(f"unreadable {which} page: {exc}"[:200])
        self.pages += 1
        self._counts[which] += 1
        cursor = page.cursor
        seen = self._cursors[which]
        if not more or not cursor or cursor in seen:
            return self._list_done(which)
        if self._counts[which] >= MAX_PAGES:
            self.truncated = True
            return self._list_done(which)
        seen.add(cursor)
        return Next(self._request(which, cursor))

    def _list_done(self, which: str) -> PageResult:
        if which == FILLS and self.fills_since:
            if self._completing is None:  # the window is read: now each of its orders, whole
                ids = sorted({f.order_id for f in self.fills if f.order_id})
                self.fills = [f for f in self.fills if not f.order_id]
                self._completing = [tuple(ids[i:i + ORDER_IDS_PER_PAGE])
                                    for i in range(0, len(ids), ORDER_IDS_PER_PAGE)]
            if self._completing:
                self._batch = self._completing.pop(0)
                self._cursors[FILLS] = set()
                self._counts[FILLS] = 0
                return Next(self._request(FILLS, ""))
        self._open.discard(which)
        return Complete()

    def _request(self, which: str, cursor: str) -> rest.Request:
        if which == POSITIONS:
            request = rest.cfm_positions()
        elif which == ORDERS:
            request = rest.list_orders(order_ids=self.order_ids, limit=self.page_size, cursor=cursor)
        elif self._completing is not None:
            request = rest.list_fills(order_ids=self._batch, limit=self.page_size, cursor=cursor)
        else:
            request = rest.list_fills(order_ids=self.order_ids, start_sequence_timestamp=self.fills_since,
                                      limit=self.page_size, cursor=cursor)
        self._current[which] = request
        return request

    def live_orders(self) -> list[RestOrder]:
        """Orders still live at the venue, each once (the last listing of an id wins)."""
        latest = {o.order_id: o for o in self.orders}
        return [o for o in latest.values() if o.status.upper() in LIVE]

    def cancelable_ids(self) -> list[str]:
        latest = {o.order_id: o for o in self.orders}
        return [oid for oid, o in latest.items() if o.status.upper() in CANCELABLE]
