"""The whole tree against the built-in exchange over loopback: a dropped connection is detected,
reconnected with back-off, resubscribed, and the books come back valid."""

from __future__ import annotations

import tempfile
from pathlib import Path

from actors.app.tree import Tree
from actors.exchange.server import ExchangeServer
from config.loader import apply_overrides, load_profile
from runtime.clock import WallClock
from runtime.scheduler import Scheduler
from runtime.services import Services
from tests.support import wait_until


def test_dropped_connection_reconnects_and_books_recover():
    server = ExchangeServer(seed=5, tick_interval_s=0.05)
    server.start()
    scheduler = Scheduler(WallClock())
    scheduler.start()
    services = Services(scheduler.clock, scheduler)
    with tempfile.TemporaryDirectory() as tmp:
        profile = apply_overrides(load_profile("paper"), **{
            "run.data_dir": tmp, "streaming.reconnect_base_s": 0.1, "streaming.reconnect_cap_s": 0.5})
        tree = Tree(profile, services, Path(tmp), server.url)
        try:
            def books_valid() -> bool:
                report = tree.ask("market_data", "report", default={}) or {}
                return len(report) == 2 and all(p["valid"] for p in report.values())

            wait_until(books_valid, timeout=10, what="books valid")
            frames_before = tree.ask("streaming", "report")["frames"]
            assert server.drop_connections() == 1
            wait_until(lambda: services.metrics.value("feed.reconnects") >= 1, timeout=10, what="reconnect")
            wait_until(lambda: tree.ask("streaming", "report")["frames"] > frames_before + 20, timeout=10)
            wait_until(books_valid, timeout=10, what="books valid after reconnect")
            report = tree.ask("market_data", "report")
            assert all(p["resyncs"] >= 1 for p in report.values()), "a fresh snapshot replaced each book"
            assert tree.status()["restarts"]["streaming"] == 0, "recovered without a restart"
        finally:
            tree.stop()
            server.stop()
