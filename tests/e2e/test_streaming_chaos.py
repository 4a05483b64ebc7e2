"""Every chaos kind of the built-in exchange against the real streaming and market-data actors.

After each: the stream recovered without restarting anything, every injected gap was detected,
and once the exchange is paused and the stream drained, every book equals the exchange's own.
"""

from __future__ import annotations

import time

import pytest

from actors.market_data.digest import book_digest
from tests.live_rig import LiveRig
from tests.support import wait_until

PRODUCTS = ("BTC-USD", "BIP-20DEC30-CDE")
FAST_WATCHDOGS = {
    "streaming.reconnect_base_s": 0.1, "streaming.reconnect_cap_s": 0.5, "streaming.message_timeout_s": 1.0,
    "streaming.heartbeat_timeout_s": 1.6, "streaming.watchdog_interval_s": 0.1, "streaming.stable_period_s": 1.0,
}

CHAOS = [
    "disconnect:at=1", "gap:every=0.7", "stall:at=1,for=2", "duplicate:every=0.5", "reorder:every=0.7",
    "malformed:every=0.5", "error_frame:every=0.5", "no_heartbeat:at=0.5,for=2.5",
    "slow_snapshot:at=0,for=1.5", "refuse:at=1,for=1.5", "ignore_subscribe:at=0.9,for=1.5",
]


@pytest.fixture
def rig():
    made: list[LiveRig] = []

    def make(chaos: str) -> LiveRig:
        made.append(LiveRig((chaos,), **FAST_WATCHDOGS))
        return made[-1]

    yield make
    for r in made:
        r.stop()


@pytest.mark.parametrize("chaos", CHAOS)
def test_chaos_kind_is_survived_and_books_end_equal_to_the_exchange(rig, chaos):
    r = rig(chaos)
    kind = chaos.split(":")[0]
    wait_until(lambda: r.server.chaos_counts().get(kind, 0) >= 1, timeout=10, what=f"{kind} injected")
    deadline = time.monotonic() + 3.0  # let the chaos play out (bounded)
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
    # Books equal the exchange's once the stream is drained.
    r.server.pause()
    wait_until(lambda: _settled(r), timeout=10, what="books equal the exchange's")
    status = r.tree.status()
    assert status["restarts"]["streaming"] == 0 and status["restarts"]["market_data"] == 0


def _settled(r: LiveRig) -> bool:
    books = r.books()
    return all(books.get(pid, {}).get("valid") and books[pid]["book_sha256"] == book_digest(*r.server.books(pid))
               for pid in PRODUCTS)
