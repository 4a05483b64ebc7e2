"""The paper account the built-in exchange reports on the private channels.

Owns the account's starting money: USD in the futures (CFM) account, which margins futures, and in
the spot (CBI) account, which pays for spot buys, plus any other spot asset held from the start
(BTC, so a spot sell can fill); and the reading of `ASSET=AMOUNT` as given on the command line.
What trading does to it (fills, fees, holds, positions, PnL, funding) is `client_orders.py`'s.
Values only: must never read clocks, touch sockets or format wire text (`frames.py` does that).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import msgspec

DEFAULT_CASH = Decimal("100000")  # `exchange --cash`: USD in the futures account
DEFAULT_SPOT = (("USD", Decimal("20000")), ("BTC", Decimal("0.1")))  # `exchange --spot-balance`: both sides trade
MAX_AMOUNT = Decimal("1e15")


class PaperAccount(msgspec.Struct, frozen=True):
    cfm_usd_balance: Decimal = DEFAULT_CASH  # USD in the futures account: the trading margin
    cbi_usd_balance: Decimal = dict(DEFAULT_SPOT)["USD"]  # USD in the spot account
    spot_assets: tuple[tuple[str, Decimal], ...] = tuple(p for p in DEFAULT_SPOT if p[0] != "USD")  # e.g. BTC

    def __post_init__(self) -> None:
        amounts = [("cfm_usd_balance", self.cfm_usd_balance), ("cbi_usd_balance", self.cbi_usd_balance),
                   *self.spot_assets]
        for name, value in amounts:
            if not value.is_finite() or not 0 <= value <= MAX_AMOUNT:
                raise ValueError(f"{name}: must be a finite amount from 0 to {MAX_AMOUNT:f}, got {value}")

    @property
    def total_usd_balance(self) -> Decimal:
        return self.cfm_usd_balance + self.cbi_usd_balance


def parse_spot_balance(text: str) -> tuple[str, Decimal]:
    """`ASSET=AMOUNT` (e.g. `BTC=0.5`, `USD=20000`) as (asset, amount); ValueError in one line."""
    asset, sep, amount = text.partition("=")
    asset = asset.strip().upper()
    if not sep or not asset.isalnum() or len(asset) > 10:
        raise ValueError(f"--spot-balance must be ASSET=AMOUNT (e.g. BTC=0.5), got {text!r}")
    try:
        value = Decimal(amount.strip())
    except InvalidOperation:
        raise ValueError(f"--spot-balance {text!r}: {amount!r} is not a number") from None
    if not value.is_finite() or not 0 <= value <= MAX_AMOUNT:
        raise ValueError(f"--spot-balance {text!r}: the amount must be from 0 to {MAX_AMOUNT:f}")
    return asset, value


def account_from(cash: Decimal, spot: tuple[tuple[str, Decimal], ...]) -> PaperAccount:
    """The account `--cash` (futures USD) and `--spot-balance` pairs (the last of an asset wins) make."""
    holdings = dict(spot)
    usd = holdings.pop("USD", Decimal(0))
    return PaperAccount(cfm_usd_balance=cash, cbi_usd_balance=usd, spot_assets=tuple(sorted(holdings.items())))
