"""The whole actor tree on the wall clock, streaming from a built-in exchange over loopback.

Every message the actors handle and send is recorded (`trace`) for the audits of tests/trace_audit.py.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from actors.app.tree import Tree
from config.loader import apply_overrides, load_profile
from domain.queries import REPORT
from exchange.chaos import parse_chaos
from exchange.server import ExchangeServer
from runtime.clock import WallClock
from runtime.scheduler import Scheduler
from runtime.services import Services
from tests.trace_audit import TraceRecorder


class LiveRig:
    def __init__(self, chaos: tuple[str, ...] = (), seed: int = 21, **overrides: Any) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="perpsbot-live-")
        try:  # a bad profile or override fails here, before any thread starts
            profile = apply_overrides(load_profile("paper"), **{"run.data_dir": self.tmp.name, **overrides})
            specs = [parse_chaos(c) for c in chaos]
        except Exception:
            self.tmp.cleanup()
            raise
        self.server = ExchangeServer(seed=seed, tick_interval_s=0.05, chaos=specs)
        self.server.start()
        self.scheduler = Scheduler(WallClock())
        self.scheduler.start()
        self.trace = TraceRecorder(self.scheduler.clock)
        self.services = Services(self.scheduler.clock, self.scheduler, trace=self.trace)
        try:
            self.tree = Tree(profile, self.services, Path(self.tmp.name), self.server.url)
        except Exception:
            self.scheduler.stop()
            self.server.stop()
            self.tmp.cleanup()
            raise

    def feed(self) -> dict:
        return self.tree.ask("streaming", REPORT, default={}) or {}

    def books(self) -> dict:
        return self.tree.ask("market_data", REPORT, default={}) or {}

    def books_valid(self) -> bool:
        books = self.books()
        return len(books) == 2 and all(b["valid"] for b in books.values())

    def counter(self, name: str) -> int:
        return self.services.metrics.value(name)

    def stop(self) -> None:
        self.tree.stop()
        self.server.stop()
        self.tmp.cleanup()
