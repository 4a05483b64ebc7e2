"""Execution's decisions, synchronously: ExecutionCore.handle(message, now) -> effects, no actor,
no thread, time given by the test. Replace-after-cancel (the replacement exists only once the
original ended, for what it left), local stops armed, restored after a restart from what the
journal held and fired once, and nothing sent before the venue's table is rebuilt."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import msgspec

from actors.execution.core import ExecutionCore
from actors.execution.order_flow import Send, TellSupervisor
from actors.execution.orders import client_order_id
from config.loader import load_profile
from domain.control import Synced
from domain.market import BookStatus, LiquiditySnapshot, TradabilityRequest
from domain.orders import (
    CancelOrder,
    Fill,
    HeldOrder,
    HeldOrders,
    HeldOrdersRequest,
    OrderIntent,
    OrderUpdate,
    PlaceOrder,
    ReplaceIntent,
    SyncRequest,
    VenueSnapshot,
)
from domain.portfolio import PortfolioUpdate
from domain.products import CATALOG
from domain.quantize import QuantizedOrder

T0 = 1_795_000_000.0
PRODUCT = "BTC-USD"
MARK = D("50000")
Z = D(0)


def ready_core(position: D = Z) -> ExecutionCore:
    profile = load_profile("paper")
    core = ExecutionCore({PRODUCT: CATALOG[PRODUCT]}, profile.execution, 5.0, profile.risk)
    assert core.start(T0) == [Send("venue", SyncRequest("execution")), Send("journal", HeldOrdersRequest("execution")),
                              Send("market_data", TradabilityRequest("execution"))]
    effects = core.handle(VenueSnapshot((), ()), T0)
    assert TellSupervisor(Synced("execution")) in effects
    core.handle(PortfolioUpdate(D("100000"), ((PRODUCT, position),), ((PRODUCT, MARK),), T0), T0)
    book(core, MARK)
    core.handle(LiquiditySnapshot(
        product_id=PRODUCT, ts=T0, spread_bps=D(1), depth_1pct=D("5000000"), depth_5pct=D("5000000"), imbalance=Z,
        score=D(90), condition="excellent", volume_1m=Z, volume_5m=Z, volume_15m=D("100000000"), trades_15m=1,
        avg_trade_size_15m=Z, spread_avg_5m=None, spread_min_5m=None, spread_max_5m=None), T0)
    return core


def book(core: ExecutionCore, mark: D, now: float = T0) -> list[Any]:
    half = D("0.5")
    return core.handle(BookStatus(PRODUCT, True, mark - half, mark + half, mark, now, 0), now)


def to(effects: list[Any], name: str, kind: type | None = None) -> list[Any]:
    return [e.message for e in effects if type(e) is Send and e.to == name
            and (kind is None or type(e.message) is kind)]


def update(coid: str, status: str, filled: str, leaves: str) -> OrderUpdate:
    return OrderUpdate(coid, "v-" + coid, PRODUCT, status, D(filled), D(leaves), ts=T0)


def test_nothing_is_sent_before_the_venue_table_is_rebuilt() -> None:
    profile = load_profile("paper")
    core = ExecutionCore({PRODUCT: CATALOG[PRODUCT]}, profile.execution, 5.0, profile.risk)
    core.start(T0)
    effects = core.handle(OrderIntent("early", PRODUCT, "BUY", D("0.01"), "limit", D("49000")), T0)
    assert to(effects, "venue") == []
    assert core.report()["refusals"] == {"not_synced": 1}


def test_replace_after_cancel_sends_the_replacement_only_once_the_original_ended() -> None:
    core = ready_core()
    [original] = to(core.handle(OrderIntent("a", PRODUCT, "BUY", D("0.04"), "limit", D("49000")), T0), "venue")
    assert type(original) is PlaceOrder
    core.handle(update(original.client_order_id, "OPEN", "0", "0.04"), T0)

    effects = core.handle(ReplaceIntent("a2", replaces="a", size=D("0.05"), limit_price=D("49500")), T0 + 1)
    assert to(effects, "venue") == [CancelOrder(original.client_order_id)]  # the cancel, and nothing else
    [held] = to(effects, "journal", HeldOrder)
    assert (held.key, held.kind) == (original.client_order_id, "replacement")  # survives a restart

    fill = Fill("t1", original.client_order_id, "v", PRODUCT, "BUY", D("49000"), D("0.01"), D("0.1"), "MAKER", T0)
    effects = core.handle(fill, T0 + 2)
    assert to(effects, "venue") == [] and to(effects, "portfolio") == [fill]
    effects = core.handle(update(original.client_order_id, "CANCELLED", "0.01", "0"), T0 + 3)
    [replacement] = to(effects, "venue", PlaceOrder)
    assert replacement.client_order_id == client_order_id("a2")
    assert (replacement.side, replacement.size, replacement.limit_price) == ("BUY", D("0.04"), D("49500"))
    assert HeldOrder(original.client_order_id, "replacement", "", T0 + 3) in to(effects, "journal")  # released
    # a replayed report of the same end sends nothing more
    assert to(core.handle(update(original.client_order_id, "CANCELLED", "0.01", "0"), T0 + 4), "venue") == []


def test_a_replacement_for_an_original_that_filled_completely_is_dropped() -> None:
    core = ready_core()
    [original] = to(core.handle(OrderIntent("f", PRODUCT, "BUY", D("0.02"), "limit", D("49000")), T0), "venue")
    core.handle(update(original.client_order_id, "OPEN", "0", "0.02"), T0)
    core.handle(ReplaceIntent("f2", replaces="f", limit_price=D("49100")), T0)
    effects = core.handle(update(original.client_order_id, "FILLED", "0.02", "0"), T0 + 1)
    assert to(effects, "venue") == []
    assert core.report()["replaced"] == 0


def test_a_stop_restored_after_a_restart_fires_once_when_the_mark_reaches_it() -> None:
    first = ready_core(position=D("0.03"))
    stop = OrderIntent("s", PRODUCT, "SELL", D("0.03"), "stop_market", stop_price=D("49000"), reduce_only=True)
    effects = first.handle(stop, T0)
    assert to(effects, "venue") == []  # Coinbase holds no stop-market: armed here
    [held] = to(effects, "journal", HeldOrder)
    assert held.kind == "stop" and held.key == client_order_id("s")
    assert msgspec.json.decode(held.body, type=QuantizedOrder).stop_price == D("49000")

    # A new incarnation learns the stop from the journal's held orders, not from the venue.
    second = ready_core(position=D("0.03"))
    second.handle(HeldOrders((held,)), T0 + 10)
    assert second.report()["stops_armed"] == 1
    assert to(book(second, D("49500"), T0 + 11), "venue") == []  # above the stop: waits
    effects = book(second, D("48990"), T0 + 12)
    [order] = to(effects, "venue", PlaceOrder)
    assert (order.side, order.order_type, order.size, order.reduce_only) == ("SELL", "market", D("0.03"), True)
    assert HeldOrder(client_order_id("s"), "stop", "", T0 + 12) in to(effects, "journal")
    assert to(book(second, D("48000"), T0 + 13), "venue") == []  # fired once
    # the same decision told again is not a second stop
    assert to(second.handle(stop, T0 + 14), "journal", HeldOrder) == []
