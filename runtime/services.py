"""The shared services every actor of one runtime receives: clock, scheduler, directory, metrics,
fault plan, in-flight tracker, the supervisor's address, an optional message trace and the
dispatcher the actors run on (None: a Pykka thread each).

Owns nothing mutable itself; each service documents its own owner. Must never hold trading state.
The trace, `trace(actor, way, message)` with `way` "in" (about to be handled) or "out:<target>"
(a send is attempted), is for tests and diagnostics that audit what actors really handled and
sent; it must never change behaviour, and costs one attribute check when it is None.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pykka

from runtime.clock import Clock
from runtime.directory import Directory
from runtime.dispatcher import Dispatcher
from runtime.faults import FaultPlan
from runtime.messages import Envelope
from runtime.metrics import Registry
from runtime.quiescence import InflightTracker
from runtime.scheduler import Scheduler


class Services:
    def __init__(
        self,
        clock: Clock,
        scheduler: Scheduler,
        directory: Directory | None = None,
        metrics: Registry | None = None,
        faults: FaultPlan | None = None,
        tracker: InflightTracker | None = None,
        trace: Callable[[str, str, Any], None] | None = None,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self.clock = clock
        self.scheduler = scheduler
        self.directory = directory or Directory()
        self.metrics = metrics or Registry()
        self.faults = faults or FaultPlan()
        self.tracker = tracker
        self.trace = trace  # called on the actor's own thread; see the module docstring
        self.dispatcher = dispatcher  # None: each actor on its own Pykka thread
        self.supervisor: Any = None  # pykka.ActorRef of the root supervisor, set when it starts

    def send(self, name: str, message: Any, sender: str | None = None, epoch: int = 0) -> bool:
        """Deliver `message` to the current incarnation of `name`. False if it is down."""
        entry = self.directory.get(name)
        if entry is None or entry.ref is None:
            self.metrics.counter(f"undeliverable.{name}").inc()
            return False
        key = (name, entry.epoch)
        if self.tracker is not None:
            self.tracker.sent(key)
        try:
            entry.ref.tell(Envelope(sender, epoch, message))
        except pykka.ActorDeadError:  # it died after the lookup
            if self.tracker is not None:
                self.tracker.done(key)
            self.metrics.counter(f"undeliverable.{name}").inc()
            return False
        return True

    def tell_supervisor(self, message: Any, sender: str | None = None, epoch: int = 0) -> None:
        """Reports and facts for the root supervisor (failures, pongs, timers, health events)."""
        if self.supervisor is None:
            return
        if self.tracker is not None:
            self.tracker.sent(("supervisor", 0))
        try:
            self.supervisor.tell(Envelope(sender, epoch, message))
        except pykka.ActorDeadError:
            if self.tracker is not None:
                self.tracker.done(("supervisor", 0))
