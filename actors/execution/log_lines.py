"""The log lines of an order's life, one per event, each starting with a fixed word an operator
greps for: `order sent`, `order refused`, `order filled`, `order cancelled`, `order rejected`,
`fill`, and `sync` (WARNING when the venue's view differs from execution's).

Owns the wording of those lines. Called only by the execution actor's shell, at the one place each
event is decided, so each is logged once. Cheap on the order path: a fixed format string per order
shape and lazy `{}` arguments, so nothing is formatted when INFO is off. Must never decide
anything, build a string eagerly, or log a secret (orders carry none).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from loguru import logger

from actors.execution.orders import CANCELLED, FILLED, REJECTED, OrderRecord, SyncDiff
from domain.orders import Fill, ReplaceIntent

# "{product} {side} {type} {size}" and its prices, by (has a limit price, has a stop price).
_SHAPE = {
    (False, False): "{} {} {} {}",
    (True, False): "{} {} {} {} @ {}",
    (False, True): "{} {} {} {} stop {}",
    (True, True): "{} {} {} {} @ {} stop {}",
}
_SENT = {k: f"order sent {v} reduce_only={{}} cid={{}} intent={{}}" for k, v in _SHAPE.items()}
_REFUSED = {k: f"order refused {v} cid={{}} reason={{}}" for k, v in _SHAPE.items()}
_AVERAGE_STEP = Decimal("1e-8")
_SAMPLE = 3  # ids named in a sync warning; the rest are counted


def _shape(order: Any) -> tuple[Any, ...]:
    """(format key, product, side, type, size[, limit][, stop]) of an intent, quantized or placed order."""
    limit, stop = order.limit_price, order.stop_price
    args: tuple[Any, ...] = (order.product_id, order.side, order.order_type, order.size)
    if limit is not None:
        args += (limit,)
    if stop is not None:
        args += (stop,)
    return (limit is not None, stop is not None), args


def order_sent(order: Any, intent_id: str) -> None:
    """`order` is the PlaceOrder just handed to the venue."""
    key, args = _shape(order)
    logger.info(_SENT[key], *args, "true" if order.reduce_only else "false", order.client_order_id, intent_id)


def order_refused(order: Any, client_order_id: str, reason: str) -> None:
    """`order`: the OrderIntent, QuantizedOrder or ReplaceIntent execution refused, with its code."""
    if type(order) is ReplaceIntent:
        logger.info("order refused replace of {} cid={} reason={}", order.replaces, client_order_id, reason)
        return
    key, args = _shape(order)
    logger.info(_REFUSED[key], *args, client_order_id, reason)


def order_ended(record: OrderRecord) -> None:
    """The order just reached FILLED, CANCELLED or REJECTED (once: the table keeps a terminal state)."""
    state, side = record.state, record.side or "-"  # "-": adopted from a venue report that did not say
    if state == FILLED:
        if record.fills_size > 0:
            logger.info("order filled {} {} {} avg {} fees {} cid={}", record.product_id, side,
                        record.filled_size, _Average(record), record.fees, record.client_order_id)
        else:  # the venue said FILLED before its fills arrived
            logger.info("order filled {} {} {} cid={}", record.product_id, side, record.filled_size,
                        record.client_order_id)
    elif state == CANCELLED:
        logger.info("order cancelled {} {} filled {} of {} cid={} reason={}", record.product_id, side,
                    record.filled_size, record.size, record.client_order_id, record.reason or "-")
    elif state == REJECTED:
        logger.info("order rejected {} {} {} {} cid={} reason={}", record.product_id, side,
                    record.order_type or "-", record.size, record.client_order_id, record.reason or "-")


def fill(f: Fill) -> None:
    """A distinct fill (execution drops duplicates before calling this)."""
    logger.info("fill {} {} {} @ {} fee {} {} cid={} trade={}", f.product_id, f.side, f.size, f.price, f.fee,
                f.liquidity, f.client_order_id, f.trade_id)


def synced(open_orders: int, fills: int, diff: SyncDiff, recovering: bool) -> None:
    """After a rebuild from the venue. `recovering`: the table was rebuilt for the first time by
    this incarnation, so orders and fills it did not know are what it came to learn, not a
    disagreement; an order it held live that the venue does not list is one either way."""
    logger.info("sync execution: the venue lists {} open orders and {} fills", open_orders, fills)
    parts = []
    if diff.vanished:
        parts.append(f"{len(diff.vanished)} orders live here are not open at the venue ({_ids(diff.vanished)})")
    if diff.unknown and not recovering:
        parts.append(f"{len(diff.unknown)} orders open at the venue were not known here ({_ids(diff.unknown)})")
    if diff.missed_fills and not recovering:
        parts.append(f"{len(diff.missed_fills)} fills at the venue were not seen here "
                     f"(trades {_ids(diff.missed_fills)})")
    if parts:
        logger.warning("sync differs: venue vs execution: {}", "; ".join(parts))


def _ids(ids: tuple[str, ...]) -> str:
    shown = ", ".join(ids[:_SAMPLE])
    return shown if len(ids) <= _SAMPLE else f"{shown} and {len(ids) - _SAMPLE} more"


class _Average:
    """The average fill price, computed only if the line is formatted."""

    __slots__ = ("record",)

    def __init__(self, record: OrderRecord) -> None:
        self.record = record

    def __format__(self, spec: str) -> str:
        r = self.record
        return format((r.fills_notional / r.fills_size).quantize(_AVERAGE_STEP).normalize(), "f")

