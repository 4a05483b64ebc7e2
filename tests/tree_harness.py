"""A whole actor tree on a manual clock, fed by an in-process synthetic market (no sockets).

Frames are built with the exchange's own frame builders from a SyntheticMarket, fed to streaming
the way the replay driver does, and the next step waits until the tree is quiescent. After a
restart of streaming or market_data the feed starts a new connection with fresh snapshots, as a
reconnect/resubscribe does against a real exchange.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from actors.app.tree import Tree, products_of
from config.loader import apply_overrides, load_profile
from domain.market import RawFrame
from domain.queries import FILLS
from exchange import frames
from exchange.market import SyntheticMarket
from runtime.clock import ManualClock
from runtime.faults import FaultPlan
from runtime.quiescence import InflightTracker
from runtime.scheduler import Scheduler
from runtime.services import Services
from tests.support import wait_until

START = 1_795_000_000.0

FAST = {
    "market_data.bar_interval_s": 0.25,
    "strategy.short_window": 2,
    "strategy.long_window": 3,
    "supervisor.ping_interval_s": 0.25,
    "supervisor.hang_timeout_s": 1.0,
    "supervisor.backoff_base_s": 0.05,
    "supervisor.backoff_cap_s": 0.2,
    "supervisor.max_restarts": 3,
    "backup.interval_s": 5.0,
    "reconcile.interval_s": 2.0,
}


class LocalFeed:
    def __init__(self, products: dict, seed: int) -> None:
        self.market = SyntheticMarket(products, seed, START)
        self.specs = products
        self.conn = 0
        self.seq = 0

    def _render(self, pending: frames.PendingFrame) -> str:
        text = pending.render(self.seq)
        self.seq += 1
        return text

    def reconnect(self, now: float) -> list[str]:
        """A new connection: sequence from 0, a snapshot per product."""
        self.conn += 1
        self.seq = 0
        out = []
        for product_id, spec in self.specs.items():
            bids, offers = self.market.book(product_id)
            out.append(self._render(frames.l2_snapshot(now, spec, bids, offers, now)))
        return out

    def step(self, now: float) -> list[str]:
        step = self.market.step(now)
        out = []
        for product in step.products:
            spec = self.specs[product.product_id]
            if product.changes:
                out.append(self._render(frames.l2_update(now, spec, product.changes, now)))
            if product.trades:
                out.append(self._render(frames.market_trades(now, frames.UPDATE, spec, product.trades)))
        return out


class TreeHarness:
    def __init__(self, faults: list | None = None, seed: int = 3, **overrides: Any) -> None:
        settings = dict(FAST)
        settings.update(overrides)
        settings["run.seed"] = seed
        self.tmp = tempfile.TemporaryDirectory(prefix="perpsbot-test-")
        settings["run.data_dir"] = self.tmp.name
        self.profile = apply_overrides(load_profile("paper"), **settings)
        self.clock = ManualClock(START)
        self.scheduler = Scheduler(self.clock)
        self.scheduler.start()
        self.tracker = InflightTracker()
        self.faults = FaultPlan(faults or [])
        self.services = Services(self.clock, self.scheduler, faults=self.faults, tracker=self.tracker)
        self.feed = LocalFeed(products_of(self.profile), seed)
        self.tree = Tree(self.profile, self.services, Path(self.tmp.name), feed_url=None)
        wait_until(self.tree.all_bound, what="tree started")
        self.tracker.wait_quiescent(5)
        self._epochs = self._feed_epochs()
        self.late_frames = 0
        self._send_all(self.feed.reconnect(self.clock.now()))

    def _feed_epochs(self) -> tuple:
        d = self.services.directory
        return d.epoch("streaming"), d.epoch("market_data")

    def _send_all(self, texts: list[str], quiet_s: float = 2.0) -> None:
        for text in texts:
            self.services.send("streaming", RawFrame(text, self.feed.conn, time.perf_counter_ns()))
            if not self.tracker.wait_quiescent(quiet_s):
                self.late_frames += 1

    def run(self, seconds: float, step_s: float = 0.1, quiet_s: float = 2.0) -> None:
        """Advance market and clock by `seconds`, feeding every frame."""
        for _ in range(round(seconds / step_s)):
            now = self.clock.now() + step_s
            self.clock.advance_to(now)
            if not self.tracker.wait_quiescent(quiet_s):
                self.late_frames += 1
            texts = self.feed.step(now)
            epochs = self._feed_epochs()
            if epochs != self._epochs and all(self._serving(n) for n in ("streaming", "market_data")):
                self._epochs = epochs
                texts = self.feed.reconnect(now)  # the restarted side resubscribed: fresh snapshots
            self._send_all(texts, quiet_s)

    def _serving(self, name: str) -> bool:
        entry = self.services.directory.get(name)
        return entry is not None and entry.ref is not None

    def run_until(self, condition, max_seconds: float, step_s: float = 0.1, quiet_s: float = 2.0, what: str = "") -> None:
        elapsed = 0.0
        while not condition():
            if elapsed >= max_seconds:
                raise AssertionError(f"not reached within {max_seconds}s of market time: {what}")
            self.run(step_s, step_s, quiet_s)
            elapsed += step_s

    # -- observations ---------------------------------------------------------------------------
    def status(self) -> dict:
        return self.tree.status()

    def fills(self) -> tuple:
        return self.tree.ask("venue", FILLS, default=())

    def epoch(self, name: str) -> int | None:
        return self.services.directory.epoch(name)

    def stop(self) -> None:
        self.tree.stop()
        self.tmp.cleanup()
