"""The supervisor actor: starts children in order, detects failures on every path, performs the
supervision policy's plans and stops children in reverse order.

Owns the live child refs and the probes: failure reports from children (handler crash, start-up
crash), a ping deadline for hangs (not on a dispatcher, where no handler can hang alone) and an
is_alive poll for silent deaths. Restarts wait out a
jittered back-off on the injected clock; every decision becomes a typed SupervisionEvent.
Must never block in a handler (stops during restarts are fire-and-forget; only shutdown waits,
bounded by each child's shutdown timeout) and must never know what its children do.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import msgspec
import pykka
from loguru import logger

from runtime.backoff import Backoff
from runtime.dispatcher import DispatchableActor
from runtime.messages import ChildFailed, Envelope, Ping, PingTick, Pong, RestartDue, StatusQuery, SupervisionEvent
from runtime.scheduler import TimerHandle
from runtime.services import Services
from runtime.supervision import Plan, RestartType, Strategy, SupervisionPolicy


class ChildSpec(msgspec.Struct, frozen=True):
    name: str
    actor_class: Any  # a SupervisedActor subclass
    kwargs: dict[str, Any] = {}
    restart: RestartType = "permanent"
    shutdown_timeout_s: float = 2.0


class SupervisorConfig(msgspec.Struct, frozen=True):
    strategy: Strategy = "one_for_one"
    max_restarts: int = 5
    period_s: float = 30.0
    backoff: Backoff = Backoff(base_s=0.05, factor=2.0, cap_s=2.0, jitter=0.2)
    ping_interval_s: float = 0.25
    hang_timeout_s: float = 1.5
    seed: int = 0


class _Probe:
    __slots__ = ("ref", "ping_seq", "ping_sent_at", "found_dead")

    def __init__(self, ref: Any) -> None:
        self.ref = ref
        self.ping_seq = 0
        self.ping_sent_at: float | None = None
        self.found_dead = False


class Supervisor(DispatchableActor):
    def __init__(self, specs: list[ChildSpec], config: SupervisorConfig, services: Services) -> None:
        super().__init__(services.dispatcher)
        self.specs = {spec.name: spec for spec in specs}
        self.config = config
        self.services = services
        self.clock = services.clock
        self.policy = SupervisionPolicy(
            [(spec.name, spec.restart) for spec in specs],
            config.strategy,
            config.max_restarts,
            config.period_s,
            config.backoff,
            random.Random(config.seed),
        )
        self.probes: dict[str, _Probe] = {}
        self.events: list[SupervisionEvent] = []
        self._ping_seq = itertools.count(1)
        self._ticker: TimerHandle | None = None
        self._pending: dict[tuple[str, int], Plan] = {}

    # -- hooks ------------------------------------------------------------------------------------
    def on_event(self, event: SupervisionEvent) -> None:
        """Called for every supervision event (after logging). Subclasses journal it."""

    def escalate(self, plan: Plan) -> None:
        """Restart intensity was exceeded. Default (OTP): stop every child in reverse start order.
        A subclass may instead keep some children and enter a safe state."""
        for name in reversed(self.policy.order):
            self._stop_child(name)

    # -- lifecycle ----------------------------------------------------------------------------------
    def on_start(self) -> None:
        self.services.supervisor = self.actor_ref
        for name, epoch in self.policy.first_start():
            self._start_child(name, epoch)
        self._ticker = self.services.scheduler.call_every(self.config.ping_interval_s, self._tell_self, PingTick())

    def on_stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        self.policy.shutting_down()
        for name in reversed(self.policy.order):
            probe = self.probes.pop(name, None)
            if probe is None:
                continue
            timeout = self.specs[name].shutdown_timeout_s
            try:
                probe.ref.stop(block=True, timeout=timeout)
                self._emit("stopped", name, self.services.directory.epoch(name) or 0)
            except pykka.Timeout:
                self._emit("stopped", name, self.services.directory.epoch(name) or 0, f"no stop within {timeout}s")
            except pykka.ActorDeadError:
                pass
            self.services.directory.remove(name)

    def on_receive(self, message: Any) -> Any:
        if type(message) is not Envelope:
            return self._dispatch(message)  # an ask from the main thread or a test
        try:
            return self._dispatch(message.body)
        finally:
            if self.services.tracker is not None:
                self.services.tracker.done(("supervisor", 0))

    def _dispatch(self, message: Any) -> Any:
        if type(message) is ChildFailed:
            self._on_failure(message.name, message.epoch, message.kind, message.reason)
        elif type(message) is Pong:
            probe = self.probes.get(message.name)
            if probe is not None and self.policy.is_current(message.name, message.epoch) and message.seq == probe.ping_seq:
                probe.ping_sent_at = None
        elif type(message) is PingTick:
            self._probe_children()
        elif type(message) is RestartDue:
            self._perform_restart(message.name, message.epoch)
        elif type(message) is StatusQuery:
            return self.status()
        else:
            return self.on_fact(message)
        return None

    def on_fact(self, message: Any) -> Any:
        """A message the supervisor itself does not know: a subclass's business (health facts)."""
        return None

    def status(self) -> dict[str, Any]:
        return {
            "restarts": self.policy.restarts(),
            "escalations": int(self.policy.escalated),
            "epochs": {name: child.epoch for name, child in self.policy.children.items()},
            "states": {name: child.status for name, child in self.policy.children.items()},
            "events": list(self.events),
            "awaiting_pong": sorted(n for n, p in self.probes.items() if p.ping_sent_at is not None),
        }

    # -- failure detection --------------------------------------------------------------------------
    def _probe_children(self) -> None:
        now = self.clock.now()
        for name, probe in list(self.probes.items()):
            epoch = self.policy.children[name].epoch
            if not self.policy.is_current(name, epoch):
                continue
            if not probe.ref.is_alive():
                # A crash report may still be on its way (Pykka marks the actor stopped before
                # on_failure runs): only a death unexplained for a whole tick is a silent exit.
                if probe.found_dead:
                    self._on_exit(name, epoch)
                probe.found_dead = True
            elif self.services.dispatcher is not None:
                continue  # one thread runs every actor: a hung handler would hold this one too
            elif probe.ping_sent_at is not None:
                if now - probe.ping_sent_at > self.config.hang_timeout_s:
                    self._on_failure(name, epoch, "hang", f"no pong within {self.config.hang_timeout_s}s")
            else:
                probe.ping_seq = next(self._ping_seq)
                probe.ping_sent_at = now
                self._tell_child(name, epoch, probe.ref, Ping(probe.ping_seq))

    def _on_failure(self, name: str, epoch: int, kind: str, reason: str) -> None:
        plan = self.policy.on_failure(name, epoch, self.clock.now(), f"{kind}: {reason}")
        self._perform(name, epoch, plan, f"{kind}: {reason}")

    def _on_exit(self, name: str, epoch: int) -> None:
        """The child stopped without reporting a failure: a permanent child is restarted (a
        failure), a transient or temporary one stays stopped (OTP semantics)."""
        plan = self.policy.on_exit(name, epoch, self.clock.now())
        if plan is not None and self.specs[name].restart != "permanent":
            self._retire(name, epoch)
            self._emit("stopped", name, epoch, "exited by itself")
            return
        self._perform(name, epoch, plan, "dead: stopped without a report")

    def _perform(self, name: str, epoch: int, plan: Plan | None, detail: str) -> None:
        if plan is None:
            return  # stale: an older incarnation, or already being handled
        self._emit("failed", name, epoch, detail)
        self._retire(name, epoch)
        if plan.kind == "give_up":
            self._emit("gave_up", name, epoch, plan.reason)
            return
        if plan.kind == "escalate":
            self._emit("escalated", name, epoch, plan.reason)
            self.escalate(plan)
            return
        for sibling in plan.stop:
            self._stop_child(sibling)
        for child, new_epoch in plan.start:
            self.services.directory.begin(child, new_epoch)  # messages to it are dropped until bound
        first_name, first_epoch = plan.start[0]
        self._pending[(first_name, first_epoch)] = plan
        self._emit("restart_scheduled", name, epoch, f"in {plan.delay_s:.3f}s: {', '.join(n for n, _ in plan.start)}")
        self.services.scheduler.call_later(plan.delay_s, self._tell_self, RestartDue(first_name, first_epoch))

    def _perform_restart(self, name: str, epoch: int) -> None:
        plan = self._pending.pop((name, epoch), None)
        if plan is None:
            return
        for child, new_epoch in plan.start:
            if self.policy.on_restarted(child, new_epoch) and self._start_child(child, new_epoch):
                self._emit("restarted", child, new_epoch)

    # -- performing -----------------------------------------------------------------------------------
    def _start_child(self, name: str, epoch: int) -> bool:
        spec = self.specs[name]
        self.services.directory.begin(name, epoch)
        try:
            ref = spec.actor_class.start(name=name, epoch=epoch, services=self.services, **spec.kwargs)
        except Exception as exc:  # the constructor runs on this thread: a failure must not kill us
            self.services.tell_supervisor(ChildFailed(name, epoch, "start", f"{type(exc).__name__}: {exc}"))
            return False
        self.services.directory.bind(name, epoch, ref)
        self.probes[name] = _Probe(ref)
        if epoch == 1:
            self._emit("started", name, epoch)
        return True

    def _retire(self, name: str, epoch: int) -> None:
        """Forget a failed incarnation: stop it if it still runs. Removing its directory entry first
        makes a hung one step down on its next message instead of serving what is queued."""
        self.services.directory.remove(name)
        probe = self.probes.pop(name, None)
        if probe is not None:
            try:
                probe.ref.stop(block=False)
            except pykka.ActorDeadError:
                pass
        if self.services.tracker is not None:
            self.services.tracker.forget((name, epoch))

    def _stop_child(self, name: str) -> None:
        epoch = self.policy.children[name].epoch
        self._retire(name, epoch)
        self._emit("stopped", name, epoch)

    def _tell_child(self, name: str, epoch: int, ref: Any, message: Any) -> None:
        tracker = self.services.tracker
        if tracker is not None:
            tracker.sent((name, epoch))
        try:
            ref.tell(Envelope(None, 0, message))
        except pykka.ActorDeadError:
            if tracker is not None:
                tracker.done((name, epoch))

    def _tell_self(self, message: Any) -> None:
        self.services.tell_supervisor(message)

    def _emit(self, kind: str, child: str, epoch: int, detail: str = "") -> None:
        event = SupervisionEvent(ts=self.clock.now(), kind=kind, child=child, epoch=epoch, detail=detail)
        self.events.append(event)
        level = "INFO" if kind in ("started", "stopped", "restarted") else "WARNING"
        if kind == "escalated":
            level = "ERROR"
        logger.log(level, "supervision: {} {} epoch {} {}", kind, child, epoch, detail)
        self.on_event(event)

