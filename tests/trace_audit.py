"""Audits of what the actors really handled and sent, from the runtime's message trace.

Owns the trace recorder (plugged into `Services(trace=...)`) and two pure audits over its events:
no order left on an invalid or stale book, and no level2 frame was applied before its snapshot.
The audits restate the rules from the messages alone, so they must never call the code they check
(the pre-trade gate, the staleness rule, market_data's counters).

Order: events of one thread are recorded in exactly the order they happened; across threads the
order is only approximate. Every actor incarnation runs on its own thread, so the audits follow
each rule per thread and never compare two threads' events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from decimal import Decimal
from typing import Any

import msgspec

from domain.market import BookStatus, L2Update, StreamGap
from domain.orders import Fill, OrderIntent, PlaceOrder
from domain.portfolio import PortfolioUpdate
from runtime.clock import Clock

IN = "in"


class TraceEvent(msgspec.Struct, frozen=True):
    t: float  # the runtime clock when it happened
    thread: str  # the thread it happened on: one actor incarnation
    actor: str
    way: str  # "in" (about to be handled) or "out:<target>" (a send attempted)
    message: Any


class TraceRecorder:
    """A `Services.trace` that keeps every event (of `actors` only, when given). Thread-safe:
    each event is one list append, atomic under the GIL.

    `on_event`, when set, sees each kept event on the actor's thread as it happens: a test's
    stimulus timed by the trace (an order intent right behind a book going bad). It must not block.
    """

    def __init__(self, clock: Clock, actors: Collection[str] | None = None) -> None:
        self.clock = clock
        self.actors = frozenset(actors) if actors is not None else None
        self.on_event: Callable[[TraceEvent], None] | None = None
        self._events: list[TraceEvent] = []

    def __call__(self, actor: str, way: str, message: Any) -> None:
        if self.actors is None or actor in self.actors:
            event = TraceEvent(self.clock.now(), threading.current_thread().name, actor, way, message)
            self._events.append(event)
            if self.on_event is not None:
                self.on_event(event)

    def events(self) -> list[TraceEvent]:
        return list(self._events)


def _reduces(position: Decimal, order: PlaceOrder) -> bool:
    """The order moves a non-zero position toward zero without crossing it."""
    after = position + order.size if order.side == "BUY" else position - order.size
    return position != 0 and (after == 0 or ((after > 0) == (position > 0) and abs(after) < abs(position)))


def _book_problem(status: BookStatus | None, now: float, stale_after_s: float) -> str | None:
    """Why a book is unfit for an order at `now`, or None."""
    if status is None:
        return "no BookStatus handled before it"
    if not status.valid:
        return f"book invalid (status updated_at={status.updated_at:.3f})"
    if now - status.updated_at > stale_after_s:
        return f"book stale: {now - status.updated_at:.3f}s old > {stale_after_s}s"
    return None


def _execution_view(events: Iterable[TraceEvent], execution: str
                    ) -> Iterator[tuple[TraceEvent, dict[tuple[str, str], BookStatus], dict[str, Decimal]]]:
    """Execution's events, each with the books it had handled before it and the positions it
    judged by (per thread): the last PortfolioUpdate's, plus the fills execution forwarded to
    portfolio after the one that update names as its last (`last_fill`), as the gate counts them."""
    books: dict[tuple[str, str], BookStatus] = {}
    positions: dict[str, dict[str, Decimal]] = {}
    unconfirmed: dict[str, dict[tuple[str, str, str], tuple[str, Decimal]]] = {}
    epochs: dict[str, int] = {}
    for e in events:
        if e.actor != execution:
            continue
        m = e.message
        pending = unconfirmed.setdefault(e.thread, {})
        if e.way == IN:
            if type(m) is BookStatus:
                books[(e.thread, m.product_id)] = m
            elif type(m) is PortfolioUpdate:
                positions[e.thread] = dict(m.positions)
                if epochs.setdefault(e.thread, m.epoch) != m.epoch:
                    epochs[e.thread] = m.epoch
                    pending.clear()
                elif m.last_fill in pending:
                    keys = list(pending)
                    for key in keys[: keys.index(m.last_fill) + 1]:
                        del pending[key]
        elif e.way == "out:portfolio" and type(m) is Fill:
            pending[(m.product_id, m.trade_id, m.side)] = (m.product_id, m.size if m.side == "BUY" else -m.size)
        judged = dict(positions.get(e.thread, {}))
        for product_id, delta in pending.values():
            judged[product_id] = judged.get(product_id, Decimal(0)) + delta
        yield e, books, judged


def sent_order(e: TraceEvent, venue: str = "venue") -> PlaceOrder | None:
    """The order an execution event sends to the venue, or None."""
    m = e.message
    return m if e.way == "out:" + venue and type(m) is PlaceOrder else None


def orders_on_bad_books(events: Iterable[TraceEvent], stale_after_s: float, slack_s: float = 0.0,
                        reducing_allowed: bool = False, execution: str = "execution",
                        venue: str = "venue") -> list[str]:
    """Every PlaceOrder `execution` sent to `venue` while the last BookStatus it had handled for
    that product (in the same incarnation) was missing, invalid, or older than `stale_after_s`
    (+ `slack_s`, the delay between the gate reading the clock and the send) at the send.

    `updated_at` of a BookStatus is the timestamp of the frame that changed the book, on the same
    epoch clock as the runtime's (a REST refresh is stamped by the runtime clock itself).
    `reducing_allowed`: orders that only reduce the position (from the last PortfolioUpdate
    execution handled) are not violations: the gate lets them go on a stale book, by design.
    """
    violations: list[str] = []
    for e, books, positions in _execution_view(events, execution):
        m = sent_order(e, venue)
        if m is None:
            continue
        problem = _book_problem(books.get((e.thread, m.product_id)), e.t, stale_after_s + slack_s)
        if problem is None:
            continue
        position = positions.get(m.product_id, Decimal(0))
        if reducing_allowed and _reduces(position, m):
            continue
        violations.append(f"{m.client_order_id} {m.side} {m.size} {m.product_id} sent at {e.t:.3f} "
                          f"(position {position}): {problem}")
    return violations


def intents_on_bad_books(events: Iterable[TraceEvent], stale_after_s: float,
                         execution: str = "execution") -> list[tuple[TraceEvent, str]]:
    """The OrderIntents `execution` handled while the product's book was unfit, after it had once
    been fit in that incarnation (start-up aside): proof that the gate met a bad book mid-run."""
    seen_good: set[tuple[str, str]] = set()
    found: list[tuple[TraceEvent, str]] = []
    for e, books, _ in _execution_view(events, execution):
        m = e.message
        if e.way != IN:
            continue
        if type(m) is BookStatus and m.valid:
            seen_good.add((e.thread, m.product_id))
        elif type(m) is OrderIntent and (e.thread, m.product_id) in seen_good:
            problem = _book_problem(books.get((e.thread, m.product_id)), e.t, stale_after_s)
            if problem is not None:
                found.append((e, problem))
    return found


def applied_before_snapshot(events: Iterable[TraceEvent], market_data: str = "market_data") -> list[str]:
    """Every level2 change `market_data` applied before its snapshot, per product and incarnation.

    A book is invalid from the start, after a StreamGap naming it, and after market_data published
    it invalid. Two rules, judged on the BookStatus market_data sends while handling a message:
    - a valid status needs a snapshot (websocket or REST) handled since the book was last invalid;
    - a valid status while handling a websocket update of connection C needs a snapshot of that
      product from C since the book was last invalid, and none from another connection after it
      (a REST refresh, connection < 0, neither counts for nor breaks this rule).
    """
    snapped: set[tuple[str, str]] = set()  # (thread, product): a snapshot since the last invalidation
    conn_of: dict[tuple[str, str], int] = {}  # (thread, product) -> connection of its last ws snapshot
    handling: dict[str, tuple[int, Any]] = {}  # thread -> (input number, message being handled)
    reported: set[tuple[str, int, str]] = set()
    violations: list[str] = []

    def invalidate(key: tuple[str, str]) -> None:
        snapped.discard(key)
        conn_of.pop(key, None)

    for e in events:
        if e.actor != market_data:
            continue
        m = e.message
        kind = type(m)
        if e.way == IN:
            number = handling.get(e.thread, (0, None))[0] + 1
            handling[e.thread] = (number, m)
            if kind is L2Update and m.is_snapshot:
                key = (e.thread, m.product_id)
                snapped.add(key)
                if m.conn >= 0:
                    conn_of[key] = m.conn
            elif kind is StreamGap:
                for product_id in m.product_ids:
                    invalidate((e.thread, product_id))
            continue
        if kind is not BookStatus:
            continue
        key = (e.thread, m.product_id)
        if not m.valid:
            invalidate(key)
            continue
        number, cause = handling.get(e.thread, (0, None))
        if (e.thread, number, m.product_id) in reported:
            continue  # the same status sent to another consumer
        problem = None
        if key not in snapped:
            problem = "valid with no snapshot since the book was last invalid"
        elif (type(cause) is L2Update and not cause.is_snapshot and cause.product_id == m.product_id
              and conn_of.get(key) != cause.conn):
            problem = (f"update of connection {cause.conn} applied on a book whose last websocket snapshot"
                       f" came from connection {conn_of.get(key)}")
        if problem is not None:
            reported.add((e.thread, number, m.product_id))
            violations.append(f"{m.product_id} at {e.t:.3f} on {e.thread} while handling "
                              f"{type(cause).__name__}: {problem}")
    return violations
