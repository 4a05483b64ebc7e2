"""Advanced Trade WebSocket frames, built exactly as Coinbase sends them (see COINBASE.md).

Owns the wire shape of every frame the built-in exchange sends: field names and order, decimal
formatting (prices on the product's price grid, sizes in its base increment, both as strings) and
timestamp formats (frame `timestamp` RFC3339 with nanoseconds, event times with microseconds,
heartbeat `current_time` Go-style).

A data frame's body is the same for every connection except `sequence_num`, which each connection
numbers itself; builders therefore return a `PendingFrame` with the events encoded once, rendered
per connection by `render(sequence_num)`. Error frames carry no channel and no sequence number;
neither does the deliberately malformed text that chaos sends.

Pure functions only: must never read clocks, touch sockets or hold state.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Iterable, Mapping, Sequence

import msgspec

from domain.products import ProductSpec
from exchange.account import PaperAccount
from exchange.market_values import LevelChange, MarketTrade, TickerStats
from exchange.orders import BalanceSummary

SUBSCRIPTIONS = "subscriptions"
HEARTBEATS = "heartbeats"
L2_DATA = "l2_data"
MARKET_TRADES = "market_trades"
TICKER = "ticker"
TICKER_BATCH = "ticker_batch"
CANDLES = "candles"
STATUS = "status"

SNAPSHOT = "snapshot"
UPDATE = "update"

_ZERO_QUANTITY = "0"  # how a removed level is sent; clients must compare numerically anyway
_PERCENT_PLACES = Decimal("0.00000001")

_encoder = msgspec.json.Encoder()


class Candle(msgspec.Struct, frozen=True):
    """One OHLCV bucket of a product's trades; `start` is UNIX seconds, volume in venue units."""

    start: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


class PendingFrame(msgspec.Struct, frozen=True):
    """A data frame complete except for its per-connection sequence number."""

    channel: str
    timestamp: str
    events: msgspec.Raw  # the events array, already JSON

    def render(self, sequence_num: int) -> str:
        return _encoder.encode(
            {
                "channel": self.channel,
                "client_id": "",
                "timestamp": self.timestamp,
                "sequence_num": sequence_num,
                "events": self.events,
            }
        ).decode()


# --------------------------------------------------------------------- formats


def _utc(ts: float, per_second: int) -> tuple[datetime, int]:
    """Whole-second UTC datetime and the fraction past it, rounded to 1/per_second."""
    units = round(ts * per_second)
    seconds, fraction = divmod(units, per_second)
    return datetime.fromtimestamp(seconds, tz=timezone.utc), fraction


def rfc3339_nanos(ts: float) -> str:
    """'2026-11-23T21:40:01.120000000Z': the frame `timestamp` format."""
    moment, nanos = _utc(ts, 1_000_000_000)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def rfc3339_micros(ts: float) -> str:
    """'2026-11-23T21:40:01.118000Z': the `event_time` and trade `time` format."""
    moment, micros = _utc(ts, 1_000_000)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{micros:06d}Z"


def go_time(ts: float, uptime_s: float) -> str:
    """'2026-11-23 21:40:01.000398221 +0000 UTC m=+5012.775310091': heartbeat `current_time`."""
    moment, nanos = _utc(ts, 1_000_000_000)
    return f"{moment:%Y-%m-%d %H:%M:%S}.{nanos:09d} +0000 UTC m=+{uptime_s:.9f}"


def price_text(spec: ProductSpec, price: Decimal) -> str:
    """A price on the product's grid: '91234.55' for spot, '91235' for the perp (tick 5)."""
    return format(price.quantize(spec.price_increment), "f")


def size_text(spec: ProductSpec, size: Decimal) -> str:
    """A size in venue units to the base increment: '0.42000000' spot, '7' contracts; zero is '0'."""
    if size == 0:
        return _ZERO_QUANTITY
    return format(size.quantize(spec.base_increment), "f")


def optional_price(spec: ProductSpec, price: Decimal | None) -> str:
    return "" if price is None else price_text(spec, price)


def _pending(channel: str, ts: float, events: list[dict]) -> PendingFrame:
    return PendingFrame(channel, rfc3339_nanos(ts), msgspec.Raw(_encoder.encode(events)))


# --------------------------------------------------------------------- frames


def subscriptions(ts: float, current: Mapping[str, Sequence[str]]) -> PendingFrame:
    """The ack sent after every subscribe/unsubscribe: all current subscriptions by channel."""
    return _pending(SUBSCRIPTIONS, ts, [{"subscriptions": {c: list(p) for c, p in current.items()}}])


def heartbeat(ts: float, counter: int, uptime_s: float) -> PendingFrame:
    return _pending(HEARTBEATS, ts, [{"current_time": go_time(ts, uptime_s), "heartbeat_counter": counter}])


