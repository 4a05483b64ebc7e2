"""The built-in exchange's own settings: the `[exchange]` section of a profile, read by this type
and nothing of the bot's (the bot's schema carries the section as an opaque table).

Owns the section's keys, defaults and checks: the market's tick, and the fee schedule the exchange
charges (Coinbase's rates, independent of the rates the bot assumes). Must never read files or the
environment: the caller hands it the table.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from exchange.orders import FeeSchedule


class ExchangeConfigError(ValueError):
    """A bad `[exchange]` key; the message is one line naming it."""


class ExchangeConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    tick_interval_s: float = 0.1  # seconds between book changes
    maker_fee_rate: Decimal = FeeSchedule().maker
    taker_fee_rate: Decimal = FeeSchedule().taker

    def __post_init__(self) -> None:
        if not 0.001 <= self.tick_interval_s <= 60:
            raise ValueError(f"tick_interval_s: must be from 0.001 to 60 seconds, got {self.tick_interval_s}")
        for name in ("maker_fee_rate", "taker_fee_rate"):
            rate = getattr(self, name)
            if not rate.is_finite() or not 0 <= rate < Decimal("0.1"):
                raise ValueError(f"{name}: must be a fraction from 0 to 0.1, got {rate}")

    @property
    def fees(self) -> FeeSchedule:
        return FeeSchedule(self.maker_fee_rate, self.taker_fee_rate)


def exchange_config(table: dict[str, Any]) -> ExchangeConfig:
    """The `[exchange]` table as settings; ExchangeConfigError names the bad key."""
    try:
        return msgspec.convert(table, ExchangeConfig, strict=False)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `$")
        where = where.strip("`.")
        named = f"{where}: " if where else ""
        raise ExchangeConfigError(f"[exchange] {named}{message.replace('`', chr(34))}") from None
