"""The built-in exchange's API client: the life of its orders and fills.

Owns everything that happens to the one trading client's orders behind the private REST and the
`user` channel: create (a repeated `client_order_id` returns the original order), preview, cancel,
edit and its preview, close position; orders of every kind (market IOC/FOK, limit GTC/GTD/IOC/FOK,
post-only, stop-limit GTC/GTD held off the book until the last trade reaches the stop), their state
(status, cumulative size, value, fees, number of fills), expiry, and fills with unique trade ids
and liquidity MAKER/TAKER charged the venue fee. What an order may do is `pretrade.py`'s; what the
money and positions become is the ledger's (`ledger.py`); the values returned are `orders.py`'s.

Orders trade on the synthetic market's own matching engines under the owner `CLIENT`: a taker walks
the book and prints like any other taker; what rests can be hit by the synthetic takers and makers
(`on_market_step` applies those fills).

Pure: a plain class driven by the exchange server under its lock, time passed in as epoch seconds,
randomness only from the seed (ids). Must never read clocks, touch sockets, format wire text or
know HTTP; the values it returns are turned into JSON by `private_rest.py` and `frames.py`.
"""

from __future__ import annotations

import random
import uuid
from decimal import Decimal
from typing import Iterable, Sequence

from domain.fees import venue_fee
from domain.matching import BUY, FOK_NOT_FILLABLE, REJECTED, SELL
from domain.matching import OPEN as ENGINE_OPEN
from domain.products import ProductSpec
from exchange import failure_reasons as reasons
from exchange.account import PaperAccount
from exchange.ledger import Ledger
from exchange.market import SyntheticMarket
from exchange.market_values import MarketStep
from exchange.orders import (
    CANCELLED,
    CLIENT,
    EXPIRED,
    FAILED,
    FILLED,
    FOK,
    GTC,
    GTD,
    IOC,
    IOC_REMAINDER,
    LIMIT,
    MAKER,
    MARKET,
    NOT_FILLABLE,
    OPEN,
    STOP_UP,
    TAKER,
    USER_CANCEL,
    BalanceSummary,
    ClientFill,
    EditPreview,
    EditRecord,
    FeeSchedule,
    OrderRequest,
    OrderView,
    PerpPosition,
    Preview,
    Refusal,
    SpotBalance,
    WorkingOrder,
    on_grid,
)
from exchange.pretrade import PreTradeChecks

