"""The base of every supervised actor: the thin Pykka shell around a subsystem's pure core.

Owns the mechanics every actor shares: unwrapping envelopes, dropping late output of an older
incarnation (epoch check), stepping down when it is itself a superseded incarnation (a hung
instance that woke up), answering supervisor pings, applying its fault plan, reporting failures on
every Pykka path (handler crash via on_failure, crash in start-up), timers that tell back, and
sending by logical name, and the optional message trace of `Services` (each enveloped message it
handles, each send it attempts; for tests and diagnostics, never a change of behaviour). Must never
block in a handler or hold a reference to another actor.
"""

from __future__ import annotations

from typing import Any

import pykka
from loguru import logger

from runtime.dispatcher import DispatchableActor
from runtime.faults import FaultSpec, InjectedFault
from runtime.messages import ChildFailed, Envelope, Ping, Pong
from runtime.scheduler import TimerHandle
from runtime.services import Services

_PRUNE_TIMERS_AT = 64


class SupervisedActor(DispatchableActor):
    def __init__(self, name: str, epoch: int, services: Services) -> None:
        super().__init__(services.dispatcher)  # its own thread, or the services' dispatcher
        self.name = name
        self.epoch = epoch
        self.services = services
        self.clock = services.clock
        self.metrics = services.metrics
        self._directory = services.directory
        self._tracker = services.tracker
        self._trace = services.trace
        self._key = (name, epoch)
        self._fault_plan = services.faults
        self._timers: list[TimerHandle] = []
        self._stale = self.metrics.counter(f"{name}.stale_dropped")
        self._handled = self.metrics.counter(f"{name}.handled")
        # Addressable before on_start runs (this constructor runs on the supervisor's thread, the
        # directory's writer): a reply to a request sent from start_core must find us.
        self._directory.bind(name, epoch, self.actor_ref)

    # -- hooks for subclasses -------------------------------------------------------------------
    def start_core(self) -> None:
        """Build the core; reload durable state and reconcile before serving. May raise."""

    def stop_core(self) -> None:
        """Release resources (sockets, files). Called on stop and after a crash."""

    def handle(self, message: Any) -> Any:
        raise NotImplementedError

    # -- messaging ------------------------------------------------------------------------------
    def send(self, name: str, message: Any) -> bool:
        if self._trace is not None:
            self._trace(self.name, "out:" + name, message)
        return self.services.send(name, message, self.name, self.epoch)

    def every(self, interval_s: float, message: Any, first_delay_s: float | None = None) -> TimerHandle:
        timer = self.services.scheduler.call_every(interval_s, self._tell_self, message, first_delay=first_delay_s)
        self._timers.append(timer)
        return timer

    def later(self, delay_s: float, message: Any) -> TimerHandle:
        timer = self.services.scheduler.call_later(delay_s, self._tell_self, message)
        timers = self._timers
        if len(timers) >= _PRUNE_TIMERS_AT:  # one-shot timers pile up (one per order at the venue)
            now = self.clock.now()
            timers[:] = [t for t in timers if not t.cancelled and (t.interval is not None or t.due > now)]
        timers.append(timer)
        return timer

    def tell_supervisor(self, message: Any) -> None:
        """A fact for the root supervisor (the orchestrator), stamped with this incarnation."""
        self.services.tell_supervisor(message, self.name, self.epoch)

    def _tell_self(self, message: Any) -> None:
        if self._directory.epoch(self.name) != self.epoch:
            return  # superseded (e.g. hung and replaced): its timers must not feed it
        if self._tracker is not None:
            self._tracker.sent(self._key)
        try:
            self.actor_ref.tell(Envelope(None, 0, message))
        except pykka.ActorDeadError:
            if self._tracker is not None:
                self._tracker.done(self._key)

    # -- Pykka lifecycle --------------------------------------------------------------------------
    def on_start(self) -> None:
        try:
            self.start_core()
        except Exception as exc:  # Pykka does not call on_failure for on_start: report it here
            self._report_failure("start", exc)
            self._cancel_timers()
            raise

    def on_stop(self) -> None:
        self._cancel_timers()
        self.stop_core()

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        self._cancel_timers()
        self._report_failure("crash", exception_value)
        try:
            self.stop_core()
        except Exception:
            logger.opt(exception=True).warning("{} failed to release resources after a crash", self.name)

    def on_receive(self, message: Any) -> Any:
        if type(message) is Envelope:
            try:
                return self._receive(message)
            finally:
                if self._tracker is not None:
                    self._tracker.done(self._key)
        if type(message) is Ping:
            self._pong(message)
            return None
        # A direct ask/tell from outside the tree (main thread, tests): no fault plan applies.
        return self.handle(message)

    def _receive(self, envelope: Envelope) -> Any:
        body = envelope.body
        if type(body) is Ping:
            self._pong(body)
            return None
        if self._directory.epoch(self.name) != self.epoch:
            self._stale.inc()  # a superseded incarnation woke up: step down, send nothing
            self.stop()
            return None
        if envelope.sender is not None and self._directory.epoch(envelope.sender) != envelope.epoch:
            self._stale.inc()  # late output of an older incarnation of the sender
            return None
        injector = self._fault_plan.injector(self.name)
        if injector is not None:
            spec = injector.check(body)
            if spec is not None:
                return self._apply_fault(spec, body)
        self._handled.inc()
        if self._trace is not None:
            self._trace(self.name, "in", body)
        return self.handle(body)

    def _apply_fault(self, spec: FaultSpec, body: Any) -> Any:
        logger.warning("fault {}:{} fires in {} epoch {} on {}", spec.actor, spec.kind, self.name, self.epoch,
                       type(body).__name__)
        if spec.kind == "crash":
            raise InjectedFault(f"injected crash in {self.name} on {type(body).__name__}")
        if spec.kind == "drop":
            return None
        if spec.kind in ("hang", "slow"):
            self._fault_plan.release.wait(spec.hang_s if spec.kind == "hang" else spec.slow_s)
            if self._directory.epoch(self.name) != self.epoch:
                self._stale.inc()
                self.stop()
                return None
        if spec.kind == "duplicate":
            if self._trace is not None:
                self._trace(self.name, "in", body)
            self.handle(body)
        self._handled.inc()
        if self._trace is not None:
            self._trace(self.name, "in", body)
        return self.handle(body)

    def _pong(self, ping: Ping) -> None:
        self.services.tell_supervisor(Pong(self.name, self.epoch, ping.seq))

    def _report_failure(self, kind: str, exc: BaseException | None) -> None:
        reason = f"{type(exc).__name__}: {exc}" if exc is not None else kind
        self.services.tell_supervisor(ChildFailed(self.name, self.epoch, kind, reason))

    def _cancel_timers(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
