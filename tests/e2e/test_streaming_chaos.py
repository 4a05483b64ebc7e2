"""Every chaos kind of the built-in exchange against the real actor tree.

While the chaos plays out, a small BTC-USD order intent (BUY and SELL in turn) reaches execution
every 75 ms, and one more right behind every invalid BTC-USD book status execution handles, so the
pre-trade gate meets the books as they go invalid or stale. After each kind:
the stream recovered without restarting anything, every injected gap was detected, once the
exchange is paused and the stream drained every book equals the exchange's own, and the message
trace shows that no order left on an invalid or stale book and no level2 frame was applied
before its snapshot (tests/trace_audit.py, independent of the gate and of market_data's counters).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from actors.market_data.digest import book_digest
from domain.market import BookStatus
from domain.orders import OrderIntent
from domain.queries import REPORT
from tests.live_rig import LiveRig
from tests.support import wait_until
from tests.trace_audit import (
    TraceEvent,
    applied_before_snapshot,
    intents_on_bad_books,
    orders_on_bad_books,
    sent_order,
)

PRODUCTS = ("BTC-USD", "BIP-20DEC30-CDE")
FAST_WATCHDOGS = {
    "streaming.reconnect_base_s": 0.1, "streaming.reconnect_cap_s": 0.5, "streaming.message_timeout_s": 1.0,
    "streaming.heartbeat_timeout_s": 1.6, "streaming.watchdog_interval_s": 0.1, "streaming.stable_period_s": 1.0,
}
# Books change every 50 ms: half a second without a change is stale, so stalls meet the gate too.
STALE_AFTER_S = 0.5
# Between the gate reading the clock and the trace stamping the send (a GIL switch at most).
SEND_SLACK_S = 0.02
INTENT_EVERY_S = 0.075
PLAY_OUT_S = 2.0
# The kinds that certainly put an intent on a bad BTC-USD book here, and how the book is bad. The
# others never make it so: a lost socket leaves books valid (staleness guards them) and the
# reconnect is back within STALE_AFTER_S; refuse and ignore_subscribe only matter to a reconnect.
GATE_MEETS = {"gap": "book invalid", "reorder": "book invalid", "stall": "book stale"}

CHAOS = [
    "disconnect:at=1", "gap:every=0.7", "stall:at=1,for=2", "duplicate:every=0.5", "reorder:every=0.7",
    "malformed:every=0.5", "error_frame:every=0.5", "no_heartbeat:at=0.5,for=2.5",
    "slow_snapshot:at=0,for=1.5", "refuse:at=1,for=1.5", "ignore_subscribe:at=0.9,for=1.5",
]


@pytest.fixture
def rig():
    made: list[LiveRig] = []

    def make(chaos: str) -> LiveRig:
        made.append(LiveRig((chaos,), **FAST_WATCHDOGS, **{"market_data.stale_after_s": STALE_AFTER_S}))
        return made[-1]

    yield make
    for r in made:
        r.stop()


@pytest.mark.parametrize("chaos", CHAOS)
def test_chaos_kind_is_survived_and_books_end_equal_to_the_exchange(rig, chaos):
    r = rig(chaos)
    kind = chaos.split(":")[0]
    numbers = itertools.count(1)
    pump = r.scheduler.call_every(INTENT_EVERY_S, lambda: _send_intent(r, next(numbers)))
    r.trace.on_event = lambda e: _probe_bad_book(r, e, numbers)
    wait_until(lambda: r.server.chaos_counts().get(kind, 0) >= 1, timeout=10, what=f"{kind} injected")
    # let the chaos play out (bounded): 2 s covers every kind's `for` after its first injection,
    # and three or four rounds of the periodic ones
    deadline = time.monotonic() + PLAY_OUT_S
    wait_until(lambda: time.monotonic() > deadline, timeout=5, interval=0.05)
    # Recovered: frames flow again on a healthy connection and every book is valid.
    frames = r.feed().get("frames", 0)
    wait_until(lambda: r.feed().get("frames", 0) > frames + 10, timeout=10, what="frames flow again")
    wait_until(r.books_valid, timeout=10, what="books valid")
    counts = r.server.chaos_counts()
    if kind == "gap":
        assert r.feed()["gaps"] >= counts["gap"] >= 1, "every injected gap detected"
    if kind in ("stall", "no_heartbeat"):
        assert r.counter("feed.stalls") >= 1, "silent socket detected by a watchdog"
    if kind == "malformed":
        assert r.feed()["malformed"] >= 1
    if kind == "error_frame":
        assert r.feed()["error_frames"] >= 1
    pump.cancel()
    r.trace.on_event = None
    # Books equal the exchange's once the stream is drained.
    r.server.pause()
    wait_until(lambda: _settled(r), timeout=10, what="books equal the exchange's")
    status = r.tree.status()
    assert status["restarts"]["streaming"] == 0 and status["restarts"]["market_data"] == 0
    _audit(r, kind)


def _send_intent(r: LiveRig, n: int) -> None:
    side = "BUY" if n % 2 else "SELL"
    r.services.send("execution", OrderIntent(f"chaos:{n}", "BTC-USD", side, Decimal("0.001")))


def _probe_bad_book(r: LiveRig, e: TraceEvent, numbers: Iterator[int]) -> None:
    """Execution is about to handle an invalid BTC-USD book: queue an intent right behind it."""
    m = e.message
    if e.actor == "execution" and e.way == "in" and type(m) is BookStatus and m.product_id == "BTC-USD" and not m.valid:
        _send_intent(r, next(numbers))


def _audit(r: LiveRig, kind: str) -> None:
    report = r.tree.ask("execution", REPORT)
    events = r.trace.events()  # after the report: every order it counts is in the trace
    sent = [e for e in events if e.actor == "execution" and sent_order(e) is not None]
    assert len(sent) >= report["orders"] >= 1, "orders were sent, and the trace saw every one"
    assert orders_on_bad_books(events, STALE_AFTER_S, slack_s=SEND_SLACK_S, reducing_allowed=True) == []
    assert applied_before_snapshot(events) == []
    if kind in GATE_MEETS:
        # The audit had something to judge: intents met the bad book mid-run, and the gate refused.
        problems = [problem for _, problem in intents_on_bad_books(events, STALE_AFTER_S)]
        assert any(problem.startswith(GATE_MEETS[kind]) for problem in problems), problems
        assert report["refusals"].get("stale_book", 0) >= 1, report


def _settled(r: LiveRig) -> bool:
    books = r.books()
    return all(books.get(pid, {}).get("valid") and books[pid]["book_sha256"] == book_digest(*r.server.books(pid))
               for pid in PRODUCTS)
