"""Execution's log lines, synchronously: what a rebuild from the venue finds different, when that is
a WARNING, and the wording of an order's end."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from loguru import logger

from actors.execution import log_lines
from actors.execution.orders import OrderBookkeeper, SyncDiff
from domain.orders import Fill, OrderUpdate, PlaceOrder, VenueSnapshot

P = "BTC-USD"


@pytest.fixture
def lines():
    captured: list[tuple[str, str]] = []
    sink = logger.add(lambda m: captured.append((m.record["level"].name, m.record["message"])), level="DEBUG",
                      format="{message}")
    yield captured
    logger.remove(sink)


def fill(trade: str, coid: str, size: str = "0.01", price: str = "100") -> Fill:
    return Fill(trade, coid, "v-" + coid, P, "BUY", D(price), D(size), D("0.01"), "TAKER", 1.0)


def opened(coid: str) -> OrderUpdate:
    return OrderUpdate(coid, "v-" + coid, P, "OPEN", D(0), D("0.01"))


def test_rebuild_returns_what_the_venue_says_differently():
    book = OrderBookkeeper()
    assert not book.rebuild(VenueSnapshot((), ()))
    book.on_submit(PlaceOrder("a", P, "BUY", "limit", D("0.01"), D(90)))
    book.on_submit(PlaceOrder("b", P, "BUY", "limit", D("0.01"), D(90)))
    book.on_fill(fill("t1", "c"))
    diff = book.rebuild(VenueSnapshot((opened("b"), opened("z")), (fill("t1", "c"), fill("t2", "b"))))
    assert diff == SyncDiff(vanished=("a",), unknown=("z",), missed_fills=("t2",))
    # the same snapshot again: the table now agrees with it
    assert not book.rebuild(VenueSnapshot((opened("b"), opened("z")), (fill("t1", "c"), fill("t2", "b"))))


def test_a_first_sync_learns_rather_than_disagrees(lines):
    diff = SyncDiff(vanished=(), unknown=("z",), missed_fills=("t1", "t2", "t3", "t4"))
    log_lines.synced(1, 4, diff, recovering=True)
    assert lines == [("INFO", "sync execution: the venue lists 1 open orders and 4 fills")]
    lines.clear()
    log_lines.synced(1, 4, diff, recovering=False)
    assert lines[1] == ("WARNING", "sync differs: venue vs execution: 1 orders open at the venue were not known "
                                   "here (z); 4 fills at the venue were not seen here (trades t1, t2, t3 and 1 more)")


def test_an_order_held_live_that_the_venue_does_not_list_is_a_warning_even_on_recovery(lines):
    log_lines.synced(0, 0, SyncDiff(vanished=("a",)), recovering=True)
    assert lines[-1] == ("WARNING", "sync differs: venue vs execution: 1 orders live here are not open at the "
                                    "venue (a)")


def test_order_filled_says_the_average_price(lines):
    book = OrderBookkeeper()
    book.on_submit(PlaceOrder("a", P, "BUY", "market", D("0.03")))
    book.on_fill(fill("t1", "a", "0.01", "100"))
    book.on_fill(fill("t2", "a", "0.02", "101"))
    log_lines.order_ended(book.get("a"))
    assert lines == [("INFO", "order filled BTC-USD BUY 0.03 avg 100.66666667 fees 0.02 cid=a")]


def test_refusal_and_sent_lines_show_the_order_shape(lines):
    stop_limit = PlaceOrder("s", P, "SELL", "stop_limit", D("0.01"), D(95), stop_price=D(96), reduce_only=True)
    log_lines.order_sent(stop_limit, "i-s")
    log_lines.order_refused(stop_limit, "s", "max_position")
    assert [m for _, m in lines] == [
        "order sent BTC-USD SELL stop_limit 0.01 @ 95 stop 96 reduce_only=true cid=s intent=i-s",
        "order refused BTC-USD SELL stop_limit 0.01 @ 95 stop 96 cid=s reason=max_position",
    ]
