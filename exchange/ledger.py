"""The built-in exchange's account ledger: the client's money and positions.

Owns the futures (CFM) cash, spot balances, each futures position (net contracts, entry vwap,
realized and daily PnL, funding paid, leverage and margin type), the marks positions are valued
at (the book's mid, else the last trade), hourly funding, the holds open orders put on the money,
and the figures derived from all that: spot balances with holds, positions with margin and
liquidation price, and the futures balance summary.

Pure: driven by `ClientOrders` (under the server's lock) with the orders it holds and the time
passed in. Must never decide whether an order may trade (`pretrade.py`) or change an order.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Iterable

from domain.control import utc_day
from domain.matching import BUY, SELL
from domain.products import ProductSpec
from exchange.account import PaperAccount
from exchange.market import SyntheticMarket
from exchange.orders import OPEN, BalanceSummary, FeeSchedule, PerpPosition, SpotBalance, WorkingOrder, sign

_ZERO = Decimal(0)
_ONE = Decimal(1)


class PerpHolding:
    """Mutable state of one futures position."""

    def __init__(self) -> None:
        self.net = _ZERO
        self.entry = _ZERO
        self.realized = _ZERO
        self.daily = _ZERO
        self.day = -1
        self.funding = _ZERO
        self.leverage = _ONE
        self.margin_type = "CROSS"


class Ledger:
    """The client's account. `orders` arguments are every order the client has (open ones count)."""

    def __init__(self, market: SyntheticMarket, products: dict[str, ProductSpec], account: PaperAccount,
                 fees: FeeSchedule, start_ts: float) -> None:
        self._market = market
        self._products = products
        self._fees = fees
        self.cfm = account.cfm_usd_balance
        self.spot: dict[str, Decimal] = {"USD": account.cbi_usd_balance, **dict(account.spot_assets)}
        for spec in products.values():
            if spec.product_type == "SPOT":
                self.spot.setdefault(spec.base_currency, _ZERO)
                self.spot.setdefault(spec.quote_currency, _ZERO)
        self.perps: dict[str, PerpHolding] = {
            pid: PerpHolding() for pid, spec in products.items() if spec.product_type == "FUTURE"
        }
        self.last_price = {pid: market.ticker(pid).price for pid in products}
        self._next_funding = {
            pid: (math.floor(start_ts / spec.funding_interval_s) + 1) * spec.funding_interval_s
            for pid, spec in products.items() if spec.is_perpetual and spec.funding_interval_s > 0
        }

    # ----------------------------------------------------------------- money moves

    def settle_fill(self, spec: ProductSpec, side: str, price: Decimal, size: Decimal, notional: Decimal,
                    fee: Decimal, ts: float) -> None:
        if spec.product_type == "SPOT":
            self._settle_spot(spec, side, size, notional, fee)
        else:
            self._settle_perp(spec, side, price, size, fee, ts)

    def settle_funding(self, now: float) -> bool:
        """Charge (or pay) funding on open perpetual positions whose time has come; True if money moved."""
        moved = False
        for product_id, due in list(self._next_funding.items()):
            spec = self._products[product_id]
            if now < due:
                continue
            perp = self.perps[product_id]
            if perp.net != 0:  # longs pay a positive rate; one payment however late the call
                payment = spec.notional(perp.net, self.mark(product_id)) * spec.funding_rate
                perp.funding += payment
                self.cfm -= payment
                moved = True
            interval = spec.funding_interval_s
            self._next_funding[product_id] = (math.floor(now / interval) + 1) * interval
        return moved

    def _settle_spot(self, spec: ProductSpec, side: str, size: Decimal, notional: Decimal, fee: Decimal) -> None:
        base, quote = spec.base_currency, spec.quote_currency
        if side == BUY:
            self.spot[quote] = self.spot.get(quote, _ZERO) - notional - fee
            self.spot[base] = self.spot.get(base, _ZERO) + size
        else:
            self.spot[base] = self.spot.get(base, _ZERO) - size
            self.spot[quote] = self.spot.get(quote, _ZERO) + notional - fee

    def _settle_perp(self, spec: ProductSpec, side: str, price: Decimal, size: Decimal, fee: Decimal,
                     ts: float) -> None:
        """Weighted entry on an increase; PnL realized on the part that closes; a flip opens the
        rest at the fill price."""
        perp = self.perps[spec.product_id]
        signed = size if side == BUY else -size
        if perp.net == 0 or sign(perp.net) == sign(signed):
            total = abs(perp.net) + size
            perp.entry = (perp.entry * abs(perp.net) + price * size) / total
            perp.net += signed
        else:
            closing = min(abs(perp.net), size)
            pnl = spec.notional(closing, price - perp.entry) * sign(perp.net)
            day = utc_day(ts)
            if perp.day != day:
                perp.day, perp.daily = day, _ZERO
            perp.realized += pnl
            perp.daily += pnl
            self.cfm += pnl
            before = perp.net
            perp.net += signed
            if perp.net == 0:
                perp.entry = _ZERO
            elif sign(perp.net) != sign(before):
                perp.entry = price
        self.cfm -= fee

    # ----------------------------------------------------------------- holds and marks

    def mark(self, product_id: str) -> Decimal:
        """The book's mid, else the last trade price."""
        engine = self._market.engine(product_id)
        bid, ask = engine.best_bid(), engine.best_ask()
        if bid is not None and ask is not None:
            return (bid + ask) / 2
        return self.last_price[product_id]

    def order_hold(self, order: WorkingOrder) -> Decimal:
        """Quote held for an open order: a spot buy's cost with the taker fee, a futures order's
        initial margin (its increase of the position is netted in `_perp_hold`)."""
        if order.status != OPEN or order.limit_price is None:
            return _ZERO
        spec = order.spec
        notional = spec.notional(order.remaining, order.limit_price)
        if spec.product_type == "SPOT":
            return notional * (1 + self._fees.taker) if order.side == BUY else _ZERO
        return notional * spec.initial_margin_rate

    def _spot_holds(self, orders: Iterable[WorkingOrder]) -> dict[str, Decimal]:
        holds: dict[str, Decimal] = {}
        for order in orders:
            spec = order.spec
            if order.status != OPEN or spec.product_type != "SPOT":
                continue
            if order.side == BUY:
                holds[spec.quote_currency] = holds.get(spec.quote_currency, _ZERO) + self.order_hold(order)
            else:
                holds[spec.base_currency] = holds.get(spec.base_currency, _ZERO) + order.remaining
        return holds

    @staticmethod
    def _open_sizes(orders: Iterable[WorkingOrder], product_id: str) -> dict[str, tuple[Decimal, Decimal]]:
        """Per side: (open size, open size x limit price) of the product's open orders."""
        sizes = {BUY: (_ZERO, _ZERO), SELL: (_ZERO, _ZERO)}
        for order in orders:
            if order.status == OPEN and order.request.product_id == product_id and order.limit_price is not None:
                size, value = sizes[order.side]
                sizes[order.side] = (size + order.remaining, value + order.remaining * order.limit_price)
        return sizes

    def _perp_hold(self, orders: Iterable[WorkingOrder], product_id: str) -> Decimal:
        """Initial margin held for the product's open orders beyond what would close the position."""
        spec = self._products[product_id]
        perp = self.perps[product_id]
        hold = _ZERO
        for side, (size, value) in self._open_sizes(orders, product_id).items():
            if size == 0:
                continue
            reducible = max(_ZERO, -perp.net) if side == BUY else max(_ZERO, perp.net)
            increase = max(_ZERO, size - reducible)
            hold += spec.base_units(increase) * (value / size) * spec.initial_margin_rate
        return hold

    # ----------------------------------------------------------------- what the account shows

    def spot_balances(self, orders: Iterable[WorkingOrder]) -> list[SpotBalance]:
        holds = self._spot_holds(orders)
        return [SpotBalance(c, b, holds.get(c, _ZERO)) for c, b in self.spot.items()]

    def perp_positions(self, orders: Iterable[WorkingOrder], now: float,
                       product_ids: Iterable[str] = ()) -> list[PerpPosition]:
        """Open futures positions (of these products; all when none named)."""
        wanted = set(product_ids)
        return [self._position(orders, pid, now) for pid, perp in self.perps.items()
                if perp.net != 0 and (not wanted or pid in wanted)]

    def summary(self, orders: Iterable[WorkingOrder], now: float) -> BalanceSummary:
        unrealized = initial = maintenance = holds = daily = _ZERO
        for product_id, perp in self.perps.items():
            spec = self._products[product_id]
            holds += self._perp_hold(orders, product_id)
            if perp.day == utc_day(now):
                daily += perp.daily
            if perp.net == 0:
                continue
            mark = self.mark(product_id)
            notional = abs(spec.notional(perp.net, mark))
            unrealized += spec.notional(perp.net, mark - perp.entry)
            initial += notional * spec.initial_margin_rate
            maintenance += notional * spec.maintenance_margin_rate
        equity = self.cfm + unrealized
        available = equity - initial - holds
        buffer = equity - maintenance
        cbi = self.spot.get("USD", _ZERO)
        return BalanceSummary(
            futures_buying_power=max(_ZERO, available),
            total_usd_balance=self.cfm + cbi,
            cbi_usd_balance=cbi,
            cfm_usd_balance=self.cfm,
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

    def _position(self, orders: Iterable[WorkingOrder], product_id: str, now: float) -> PerpPosition:
        spec = self._products[product_id]
        perp = self.perps[product_id]
        mark = self.mark(product_id)
        notional = abs(spec.notional(perp.net, mark))
        sizes = self._open_sizes(orders, product_id)
        return PerpPosition(
            product_id=product_id,
            net_size=perp.net,
            entry_price=perp.entry,
            mark_price=mark,
            unrealized_pnl=spec.notional(perp.net, mark - perp.entry),
            realized_pnl=perp.realized,
            daily_realized_pnl=perp.daily if perp.day == utc_day(now) else _ZERO,
            funding=perp.funding,
            notional=notional,
            initial_margin=notional * spec.initial_margin_rate,
            maintenance_margin=notional * spec.maintenance_margin_rate,
            liquidation_price=self._liquidation_price(orders, product_id, now),
            buy_order_size=sizes[BUY][0],
            sell_order_size=sizes[SELL][0],
            leverage=perp.leverage,
            margin_type=perp.margin_type,
        )

    def _liquidation_price(self, orders: Iterable[WorkingOrder], product_id: str, now: float) -> Decimal | None:
        """The mark at which the account's equity meets its maintenance margin, all else equal
        (cross margin); None when no positive price does."""
        spec = self._products[product_id]
        perp = self.perps[product_id]
        summary = self.summary(orders, now)
        mark = self.mark(product_id)
        own_unrealized = spec.notional(perp.net, mark - perp.entry)
        own_maintenance = abs(spec.notional(perp.net, mark)) * spec.maintenance_margin_rate
        other_unrealized = summary.unrealized_pnl - own_unrealized
        other_maintenance = summary.maintenance_margin - own_maintenance
        units = spec.base_units(perp.net)
        denominator = units - abs(units) * spec.maintenance_margin_rate
        if denominator == 0:
            return None
        price = (other_maintenance - self.cfm - other_unrealized + units * perp.entry) / denominator
        return price if price > 0 else None
