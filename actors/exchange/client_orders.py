"""The built-in exchange's API client: its orders, fills, positions, fees and paper account.

Owns everything the exchange knows about the one trading client behind its private REST and
`user` channel: orders (market IOC/FOK, limit GTC/GTD/IOC/FOK, post-only, stop-limit GTC/GTD held
off the book until the last trade reaches the stop), their state (status, cumulative size, value,
fees, number of fills), fills with unique trade ids and liquidity MAKER/TAKER, spot balances and
holds, perpetual positions (net contracts, entry vwap, realized PnL, hourly funding), the futures
account (cash, unrealized PnL, initial and maintenance margin, available margin) and the checks a
new order must pass (product, increments, post-only crossing, self-trade, funds).

Orders trade on the synthetic market's own matching engines under the owner `CLIENT`: a taker walks
the book and prints like any other taker; what rests can be hit by the synthetic takers and makers
(`on_market_step` applies those fills). A repeated `client_order_id` returns the original order.

Pure: a plain class driven by the exchange server under its lock, time passed in as epoch seconds,
randomness only from the seed (ids). Must never read clocks, touch sockets, format wire text or
know HTTP; the values it returns are turned into JSON by `private_rest.py` and `frames.py`.
"""

from __future__ import annotations

import math
import random
import uuid
from decimal import Decimal
from typing import Any, Iterable, Sequence

import msgspec

from actors.exchange import failure_reasons as reasons
from actors.exchange.account import PaperAccount
from actors.exchange.market import MarketStep, SyntheticMarket
from actors.products import ProductSpec
from actors.venue.fees import venue_fee
from actors.venue.matching import BID, BUY, OFFER, OPEN as ENGINE_OPEN, REJECTED, SELL, FOK_NOT_FILLABLE

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

_CANCEL_REFUSED = {FILLED: reasons.ORDER_IS_FULLY_FILLED, CANCELLED: reasons.DUPLICATE_CANCEL_REQUEST}
_ZERO = Decimal(0)
_ONE = Decimal(1)
_DAY_S = 86_400


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


class _Order:
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


class _Perp:
    def __init__(self) -> None:
        self.net = _ZERO
        self.entry = _ZERO
        self.realized = _ZERO
        self.daily = _ZERO
        self.day = -1
        self.funding = _ZERO
        self.leverage = _ONE
        self.margin_type = "CROSS"


def _on_grid(value: Decimal, step: Decimal) -> bool:
    return step > 0 and value % step == 0


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


