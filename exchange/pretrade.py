"""The checks a new order (or an edit) must pass at the built-in exchange, and its preview.

Owns the refusal of an order request in Coinbase's failure reasons: product, side and kind, size
and price increments and minimums, stop direction, GTD end, leverage, post-only crossing, resting
across one of the client's own orders, and funds (spot balance with holds, or futures margin after
what closing frees); and the estimate of what an order would trade (at its limit, else walking the
book past the client's own orders), which previews and quote-funded market orders use; and the
previews of an order and of an edit (what it would cost, with the refusal it would get).

Pure: reads the market's engines and the ledger, changes nothing. Must never create, change or
fill an order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterable

from domain.fees import venue_fee
from domain.matching import BID, BUY, OFFER, SELL
from domain.products import ProductSpec
from exchange import failure_reasons as reasons
from exchange.ledger import Ledger
from exchange.market import SyntheticMarket
from exchange.orders import (
    CLIENT,
    FUTURES_ONLY_KINDS,
    GTC,
    GTD,
    LIMIT,
    MARKET,
    OPEN,
    ORDER_KINDS,
    STOP_DOWN,
    STOP_LIMIT,
    STOP_UP,
    EditPreview,
    FeeSchedule,
    OrderRequest,
    Preview,
    Refusal,
    WorkingOrder,
    on_grid,
)

_ZERO = Decimal(0)
_ONE = Decimal(1)


class PreTradeChecks:
    """The exchange's order checks over its market and the client's ledger."""

    def __init__(self, market: SyntheticMarket, products: dict[str, ProductSpec], ledger: Ledger,
                 fees: FeeSchedule) -> None:
        self._market = market
        self._products = products
        self._ledger = ledger
        self._fees = fees

    def refusal(self, request: OrderRequest, now: float, orders: Iterable[WorkingOrder]) -> Refusal | None:
        """Why `request` may not become an order now; None when it may."""
        spec = self._products.get(request.product_id)
        if spec is None:
            return Refusal(reasons.INVALID_PRODUCT_ID, f"unknown product {request.product_id!r}")
        if request.side not in (BUY, SELL):
            return Refusal(reasons.INVALID_SIDE, "side must be BUY or SELL")
        if request.kind not in ORDER_KINDS or (request.kind in FUTURES_ONLY_KINDS and spec.product_type != "FUTURE"):
            return Refusal(reasons.UNSUPPORTED_ORDER_CONFIGURATION,
                           f"{request.kind} is not offered on {spec.product_id}")
        order_type, tif = ORDER_KINDS[request.kind]
        sized = self._size_refusal(spec, request, order_type)
        if sized is not None:
            return sized
        for name, price in (("limit_price", request.limit_price), ("stop_price", request.stop_price)):
            needed = order_type != MARKET if name == "limit_price" else order_type == STOP_LIMIT
            if price is None:
                if needed:
                    return Refusal(reasons.INVALID_PRICE_PRECISION, f"{name} is required")
                continue
            if not price > 0:
                return Refusal(reasons.INVALID_LIMIT_PRICE, f"{name} must be > 0",
                               reasons.PREVIEW_INVALID_STOP_PRICE if name == "stop_price" else "")
            if not on_grid(price, spec.price_increment):
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
        if rests and request.post_only and self.crosses(engine, request.side, request.limit_price):
            return Refusal(reasons.INVALID_LIMIT_PRICE_POST_ONLY, "a post-only order would cross the book")
        if rests and self.crosses_own(spec.product_id, request.side, request.limit_price):
            return Refusal(reasons.COMMANDER_REJECTED_NEW_ORDER, "the order would rest crossing one of your own orders")
        size, _ = self.estimate(spec, request)
        if not self.affordable(spec, request.side, size, request.limit_price, now, orders, quote=request.quote_size):
            return Refusal(reasons.INSUFFICIENT_FUND, "Insufficient balance in source account")
        return None

    def preview(self, request: OrderRequest, now: float, orders: Iterable[WorkingOrder], preview_id: str) -> Preview:
        """What `create` would do with this order now, without doing it."""
        refusal = self.refusal(request, now, orders)
        errors = (refusal.preview_reason(),) if refusal is not None else ()
        spec = self._products.get(request.product_id)
        bid = ask = None
        if spec is None:
            return Preview(preview_id, errors, _ZERO, _ZERO, _ZERO, _ZERO, _ZERO, _ZERO, bid, ask, _ZERO, _ONE)
        engine = self._market.engine(spec.product_id)
        bid, ask = engine.best_bid(), engine.best_ask()
        size, notional = self.estimate(spec, request)
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

    def edit_refusal(self, order: WorkingOrder | None, price: Decimal, size: Decimal, now: float,
                     orders: Iterable[WorkingOrder]) -> str:
        """Why an edit of `order` (None: no such order) would be refused now; "" when it would not."""
        if order is None:
            return reasons.ORDER_NOT_FOUND
        if order.status != OPEN:
            return reasons.ONLY_OPEN_ORDERS_CAN_BE_EDITED
        if order.order_type == MARKET or order.tif != GTC:
            return reasons.ONLY_LIMIT_ORDER_EDITS_SUPPORTED
        spec = order.spec
        if not (price > 0 and on_grid(price, spec.price_increment)):
            return reasons.INVALID_EDITED_PRICE
        if not (size > 0 and on_grid(size, spec.base_increment) and size >= spec.base_min_size):
            return reasons.INVALID_EDITED_SIZE
        if size <= order.filled:
            return reasons.CANNOT_EDIT_TO_BELOW_FILLED_SIZE
        if price == order.limit_price and size == order.base_size:
            return reasons.EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST
        engine = self._market.engine(spec.product_id)
        if order.resting and order.request.post_only and self.crosses(engine, order.side, price):
            return reasons.INVALID_LIMIT_PRICE_POST_ONLY
        if order.resting and price != order.limit_price and self.crosses_own(spec.product_id, order.side, price):
            return reasons.COMMANDER_REJECTED_NEW_ORDER
        if not self.affordable(spec, order.side, size - order.filled, price, now, orders, replacing=order):
            return reasons.INSUFFICIENT_FUND
        return ""

    def edit_preview(self, order: WorkingOrder | None, price: Decimal, size: Decimal, now: float,
                     orders: Iterable[WorkingOrder]) -> EditPreview:
        """What an edit of `order` would make of it now, without doing it."""
        reason = self.edit_refusal(order, price, size, now, orders)
        if order is None:
            return EditPreview(reason, _ZERO, _ZERO, None, None)
        engine = self._market.engine(order.spec.product_id)
        notional = order.spec.notional(size, price)
        commission = venue_fee(notional, self._fees.maker if order.request.post_only else self._fees.taker)
        total = notional + commission if order.side == BUY else notional - commission
        return EditPreview(reason, total, commission, engine.best_bid(), engine.best_ask())

    @staticmethod
    def _size_refusal(spec: ProductSpec, request: OrderRequest, order_type: str) -> Refusal | None:
        if request.base_size is not None:
            size = request.base_size
            if not (size > 0 and on_grid(size, spec.base_increment) and size >= spec.base_min_size):
                small = size < spec.base_min_size
                return Refusal(reasons.UNKNOWN_FAILURE_REASON if small else reasons.INVALID_SIZE_PRECISION,
                               f"base_size must be >= {spec.base_min_size} on the {spec.base_increment} grid",
                               reasons.PREVIEW_INVALID_BASE_SIZE_TOO_SMALL if small else "")
            return None
        if request.quote_size is not None and order_type == MARKET and spec.product_type == "SPOT":
            quote = request.quote_size
            if not (quote > 0 and on_grid(quote, spec.quote_increment) and quote >= spec.quote_min_size):
                small = quote < spec.quote_min_size
                return Refusal(reasons.UNKNOWN_FAILURE_REASON if small else reasons.INVALID_SIZE_PRECISION,
                               f"quote_size must be >= {spec.quote_min_size} on the {spec.quote_increment} grid",
                               reasons.PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL if small
                               else reasons.PREVIEW_INVALID_QUOTE_SIZE_PRECISION)
            return None
        return Refusal(reasons.INVALID_SIZE_PRECISION,
                       "base_size is required" if spec.product_type == "FUTURE" or order_type != MARKET
                       else "one of base_size or quote_size is required")

    def estimate(self, spec: ProductSpec, request: OrderRequest) -> tuple[Decimal, Decimal]:
        """(size, notional) the order would trade: at its limit price, else by walking the book."""
        if request.limit_price is not None and request.base_size is not None:
            return request.base_size, spec.notional(request.base_size, request.limit_price)
        if request.base_size is not None:
            size, notional = self.walk(spec, request.side, size=request.base_size)
            if size < request.base_size:  # the book is thin: price the rest at the last level reached
                last = self._ledger.last_price[spec.product_id] if not size else notional / spec.base_units(size)
                notional += spec.notional(request.base_size - size, last)
            return request.base_size, notional
        if request.quote_size is None:  # refused already: neither size was given
            return _ZERO, _ZERO
        return self.walk(spec, request.side, quote=request.quote_size)

    def walk(self, spec: ProductSpec, side: str, size: Decimal | None = None,
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

    def affordable(self, spec: ProductSpec, side: str, size: Decimal, price: Decimal | None, now: float,
                   orders: Iterable[WorkingOrder], quote: Decimal | None = None,
                   replacing: WorkingOrder | None = None) -> bool:
        """Whether the account can pay for (or deliver) `size` more at `price` (None: at the book)."""
        if price is None:
            notional = self.walk(spec, side, size=size)[1] if quote is None else quote
        else:
            notional = spec.notional(size, price)
        freed = self._ledger.order_hold(replacing) if replacing is not None else _ZERO
        if spec.product_type == "SPOT":
            balances = {b.currency: b for b in self._ledger.spot_balances(orders)}
            if side == BUY:
                usd = balances.get(spec.quote_currency)
                return usd is not None and notional * (1 + self._fees.taker) <= usd.available + freed
            base = balances.get(spec.base_currency)
            held_base = replacing.remaining if replacing is not None else _ZERO
            return base is not None and size <= base.available + held_base
        if not size:
            return True
        perp = self._ledger.perps[spec.product_id]
        reducible = max(_ZERO, -perp.net) if side == BUY else max(_ZERO, perp.net)
        increase = max(_ZERO, size - reducible)
        margin = notional * increase / size * spec.initial_margin_rate
        released = notional * (size - increase) / size * spec.initial_margin_rate  # what closing frees
        fee = notional * self._fees.taker
        return margin + fee <= self._ledger.summary(orders, now).available_margin + freed + released

    @staticmethod
    def crosses(engine: Any, side: str, price: Decimal | None) -> bool:
        if price is None:
            return False
        best = engine.best_ask() if side == BUY else engine.best_bid()
        return best is not None and (best <= price if side == BUY else best >= price)

    def crosses_own(self, product_id: str, side: str, price: Decimal | None) -> bool:
        if price is None:
            return False
        for resting in self._market.engine(product_id).resting_orders(CLIENT):
            if resting.side != side and (resting.price <= price if side == BUY else resting.price >= price):
                return True
        return False
