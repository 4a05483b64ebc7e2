"""The built-in exchange's order vocabulary and values: statuses, order types, times in force, stop
directions and trigger statuses in Coinbase's spellings, the order kinds of `order_configuration`,
the frozen values the client's API returns (an order, a fill, a refusal, a preview, balances,
positions, the futures summary) and `WorkingOrder`, the mutable state of one order.

Values only: must never read clocks, touch the market or format wire text.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from domain.matching import BUY
from domain.products import ProductSpec
from exchange import failure_reasons as reasons

CLIENT = "client"  # the matching-engine owner of every order placed through the exchange's API

MAKER = "MAKER"
TAKER = "TAKER"

OPEN = "OPEN"
FILLED = "FILLED"
CANCELLED = "CANCELLED"
EXPIRED = "EXPIRED"
FAILED = "FAILED"
LIVE_STATUSES = (OPEN,)

MARKET = "MARKET"
LIMIT = "LIMIT"
STOP_LIMIT = "STOP_LIMIT"

GTC = "GOOD_UNTIL_CANCELLED"
GTD = "GOOD_UNTIL_DATE_TIME"
IOC = "IMMEDIATE_OR_CANCEL"
FOK = "FILL_OR_KILL"

STOP_UP = "STOP_DIRECTION_STOP_UP"
STOP_DOWN = "STOP_DIRECTION_STOP_DOWN"

NO_TRIGGER = "INVALID_ORDER_TYPE"  # trigger_status of an order that is not a stop
STOP_PENDING = "STOP_PENDING"
STOP_TRIGGERED = "STOP_TRIGGERED"

# order_configuration key -> (order type, time in force)
ORDER_KINDS: dict[str, tuple[str, str]] = {
    "market_market_ioc": (MARKET, IOC),
    "market_market_fok": (MARKET, FOK),
    "limit_limit_gtc": (LIMIT, GTC),
    "limit_limit_gtd": (LIMIT, GTD),
    "limit_limit_fok": (LIMIT, FOK),
    "sor_limit_ioc": (LIMIT, IOC),
    "stop_limit_stop_limit_gtc": (STOP_LIMIT, GTC),
    "stop_limit_stop_limit_gtd": (STOP_LIMIT, GTD),
}
FUTURES_ONLY_KINDS = ("market_market_fok",)

USER_CANCEL = "User requested cancel"
NOT_FILLABLE = "FOK_NOT_FILLABLE"
IOC_REMAINDER = "IOC_REMAINDER_CANCELLED"

_ZERO = Decimal(0)


class FeeSchedule(msgspec.Struct, frozen=True):
    """Fee rates as fractions of the notional traded."""

    maker: Decimal = Decimal("0.0004")
    taker: Decimal = Decimal("0.0006")


class OrderRequest(msgspec.Struct, frozen=True):
    """A create request whose fields parsed; the checks against the market come in `create`."""

    client_order_id: str
    product_id: str
    side: str  # BUY / SELL
    kind: str  # an ORDER_KINDS key
    configuration: dict[str, Any]  # the order_configuration entry as received, echoed back
    base_size: Decimal | None = None
    quote_size: Decimal | None = None  # market orders by quote funds
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    stop_direction: str = ""
    end_ts: float | None = None  # GTD
    end_time: str = ""  # GTD, as received
    post_only: bool = False
    leverage: Decimal | None = None
    margin_type: str = ""


class Refusal(msgspec.Struct, frozen=True):
    """An order the exchange did not take (it does not exist). `code` is a create-order failure
    reason; `preview` a finer preview reason where Coinbase has one (else derived from `code`)."""

    code: str
    message: str
    preview: str = ""

    def preview_reason(self) -> str:
        return self.preview or reasons.preview_reason(self.code)


class EditPreview(msgspec.Struct, frozen=True):
    """What an edit would do: why it would be refused ("" if not), and its money."""

    reason: str
    order_total: Decimal
    commission_total: Decimal
    best_bid: Decimal | None
    best_ask: Decimal | None


class EditRecord(msgspec.Struct, frozen=True):
    price: Decimal
    size: Decimal
    ts: float


class OrderView(msgspec.Struct, frozen=True):
    """One order as it stands."""

    order_id: str
    client_order_id: str
    product_id: str
    product_type: str
    side: str
    order_type: str  # MARKET / LIMIT / STOP_LIMIT
    time_in_force: str
    kind: str
    configuration: dict[str, Any]
    status: str
    created_ts: float
    base_size: Decimal | None
    quote_size: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    stop_direction: str
    end_time: str
    post_only: bool
    leverage: Decimal | None
    margin_type: str
    filled_size: Decimal
    filled_value: Decimal  # quote value traded (contracts x contract size x price)
    average_filled_price: Decimal  # 0 before the first fill
    number_of_fills: int
    total_fees: Decimal
    leaves_size: Decimal  # 0 once the order is done
    outstanding_hold: Decimal  # quote held for it while it is open
    trigger_status: str
    cancel_reason: str
    reject_reason: str
    last_fill_ts: float | None
    edit_history: tuple[EditRecord, ...]

    @property
    def is_open(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def total_value_after_fees(self) -> Decimal:
        return self.filled_value + self.total_fees if self.side == BUY else self.filled_value - self.total_fees


class ClientFill(msgspec.Struct, frozen=True):
    entry_id: str
    trade_id: str
    order_id: str
    client_order_id: str
    product_id: str
    side: str
    price: Decimal
    size: Decimal
    commission: Decimal
    liquidity: str  # MAKER / TAKER
    ts: float
    sequence: int  # 1, 2, ... in the order fills happened


class SpotBalance(msgspec.Struct, frozen=True):
    currency: str
    balance: Decimal
    hold: Decimal

    @property
    def available(self) -> Decimal:
        return self.balance - self.hold


class PerpPosition(msgspec.Struct, frozen=True):
    """A futures position with contracts open (net_size > 0 long, < 0 short)."""

    product_id: str
    net_size: Decimal
    entry_price: Decimal
    mark_price: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal
    daily_realized_pnl: Decimal
    funding: Decimal  # paid (+) or received (-) since the start
    notional: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    liquidation_price: Decimal | None
    buy_order_size: Decimal
    sell_order_size: Decimal
    leverage: Decimal
    margin_type: str
    expiry_ts: float | None = None


class BalanceSummary(msgspec.Struct, frozen=True):
    """The futures account as `cfm/balance_summary` and `futures_balance_summary` report it."""

    futures_buying_power: Decimal
    total_usd_balance: Decimal
    cbi_usd_balance: Decimal
    cfm_usd_balance: Decimal
    total_open_orders_hold_amount: Decimal
    unrealized_pnl: Decimal
    daily_realized_pnl: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    available_margin: Decimal
    liquidation_threshold: Decimal
    liquidation_buffer_amount: Decimal
    liquidation_buffer_percentage: int | None  # None with no margin in use


class Preview(msgspec.Struct, frozen=True):
    """What an order would cost now; `errors` names why it would be refused (empty: it would go)."""

    preview_id: str
    errors: tuple[str, ...]  # preview failure reasons
    base_size: Decimal
    quote_size: Decimal  # notional
    average_price: Decimal
    commission: Decimal
    order_total: Decimal
    margin: Decimal
    best_bid: Decimal | None
    best_ask: Decimal | None
    slippage: Decimal  # fraction of the best price the average walks away from it
    leverage: Decimal


class WorkingOrder:
    """Mutable state of one order; `view()` gives the frozen picture."""

    def __init__(self, order_id: str, request: OrderRequest, spec: ProductSpec, now: float) -> None:
        self.order_id = order_id
        self.request = request
        self.spec = spec
        self.order_type, self.tif = ORDER_KINDS[request.kind]
        self.configuration = dict(request.configuration)
        self.base_size = request.base_size
        self.limit_price = request.limit_price
        self.status = OPEN
        self.created_ts = now
        self.filled = _ZERO
        self.price_size = _ZERO  # sum of price x size: the average fill price's numerator
        self.value = _ZERO
        self.fees = _ZERO
        self.fills = 0
        self.last_fill_ts: float | None = None
        self.triggered = self.order_type != STOP_LIMIT
        self.resting = False  # in the engine's book
        self.cancel_reason = ""
        self.reject_reason = ""
        self.edits: list[EditRecord] = []

    @property
    def side(self) -> str:
        return self.request.side

    @property
    def remaining(self) -> Decimal:
        """Size still working (0 for a market order by quote funds once submitted)."""
        if self.base_size is None:
            return _ZERO
        return self.base_size - self.filled

    def view(self, hold: Decimal) -> OrderView:
        request = self.request
        return OrderView(
            order_id=self.order_id,
            client_order_id=request.client_order_id,
            product_id=request.product_id,
            product_type=self.spec.product_type,
            side=request.side,
            order_type=self.order_type,
            time_in_force=self.tif,
            kind=request.kind,
            configuration=dict(self.configuration),
            status=self.status,
            created_ts=self.created_ts,
            base_size=self.base_size,
            quote_size=request.quote_size,
            limit_price=self.limit_price,
            stop_price=request.stop_price,
            stop_direction=request.stop_direction,
            end_time=request.end_time,
            post_only=request.post_only,
            leverage=request.leverage,
            margin_type=request.margin_type,
            filled_size=self.filled,
            filled_value=self.value,
            average_filled_price=self.price_size / self.filled if self.filled else _ZERO,
            number_of_fills=self.fills,
            total_fees=self.fees,
            leaves_size=self.remaining if self.status == OPEN else _ZERO,
            outstanding_hold=hold,
            trigger_status=(NO_TRIGGER if self.order_type != STOP_LIMIT
                            else STOP_TRIGGERED if self.triggered else STOP_PENDING),
            cancel_reason=self.cancel_reason,
            reject_reason=self.reject_reason,
            last_fill_ts=self.last_fill_ts,
            edit_history=tuple(self.edits),
        )


def on_grid(value: Decimal, step: Decimal) -> bool:
    return step > 0 and value % step == 0


def sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)