_CANCEL_REFUSED = {FILLED: reasons.ORDER_IS_FULLY_FILLED, CANCELLED: reasons.DUPLICATE_CANCEL_REQUEST}
_ZERO = Decimal(0)
_ONE = Decimal(1)


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
        self._orders: dict[str, WorkingOrder] = {}  # by order id, in creation order
        self._by_client_id: dict[str, str] = {}
        self._fills: list[ClientFill] = []
        self._ledger = Ledger(market, self._products, account, self._fees, start_ts)
        self._checks = PreTradeChecks(market, self._products, self._ledger, self._fees)
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
        refusal = self._checks.refusal(request, now, self._orders.values())
        if refusal is not None:
            return refusal
        spec = self._products[request.product_id]
        self._order_seq += 1
        order = WorkingOrder(self._uuid(1, self._order_seq), request, spec, now)
        self._orders[order.order_id] = order
        self._by_client_id[request.client_order_id] = order.order_id
        if spec.product_type == "FUTURE":
            perp = self._ledger.perps[spec.product_id]
            if request.leverage is not None:
                perp.leverage = request.leverage
            if request.margin_type:
                perp.margin_type = request.margin_type
        if order.base_size is None:  # market by quote funds: the size the funds buy now
            order.base_size, _ = self._checks.walk(spec, order.side, quote=request.quote_size)
        self._touch(order)
        if order.triggered:
            self._submit(order, now)
        else:
            self._check_stops(spec.product_id, [self._ledger.last_price[spec.product_id]], now)
        return self._view(order)

    def preview(self, request: OrderRequest, now: float) -> Preview:
        """What `create` would do with this order now, without doing it."""
        self._preview_seq += 1
        return self._checks.preview(request, now, self._orders.values(), self._uuid(4, self._preview_seq))

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
        return self._checks.edit_refusal(self._orders.get(order_id), price, size, now, self._orders.values())

    def edit_preview(self, order_id: str, price: Decimal, size: Decimal, now: float) -> EditPreview:
        """What `edit` would make of this order now, without doing it."""
        return self._checks.edit_preview(self._orders.get(order_id), price, size, now, self._orders.values())

    def edit(self, order_id: str, price: Decimal, size: Decimal, now: float) -> str:
        """Change an open GTC limit or stop-limit order's price and size; "" when done, else why not.

        A smaller size at the same price keeps the order's place in the queue; any other change
        re-enters it at the back (and it trades at once if the new price crosses)."""
        reason = self.edit_refusal(order_id, price, size, now)
        if reason:
            return reason
        order = self._orders[order_id]
        engine, new_remaining = self._market.engine(order.spec.product_id), size - order.filled
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
        perp = self._ledger.perps.get(product_id)
        if perp is None or perp.net == 0:
            return Refusal(reasons.INVALID_REQUEST, f"no open position in {product_id}")
        size = abs(perp.net) if size is None else size
        if not (0 < size <= abs(perp.net) and on_grid(size, spec.base_increment)):
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
                self._ledger.last_price[product.product_id] = prices[-1]
                self._check_stops(product.product_id, prices, now)
        self.on_time(now)

    def on_time(self, now: float) -> None:
        """Expire GTD orders whose end has come and settle funding on open perpetual positions."""
        for order in [o for o in self._orders.values() if o.status == OPEN and o.request.end_ts is not None]:
            assert order.request.end_ts is not None
            if now >= order.request.end_ts:
                self._finish(order, EXPIRED, "")
        if self._ledger.settle_funding(now):
            self._account_changed = True

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
        return self._ledger.spot_balances(self._orders.values())

    def perp_positions(self, now: float, product_ids: Iterable[str] = ()) -> list[PerpPosition]:
        """Open futures positions (of these products; all when none named)."""
        return self._ledger.perp_positions(self._orders.values(), now, product_ids)

    def summary(self, now: float) -> BalanceSummary:
        return self._ledger.summary(self._orders.values(), now)

    # ----------------------------------------------------------------- execution

    def _submit(self, order: WorkingOrder, now: float) -> None:
        """Send a (triggered) order into the engine: take what crosses, rest or drop the rest."""
        spec = order.spec
        if order.remaining <= 0:
            self._finish(order, CANCELLED, IOC_REMAINDER)
            return
        rests = order.order_type != MARKET and order.tif in (GTC, GTD)
        if rests and self._checks.crosses_own(spec.product_id, order.side, order.limit_price):
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
            self._ledger.last_price[spec.product_id] = result.trades[-1].price
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

    def _finish(self, order: WorkingOrder, status: str, reason: str) -> None:
        if order.resting:
            self._market.engine(order.request.product_id).cancel(order.order_id)
            order.resting = False
        order.status = status
        if status in (CANCELLED, EXPIRED):
            order.cancel_reason = reason
        self._touch(order)

    def _fill(self, order: WorkingOrder, price: Decimal, size: Decimal, liquidity: str, ts: float) -> None:
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
        self._ledger.settle_fill(spec, order.side, price, size, notional, fee, ts)
        self._account_changed = True
        self._touch(order)

    # ----------------------------------------------------------------- helpers

    def _view(self, order: WorkingOrder) -> OrderView:
        return order.view(self._ledger.order_hold(order))

    def _touch(self, order: WorkingOrder) -> None:
        self._changed[order.order_id] = None

    def _uuid(self, kind: int, number: int) -> str:
        return str(uuid.UUID(int=(self._salt << 72) | (kind << 64) | number))

