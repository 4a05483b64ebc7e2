"""A feed that cannot reconnect moves trading to REDUCING (REST keeps the books fresh meanwhile);
once it is back with every book valid, trading returns to the state it had."""

from __future__ import annotations

import tempfile
from pathlib import Path

from actors.app.tree import Tree
from actors.exchange.chaos import parse_chaos
from actors.exchange.server import ExchangeServer
from config.loader import apply_overrides, load_profile
from runtime.clock import WallClock
from runtime.scheduler import Scheduler
from runtime.services import Services
from tests.support import wait_until


def test_refused_reconnects_reduce_then_recovery_restores_active():
    server = ExchangeServer(seed=8, tick_interval_s=0.05,
                            chaos=[parse_chaos("disconnect:at=1"), parse_chaos("refuse:at=0.9,for=3")])
    server.start()
    scheduler = Scheduler(WallClock())
    scheduler.start()
    services = Services(scheduler.clock, scheduler)
    with tempfile.TemporaryDirectory() as tmp:
        profile = apply_overrides(load_profile("paper"), **{
            "run.data_dir": tmp, "streaming.reconnect_base_s": 0.2, "streaming.reconnect_cap_s": 0.4,
            "streaming.reduce_after_attempts": 2, "streaming.rest_interval_s": 0.3,
            "streaming.heartbeat_timeout_s": 1.5, "streaming.message_timeout_s": 2.0})
        tree = Tree(profile, services, Path(tmp), server.url)
        states: list[str] = []

        def state() -> str:
            current = tree.status()["trading_state"]
            if not states or states[-1] != current:
                states.append(current)
            return current

        try:
            wait_until(lambda: state() == "REDUCING", timeout=10, what="REDUCING while the feed is refused")
            wait_until(lambda: services.metrics.value("feed.rest_fallbacks") >= 2, timeout=5,
                       what="books refreshed over REST while the stream is down")
            wait_until(lambda: state() == "ACTIVE", timeout=15, what="ACTIVE again once the feed is back")
            assert states == ["ACTIVE", "REDUCING", "ACTIVE"]
            assert services.metrics.value("feed.reconnects") >= 2
            # The outage outlasted the heartbeat timeout: the new connection must not be taken for a
            # silent one because the last heartbeat predates it.
            frames = tree.ask("streaming", "report")["frames"]
            wait_until(lambda: tree.ask("streaming", "report")["frames"] > frames + 60, timeout=10,
                       what="the new connection runs for longer than the heartbeat timeout")
            assert services.metrics.value("feed.stalls") == 0
            assert tree.status()["restarts"]["streaming"] == 0
        finally:
            tree.stop()
            server.stop()
