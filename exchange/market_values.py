"""The values the synthetic market hands out: a level's new size, a printed trade, one step's
changes and trades per product, and a product's ticker figures.

Values only: must never hold market state or know about wire formats.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from domain.matching import Trade


class LevelChange(msgspec.Struct, frozen=True):
    """New absolute aggregate size at one price; size 0 means the level is gone."""

    side: str  # "bid" / "offer"
    price: Decimal
    size: Decimal


class MarketTrade(msgspec.Struct, frozen=True):
    """A trade printed by the engine, stamped with the market time it happened."""

    product_id: str
    ts: float
    trade: Trade


class ProductStep(msgspec.Struct, frozen=True):
    """What changed on one product during one step."""

    product_id: str
    changes: tuple[LevelChange, ...]
    trades: tuple[MarketTrade, ...]


class MarketStep(msgspec.Struct, frozen=True):
    """The outcome of `SyntheticMarket.step`: changes and trades per product, catalog order."""

    ts: float
    products: tuple[ProductStep, ...]

    def of(self, product_id: str) -> ProductStep:
        for product in self.products:
            if product.product_id == product_id:
                return product
        raise KeyError(product_id)


class TickerStats(msgspec.Struct, frozen=True):
    """The ticker channel's fields for one product; 24 h and 52 w figures are approximations."""

    product_id: str
    price: Decimal
    volume_24_h: Decimal
    low_24_h: Decimal
    high_24_h: Decimal
    low_52_w: Decimal
    high_52_w: Decimal
    price_percent_chg_24_h: Decimal
    best_bid: Decimal | None
    best_bid_quantity: Decimal
    best_ask: Decimal | None
    best_ask_quantity: Decimal
