"""The wire shapes of the built-in exchange's client: its orders, fills, spot accounts, futures
positions and balance summary as the private REST endpoints answer them (Coinbase's field names and
types: decimals as strings, RFC 3339 times, CFM money as `{"value", "currency"}` objects), and the
same orders and positions as entries of a `user` channel event (every field a string).

Pure functions of the values `client_orders.py` returns: must never read clocks, change the client
or know about routing and requests.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from domain.products import ProductSpec
from exchange import rest
from exchange.client_orders import ClientOrders
from exchange.frames import (
    buffer_percentage_text,
    decimal_text,
    optional_price,
    price_text,
    rfc3339_micros,
    size_text,
    usd_text,
)
from exchange.orders import BalanceSummary, ClientFill, OrderView, PerpPosition

_ACCOUNTS_NAMESPACE = uuid.UUID("6f1d0c62-2a4e-4d8e-9b0c-6d2f8f0f7a11")
_CENTS = Decimal("0.01")
_WS_ORDER_TYPES = {"MARKET": "Market", "LIMIT": "Limit", "STOP_LIMIT": "Stop_Limit"}  # the socket's casing


def money(value: Decimal, currency: str = "USD") -> dict[str, str]:
    return {"value": usd_text(value) if currency == "USD" else decimal_text(value), "currency": currency}


def optional_text(value: Decimal | None) -> str:
    return "" if value is None else decimal_text(value)


def time_or_none(ts: float | None) -> str | None:
    return None if ts is None else rfc3339_micros(ts)


def order_json(order: OrderView, core: ClientOrders, spec: ProductSpec) -> dict[str, Any]:
    """Coinbase's order object (GET /orders/historical/...)."""
    size = order.base_size
    completion = (order.filled_size / size * 100).quantize(Decimal("0.01")) if size else Decimal(0)
    return {
        "order_id": order.order_id,
        "product_id": order.product_id,
        "user_id": core.user_id,
        "order_configuration": {order.kind: order.configuration},
        "side": order.side,
        "client_order_id": order.client_order_id,
        "status": order.status,
        "time_in_force": order.time_in_force,
        "created_time": rfc3339_micros(order.created_ts),
        "completion_percentage": decimal_text(completion),
        "filled_size": size_text(spec, order.filled_size),
        "average_filled_price": decimal_text(order.average_filled_price),
        "fee": "",
        "number_of_fills": str(order.number_of_fills),
        "filled_value": decimal_text(order.filled_value),
        "pending_cancel": False,
        "size_in_quote": order.quote_size is not None,
        "total_fees": decimal_text(order.total_fees),
        "size_inclusive_of_fees": False,
        "total_value_after_fees": decimal_text(order.total_value_after_fees),
        "trigger_status": order.trigger_status,
        "order_type": order.order_type,
        "reject_reason": order.reject_reason,
        "settled": not order.is_open,
        "product_type": order.product_type,
        "reject_message": "",
        "cancel_message": order.cancel_reason,
        "order_placement_source": "RETAIL_ADVANCED",
        "outstanding_hold_amount": decimal_text(order.outstanding_hold),
        "is_liquidation": False,
        "last_fill_time": time_or_none(order.last_fill_ts),
        "edit_history": [{"price": price_text(spec, e.price), "size": size_text(spec, e.size),
                          "replace_accept_timestamp": rfc3339_micros(e.ts)} for e in order.edit_history],
        "leverage": "" if order.leverage is None else decimal_text(order.leverage),
        "margin_type": order.margin_type,
        "retail_portfolio_id": core.portfolio_id,
        "originating_order_id": "",
        "attached_order_id": "",
    }


def fill_json(fill: ClientFill, core: ClientOrders, spec: ProductSpec) -> dict[str, Any]:
    return {
        "entry_id": fill.entry_id,
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "trade_time": rfc3339_micros(fill.ts),
        "trade_type": "FILL",
        "price": price_text(spec, fill.price),
        "size": size_text(spec, fill.size),
        "commission": decimal_text(fill.commission),
        "product_id": fill.product_id,
        "sequence_timestamp": rfc3339_micros(fill.ts),
        "liquidity_indicator": fill.liquidity,
        "size_in_quote": False,
        "user_id": core.user_id,
        "side": fill.side,
        "retail_portfolio_id": core.portfolio_id,
    }


def account_json(currency: str, balance: Decimal, hold: Decimal, core: ClientOrders) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid5(_ACCOUNTS_NAMESPACE, f"{core.portfolio_id}/{currency}")),
        "name": f"{currency} Wallet",
        "currency": currency,
        "available_balance": {"value": decimal_text(balance - hold), "currency": currency},
        "default": currency == "USD",
        "active": True,
        "created_at": "2024-01-01T00:00:00.000000Z",
        "updated_at": "2024-01-01T00:00:00.000000Z",
        "deleted_at": None,
        "type": "ACCOUNT_TYPE_FIAT" if currency in ("USD", "EUR", "GBP") else "ACCOUNT_TYPE_CRYPTO",
        "ready": True,
        "hold": {"value": decimal_text(hold), "currency": currency},
        "retail_portfolio_id": core.portfolio_id,
        "platform": "ACCOUNT_PLATFORM_CONSUMER",
    }


