"""Supervision policy: what to do when a child fails, as a pure state machine.

Owns each child's incarnation epoch and status, restart intensity (more than N restarts in T
seconds escalates, exactly once), the restart strategies one_for_one / rest_for_one / one_for_all
over the ordered child list, restart types permanent / transient / temporary, and back-off delays.
Must never touch an actor, a thread or a clock: time comes in as `now`; the supervisor actor
performs the returned plan. Semantics follow Erlang/OTP's supervisor and Akka Typed.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Literal

import msgspec

from runtime.backoff import Backoff

Strategy = Literal["one_for_one", "rest_for_one", "one_for_all"]
RestartType = Literal["permanent", "transient", "temporary"]
STRATEGIES = ("one_for_one", "rest_for_one", "one_for_all")


class Plan(msgspec.Struct, frozen=True):
    """A supervision decision.

    kind "restart": stop `stop` (healthy siblings, in reverse start order), then after `delay_s`
    start `start` (name, new epoch) in start order. kind "give_up": the child stays down
    (temporary child, or failures after an escalation). kind "escalate": intensity exceeded.
    """

    kind: Literal["restart", "give_up", "escalate"]
    failed: str
    stop: tuple[str, ...] = ()
    start: tuple[tuple[str, int], ...] = ()
    delay_s: float = 0.0
    reason: str = ""


class ChildState:
    __slots__ = ("name", "restart", "epoch", "status", "restarts", "failures")

    def __init__(self, name: str, restart: RestartType) -> None:
        self.name = name
        self.restart = restart
        self.epoch = 0
        self.status: Literal["idle", "running", "down", "given_up", "stopped"] = "idle"
        self.restarts = 0
        self.failures: deque[float] = deque()  # this child's recent failure times, for back-off


class SupervisionPolicy:
    def __init__(
        self,
        children: list[tuple[str, RestartType]],
        strategy: Strategy,
        max_restarts: int,
        period_s: float,
        backoff: Backoff,
        rng: random.Random,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown supervision strategy {strategy!r}")
        self.order = [name for name, _ in children]
        self.children = {name: ChildState(name, restart) for name, restart in children}
        self.strategy = strategy
        self.max_restarts = max_restarts
        self.period_s = period_s
        self.backoff = backoff
        self.rng = rng
        self.restart_times: deque[float] = deque()
        self.escalated = False

    def first_start(self) -> list[tuple[str, int]]:
        plan = []
        for name in self.order:
            child = self.children[name]
            child.epoch = 1
            child.status = "running"
            plan.append((name, child.epoch))
        return plan

    def is_current(self, name: str, epoch: int) -> bool:
        child = self.children.get(name)
        return child is not None and child.epoch == epoch and child.status == "running"

    def on_failure(self, name: str, epoch: int, now: float, reason: str = "") -> Plan | None:
        """A failure report. None when it is stale (an older incarnation, or already handled)."""
        if not self.is_current(name, epoch):
            return None
        child = self.children[name]
        child.status = "down"
        if self.escalated or child.restart == "temporary":
            child.status = "given_up"
            return Plan("give_up", name, reason=reason)
        while self.restart_times and now - self.restart_times[0] > self.period_s:
            self.restart_times.popleft()
        if len(self.restart_times) + 1 > self.max_restarts:
            self.escalated = True
            child.status = "given_up"
            return Plan("escalate", name, reason=f"more than {self.max_restarts} restarts in {self.period_s:g}s")
        self.restart_times.append(now)

        while child.failures and now - child.failures[0] > self.period_s:
            child.failures.popleft()
        child.failures.append(now)
        delay = self.backoff.delay(len(child.failures), self.rng)

        affected = self._affected(name)
        siblings = tuple(n for n in reversed(affected) if n != name and self.children[n].status == "running")
        start = []
        for n in affected:
            sibling = self.children[n]
            if sibling.status not in ("running", "down"):
                continue
            sibling.epoch += 1
            sibling.restarts += 1
            sibling.status = "down"
            start.append((n, sibling.epoch))
        return Plan("restart", name, stop=siblings, start=tuple(start), delay_s=delay, reason=reason)

    def on_exit(self, name: str, epoch: int, now: float) -> Plan | None:
        """The child stopped by itself without an error: only a permanent child is restarted."""
        if not self.is_current(name, epoch):
            return None
        if self.children[name].restart == "permanent":
            return self.on_failure(name, epoch, now, "exited")
        self.children[name].status = "stopped"
        return Plan("give_up", name, reason="exited normally")

    def shutting_down(self) -> None:
        """Every child is being stopped on purpose: nothing that follows is a failure."""
        for child in self.children.values():
            child.status = "stopped"

    def on_restarted(self, name: str, epoch: int) -> bool:
        """The planned incarnation was started. False if the plan was overtaken (escalation)."""
        child = self.children[name]
        if child.epoch != epoch or child.status != "down" or self.escalated:
            return False
        child.status = "running"
        return True

    def _affected(self, name: str) -> list[str]:
        if self.strategy == "one_for_one":
            return [name]
        if self.strategy == "rest_for_one":
            return self.order[self.order.index(name):]
        return list(self.order)

    def restarts(self) -> dict[str, int]:
        return {name: child.restarts for name, child in self.children.items()}