def l2_snapshot(
    ts: float,
    spec: ProductSpec,
    bids: Iterable[tuple[Decimal, Decimal]],
    offers: Iterable[tuple[Decimal, Decimal]],
    event_ts: float,
) -> PendingFrame:
    """The full book of one product, bids best first then offers best first."""
    event_time = rfc3339_micros(event_ts)
    updates = [_level("bid", spec, p, q, event_time) for p, q in bids]
    updates += [_level("offer", spec, p, q, event_time) for p, q in offers]
    return _pending(L2_DATA, ts, [{"type": SNAPSHOT, "product_id": spec.product_id, "updates": updates}])


def l2_update(ts: float, spec: ProductSpec, changes: Iterable[LevelChange], event_ts: float) -> PendingFrame:
    """Absolute new sizes of the levels that changed; size 0 removes a level."""
    event_time = rfc3339_micros(event_ts)
    updates = [_level(c.side, spec, c.price, c.size, event_time) for c in changes]
    return _pending(L2_DATA, ts, [{"type": UPDATE, "product_id": spec.product_id, "updates": updates}])


def _level(side: str, spec: ProductSpec, price: Decimal, size: Decimal, event_time: str) -> dict:
    return {
        "side": side,
        "event_time": event_time,
        "price_level": price_text(spec, price),
        "new_quantity": size_text(spec, size),
    }


def market_trades(ts: float, kind: str, spec: ProductSpec, trades: Iterable[MarketTrade]) -> PendingFrame:
    """`kind` is SNAPSHOT (recent trades on subscribe) or UPDATE (new prints)."""
    rows = [
        {
            "trade_id": t.trade.trade_id,
            "product_id": t.product_id,
            "price": price_text(spec, t.trade.price),
            "size": size_text(spec, t.trade.size),
            "side": t.trade.aggressor_side,
            "time": rfc3339_micros(t.ts),
        }
        for t in trades
    ]
    return _pending(MARKET_TRADES, ts, [{"type": kind, "trades": rows}])


def ticker(
    ts: float, kind: str, spec: ProductSpec, stats: TickerStats, channel: str = TICKER
) -> PendingFrame:
    """`kind` is SNAPSHOT (on subscribe) or UPDATE (on change, or every 5 s on TICKER_BATCH, which
    has the same layout)."""
    row = {
        "type": "ticker",
        "product_id": stats.product_id,
        "price": price_text(spec, stats.price),
        "volume_24_h": size_text(spec, stats.volume_24_h),
        "low_24_h": price_text(spec, stats.low_24_h),
        "high_24_h": price_text(spec, stats.high_24_h),
        "low_52_w": price_text(spec, stats.low_52_w),
        "high_52_w": price_text(spec, stats.high_52_w),
        "price_percent_chg_24_h": format(stats.price_percent_chg_24_h.quantize(_PERCENT_PLACES), "f"),
        "best_bid": optional_price(spec, stats.best_bid),
        "best_bid_quantity": size_text(spec, stats.best_bid_quantity),
        "best_ask": optional_price(spec, stats.best_ask),
        "best_ask_quantity": size_text(spec, stats.best_ask_quantity),
    }
    return _pending(channel, ts, [{"type": kind, "tickers": [row]}])


def candles(ts: float, kind: str, spec: ProductSpec, rows: Iterable[Candle]) -> PendingFrame:
    """`kind` is SNAPSHOT (on subscribe) or UPDATE (the current bucket, every second)."""
    events = [
        {
            "start": str(c.start),
            "high": price_text(spec, c.high),
            "low": price_text(spec, c.low),
            "open": price_text(spec, c.open),
            "close": price_text(spec, c.close),
            "volume": size_text(spec, c.volume),
            "product_id": spec.product_id,
        }
        for c in rows
    ]
    return _pending(CANDLES, ts, [{"type": kind, "candles": events}])


ONLINE = "online"


def status(
    ts: float, kind: str, specs: Iterable[ProductSpec], statuses: Mapping[str, tuple[str, str]] | None = None
) -> PendingFrame:
    """The listed products and their increments. `statuses` maps a product id to its (status,
    status_message); a product it does not name is online."""
    statuses = statuses or {}
    products = []
    for spec in specs:
        state, message = statuses.get(spec.product_id, (ONLINE, ""))
        products.append({
            "product_type": spec.product_type,
            "id": spec.product_id,
            "base_currency": spec.base_currency,
            "quote_currency": spec.quote_currency,
            "base_increment": decimal_text(spec.base_increment),
            "quote_increment": decimal_text(spec.quote_increment),
            "display_name": spec.display_name or spec.product_id,
            "status": state,
            "status_message": message,
            "min_market_funds": decimal_text(spec.quote_min_size),
        })
    return _pending(STATUS, ts, [{"type": kind, "products": products}])


def decimal_text(value: Decimal) -> str:
    """A Decimal as plain digits, never in exponent form: Decimal('1E-8') -> '0.00000001'."""
    return format(value, "f")


def error(message: str) -> str:
    """An error frame: no channel, no sequence number (COINBASE.md)."""
    return _encoder.encode({"type": "error", "message": message}).decode()


