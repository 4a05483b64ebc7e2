"""The log says what the bot does: one line per order sent, refused, filled, cancelled or rejected,
per distinct fill, per trading-state change and per operator command, through the whole tree and
the in-process paper venue; a sync that finds the venue disagreeing says so at WARNING; lines
carry the UTC date; the websocket libraries' frame traces never reach the log."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
from datetime import datetime, timezone
from decimal import Decimal as D

import pytest
import websocket
from loguru import logger

from actors.execution.orders import client_order_id
from domain.control import OperatorCommand
from domain.orders import CancelIntent, OrderIntent, OrderUpdate, VenueSnapshot
from domain.queries import OPEN_ORDERS, REPORT
from exchange.server import ExchangeServer
from runtime.logging import SOCKET_LIBRARIES, setup_logging
from tests.support import wait_until
from tests.tree_harness import TreeHarness

PRODUCT = "BTC-USD"
QUIET = {"strategy.products": (PRODUCT,), "strategy.long_window": 200,  # the strategy sends nothing
         "strategy.stop_loss_bps": 0}


class Lines:
    """Every loguru record as (level, message) while the fixture lasts."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str]] = []

    def sink(self, message) -> None:
        self.records.append((message.record["level"].name, message.record["message"]))

    def starting(self, prefix: str, containing: str = "", level: str | None = None) -> list[str]:
        return [m for lv, m in list(self.records)
                if m.startswith(prefix) and containing in m and (level is None or lv == level)]


@pytest.fixture
def lines():
    captured = Lines()
    sink = logger.add(captured.sink, level="DEBUG", format="{message}")
    yield captured
    with contextlib.suppress(ValueError):  # a test that calls setup_logging has removed it already
        logger.remove(sink)


@pytest.fixture
def restore_logging():
    """setup_logging replaces every sink and reroutes stdlib loggers: put things back afterwards."""
    saved = {name: (lg.handlers[:], lg.filters[:], lg.level, lg.propagate)
             for name in ("pykka", *SOCKET_LIBRARIES) for lg in [logging.getLogger(name)]}
    yield
    logger.remove()
    logger.add(sys.stderr)
    for name, (handlers, filters, level, propagate) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers, lg.filters, lg.propagate = handlers, filters, propagate
        lg.setLevel(level)


def mark(h: TreeHarness) -> D:
    return D(h.tree.ask("market_data", REPORT)[PRODUCT]["mark"])


def position(h: TreeHarness) -> D:
    return h.tree.ask("portfolio", REPORT)["positions"].get(PRODUCT, {}).get("size", D(0))


def settle(h: TreeHarness) -> None:
    assert h.tracker.wait_quiescent(5)


def test_one_line_per_event_of_an_orders_life(lines):
    h = TreeHarness(**QUIET)
    try:
        h.run(2.0)
        assert len(lines.starting("sync execution: the venue lists 0 open orders and 0 fills")) == 1
        assert not lines.starting("sync differs")

        # sent, filled: one `order sent`, one `fill` per distinct fill, one `order filled`
        buy = client_order_id("buy")
        h.services.send("execution", OrderIntent("buy", PRODUCT, "BUY", D("0.01")))
        h.run_until(lambda: position(h) == D("0.01"), max_seconds=3, what="long 0.01")
        h.run_until(lambda: lines.starting("order filled", buy), max_seconds=2, what="order filled line")
        assert lines.starting("order sent", buy) == [
            f"order sent {PRODUCT} BUY market 0.01 reduce_only=false cid={buy} intent=buy"]
        venue_fills = [f for f in h.fills() if f.client_order_id == buy]
        fill_lines = lines.starting("fill ", buy)
        assert venue_fills and len(fill_lines) == len(venue_fills)
        first = venue_fills[0]
        assert fill_lines[0] == (f"fill {PRODUCT} BUY {first.size} @ {first.price} fee {first.fee} {first.liquidity} "
                                 f"cid={buy} trade={first.trade_id}")
        assert len(lines.starting("order filled", buy)) == 1

        # the same fill delivered again and the same decision again log nothing
        h.services.send("execution", first)
        h.services.send("execution", OrderIntent("buy", PRODUCT, "BUY", D("0.01")))
        settle(h)
        assert len(lines.starting("fill ", buy)) == len(venue_fills)
        assert len(lines.starting("order sent", buy)) == 1

        # refused by the pre-trade gate, with its reason code
        flip = client_order_id("flip")
        h.services.send("execution", OrderIntent("flip", PRODUCT, "SELL", D("0.05"), reduce_only=True))
        settle(h)
        assert lines.starting("order refused", flip) == [
            f"order refused {PRODUCT} SELL market 0.05 cid={flip} reason=reduce_only"]
        assert not lines.starting("order sent", flip)

        # resting, then cancelled
        low = (mark(h) * D("0.97")).quantize(D(1))
        rest = client_order_id("rest")
        h.services.send("execution", OrderIntent("rest", PRODUCT, "BUY", D("0.01"), "limit", low))
        h.run_until(lambda: rest in {u.client_order_id for u in h.tree.ask("venue", OPEN_ORDERS)},
                    max_seconds=2, what="the limit rests")
        assert lines.starting("order sent", rest) == [
            f"order sent {PRODUCT} BUY limit 0.01 @ {low} reduce_only=false cid={rest} intent=rest"]
        h.services.send("execution", CancelIntent("rest"))
        h.run_until(lambda: lines.starting("order cancelled", rest), max_seconds=2, what="order cancelled line")
        settle(h)
        assert lines.starting("order cancelled", rest) == [
            f"order cancelled {PRODUCT} BUY filled 0 of 0.01 cid={rest} reason=-"]

        # rejected by the venue, with its reason (a GTD end time the venue cannot read)
        bad = client_order_id("bad-gtd")
        h.services.send("execution", OrderIntent("bad-gtd", PRODUCT, "BUY", D("0.01"), "limit", low,
                                                 time_in_force="GTD", end_time="not a time"))
        h.run_until(lambda: lines.starting("order rejected", bad), max_seconds=2, what="order rejected line")
        settle(h)
        assert len(lines.starting("order sent", bad)) == 1
        rejected = lines.starting("order rejected", bad)
        assert len(rejected) == 1 and re.fullmatch(rf"order rejected {PRODUCT} BUY limit 0\.01 cid={bad} reason=\S+",
                                                   rejected[0]), rejected
        assert "reason=-" not in rejected[0]
        assert not lines.starting("sync differs")
    finally:
        h.stop()


