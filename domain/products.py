"""The product catalog: the trading rules of each product (increments, minimums, contract size).

Owns the static definitions of the two products the built-in exchange lists. Later issues fill the
same structure from the `status` channel and the products endpoint. Must never hold market state.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import msgspec


def round_to_step(value: Decimal, step: Decimal, *, up: bool) -> Decimal:
    """`value` on the grid of `step`: the nearest multiple at or above (up) or at or below."""
    steps = (value / step).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return steps * step


class ProductSpec(msgspec.Struct, frozen=True):
    """Trading rules of one product, in the units Coinbase uses on the wire.

    Sizes are in venue units: base currency for spot, whole contracts for futures
    (`contract_size` base units each). `price_increment` is the limit-price tick; it is not
    `quote_increment` (the quote-funds step), which differs for futures.
    """

    product_id: str
    product_type: str  # "SPOT" or "FUTURE"
    base_currency: str
    quote_currency: str
    base_increment: Decimal
    price_increment: Decimal
    quote_increment: Decimal
    base_min_size: Decimal
    quote_min_size: Decimal
    contract_size: Decimal = Decimal(1)
    is_perpetual: bool = False
    funding_interval_s: int = 0
    funding_rate: Decimal = Decimal(0)  # per funding interval; positive: longs pay shorts
    display_name: str = ""
    # The venue's trading mode for the product (products endpoint): what orders it takes right now.
    trading_disabled: bool = False
    cancel_only: bool = False
    limit_only: bool = False
    post_only: bool = False
    # Margin as fractions of notional. Spot is fully funded and cannot be liquidated.
    initial_margin_rate: Decimal = Decimal(1)
    maintenance_margin_rate: Decimal = Decimal(0)

    def base_units(self, size: Decimal) -> Decimal:
        """Venue size (base or contracts) expressed in base currency units."""
        return size * self.contract_size

    def notional(self, size: Decimal, price: Decimal) -> Decimal:
        """Quote-currency value of `size` venue units at `price`."""
        return size * self.contract_size * price


BTC_USD = ProductSpec(
    product_id="BTC-USD",
    product_type="SPOT",
    base_currency="BTC",
    quote_currency="USD",
    base_increment=Decimal("0.00000001"),
    price_increment=Decimal("0.01"),
    quote_increment=Decimal("0.01"),
    base_min_size=Decimal("0.00000001"),
    quote_min_size=Decimal("1"),
    display_name="BTC/USD",
)

BTC_PERP = ProductSpec(
    product_id="BIP-20DEC30-CDE",
    product_type="FUTURE",
    base_currency="BTC",
    quote_currency="USD",
    base_increment=Decimal("1"),
    price_increment=Decimal("5"),
    quote_increment=Decimal("0.01"),
    base_min_size=Decimal("1"),
    quote_min_size=Decimal("0"),
    contract_size=Decimal("0.01"),
    is_perpetual=True,
    funding_interval_s=3600,
    funding_rate=Decimal("0.0001"),
    display_name="BTC PERP",
    initial_margin_rate=Decimal("0.1"),  # 10x at most
    maintenance_margin_rate=Decimal("0.05"),
)

CATALOG: dict[str, ProductSpec] = {p.product_id: p for p in (BTC_USD, BTC_PERP)}
