"""The trace audits find orders on bad books and frames applied before their snapshot, and only those."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.market import BookStatus, L2Update, StreamGap
from domain.orders import PlaceOrder
from domain.portfolio import PortfolioUpdate
from runtime.clock import ManualClock
from tests.trace_audit import TraceEvent, TraceRecorder, applied_before_snapshot, orders_on_bad_books

T0 = 1_795_000_000.0
BTC = "BTC-USD"
EXEC = "ExecutionActor-1"
MD = "MarketDataActor-1"


def ev(t: float, actor: str, way: str, message: Any, thread: str | None = None) -> TraceEvent:
    return TraceEvent(T0 + t, thread or {"execution": EXEC, "market_data": MD}[actor], actor, way, message)


def status(updated_at: float, valid: bool = True, product: str = BTC) -> BookStatus:
    mark = Decimal("100") if valid else None
    return BookStatus(product, valid, mark, mark, mark, T0 + updated_at, 0)


def order(n: int, side: str = "BUY", size: str = "0.001", product: str = BTC) -> PlaceOrder:
    return PlaceOrder(f"o{n}", product, side, "market", Decimal(size))


def update(conn: int, snapshot: bool = False, product: str = BTC) -> L2Update:
    return L2Update.from_sides(product, snapshot, (("100", "1"),), (("101", "1"),), 0.0, conn, 0)


# ------------------------------------------------------------------ recorder


def test_recorder_stamps_clock_and_thread_and_keeps_only_the_named_actors():
    clock = ManualClock(T0)
    rec = TraceRecorder(clock, actors=("execution",))
    rec("execution", "in", "a")
    clock.advance(1.5)
    rec("market_data", "in", "ignored")
    rec("execution", "out:venue", "b")
    events = rec.events()
    assert [(e.t, e.actor, e.way, e.message) for e in events] == [
        (T0, "execution", "in", "a"), (T0 + 1.5, "execution", "out:venue", "b")]
    assert events[0].thread == "MainThread"


def test_recorder_shows_each_kept_event_to_its_listener_as_it_happens():
    rec = TraceRecorder(ManualClock(T0), actors=("execution",))
    seen: list[tuple[str, int]] = []
    rec.on_event = lambda e: seen.append((e.message, len(rec.events())))
    rec("execution", "in", "a")
    rec("market_data", "in", "ignored")
    assert seen == [("a", 1)]


# ------------------------------------------------------------------ orders on bad books


def test_an_order_on_a_fresh_valid_book_is_clean():
    events = [
        ev(0.0, "execution", "in", status(0.0)),
        ev(0.4, "execution", "out:venue", order(1)),  # 0.4 s old, threshold 0.5
        ev(0.4, "execution", "out:journal", "placed"),
    ]
    assert orders_on_bad_books(events, stale_after_s=0.5) == []


def test_orders_with_no_status_an_invalid_or_a_stale_one_are_each_reported():
    events = [
        ev(0.0, "execution", "out:venue", order(1)),  # nothing handled yet
        ev(0.1, "execution", "in", status(0.1)),
        ev(0.2, "execution", "in", status(0.1, valid=False)),
        ev(0.3, "execution", "out:venue", order(2)),  # invalid
        ev(1.0, "execution", "in", status(1.0)),
        ev(1.6, "execution", "out:venue", order(3)),  # 0.6 s old > 0.5
    ]
    found = orders_on_bad_books(events, stale_after_s=0.5)
    assert len(found) == 3
    assert found[0].startswith("o1 ") and "no BookStatus" in found[0]
    assert found[1].startswith("o2 ") and "invalid" in found[1]
    assert found[2].startswith("o3 ") and "0.600s old" in found[2]


def test_only_executions_handled_status_of_the_same_product_and_incarnation_counts():
    events = [
        ev(0.0, "market_data", "out:execution", status(0.0)),  # sent, not yet handled
        ev(0.0, "execution", "in", status(0.0, product="ETH-USD")),  # another product
        ev(0.0, "execution", "in", status(0.0), thread="ExecutionActor-0"),  # an older incarnation
        ev(0.1, "execution", "out:venue", order(1)),
    ]
    assert len(orders_on_bad_books(events, stale_after_s=5.0)) == 1


def test_slack_covers_the_delay_between_the_gate_and_the_send():
    events = [ev(0.0, "execution", "in", status(0.0)), ev(0.51, "execution", "out:venue", order(1))]
    assert len(orders_on_bad_books(events, stale_after_s=0.5)) == 1
    assert orders_on_bad_books(events, stale_after_s=0.5, slack_s=0.02) == []


def test_reducing_orders_pass_a_stale_book_only_when_allowed():
    long = PortfolioUpdate(Decimal("1000"), ((BTC, Decimal("0.002")),), (), T0)
    events = [
        ev(0.0, "execution", "in", long),
        ev(0.0, "execution", "in", status(0.0, valid=False)),
        ev(0.1, "execution", "out:venue", order(1, "SELL", "0.002")),  # to flat: reduces
        ev(0.2, "execution", "out:venue", order(2, "SELL", "0.003")),  # crosses zero: new risk
        ev(0.3, "execution", "out:venue", order(3, "BUY", "0.001")),  # adds: new risk
    ]
    assert len(orders_on_bad_books(events, stale_after_s=5.0)) == 3
    found = orders_on_bad_books(events, stale_after_s=5.0, reducing_allowed=True)
    assert [f.split()[0] for f in found] == ["o2", "o3"]


def test_a_position_counts_the_fills_forwarded_after_the_portfolio_update_named_last():
    """As the gate does: a fill on its way to portfolio is part of the position an order is judged by."""
    from domain.orders import Fill

    def fill(n: int) -> Fill:
        return Fill(f"t{n}", f"o{n}", f"v{n}", BTC, "BUY", Decimal("100"), Decimal("0.002"), Decimal("0"), "TAKER", T0)

    flat = PortfolioUpdate(Decimal("1000"), (), (), T0)
    applied = PortfolioUpdate(Decimal("1000"), ((BTC, Decimal("0.002")),), (), T0, last_fill=(BTC, "t1", "BUY"))
    events = [
        ev(0.0, "execution", "in", flat),
        ev(0.0, "execution", "out:portfolio", fill(1)),
        ev(0.0, "execution", "in", status(0.0, valid=False)),
        ev(0.1, "execution", "out:venue", order(2, "SELL", "0.002")),  # flat per the update, long per the fill
        ev(0.2, "execution", "in", applied),  # the fill applied: counted once, not twice
        ev(0.3, "execution", "out:venue", order(3, "SELL", "0.004")),  # crosses zero: new risk
    ]
    found = orders_on_bad_books(events, stale_after_s=5.0, reducing_allowed=True)
    assert [f.split()[0] for f in found] == ["o3"]


# ------------------------------------------------------------------ applied before snapshot


def md_in(t: float, message: Any) -> TraceEvent:
    return ev(t, "market_data", "in", message)


def md_out(t: float, message: Any) -> list[TraceEvent]:
    return [ev(t, "market_data", "out:execution", message), ev(t, "market_data", "out:portfolio", message)]


def test_snapshot_then_updates_then_gap_then_snapshot_again_is_clean():
    events = [
        md_in(0.0, update(1)),  # before the snapshot: dropped, no status
        md_in(0.1, update(1, snapshot=True)), *md_out(0.1, status(0.1)),
        md_in(0.2, update(1)), *md_out(0.2, status(0.2)),
        md_in(0.3, StreamGap(1, (BTC,), 5, 7)), *md_out(0.3, status(0.2, valid=False)),
        md_in(0.4, update(1)),  # dropped
        md_in(0.5, update(-1, snapshot=True)), *md_out(0.5, status(0.5)),  # a REST refresh
        md_in(0.6, update(1, snapshot=True)), *md_out(0.6, status(0.6)),
        md_in(0.7, update(1)), *md_out(0.7, status(0.7)),
    ]
    assert applied_before_snapshot(events) == []


def test_a_valid_status_before_the_first_snapshot_is_reported_once():
    events = [md_in(0.0, update(1)), *md_out(0.0, status(0.0))]
    found = applied_before_snapshot(events)
    assert len(found) == 1 and "no snapshot" in found[0] and "L2Update" in found[0]


def test_an_update_applied_after_a_gap_without_a_new_snapshot_is_reported():
    events = [
        md_in(0.1, update(1, snapshot=True)), *md_out(0.1, status(0.1)),
        md_in(0.2, StreamGap(1, (BTC,), 5, 7)), *md_out(0.2, status(0.1, valid=False)),
        md_in(0.3, update(1)), *md_out(0.3, status(0.3)),
    ]
    assert len(applied_before_snapshot(events)) == 1


def test_a_book_published_invalid_needs_a_new_snapshot():
    events = [
        md_in(0.1, update(1, snapshot=True)), *md_out(0.1, status(0.1)),
        md_in(0.2, update(1)), *md_out(0.2, status(0.2, valid=False)),  # crossed: invalid
        md_in(0.3, update(1)), *md_out(0.3, status(0.3)),
    ]
    assert len(applied_before_snapshot(events)) == 1


def test_an_update_of_a_new_connection_needs_that_connections_snapshot():
    events = [
        md_in(0.1, update(1, snapshot=True)), *md_out(0.1, status(0.1)),
        md_in(0.2, update(-1, snapshot=True)), *md_out(0.2, status(0.2)),  # REST while reconnecting
        md_in(0.3, update(2)), *md_out(0.3, status(0.3)),  # connection 2 before its snapshot
        md_in(0.4, update(2, snapshot=True)), *md_out(0.4, status(0.4)),
        md_in(0.5, update(1)), *md_out(0.5, status(0.5)),  # late frame of the old connection
        md_in(0.6, update(2)), *md_out(0.6, status(0.6)),
    ]
    found = applied_before_snapshot(events)
    assert len(found) == 2
    assert "connection 2 applied on a book whose last websocket snapshot came from connection 1" in found[0]
    assert "connection 1 applied" in found[1]


def test_a_restarted_market_data_starts_with_every_book_invalid():
    events = [
        md_in(0.1, update(1, snapshot=True)), *md_out(0.1, status(0.1)),
        ev(0.2, "market_data", "in", update(1), thread="MarketDataActor-2"),
        ev(0.2, "market_data", "out:execution", status(0.2), thread="MarketDataActor-2"),
    ]
    assert len(applied_before_snapshot(events)) == 1