def balance_summary_json(summary: BalanceSummary) -> dict[str, Any]:
    """`cfm/balance_summary`'s `balance_summary`: money as {"value", "currency"} objects."""
    def window(window_type: str) -> dict[str, Any]:
        return {
            "margin_window_type": window_type,
            "margin_level": "MARGIN_LEVEL_TYPE_BASE",
            "initial_margin": money(summary.initial_margin),
            "maintenance_margin": money(summary.maintenance_margin),
            "liquidation_buffer_percentage": buffer_percentage_text(summary),
            "total_hold": money(summary.total_open_orders_hold_amount),
            "futures_buying_power": money(summary.futures_buying_power),
        }

    return {
        "futures_buying_power": money(summary.futures_buying_power),
        "total_usd_balance": money(summary.total_usd_balance),
        "cbi_usd_balance": money(summary.cbi_usd_balance),
        "cfm_usd_balance": money(summary.cfm_usd_balance),
        "total_open_orders_hold_amount": money(summary.total_open_orders_hold_amount),
        "unrealized_pnl": money(summary.unrealized_pnl),
        "daily_realized_pnl": money(summary.daily_realized_pnl),
        "initial_margin": money(summary.initial_margin),
        "available_margin": money(summary.available_margin),
        "liquidation_threshold": money(summary.liquidation_threshold),
        "liquidation_buffer_amount": money(summary.liquidation_buffer_amount),
        "liquidation_buffer_percentage": buffer_percentage_text(summary),
        "intraday_margin_window_measure": window("FCM_MARGIN_WINDOW_TYPE_INTRADAY"),
        "overnight_margin_window_measure": window("FCM_MARGIN_WINDOW_TYPE_OVERNIGHT"),
    }


def cfm_position_json(position: PerpPosition, spec: ProductSpec) -> dict[str, Any]:
    """One `cfm/positions` entry: contracts and leverage as strings, every money field (prices
    too) a `{"value", "currency"}` object, as production sends it (COINBASE.md), with the fields
    Coinbase adds for CDE perpetual-style futures."""
    liquidation = position.liquidation_price
    return {
        "product_id": position.product_id,
        "expiration_time": f"{rest.contract_expiry(position.product_id):%Y-%m-%dT%H:%M:%SZ}",
        "side": "LONG" if position.net_size > 0 else "SHORT",
        "number_of_contracts": size_text(spec, abs(position.net_size)),
        "current_price": price_money(position.mark_price),
        "avg_entry_price": price_money(position.entry_price),
        "unrealized_pnl": money(position.unrealized_pnl),
        "daily_realized_pnl": money(position.daily_realized_pnl),
        "contract_size": decimal_text(spec.contract_size),
        "entry_vwap": price_money(position.entry_price),
        "liquidation_price": price_money(liquidation) if liquidation is not None else money(Decimal(0)),
        "leverage": decimal_text(position.leverage),
        "margin_type": position.margin_type or "CROSS",
        "im_contribution": money(position.initial_margin),
        "mm_contribution": money(position.maintenance_margin),
        "position_notional": money(position.notional),
    }


def price_money(value: Decimal) -> dict[str, str]:
    """A price as a money object: its own digits, not rounded to cents."""
    return {"value": decimal_text(value), "currency": "USD"}


# --------------------------------------------------------------------- the user channel's entries


def user_order(order: OrderView, spec: ProductSpec, portfolio_id: str = "") -> dict[str, str]:
    """One order of a `user` event: cumulative state, every field a string (COINBASE.md)."""
    size = order.base_size
    completion = (order.filled_size / size * 100).quantize(_CENTS) if size else Decimal(0)
    return {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "status": order.status,
        "product_id": order.product_id,
        "product_type": order.product_type,
        "order_side": order.side,
        "order_type": _WS_ORDER_TYPES.get(order.order_type, order.order_type),
        "time_in_force": order.time_in_force,
        "creation_time": rfc3339_micros(order.created_ts),
        "start_time": "",
        "end_time": order.end_time,
        "avg_price": decimal_text(order.average_filled_price),
        "cumulative_quantity": size_text(spec, order.filled_size),
        "leaves_quantity": size_text(spec, order.leaves_size),
        "filled_value": decimal_text(order.filled_value),
        "number_of_fills": str(order.number_of_fills),
        "total_fees": decimal_text(order.total_fees),
        "total_value_after_fees": decimal_text(order.total_value_after_fees),
        "outstanding_hold_amount": decimal_text(order.outstanding_hold),
        "limit_price": optional_price(spec, order.limit_price),
        "stop_price": optional_price(spec, order.stop_price),
        "post_only": "true" if order.post_only else "false",
        "completion_percentage": decimal_text(completion),
        "cancel_reason": order.cancel_reason,
        "reject_reason": order.reject_reason,
        "trigger_status": order.trigger_status,
        "contract_expiry_type": "EXPIRING" if order.product_type == "FUTURE" else "UNKNOWN_CONTRACT_EXPIRY_TYPE",
        "risk_managed_by": "MANAGED_BY_FCM" if order.product_type == "FUTURE" else "UNKNOWN_RISK_MANAGEMENT_TYPE",
        "retail_portfolio_id": portfolio_id,
    }


def expiring_position(position: PerpPosition, spec: ProductSpec) -> dict[str, str]:
    """One entry of a `user` event's `expiring_futures_positions`: every CDE future, the
    perpetual-style ones too, whose product metadata says `contract_expiry_type: EXPIRING`."""
    return {
        "product_id": position.product_id,
        "side": "LONG" if position.net_size > 0 else "SHORT",
        "number_of_contracts": size_text(spec, abs(position.net_size)),
        "realized_pnl": usd_text(position.realized_pnl),
        "unrealized_pnl": usd_text(position.unrealized_pnl),
        "entry_price": decimal_text(position.entry_price),
    }
