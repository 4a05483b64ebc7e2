"""The whole tree against the built-in exchange over loopback: a dropped connection is detected,
reconnected with back-off, resubscribed, and the books come back valid."""

from __future__ import annotations

from tests.live_rig import LiveRig
from tests.support import wait_until


def test_dropped_connection_reconnects_and_books_recover():
    rig = LiveRig(seed=5, **{"streaming.reconnect_base_s": 0.1, "streaming.reconnect_cap_s": 0.5})
    try:
        wait_until(rig.books_valid, timeout=10, what="books valid")
        frames_before = rig.feed()["frames"]
        assert rig.server.drop_connections() == 1
        wait_until(lambda: rig.counter("feed.reconnects") >= 1, timeout=10, what="reconnect")
        wait_until(lambda: rig.feed()["frames"] > frames_before + 20, timeout=10)
        wait_until(rig.books_valid, timeout=10, what="books valid after reconnect")
        assert all(p["resyncs"] >= 1 for p in rig.books().values()), "a fresh snapshot replaced each book"
        assert rig.tree.status()["restarts"]["streaming"] == 0, "recovered without a restart"
    finally:
        rig.stop()
