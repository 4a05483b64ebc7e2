"""What the exchange says the account holds, read over its private REST API at the end of a
`paper --venue exchange` session or a live `run`, set beside the bot's own positions in the report.

Owns the comparison's shape: `positions` (signed contracts per product from `cfm/positions`),
`net_filled` (signed sum of the exchange's fills per product, every page), `fills` (trades the
exchange reports), `orders` and `client_order_ids` (orders it holds, and how many distinct ids
they carry: equal when no intent became two orders) and `matches` (the bot's position in every
product equals the exchange's net fills and, for a perpetual-style product, its `cfm/positions`).
Runs on the main thread at the end of a session: it blocks, bounded by the transport's timeout
and a cap on pages. Must never place or cancel anything.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from actors.venue import coinbase_rest as rest
from actors.venue.listing import Complete, Failed, Listing, Next, decode_positions
from actors.wire.decimals import finite_decimal

_ZERO = Decimal(0)
MAX_REQUESTS = 200


def _decimal(text: Any) -> Decimal:
    value = finite_decimal(str(text))  # text, or a Decimal the report holds
    return _ZERO if value is None else value


def read_listing(listing: Listing, transport: Any) -> str | None:
    """Read every page of `listing` through the blocking `transport`; what failed, or None."""
    for which, request in listing.start():
        for _ in range(MAX_REQUESTS):
            result = listing.on_page(which, transport.send(request))
            if type(result) is Next:
                request = result.request
            elif type(result) is Complete:
                break
            else:
                return f"{which}: {cast(Failed, result).why}"  # the one kind left
    return None


def read_exchange(transport: Any) -> dict[str, Any]:
    """{"positions", "net_filled", "fills"} from the exchange, or {"error": why}."""
    response = transport.send(rest.cfm_positions())
    if response.status != 200:
        return {"error": f"cfm/positions: {response.status or response.error}"}
    try:
        held = decode_positions(response.body)
    except ValueError as exc:
        return {"error": f"cfm/positions: {exc}"}
    positions = {pid: p.contracts or Decimal(0) for pid, p in held.items()}
    listing = Listing(orders=True, fills=True)
    failure = read_listing(listing, transport)
    if failure is not None:
        return {"error": failure}
    orders = {o.order_id: o for o in listing.orders}
    net: dict[str, Decimal] = {}
    for f in {f.trade_id: f for f in listing.fills}.values():
        size = _decimal(f.size)
        net[f.product_id] = net.get(f.product_id, _ZERO) + (size if f.side.upper() == "BUY" else -size)
    return {"positions": positions, "net_filled": net, "fills": len(listing.fills), "orders": len(orders),
            "client_order_ids": len({o.client_order_id for o in orders.values()})}


def as_text(held: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready: Decimals as strings."""
    return {k: {pid: str(v) for pid, v in sorted(value.items())} if isinstance(value, dict) else value
            for k, value in held.items()}


def differences(exchange: dict[str, Any], bot_positions: dict[str, Any]) -> list[str]:
    """One line per product where the bot and the venue disagree (works on the report's text form)."""
    if "error" in exchange:
        return [f"the venue could not be read: {exchange['error']}"]
    lines = []
    venue_positions, net = exchange.get("positions", {}), exchange.get("net_filled", {})
    for pid in sorted(set(bot_positions) | set(net) | set(venue_positions)):
        mine = _decimal(bot_positions.get(pid, {}).get("size", "0"))
        filled = _decimal(net.get(pid, "0"))
        held = venue_positions.get(pid)
        if mine != filled or (held is not None and mine != _decimal(held)):
            venue = f"venue position {held}, " if held is not None else ""
            lines.append(f"{pid}: bot {mine}, {venue}venue net fills {filled}")
    return lines


def compare(exchange: dict[str, Any], bot_positions: dict[str, Any], perps: set[str]) -> bool:
    """True when every product's bot position equals the exchange's net fills (and, for a
    perpetual-style product, its cfm position)."""
    if "error" in exchange:
        return False
    products = set(bot_positions) | set(exchange["net_filled"]) | (set(exchange["positions"]) & perps)
    for pid in products:
        mine = _decimal(bot_positions.get(pid, {}).get("size", "0"))
        if mine != exchange["net_filled"].get(pid, _ZERO):
            return False
        if pid in perps and mine != exchange["positions"].get(pid, _ZERO):
            return False
    return True
