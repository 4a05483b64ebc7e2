"""Order bookkeeping: deterministic client ids, the state machine, idempotent venue reports."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest

from actors.execution.orders import (
    CANCELLED,
    FILLED,
    OPEN,
    PARTIALLY_FILLED,
    PENDING,
    REJECTED,
    OrderBookkeeper,
    client_order_id,
    transition,
)
from domain.orders import Fill, OrderIntent, OrderUpdate, PlaceOrder, VenueSnapshot

D = Decimal
COID = client_order_id("BTC-USD:1004000:BUY")


def place(coid: str = COID, size: str = "2", side: str = "BUY") -> PlaceOrder:
    return PlaceOrder(
        client_order_id=coid, product_id="BTC-USD", side=side, order_type="limit", size=D(size),
        limit_price=D("100"),
    )


def update(status: str, filled: str = "0", leaves: str = "2", coid: str = COID, reason: str = "") -> OrderUpdate:
    return OrderUpdate(
        client_order_id=coid, venue_order_id="v-1", product_id="BTC-USD", status=status,
        filled_size=D(filled), leaves_size=D(leaves), reason=reason, ts=5.0,
    )


def fill(trade_id: str, size: str, price: str = "100", coid: str = COID, side: str = "BUY") -> Fill:
    return Fill(
        trade_id=trade_id, client_order_id=coid, venue_order_id="v-1", product_id="BTC-USD", side=side,
        price=D(price), size=D(size), fee=D("0.05"), liquidity="MAKER", ts=6.0,
    )


def test_client_order_id_is_deterministic_and_short() -> None:
    intent_id = "BTC-USD:1004000:BUY"
    assert client_order_id(intent_id) == "pb-" + hashlib.sha256(intent_id.encode()).hexdigest()[:24]
    assert client_order_id(intent_id) == client_order_id(intent_id)
    assert client_order_id(intent_id) != client_order_id("BTC-USD:1004000:SELL")
    assert len(client_order_id(intent_id)) == 27


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (PENDING, OPEN), (OPEN, PARTIALLY_FILLED), (PARTIALLY_FILLED, FILLED), (PENDING, FILLED),
        (PENDING, CANCELLED), (OPEN, CANCELLED), (PARTIALLY_FILLED, CANCELLED),
        (PENDING, REJECTED), (OPEN, REJECTED), (PARTIALLY_FILLED, REJECTED),
        (PARTIALLY_FILLED, PARTIALLY_FILLED),
    ],
)
def test_legal_transitions(current: str, new: str) -> None:
    assert transition(current, new) == new


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (OPEN, PENDING), (PARTIALLY_FILLED, OPEN), (FILLED, OPEN), (FILLED, CANCELLED),
        (CANCELLED, OPEN), (REJECTED, FILLED), (CANCELLED, PARTIALLY_FILLED), (OPEN, OPEN),
    ],
)
def test_illegal_transitions_raise(current: str, new: str) -> None:
    with pytest.raises(ValueError):
        transition(current, new)


def test_lifecycle_pending_open_partial_filled() -> None:
    book = OrderBookkeeper()
    book.record_intent(OrderIntent(intent_id="x", product_id="BTC-USD", side="BUY", size=D(2)))
    assert book.on_submit(place(), intent_id="BTC-USD:1004000:BUY")
    assert book.get(COID).state == PENDING
    assert book.on_update(update("OPEN"))
    assert book.get(COID).state == OPEN and book.get(COID).venue_order_id == "v-1"
    assert book.on_fill(fill("t1", "0.5", "100"))
    assert book.get(COID).state == PARTIALLY_FILLED
    assert book.on_fill(fill("t2", "1.5", "104"))
    rec = book.get(COID)
    assert rec.state == FILLED and rec.filled_size == D(2)
    assert rec.fills_notional == D("206")  # 0.5 x 100 + 1.5 x 104
    assert rec.fees == D("0.10")
    assert book.open_orders() == ()
    # the venue's FILLED report after the fills is a cumulative echo, not a change of state
    assert book.on_update(update("FILLED", "2", "0"))
    assert book.get(COID).state == FILLED and book.get(COID).filled_size == D(2)
    counts = book.counts
    assert (counts.intents, counts.orders, counts.fills, counts.rejects) == (1, 1, 2, 0)
    # t1 left 1.5 to fill: one partial fill; both fills are MAKER (the helper's liquidity flag)
    assert (counts.partial_fills, counts.maker_fills, counts.taker_fills) == (1, 2, 0)


def test_duplicate_fill_is_ignored_and_counted() -> None:
    book = OrderBookkeeper()
    book.on_submit(place())
    assert book.on_fill(fill("t1", "0.5"))
    assert not book.on_fill(fill("t1", "0.5"))
    assert book.get(COID).filled_size == D("0.5")
    assert book.counts.fills == 1 and book.counts.duplicate_fills == 1


def test_self_trade_same_trade_id_both_sides_counts_twice() -> None:
    book = OrderBookkeeper()
    book.on_submit(place("a", side="BUY"))
    book.on_submit(place("b", side="SELL"))
    assert book.on_fill(fill("t1", "1", coid="a", side="BUY"))
    assert book.on_fill(fill("t1", "1", coid="b", side="SELL"))
    assert book.counts.fills == 2


def test_duplicate_and_stale_updates_are_ignored() -> None:
    book = OrderBookkeeper()
    book.on_submit(place())
    assert book.on_update(update("OPEN"))
    assert not book.on_update(update("OPEN"))  # duplicate
    book.on_fill(fill("t1", "1"))
    assert not book.on_update(update("OPEN"))  # replayed after a reconnect: behind the fills
    assert book.get(COID).state == PARTIALLY_FILLED
    assert book.on_update(update("CANCELLED", "1", "0", reason="user"))
    assert not book.on_update(update("OPEN", "1", "1"))  # late, after terminal
    rec = book.get(COID)
    assert rec.state == CANCELLED and rec.reason == "user" and rec.filled_size == D(1)
    c = book.counts
    assert (c.duplicate_updates, c.stale_updates) == (1, 2)


def test_contradictory_terminal_report_raises() -> None:
    book = OrderBookkeeper()
    book.on_submit(place())
    book.on_update(update("FILLED", "2", "0"))
    with pytest.raises(ValueError):
        book.on_update(update("CANCELLED", "2", "0"))


def test_cumulative_partial_updates_advance_filled_size() -> None:
    book = OrderBookkeeper()
    book.on_submit(place())
    assert book.on_update(update("OPEN", "0.5", "1.5"))
    assert book.get(COID).state == PARTIALLY_FILLED
    assert book.on_update(update("OPEN", "1.0", "1.0"))
    assert book.get(COID).filled_size == D("1.0")
    assert not book.on_update(update("OPEN", "0.5", "1.5"))  # older cumulative report


def test_market_order_filled_without_open() -> None:
    book = OrderBookkeeper()
    book.on_submit(place())
    assert book.on_update(update("FILLED", "2", "0"))
    assert book.get(COID).state == FILLED


def test_reject_is_counted_and_unknown_status_ignored() -> None:
    book = OrderBookkeeper()
    book.on_submit(place())
    assert not book.on_update(update("SOMETHING_NEW"))
    assert book.on_update(update("REJECTED", reason="INSUFFICIENT_FUND"))
    assert book.get(COID).state == REJECTED
    assert (book.counts.rejects, book.counts.unknown_statuses) == (1, 1)


def test_duplicate_submit_never_makes_a_second_order() -> None:
    book = OrderBookkeeper()
    assert book.on_submit(place())
    book.on_update(update("OPEN"))
    assert not book.on_submit(place())
    assert book.get(COID).state == OPEN
    assert (book.counts.orders, book.counts.duplicate_submits) == (1, 1)


def test_open_orders_in_submission_order() -> None:
    book = OrderBookkeeper()
    for coid in ("c", "a", "b"):
        book.on_submit(place(coid))
    book.on_update(update("CANCELLED", coid="a"))
    assert [r.client_order_id for r in book.open_orders()] == ["c", "b"]


def test_fill_for_unknown_order_is_recorded_as_orphan() -> None:
    book = OrderBookkeeper()
    assert book.on_fill(fill("t9", "1", coid="elsewhere"))
    assert book.counts.orphan_fills == 1


def test_rebuild_from_venue_snapshot() -> None:
    book = OrderBookkeeper()
    book.on_submit(place("old"))
    snapshot = VenueSnapshot(
        open_orders=(update("OPEN", "0.5", "1.5", coid="live"),),
        fills=(fill("t1", "0.5", coid="live"), fill("t0", "3", coid="done")),
    )
    book.rebuild(snapshot)
    assert "old" not in book
    (live,) = book.open_orders()
    assert (live.client_order_id, live.state, live.size, live.filled_size) == ("live", PARTIALLY_FILLED, D(2), D("0.5"))
    assert live.side == "BUY"  # learnt from its fill
    assert not book.on_fill(fill("t1", "0.5", coid="live"))  # replay after restart
    assert book.on_fill(fill("t2", "1.5", coid="live"))
    assert book.get("live").state == FILLED
    c = book.counts
    assert (c.orders, c.fills, c.duplicate_fills, c.orphan_fills) == (1, 3, 1, 0)
