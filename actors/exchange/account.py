"""The paper account the built-in exchange reports on the private channels.

Owns the account's starting money: USD in the futures (CFM) account, which margins futures, and in
the spot (CBI) account, which pays for spot buys. What trading does to it (fills, fees, holds,
positions, PnL, funding) is `client_orders.py`'s.
Values only: must never read clocks, touch sockets or format wire text (`frames.py` does that).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec


class PaperAccount(msgspec.Struct, frozen=True):
    cfm_usd_balance: Decimal = Decimal("100000")  # USD in the futures account: the trading margin
    cbi_usd_balance: Decimal = Decimal(0)  # USD in the spot account

    def __post_init__(self) -> None:
        for field in ("cfm_usd_balance", "cbi_usd_balance"):
            value = getattr(self, field)
            if not value.is_finite() or value < 0:
                raise ValueError(f"{field}: must be a finite amount >= 0, got {value}")

    @property
    def total_usd_balance(self) -> Decimal:
        return self.cfm_usd_balance + self.cbi_usd_balance
