"""Test helpers: waiting for conditions with deadlines, and a small runtime harness."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pykka

from runtime.actor import SupervisedActor
from runtime.clock import ManualClock
from runtime.faults import FaultPlan
from runtime.messages import STATUS
from runtime.scheduler import Scheduler
from runtime.services import Services
from runtime.supervisor import ChildSpec, Supervisor, SupervisorConfig


def wait_until(condition: Callable[[], Any], timeout: float = 5.0, interval: float = 0.005, what: str = "") -> Any:
    """Poll `condition` until it is truthy; fail the test at the deadline. Never a bare sleep."""
    deadline = time.monotonic() + timeout
    event = threading.Event()
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {what or condition}")
        event.wait(interval)


class Harness:
    """A supervisor over the given children on a manual clock."""

    def __init__(self, specs: list[ChildSpec], config: SupervisorConfig | None = None,
                 faults: FaultPlan | None = None, supervisor_class: type = Supervisor, **kwargs: Any) -> None:
        self.clock = ManualClock()
        self.scheduler = Scheduler(self.clock)
        self.scheduler.start()
        self.services = Services(self.clock, self.scheduler, faults=faults)
        self.config = config or SupervisorConfig(ping_interval_s=0.1, hang_timeout_s=0.5)
        self.ref = supervisor_class.start(specs, self.config, self.services, **kwargs)

    def status(self) -> dict[str, Any]:
        return self.ref.ask(STATUS, timeout=5)

    def epoch(self, name: str) -> int | None:
        return self.services.directory.epoch(name)

    def bound(self, name: str) -> bool:
        entry = self.services.directory.get(name)
        return entry is not None and entry.ref is not None and entry.ref.is_alive()

    def ask(self, name: str, message: Any, timeout: float = 5.0) -> Any:
        entry = self.services.directory.get(name)
        assert entry is not None and entry.ref is not None, f"{name} is not running"
        return entry.ref.ask(message, timeout=timeout)

    def tick(self, seconds: float, steps: int = 1, hung: frozenset[str] = frozenset()) -> None:
        """Advance the clock; after each step wait until the supervisor has seen the due timers
        (the ask queues behind them), so its decisions read the time they were due at."""
        for _ in range(steps):
            self.clock.advance(seconds / steps)
            # Healthy children answer their pings before time moves on (only `hung` may not).
            wait_until(lambda: set(self.status()["awaiting_pong"]) <= hung, what="pongs")

    def stop(self) -> None:
        self.services.faults.release_all()
        try:
            self.ref.stop(block=True, timeout=10)
        except pykka.ActorDeadError:
            pass
        self.scheduler.stop()


class Recorder(SupervisedActor):
    """Stands in for any actor of the tree: keeps what it is sent; `ask("seen")` returns it."""

    def __init__(self, name: str, epoch: int, services: Any) -> None:
        super().__init__(name, epoch, services)
        self.seen: list[Any] = []

    def handle(self, message: Any) -> Any:
        if isinstance(message, str) and message == "seen":
            return list(self.seen)
        self.seen.append(message)
        return None