class ClientOrders:
    """The exchange's API client and its paper account. See the module docstring."""

    def __init__(
        self,
        market: SyntheticMarket,
        products: dict[str, ProductSpec],
        account: PaperAccount | None = None,
        fees: FeeSchedule | None = None,
        seed: int = 1,
        start_ts: float = 0.0,
    ) -> None:
        account = account if account is not None else PaperAccount()
        self._market = market
        self._products = dict(products)
        self._fees = fees if fees is not None else FeeSchedule()
        self._salt = random.Random(seed).getrandbits(56)
        self.user_id = self._uuid(0xF0, 1)
        self.portfolio_id = self._uuid(0xF0, 2)
        self._orders: dict[str, _Order] = {}  # by order id, in creation order
        self._by_client_id: dict[str, str] = {}
        self._fills: list[ClientFill] = []
        self._cfm = account.cfm_usd_balance
        self._spot: dict[str, Decimal] = {"USD": account.cbi_usd_balance, **dict(account.spot_assets)}
        for spec in self._products.values():
            if spec.product_type == "SPOT":
                self._spot.setdefault(spec.base_currency, _ZERO)
                self._spot.setdefault(spec.quote_currency, _ZERO)
        self._perps: dict[str, _Perp] = {
            pid: _Perp() for pid, spec in self._products.items() if spec.product_type == "FUTURE"
        }
        self._last_price = {pid: market.ticker(pid).price for pid in self._products}
        self._next_funding = {
            pid: (math.floor(start_ts / spec.funding_interval_s) + 1) * spec.funding_interval_s
            for pid, spec in self._products.items() if spec.is_perpetual and spec.funding_interval_s > 0
        }
        self._changed: dict[str, None] = {}  # order ids changed since the last drain, in order
        self._account_changed = False
        self._order_seq = 0
        self._fill_seq = 0
        self._preview_seq = 0

    # ----------------------------------------------------------------- orders in

    def create(self, request: OrderRequest, now: float) -> OrderView | Refusal:
        """Take a new order, or return the original one for a `client_order_id` seen before."""
        known = self._by_client_id.get(request.client_order_id)
        if known is not None:
            return self._view(self._orders[known])
        refusal = self._refusal(request, now)
        if refusal is not None:
            return refusal
        spec = self._products[request.product_id]
        self._order_seq += 1
        order = _Order(self._uuid(1, self._order_seq), request, spec, now)
        self._orders[order.order_id] = order
        self._by_client_id[request.client_order_id] = order.order_id
        if spec.product_type == "FUTURE":
            perp = self._perps[spec.product_id]
            if request.leverage is not None:
                perp.leverage = request.leverage
            if request.margin_type:
                perp.margin_type = request.margin_type
        if order.base_size is None:  # market by quote funds: the size the funds buy now
            order.base_size, _ = self._walk(spec, order.side, quote=request.quote_size)
        self._touch(order)
        if order.triggered:
            self._submit(order, now)
        else:
            self._check_stops(spec.product_id, [self._last_price[spec.product_id]], now)
        return self._view(order)

    def preview(self, request: OrderRequest, now: float) -> Preview:
        """What `create` would do with this order now, without doing it."""
        self._preview_seq += 1
        preview_id = self._uuid(4, self._preview_seq)
        refusal = self._refusal(request, now)
        errors = (refusal.preview_reason(),) if refusal is not None else ()
        spec = self._products.get(request.product_id)
        bid = ask = None
        if spec is None:
            return Preview(preview_id, errors, _ZERO, _ZERO, _ZERO, _ZERO, _ZERO, _ZERO, bid, ask, _ZERO, _ONE)
        engine = self._market.engine(spec.product_id)
        bid, ask = engine.best_bid(), engine.best_ask()
        size, notional = self._estimate(spec, request)
        price = notional / spec.base_units(size) if size else _ZERO
        commission = venue_fee(notional, self._fees.maker if request.post_only else self._fees.taker)
        total = notional + commission if request.side == BUY else notional - commission
        margin = _ZERO
        if spec.product_type == "FUTURE":
            margin = notional * spec.initial_margin_rate
        best = ask if request.side == BUY else bid
        slippage = abs(price - best) / best if best and price and request.kind.startswith("market") else _ZERO
        leverage = request.leverage if request.leverage is not None else _ONE
        return Preview(preview_id, errors, size, notional, price, commission, total, margin, bid, ask, slippage,
                       leverage)

    def cancel(self, order_ids: Sequence[str], now: float) -> list[tuple[str, bool, str]]:
        """Cancel each order: (order_id, success, failure_reason) per id, in the order given."""
        results = []
        for order_id in order_ids:
            order = self._orders.get(order_id)
            if order is None:
                results.append((order_id, False, reasons.UNKNOWN_CANCEL_ORDER))
            elif order.status != OPEN:
                results.append((order_id, False, _CANCEL_REFUSED.get(order.status, reasons.INVALID_CANCEL_REQUEST)))
            else:
                self._finish(order, CANCELLED, USER_CANCEL)
                results.append((order_id, True, reasons.UNKNOWN_CANCEL_FAILURE_REASON))
        return results

    def edit_refusal(self, order_id: str, price: Decimal, size: Decimal, now: float) -> str:
        """Why `edit` would refuse this change now; "" when it would make it."""
        order = self._orders.get(order_id)
        if order is None:
            return reasons.ORDER_NOT_FOUND
        if order.status != OPEN:
            return reasons.ONLY_OPEN_ORDERS_CAN_BE_EDITED
        if order.order_type == MARKET or order.tif != GTC:
            return reasons.ONLY_LIMIT_ORDER_EDITS_SUPPORTED
        spec = order.spec
        if not (price > 0 and _on_grid(price, spec.price_increment)):
            return reasons.INVALID_EDITED_PRICE
        if not (size > 0 and _on_grid(size, spec.base_increment) and size >= spec.base_min_size):
            return reasons.INVALID_EDITED_SIZE
        if size <= order.filled:
            return reasons.CANNOT_EDIT_TO_BELOW_FILLED_SIZE
        if price == order.limit_price and size == order.base_size:
            return reasons.EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST
        engine = self._market.engine(spec.product_id)
        if order.resting and order.request.post_only and self._crosses(engine, order.side, price):
            return reasons.INVALID_LIMIT_PRICE_POST_ONLY
        if order.resting and price != order.limit_price and self._crosses_own(spec.product_id, order.side, price):
            return reasons.COMMANDER_REJECTED_NEW_ORDER
        if not self._affordable(spec, order.side, size - order.filled, price, now, replacing=order):
            return reasons.INSUFFICIENT_FUND
        return ""

    def edit_preview(self, order_id: str, price: Decimal, size: Decimal, now: float) -> EditPreview:
        """What `edit` would make of this order now, without doing it."""
        reason = self.edit_refusal(order_id, price, size, now)
        order = self._orders.get(order_id)
        if order is None:
            return EditPreview(reason, _ZERO, _ZERO, None, None)
        engine = self._market.engine(order.spec.product_id)
        notional = order.spec.notional(size, price)
        commission = venue_fee(notional, self._fees.maker if order.request.post_only else self._fees.taker)
        total = notional + commission if order.side == BUY else notional - commission
        return EditPreview(reason, total, commission, engine.best_bid(), engine.best_ask())

    def edit(self, order_id: str, price: Decimal, size: Decimal, now: float) -> str:
        """Change an open GTC limit or stop-limit order's price and size; "" when done, else why not.

        A smaller size at the same price keeps the order's place in the queue; any other change
        re-enters it at the back (and it trades at once if the new price crosses)."""
        reason = self.edit_refusal(order_id, price, size, now)
        if reason:
            return reason
        order = self._orders[order_id]
        spec, engine, new_remaining = order.spec, self._market.engine(order.spec.product_id), size - order.filled
        order.edits.append(EditRecord(price, size, now))
        same_place = order.resting and price == order.limit_price and new_remaining <= order.remaining
        order.base_size, order.limit_price = size, price
        order.configuration = {**order.configuration, "base_size": format(size, "f"), "limit_price": format(price, "f")}
        self._touch(order)
        if same_place:
            engine.amend_size(order_id, new_remaining)
        elif order.resting:
            engine.cancel(order_id)
            order.resting = False
            self._submit(order, now)
        return ""

    def close_position(self, client_order_id: str, product_id: str, size: Decimal | None,
                       now: float) -> OrderView | Refusal:
        """A market IOC order that reduces a futures position by `size` (all of it when None)."""
        known = self._by_client_id.get(client_order_id)
        if known is not None:
            return self._view(self._orders[known])
        spec = self._products.get(product_id)
        if spec is None:
            return Refusal(reasons.INVALID_PRODUCT_ID, f"unknown product {product_id}")
        perp = self._perps.get(product_id)
        if perp is None or perp.net == 0:
            return Refusal(reasons.INVALID_REQUEST, f"no open position in {product_id}")
        size = abs(perp.net) if size is None else size
        if not (0 < size <= abs(perp.net) and _on_grid(size, spec.base_increment)):
            return Refusal(reasons.INVALID_SIZE_PRECISION,
                           f"size must be on the {spec.base_increment} grid and at most the position")
        side = SELL if perp.net > 0 else BUY
        size_text = format(size, "f")
        request = OrderRequest(client_order_id, product_id, side, "market_market_ioc",
                               {"base_size": size_text}, base_size=size)
        return self.create(request, now)

    # ----------------------------------------------------------------- the market's side

    def on_market_step(self, step: MarketStep, now: float) -> None:
        """Apply a market step: fills of resting client orders by the synthetic participants, stops
        the printed trades reach, then `on_time(now)`."""
        for product in step.products:
            prices = []
            for printed in product.trades:
                trade = printed.trade
                prices.append(trade.price)
                if trade.maker_owner == CLIENT and trade.taker_owner != CLIENT:
                    order = self._orders.get(trade.maker_order_id)
                    if order is not None:
                        self._fill(order, trade.price, trade.size, MAKER, printed.ts)
                        if order.remaining == 0 and order.status == OPEN:
                            order.resting = False
                            order.status = FILLED
            if prices:
                self._last_price[product.product_id] = prices[-1]
                self._check_stops(product.product_id, prices, now)
        self.on_time(now)

    def on_time(self, now: float) -> None:
        """Expire GTD orders whose end has come and settle funding on open perpetual positions."""
        for order in [o for o in self._orders.values() if o.status == OPEN and o.request.end_ts is not None]:
            assert order.request.end_ts is not None
            if now >= order.request.end_ts:
                self._finish(order, EXPIRED, "")
        for product_id, due in list(self._next_funding.items()):
            spec = self._products[product_id]
            if now < due:
                continue
            perp = self._perps[product_id]
            if perp.net != 0:  # longs pay a positive rate; one payment however late the call
                payment = spec.notional(perp.net, self._mark(product_id)) * spec.funding_rate
                perp.funding += payment
                self._cfm -= payment
                self._account_changed = True
            interval = spec.funding_interval_s
            self._next_funding[product_id] = (math.floor(now / interval) + 1) * interval

    # ----------------------------------------------------------------- queries

    def order(self, order_id: str) -> OrderView | None:
        order = self._orders.get(order_id)
        return self._view(order) if order is not None else None

    def order_by_client_id(self, client_order_id: str) -> OrderView | None:
        order_id = self._by_client_id.get(client_order_id)
        return self._view(self._orders[order_id]) if order_id is not None else None

    def orders(self) -> list[OrderView]:
        """Every order, newest first."""
        return [self._view(o) for o in reversed(self._orders.values())]

    def open_orders(self, product_ids: Iterable[str] = ()) -> list[OrderView]:
        """Open orders (of these products; all when none named), oldest first."""
        wanted = set(product_ids)
        return [self._view(o) for o in self._orders.values()
                if o.status == OPEN and (not wanted or o.request.product_id in wanted)]

    def fills(self) -> list[ClientFill]:
        """Every fill, newest first."""
        return list(reversed(self._fills))

    def drain_changes(self) -> list[OrderView]:
        """Orders whose state changed since the last drain, in the order they first changed."""
        changed = [self._view(self._orders[i]) for i in self._changed]
        self._changed.clear()
        return changed

    def drain_account_changed(self) -> bool:
        """True when a fill or funding moved the account since the last call."""
        changed, self._account_changed = self._account_changed, False
        return changed

    def spot_balances(self) -> list[SpotBalance]:
        holds = self._spot_holds()
        return [SpotBalance(c, b, holds.get(c, _ZERO)) for c, b in self._spot.items()]

    def perp_positions(self, now: float, product_ids: Iterable[str] = ()) -> list[PerpPosition]:
        """Open futures positions (of these products; all when none named)."""
        wanted = set(product_ids)
        return [self._position(pid, now) for pid, perp in self._perps.items()
                if perp.net != 0 and (not wanted or pid in wanted)]

    def summary(self, now: float) -> BalanceSummary:
        unrealized = initial = maintenance = holds = daily = _ZERO
        for product_id, perp in self._perps.items():
            spec = self._products[product_id]
            holds += self._perp_hold(product_id)
            if perp.day == _day(now):
                daily += perp.daily
            if perp.net == 0:
                continue
            mark = self._mark(product_id)
            notional = abs(spec.notional(perp.net, mark))
            unrealized += spec.notional(perp.net, mark - perp.entry)
            initial += notional * spec.initial_margin_rate
            maintenance += notional * spec.maintenance_margin_rate
        equity = self._cfm + unrealized
        available = equity - initial - holds
        buffer = equity - maintenance
        cbi = self._spot.get("USD", _ZERO)
        return BalanceSummary(
            futures_buying_power=max(_ZERO, available),
            total_usd_balance=self._cfm + cbi,
            cbi_usd_balance=cbi,
            cfm_usd_balance=self._cfm,
            total_open_orders_hold_amount=holds,
            unrealized_pnl=unrealized,
            daily_realized_pnl=daily,
            initial_margin=initial,
            maintenance_margin=maintenance,
            available_margin=available,
            liquidation_threshold=maintenance,
            liquidation_buffer_amount=buffer,
            liquidation_buffer_percentage=math.floor(buffer / maintenance * 100) if maintenance > 0 else None,
        )

    # ----------------------------------------------------------------- checks

    def _refusal(self, request: OrderRequest, now: float) -> Refusal | None:
        spec = self._products.get(request.product_id)
        if spec is None:
            return Refusal(reasons.INVALID_PRODUCT_ID, f"unknown product {request.product_id!r}")
        if request.side not in (BUY, SELL):
            return Refusal(reasons.INVALID_SIDE, "side must be BUY or SELL")
        if request.kind not in ORDER_KINDS or (request.kind in FUTURES_ONLY_KINDS and spec.product_type != "FUTURE"):
            return Refusal(reasons.UNSUPPORTED_ORDER_CONFIGURATION,
                           f"{request.kind} is not offered on {spec.product_id}")
        order_type, tif = ORDER_KINDS[request.kind]
        if request.base_size is not None:
            size = request.base_size
            if not (size > 0 and _on_grid(size, spec.base_increment) and size >= spec.base_min_size):
                small = size < spec.base_min_size
                return Refusal(reasons.UNKNOWN_FAILURE_REASON if small else reasons.INVALID_SIZE_PRECISION,
                               f"base_size must be >= {spec.base_min_size} on the {spec.base_increment} grid",
                               reasons.PREVIEW_INVALID_BASE_SIZE_TOO_SMALL if small else "")
        elif request.quote_size is not None and order_type == MARKET and spec.product_type == "SPOT":
            quote = request.quote_size
            if not (quote > 0 and _on_grid(quote, spec.quote_increment) and quote >= spec.quote_min_size):
                small = quote < spec.quote_min_size
                return Refusal(reasons.UNKNOWN_FAILURE_REASON if small else reasons.INVALID_SIZE_PRECISION,
                               f"quote_size must be >= {spec.quote_min_size} on the {spec.quote_increment} grid",
                               reasons.PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL if small
                               else reasons.PREVIEW_INVALID_QUOTE_SIZE_PRECISION)
        else:
            return Refusal(reasons.INVALID_SIZE_PRECISION,
                           "base_size is required" if spec.product_type == "FUTURE" or order_type != MARKET
                           else "one of base_size or quote_size is required")
        for name, price in (("limit_price", request.limit_price), ("stop_price", request.stop_price)):
            needed = order_type != MARKET if name == "limit_price" else order_type == STOP_LIMIT
            if price is None:
                if needed:
                    return Refusal(reasons.INVALID_PRICE_PRECISION, f"{name} is required")
                continue
            if not price > 0:
                return Refusal(reasons.INVALID_LIMIT_PRICE, f"{name} must be > 0",
                               reasons.PREVIEW_INVALID_STOP_PRICE if name == "stop_price" else "")
            if not _on_grid(price, spec.price_increment):
                return Refusal(reasons.INVALID_PRICE_PRECISION, f"{name} must be on the {spec.price_increment} grid")
        if order_type == STOP_LIMIT and request.stop_direction not in (STOP_UP, STOP_DOWN):
            return Refusal(reasons.UNSUPPORTED_ORDER_CONFIGURATION,
                           "stop_direction must be STOP_DIRECTION_STOP_UP or _DOWN")
        if tif == GTD and (request.end_ts is None or request.end_ts <= now):
            return Refusal(reasons.INVALID_REQUEST, "end_time must be in the future")
        if request.leverage is not None and spec.product_type == "FUTURE":
            max_leverage = _ONE / spec.initial_margin_rate
            if not 0 < request.leverage <= max_leverage:
                return Refusal(reasons.INVALID_LEVERAGE, f"leverage must be > 0 and at most {max_leverage}")
        engine = self._market.engine(spec.product_id)
        rests = order_type == LIMIT and tif in (GTC, GTD)
        if rests and request.post_only and self._crosses(engine, request.side, request.limit_price):
            return Refusal(reasons.INVALID_LIMIT_PRICE_POST_ONLY, "a post-only order would cross the book")
        if rests and self._crosses_own(spec.product_id, request.side, request.limit_price):
            return Refusal(reasons.COMMANDER_REJECTED_NEW_ORDER, "the order would rest crossing one of your own orders")
        size, _ = self._estimate(spec, request)
        price = request.limit_price
        if not self._affordable(spec, request.side, size, price, now, quote=request.quote_size):
            return Refusal(reasons.INSUFFICIENT_FUND, "Insufficient balance in source account")
        return None

    def _estimate(self, spec: ProductSpec, request: OrderRequest) -> tuple[Decimal, Decimal]:
        """(size, notional) the order would trade: at its limit price, else by walking the book."""
        if request.limit_price is not None and request.base_size is not None:
            return request.base_size, spec.notional(request.base_size, request.limit_price)
        if request.base_size is not None:
            size, notional = self._walk(spec, request.side, size=request.base_size)
            if size < request.base_size:  # the book is thin: price the rest at the last level reached
                last = self._last_price[spec.product_id] if not size else notional / spec.base_units(size)
                notional += spec.notional(request.base_size - size, last)
            return request.base_size, notional
        if request.quote_size is None:  # refused already: neither size was given
            return _ZERO, _ZERO
        return self._walk(spec, request.side, quote=request.quote_size)

    def _walk(self, spec: ProductSpec, side: str, size: Decimal | None = None,
              quote: Decimal | None = None) -> tuple[Decimal, Decimal]:
        """(size, notional) a market order of `side` would take from the other owners' orders, up
        to `size`, or up to `quote` of notional (the size then rounded down to the base grid)."""
        engine = self._market.engine(spec.product_id)
        book_side = OFFER if side == BUY else BID
        own: dict[Decimal, Decimal] = {}
        for resting in engine.resting_orders(CLIENT):
            if resting.side != side:
                own[resting.price] = own.get(resting.price, _ZERO) + resting.remaining
        taken = notional = _ZERO
        for price, level_size in engine.levels(book_side):
            available = level_size - own.get(price, _ZERO)
            if available <= 0:
                continue
            if size is not None:
                qty = min(available, size - taken)
            else:
                assert quote is not None
                affordable = (quote - notional) / spec.base_units(price)
                qty = min(available, (affordable // spec.base_increment) * spec.base_increment)
            if qty <= 0:
                break
            taken += qty
            notional += spec.notional(qty, price)
            if size is not None and taken >= size:
                break
        return taken, notional

    def _affordable(self, spec: ProductSpec, side: str, size: Decimal, price: Decimal | None, now: float,
                    quote: Decimal | None = None, replacing: _Order | None = None) -> bool:
        """Whether the account can pay for (or deliver) `size` more at `price` (None: at the book)."""
        if price is None:
            walked = self._walk(spec, side, size=size)[1] if quote is None else quote
            notional = walked
        else:
            notional = spec.notional(size, price)
        freed = self._order_hold(replacing) if replacing is not None else _ZERO
        if spec.product_type == "SPOT":
            balances = {b.currency: b for b in self.spot_balances()}
            if side == BUY:
                usd = balances.get(spec.quote_currency)
                return usd is not None and notional * (1 + self._fees.taker) <= usd.available + freed
            base = balances.get(spec.base_currency)
            held_base = replacing.remaining if replacing is not None else _ZERO
            return base is not None and size <= base.available + held_base
        if not size:
            return True
        perp = self._perps[spec.product_id]
        reducible = max(_ZERO, -perp.net) if side == BUY else max(_ZERO, perp.net)
        increase = max(_ZERO, size - reducible)
        margin = notional * increase / size * spec.initial_margin_rate
        released = notional * (size - increase) / size * spec.initial_margin_rate  # what closing frees
        fee = notional * self._fees.taker
        return margin + fee <= self.summary(now).available_margin + freed + released

    @staticmethod
    def _crosses(engine: Any, side: str, price: Decimal | None) -> bool:
        if price is None:
            return False
        best = engine.best_ask() if side == BUY else engine.best_bid()
        return best is not None and (best <= price if side == BUY else best >= price)

    def _crosses_own(self, product_id: str, side: str, price: Decimal | None) -> bool:
        if price is None:
            return False
        for resting in self._market.engine(product_id).resting_orders(CLIENT):
            if resting.side != side and (resting.price <= price if side == BUY else resting.price >= price):
                return True
        return False

    # ----------------------------------------------------------------- execution

    def _submit(self, order: _Order, now: float) -> None:
        """Send a (triggered) order into the engine: take what crosses, rest or drop the rest."""
        spec = order.spec
        if order.remaining <= 0:
            self._finish(order, CANCELLED, IOC_REMAINDER)
            return
        rests = order.order_type != MARKET and order.tif in (GTC, GTD)
        if rests and self._crosses_own(spec.product_id, order.side, order.limit_price):
            self._finish(order, CANCELLED, reasons.COMMANDER_REJECTED_NEW_ORDER)
            return
        tif = {IOC: "IOC", FOK: "FOK"}.get(order.tif, "GTC")
        result = self._market.submit(
            spec.product_id, now, order.order_id, CLIENT, order.side, order.remaining,
            order_type="market" if order.order_type == MARKET else "limit",
            limit_price=None if order.order_type == MARKET else order.limit_price,
            post_only=order.request.post_only if order.order_type == LIMIT else False,
            tif=tif,
        )
        if result.status == REJECTED:
            if result.reject_reason == FOK_NOT_FILLABLE:
                self._finish(order, CANCELLED, NOT_FILLABLE)
            else:
                order.status, order.reject_reason = FAILED, result.reject_reason
                self._touch(order)
            return
        for trade in result.trades:
            self._fill(order, trade.price, trade.size, TAKER, now)
        if result.status == ENGINE_OPEN:
            order.resting = True
            self._touch(order)
        elif order.remaining == 0:
            order.status = FILLED
            self._touch(order)
        else:
            self._finish(order, CANCELLED, IOC_REMAINDER)
        if result.trades:
            self._last_price[spec.product_id] = result.trades[-1].price
            self._check_stops(spec.product_id, [t.price for t in result.trades], now)

    def _check_stops(self, product_id: str, prices: list[Decimal], now: float) -> None:
        """Trigger waiting stops of the product that any of `prices` reached, oldest first."""
        for price in prices:
            waiting = [o for o in self._orders.values()
                       if o.status == OPEN and not o.triggered and o.request.product_id == product_id]
            for order in waiting:
                stop = order.request.stop_price
                assert stop is not None
                reached = price >= stop if order.request.stop_direction == STOP_UP else price <= stop
                if reached and order.status == OPEN and not order.triggered:
                    order.triggered = True
                    self._touch(order)
                    self._submit(order, now)

    def _finish(self, order: _Order, status: str, reason: str) -> None:
        if order.resting:
            self._market.engine(order.request.product_id).cancel(order.order_id)
            order.resting = False
        order.status = status
        if status in (CANCELLED, EXPIRED):
            order.cancel_reason = reason
        self._touch(order)

    def _fill(self, order: _Order, price: Decimal, size: Decimal, liquidity: str, ts: float) -> None:
        spec = order.spec
        notional = spec.notional(size, price)
        fee = venue_fee(notional, self._fees.maker if liquidity == MAKER else self._fees.taker)
        order.filled += size
        order.price_size += price * size
        order.value += notional
        order.fees += fee
        order.fills += 1
        order.last_fill_ts = ts
        self._fill_seq += 1
        self._fills.append(ClientFill(
            entry_id=self._uuid(3, self._fill_seq),
            trade_id=self._uuid(2, self._fill_seq),
            order_id=order.order_id,
            client_order_id=order.request.client_order_id,
            product_id=spec.product_id,
            side=order.side,
            price=price,
            size=size,
            commission=fee,
            liquidity=liquidity,
            ts=ts,
            sequence=self._fill_seq,
        ))
        if spec.product_type == "SPOT":
            self._settle_spot(spec, order.side, size, notional, fee)
        else:
            self._settle_perp(spec, order.side, price, size, fee, ts)
        self._account_changed = True
        self._touch(order)

    def _settle_spot(self, spec: ProductSpec, side: str, size: Decimal, notional: Decimal, fee: Decimal) -> None:
        base, quote = spec.base_currency, spec.quote_currency
        if side == BUY:
            self._spot[quote] = self._spot.get(quote, _ZERO) - notional - fee
            self._spot[base] = self._spot.get(base, _ZERO) + size
        else:
            self._spot[base] = self._spot.get(base, _ZERO) - size
            self._spot[quote] = self._spot.get(quote, _ZERO) + notional - fee

    def _settle_perp(self, spec: ProductSpec, side: str, price: Decimal, size: Decimal, fee: Decimal,
                     ts: float) -> None:
        """Weighted entry on an increase; PnL realized on the part that closes; a flip opens the
        rest at the fill price."""
        perp = self._perps[spec.product_id]
        signed = size if side == BUY else -size
        if perp.net == 0 or _sign(perp.net) == _sign(signed):
            total = abs(perp.net) + size
            perp.entry = (perp.entry * abs(perp.net) + price * size) / total
            perp.net += signed
        else:
            closing = min(abs(perp.net), size)
            pnl = spec.notional(closing, price - perp.entry) * _sign(perp.net)
            day = _day(ts)
            if perp.day != day:
                perp.day, perp.daily = day, _ZERO
            perp.realized += pnl
            perp.daily += pnl
            self._cfm += pnl
            before = perp.net
            perp.net += signed
            if perp.net == 0:
                perp.entry = _ZERO
            elif _sign(perp.net) != _sign(before):
                perp.entry = price
        self._cfm -= fee

    # ----------------------------------------------------------------- holds and marks

    def _order_hold(self, order: _Order) -> Decimal:
        """Quote held for an open order: a spot buy's cost with the taker fee, a futures order's
        initial margin (its increase of the position is netted in `_perp_hold`)."""
        if order.status != OPEN or order.limit_price is None:
            return _ZERO
        spec = order.spec
        notional = spec.notional(order.remaining, order.limit_price)
        if spec.product_type == "SPOT":
            return notional * (1 + self._fees.taker) if order.side == BUY else _ZERO
        return notional * spec.initial_margin_rate

    def _spot_holds(self) -> dict[str, Decimal]:
        holds: dict[str, Decimal] = {}
        for order in self._orders.values():
            spec = order.spec
            if order.status != OPEN or spec.product_type != "SPOT":
                continue
            if order.side == BUY:
                holds[spec.quote_currency] = holds.get(spec.quote_currency, _ZERO) + self._order_hold(order)
            else:
                holds[spec.base_currency] = holds.get(spec.base_currency, _ZERO) + order.remaining
        return holds

    def _open_sizes(self, product_id: str) -> dict[str, tuple[Decimal, Decimal]]:
        """Per side: (open size, open size x limit price) of the product's open orders."""
        sizes = {BUY: (_ZERO, _ZERO), SELL: (_ZERO, _ZERO)}
        for order in self._orders.values():
            if order.status == OPEN and order.request.product_id == product_id and order.limit_price is not None:
                size, value = sizes[order.side]
                sizes[order.side] = (size + order.remaining, value + order.remaining * order.limit_price)
        return sizes

    def _perp_hold(self, product_id: str) -> Decimal:
        """Initial margin held for the product's open orders beyond what would close the position."""
        spec = self._products[product_id]
        perp = self._perps[product_id]
        hold = _ZERO
        for side, (size, value) in self._open_sizes(product_id).items():
            if size == 0:
                continue
            reducible = max(_ZERO, -perp.net) if side == BUY else max(_ZERO, perp.net)
            increase = max(_ZERO, size - reducible)
            hold += spec.base_units(increase) * (value / size) * spec.initial_margin_rate
        return hold

    def _mark(self, product_id: str) -> Decimal:
        """The book's mid, else the last trade price."""
        engine = self._market.engine(product_id)
        bid, ask = engine.best_bid(), engine.best_ask()
        if bid is not None and ask is not None:
            return (bid + ask) / 2
        return self._last_price[product_id]

    def _position(self, product_id: str, now: float) -> PerpPosition:
        spec = self._products[product_id]
        perp = self._perps[product_id]
        mark = self._mark(product_id)
        notional = abs(spec.notional(perp.net, mark))
        sizes = self._open_sizes(product_id)
        return PerpPosition(
            product_id=product_id,
            net_size=perp.net,
            entry_price=perp.entry,
            mark_price=mark,
            unrealized_pnl=spec.notional(perp.net, mark - perp.entry),
            realized_pnl=perp.realized,
            daily_realized_pnl=perp.daily if perp.day == _day(now) else _ZERO,
            funding=perp.funding,
            notional=notional,
            initial_margin=notional * spec.initial_margin_rate,
            maintenance_margin=notional * spec.maintenance_margin_rate,
            liquidation_price=self._liquidation_price(product_id, now),
            buy_order_size=sizes[BUY][0],
            sell_order_size=sizes[SELL][0],
            leverage=perp.leverage,
            margin_type=perp.margin_type,
        )

    def _liquidation_price(self, product_id: str, now: float) -> Decimal | None:
        """The mark at which the account's equity meets its maintenance margin, all else equal
        (cross margin); None when no positive price does."""
        spec = self._products[product_id]
        perp = self._perps[product_id]
        summary = self.summary(now)
        mark = self._mark(product_id)
        own_unrealized = spec.notional(perp.net, mark - perp.entry)
        own_maintenance = abs(spec.notional(perp.net, mark)) * spec.maintenance_margin_rate
        other_unrealized = summary.unrealized_pnl - own_unrealized
        other_maintenance = summary.maintenance_margin - own_maintenance
        units = spec.base_units(perp.net)
        denominator = units - abs(units) * spec.maintenance_margin_rate
        if denominator == 0:
            return None
        price = (other_maintenance - self._cfm - other_unrealized + units * perp.entry) / denominator
        return price if price > 0 else None

    # ----------------------------------------------------------------- helpers

    def _view(self, order: _Order) -> OrderView:
        return order.view(self._order_hold(order))

    def _touch(self, order: _Order) -> None:
        self._changed[order.order_id] = None

    def _uuid(self, kind: int, number: int) -> str:
        return str(uuid.UUID(int=(self._salt << 72) | (kind << 64) | number))


def _day(ts: float) -> int:
    return math.floor(ts / _DAY_S)
