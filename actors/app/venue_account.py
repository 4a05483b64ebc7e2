"""What a live run learns of the account before it trades: the USD balance, the fills since the
journal's watermark, and the ledger's starting cash.

Owns reading `cfm/balance_summary` and the fills list over a blocking transport at start (main
thread, before the actor tree), and the arithmetic that makes the bot's equity equal the
account's once the gateway's sync replays those fills into the portfolio. Must never send an
order, and never start from an answer it could not read: every problem is a LiveError (one line,
exit 2).
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from actors.app.exchange_view import read_listing
from actors.portfolio.ledger import Ledger
from actors.venue import coinbase_rest as rest
from actors.venue.listing import Listing, RestFill
from actors.wire.decimals import finite_decimal
from domain.orders import Fill
from domain.products import ProductSpec

_ZERO = Decimal(0)
BALANCE_READS = 3  # the balance is read again after the fills until the two agree in time


class LiveError(Exception):
    """A live run cannot start; one line naming the problem (the CLI exits 2)."""


def _money(value: Any) -> Decimal | None:
    """A money field as a string or as Coinbase's {value, currency} object."""
    if isinstance(value, dict):
        value = value.get("value")
    return finite_decimal(value) if isinstance(value, (str, int, float)) else None


def read_balance(transport: Any) -> Decimal:
    """The account's USD balance (futures + spot); asked first, it also proves the key is accepted."""
    response = transport.send(rest.cfm_balance_summary())
    if response.status in (401, 403):
        raise LiveError(f"the venue refused the API key (HTTP {response.status}): check --key-file")
    if response.status != 200:
        raise LiveError(f"the venue's balance could not be read: {response.status or response.error}")
    try:
        summary = msgspec.json.decode(response.body).get("balance_summary") or {}
        balance = _money(summary.get("total_usd_balance"))
    except (msgspec.DecodeError, RecursionError, AttributeError):
        balance = None
    if balance is None:
        raise LiveError("the venue's balance summary has no readable total_usd_balance")
    return balance


def _fill(f: RestFill) -> Fill | None:
    size, price = finite_decimal(f.size, nonneg=True), finite_decimal(f.price, nonneg=True)
    fee = finite_decimal(f.commission or "0")
    side = f.side.upper()
    if not size or price is None or fee is None or side not in ("BUY", "SELL"):
        return None
    return Fill(trade_id=f.trade_id, client_order_id="", venue_order_id=f.order_id, product_id=f.product_id,
                side=side, price=price, size=size, fee=fee, liquidity=f.liquidity_indicator or "UNKNOWN",
                ts=f.when()[0])


def read_fills(transport: Any, since: str = "") -> list[Fill]:
    """The venue's fills for the account, oldest first (the list may come newest first): every one,
    or with `since` (RFC 3339) those sequenced from then and every fill of their orders."""
    listing = Listing(orders=False, fills=True, fills_since=since)
    failure = read_listing(listing, transport)
    if failure is not None:
        raise LiveError(f"the venue's fills could not be read: {failure}")
    unique = {f.trade_id: f for f in listing.fills}
    return [fill for f in sorted(unique.values(), key=RestFill.when) if (fill := _fill(f)) is not None]


def read_account(transport: Any, since: str = "") -> tuple[Decimal, list[Fill]]:
    """The balance and the fills (`since`: see read_fills) as of one moment: the balance is read
    again after the fills, and both again if it moved (a fill landed while the history was paged)."""
    balance = read_balance(transport)
    for _ in range(BALANCE_READS):
        fills = read_fills(transport, since)
        again = read_balance(transport)
        if again == balance:
            return balance, fills
        balance = again
    raise LiveError("the account kept changing while its fills were read; try again")


def starting_cash(balance: Decimal, fills: list[Fill], products: dict[str, ProductSpec],
                  funding: Decimal = _ZERO) -> Decimal:
    """The ledger's starting cash that makes the bot's equity equal the account's once the venue's
    fills (the gateway's sync replays them into the portfolio) and the journaled funding are
    counted again: balance - (realized - fees + funding) + what spot holdings cost (spot buys moved
    USD out of the balance, while the ledger holds a spot position at its entry cost). Fills of
    products not traded are left out, as the portfolio leaves them out."""
    replay = Ledger(_ZERO, products)
    for fill in fills:
        if fill.product_id in products:
            replay.on_fill(fill)
    spot_cost = sum((p.size * p.entry for pid, p in replay.positions.items() if products[pid].product_type == "SPOT"),
                    _ZERO)
    return balance - (replay.realized_pnl - replay.fees + funding) + spot_cost


def journal_funding(db_path: Path, products: dict[str, ProductSpec]) -> Decimal:
    """The funding payments journaled so far for `products` (a restarted portfolio counts them again)."""
    if not db_path.is_file():
        return _ZERO
    try:
        conn = sqlite3.connect(db_path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT product_id, payment FROM funding").fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return _ZERO
        raise LiveError(f"the journal {db_path} cannot be read: {exc}") from None
    except sqlite3.Error as exc:
        raise LiveError(f"the journal {db_path} cannot be read: {exc}") from None
    return sum((finite_decimal(payment) or _ZERO for pid, payment in rows if pid in products), _ZERO)