def test_trading_state_changes_and_operator_commands_are_logged_once(lines):
    h = TreeHarness(**QUIET)
    try:
        h.run(1.0)
        h.tree.orchestrator.tell(OperatorCommand("halt", "req-1"))
        wait_until(lambda: lines.starting("operator halt"), what="operator line")
        assert lines.starting("trading state") == [
            "trading state ACTIVE -> HALTED: operator halt; held by operator HALTED (operator halt)"]
        assert lines.starting("operator") == [
            "operator halt -> HALTED; held by operator HALTED (operator halt)"]

        h.tree.orchestrator.tell(OperatorCommand("resume", "req-2"))
        wait_until(lambda: lines.starting("operator resume"), what="operator line")
        assert lines.starting("trading state HALTED") == ["trading state HALTED -> ACTIVE: operator resume"]
        assert lines.starting("operator resume") == ["operator resume -> ACTIVE"]
        assert len(lines.starting("trading state")) == 2
    finally:
        h.stop()


def test_a_sync_that_finds_the_venue_disagreeing_says_so_at_warning(lines):
    h = TreeHarness(**QUIET)
    try:
        h.run(1.0)
        low = (mark(h) * D("0.97")).quantize(D(1))
        rest = client_order_id("rest")
        h.services.send("execution", OrderIntent("rest", PRODUCT, "BUY", D("0.01"), "limit", low))
        h.run_until(lambda: lines.starting("order sent", rest), max_seconds=2, what="the limit is sent")
        settle(h)
        assert not lines.starting("sync differs")
        # A later sync: the venue lists none of our orders, one we did not know, and no fills.
        other = OrderUpdate("pb-elsewhere", "v-9", PRODUCT, "OPEN", D(0), D("0.02"))
        h.services.send("execution", VenueSnapshot(open_orders=(other,), fills=()))
        settle(h)
        warned = lines.starting("sync differs", level="WARNING")
        assert warned == ["sync differs: venue vs execution: 1 orders live here are not open at the venue "
                          f"({rest}); 1 orders open at the venue were not known here (pb-elsewhere)"]
    finally:
        h.stop()


def test_lines_carry_the_utc_date(restore_logging, capsys):
    setup_logging("INFO")
    logger.info("order sent probe")
    logger.debug("not at INFO")
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO +order sent probe$", err[0]), err
    stamped = datetime.strptime(err[0][:23], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=timezone.utc)
    assert abs((datetime.now(timezone.utc) - stamped).total_seconds()) < 60  # UTC, not local time


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_no_websocket_frame_reaches_the_log(restore_logging, capsys, lines, level):
    setup_logging(level)
    sink = logger.add(lines.sink, level="DEBUG", format="{message}")  # setup_logging removed the fixture's
    payload = "frame-payload-7f3a"
    srv = ExchangeServer(seed=7, heartbeat_interval_s=0.2, subscribe_timeout_s=0.5)
    srv.start()
    websocket.enableTrace(True)  # even a trace someone switches on stays out of the log
    try:
        ws = websocket.create_connection(srv.url, timeout=3)
        try:
            ws.send(json.dumps({"type": "subscribe", "channel": "heartbeats", "product_ids": [payload]}))
            frames = [ws.recv() for _ in range(2)]
            assert frames
        finally:
            ws.close()
    finally:
        websocket.enableTrace(False)
        srv.stop()
        logger.remove(sink)
    printed = capsys.readouterr().err
    assert payload not in printed and "heartbeats" not in printed, printed
    assert not [m for _, m in lines.records if payload in m or "heartbeats" in m]
    library_lines = [(lv, m) for lv, m in lines.records if m.startswith("[websocket")]
    assert all(lv != "INFO" for lv, _ in library_lines), library_lines