def malformed() -> str:
    """Text that is not JSON (a frame cut short), as a broken proxy or a bug would send."""
    return '{"channel":"l2_data","client_id":"","timestamp":"2026-11-23T21:40:01.1'



# --------------------------------------------------------------------- private channels

USER = "user"
FUTURES_BALANCE_SUMMARY = "futures_balance_summary"

_CENTS = Decimal("0.01")
# Coinbase does not document the buffer percentage with no margin in use (it is a ratio over a zero
# liquidation threshold). A large number, never "0": nothing at risk must not read as "at the line".
NO_MARGIN_BUFFER_PERCENTAGE = "1000"


def buffer_percentage_text(summary: BalanceSummary) -> str:
    """The liquidation buffer percentage as the venue writes it (NO_MARGIN_BUFFER_PERCENTAGE when none)."""
    percentage = summary.liquidation_buffer_percentage
    return NO_MARGIN_BUFFER_PERCENTAGE if percentage is None else str(percentage)


def usd_text(value: Decimal) -> str:
    """A USD amount to the cent: '100000.00'."""
    return format(value.quantize(_CENTS), "f")


def user(
    ts: float,
    kind: str,
    orders: Iterable[Mapping[str, str]] = (),
    perpetual_futures_positions: Iterable[Mapping[str, str]] = (),
    expiring_futures_positions: Iterable[Mapping[str, str]] = (),
) -> PendingFrame:
    """`kind` is SNAPSHOT (open orders and positions, on subscribe) or UPDATE (orders that changed,
    with the positions as they are now). Orders and positions come already in their wire shape
    (`client_json.user_order`, `client_json.expiring_position`: COINBASE.md, all strings)."""
    event = {
        "type": kind,
        "orders": [dict(o) for o in orders],
        "positions": {
            "perpetual_futures_positions": [dict(p) for p in perpetual_futures_positions],
            "expiring_futures_positions": [dict(p) for p in expiring_futures_positions],
        },
    }
    return _pending(USER, ts, [event])


def _no_positions_summary(account: PaperAccount) -> BalanceSummary:
    """An account with no orders or positions: nothing held, no margin used, all buying power."""
    cash, zero = account.cfm_usd_balance, Decimal(0)
    return BalanceSummary(
        futures_buying_power=cash, total_usd_balance=account.total_usd_balance,
        cbi_usd_balance=account.cbi_usd_balance, cfm_usd_balance=cash, total_open_orders_hold_amount=zero,
        unrealized_pnl=zero, daily_realized_pnl=zero, initial_margin=zero, maintenance_margin=zero,
        available_margin=cash, liquidation_threshold=zero, liquidation_buffer_amount=cash,
        liquidation_buffer_percentage=None)


def futures_balance_summary(ts: float, kind: str, account: PaperAccount,
                            summary: BalanceSummary | None = None) -> PendingFrame:
    """The account's `fcm_balance_summary`, every field a string. `summary` is the account with its
    orders and positions (`ClientOrders.summary`); without one, `account` as it started: nothing
    held, no margin used and the whole futures balance buying power."""
    summary = summary if summary is not None else _no_positions_summary(account)
    percentage = buffer_percentage_text(summary)

    def window(window_type: str) -> dict[str, str]:
        return {
            "margin_window_type": window_type,
            "margin_level": "MARGIN_LEVEL_TYPE_BASE",
            "initial_margin": usd_text(summary.initial_margin),
            "maintenance_margin": usd_text(summary.maintenance_margin),
            "liquidation_buffer_percentage": percentage,
            "total_hold": usd_text(summary.total_open_orders_hold_amount),
            "futures_buying_power": usd_text(summary.futures_buying_power),
        }

    fields = {
        "futures_buying_power": usd_text(summary.futures_buying_power),
        "total_usd_balance": usd_text(summary.total_usd_balance),
        "cbi_usd_balance": usd_text(summary.cbi_usd_balance),
        "cfm_usd_balance": usd_text(summary.cfm_usd_balance),
        "total_open_orders_hold_amount": usd_text(summary.total_open_orders_hold_amount),
        "unrealized_pnl": usd_text(summary.unrealized_pnl),
        "daily_realized_pnl": usd_text(summary.daily_realized_pnl),
        "initial_margin": usd_text(summary.initial_margin),
        "available_margin": usd_text(summary.available_margin),
        "liquidation_threshold": usd_text(summary.liquidation_threshold),
        "liquidation_buffer_amount": usd_text(summary.liquidation_buffer_amount),
        "liquidation_buffer_percentage": percentage,
        "intraday_margin_window_measure": window("FCM_MARGIN_WINDOW_TYPE_INTRADAY"),
        "overnight_margin_window_measure": window("FCM_MARGIN_WINDOW_TYPE_OVERNIGHT"),
    }
    return _pending(FUTURES_BALANCE_SUMMARY, ts, [{"type": kind, "fcm_balance_summary": fields}])
