"""A feed that cannot reconnect moves trading to REDUCING (REST keeps the books fresh meanwhile);
once it is back with every book valid, trading returns to the state it had."""

from __future__ import annotations

from tests.live_rig import LiveRig
from tests.support import wait_until


def test_refused_reconnects_reduce_then_recovery_restores_active():
    rig = LiveRig(("disconnect:at=1", "refuse:at=0.9,for=3"), seed=8, **{
        "streaming.reconnect_base_s": 0.2, "streaming.reconnect_cap_s": 0.4, "streaming.reduce_after_attempts": 2,
        "streaming.rest_interval_s": 0.3, "streaming.heartbeat_timeout_s": 1.5, "streaming.message_timeout_s": 2.0})
    states: list[str] = []

    def state() -> str:
        current = rig.tree.status()["trading_state"]
        if not states or states[-1] != current:
            states.append(current)
        return current

    try:
        wait_until(lambda: state() == "REDUCING", timeout=10, what="REDUCING while the feed is refused")
        wait_until(lambda: rig.counter("feed.rest_fallbacks") >= 2, timeout=5,
                   what="books refreshed over REST while the stream is down")
        wait_until(lambda: state() == "ACTIVE", timeout=15, what="ACTIVE again once the feed is back")
        assert states == ["ACTIVE", "REDUCING", "ACTIVE"]
        assert rig.counter("feed.reconnects") >= 2
        # The outage outlasted the heartbeat timeout: the new connection must not be taken for a
        # silent one because the last heartbeat predates it.
        frames = rig.feed()["frames"]
        wait_until(lambda: rig.feed()["frames"] > frames + 60, timeout=10,
                   what="the new connection runs for longer than the heartbeat timeout")
        assert rig.counter("feed.stalls") == 0
        assert rig.tree.status()["restarts"]["streaming"] == 0
    finally:
        rig.stop()
