"""The supervisor on real Pykka actors and a manual clock: detection on every path, epochs,
strategies, intensity, back-off, ordered start and reverse stop."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from runtime.actor import SupervisedActor
from runtime.backoff import Backoff
from runtime.faults import FaultPlan, parse_fault
from runtime.supervisor import ChildSpec, SupervisorConfig
from tests.support import Harness, wait_until

NAMES = ("a", "b", "c")
LOG: list[tuple[str, str, int]] = []


class Work(msgspec.Struct, frozen=True):
    n: int


class Echo(SupervisedActor):
    """Counts work; forwards it to `forward_to` if set; records lifecycle in LOG."""

    def __init__(self, name: str, epoch: int, services: Any, forward_to: str | None = None,
                 fail_start_epochs: tuple[int, ...] = ()) -> None:
        super().__init__(name, epoch, services)
        self.forward_to = forward_to
        self.fail_start_epochs = fail_start_epochs
        self.seen: list[int] = []

    def start_core(self) -> None:
        LOG.append(("start", self.name, self.epoch))
        if self.epoch in self.fail_start_epochs:
            raise RuntimeError("boom in start")

    def stop_core(self) -> None:
        LOG.append(("stop", self.name, self.epoch))

    def handle(self, message: Any) -> Any:
        if message == "seen":
            return list(self.seen)
        if isinstance(message, Work):
            self.seen.append(message.n)
            if self.forward_to:
                self.send(self.forward_to, message)
        return None


def specs(**kwargs: Any) -> list[ChildSpec]:
    return [ChildSpec(name, Echo, kwargs.get(name, {})) for name in NAMES]


def config(strategy: str = "one_for_one", **kw: Any) -> SupervisorConfig:
    base = dict(strategy=strategy, max_restarts=3, period_s=10.0,
                backoff=Backoff(base_s=0.2, factor=2.0, cap_s=1.0, jitter=0.0),
                ping_interval_s=0.1, hang_timeout_s=0.5)
    base.update(kw)
    return SupervisorConfig(**base)


@pytest.fixture
def harness_factory():
    made: list[Harness] = []

    def make(*args: Any, wait_bound: bool = True, **kwargs: Any) -> Harness:
        h = Harness(*args, **kwargs)
        made.append(h)
        wait_until(lambda: h.status() is not None, what="supervisor up")
        if wait_bound:  # a message sent before a child is bound is dropped as undeliverable
            wait_until(lambda: all(h.bound(n) for n in NAMES), what="children bound")
        return h

    yield make
    for h in made:
        h.stop()
    LOG.clear()


def crash_plan(spec: str) -> FaultPlan:
    return FaultPlan([parse_fault(spec, NAMES)])


def restart_after_backoff(h: Harness, name: str, epoch: int, delay: float) -> None:
    wait_until(lambda: h.status()["states"][name] == "down", what=f"{name} down")
    assert not h.bound(name), "restarted before its back-off elapsed"
    h.tick(delay)
    wait_until(lambda: h.epoch(name) == epoch and h.bound(name), what=f"{name} epoch {epoch}")


def test_start_in_order_and_stop_in_reverse(harness_factory):
    h = harness_factory(specs(), config())
    wait_until(lambda: len([e for e in LOG if e[0] == "start"]) == 3)
    assert [e[1] for e in LOG if e[0] == "start"] == ["a", "b", "c"]
    h.stop()
    assert [e[1] for e in LOG if e[0] == "stop"] == ["c", "b", "a"]


def test_tell_crash_restarts_with_higher_epoch_one_for_one(harness_factory):
    h = harness_factory(specs(), config(), faults=crash_plan("b:crash:after=2"))
    for n in range(3):
        h.services.send("b", Work(n))
    restart_after_backoff(h, "b", 2, 0.2)
    assert h.epoch("a") == 1 and h.epoch("c") == 1
    status = h.status()
    assert status["restarts"] == {"a": 0, "b": 1, "c": 0}
    kinds = [(e.kind, e.child) for e in status["events"]]
    assert ("failed", "b") in kinds and ("restarted", "b") in kinds
    h.services.send("b", Work(9))
    wait_until(lambda: h.ask("b", "seen") == [9], what="new incarnation serves")


def test_crash_in_on_start_is_detected(harness_factory):
    h = harness_factory(specs(b={"fail_start_epochs": (1,)}), config(), wait_bound=False)
    restart_after_backoff(h, "b", 2, 0.2)
    failed = [e for e in h.status()["events"] if e.kind == "failed"]
    assert failed[0].child == "b" and failed[0].detail.startswith("start")


def test_hang_detected_by_ping_deadline_and_late_output_dropped(harness_factory):
    h = harness_factory(specs(b={"forward_to": "c"}), config(), faults=crash_plan("b:hang:after=1:hang_s=30"))
    h.services.send("b", Work(1))  # b hangs while handling this, before forwarding
    wait_until(lambda: h.services.faults.fired() == {"b": 1}, what="b hangs")
    h.tick(0.1, hung=frozenset({"b"}))  # first ping goes out; b cannot answer
    h.tick(0.6, steps=6, hung=frozenset({"b"}))  # deadline passes
    wait_until(lambda: h.status()["states"]["b"] == "down", what="hang detected")
    h.tick(0.2)
    wait_until(lambda: h.epoch("b") == 2 and h.bound("b"))
    h.services.faults.release_all()  # the old instance wakes up and would forward Work(1)
    wait_until(lambda: h.services.metrics.value("b.stale_dropped") == 1, what="old b steps down")
    h.services.send("b", Work(2))
    wait_until(lambda: h.ask("c", "seen") == [2], what="only the new incarnation's output arrives")
    assert [e.detail.split(":")[0] for e in h.status()["events"] if e.kind == "failed"] == ["hang"]


def test_dead_child_found_by_is_alive_poll(harness_factory):
    h = harness_factory(specs(), config())
    h.services.directory.get("c").ref.stop(block=True, timeout=5)  # dies without reporting
    h.tick(0.1)  # first sighting: a crash report could still be on its way
    assert h.status()["states"]["c"] == "running"
    h.tick(0.1)
    wait_until(lambda: h.status()["states"]["c"] == "down", what="poll notices")
    h.tick(0.2)
    wait_until(lambda: h.epoch("c") == 2 and h.bound("c"))


@pytest.mark.parametrize("strategy,restarted", [
    ("one_for_one", {"b"}), ("rest_for_one", {"b", "c"}), ("one_for_all", {"a", "b", "c"})])
def test_strategies_restart_the_right_children(harness_factory, strategy, restarted):
    h = harness_factory(specs(), config(strategy), faults=crash_plan("b:crash:after=1"))
    h.services.send("b", Work(0))
    wait_until(lambda: h.status()["states"]["b"] == "down")
    h.tick(0.2)
    wait_until(lambda: all(h.epoch(n) == 2 and h.bound(n) for n in restarted))
    assert {n for n in NAMES if h.epoch(n) == 2} == restarted
    starts = [e[1] for e in LOG if e[0] == "start" and e[2] == 2]
    assert starts == [n for n in NAMES if n in restarted], "restarted in start order"


def test_backoff_grows_exponentially_on_the_manual_clock(harness_factory):
    h = harness_factory(specs(), config(max_restarts=10), faults=crash_plan("a:crash:every=1"))
    for epoch, delay in ((2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0)):
        h.services.send("a", Work(0))
        wait_until(lambda: h.status()["states"]["a"] == "down")
        h.tick(delay * 0.9)
        assert h.epoch("a") == epoch and not h.bound("a"), f"epoch {epoch} started before {delay}s"
        h.tick(delay * 0.11)
        wait_until(lambda: h.bound("a"), what=f"epoch {epoch} after {delay}s")


def test_poison_message_escalates_exactly_once(harness_factory):
    h = harness_factory(specs(), config(max_restarts=3), faults=crash_plan("b:crash:every=1"))
    for _ in range(3):
        h.services.send("b", Work(0))
        wait_until(lambda: h.status()["states"]["b"] == "down")
        h.tick(1.0)
        wait_until(lambda: h.bound("b"))
    h.services.send("b", Work(0))
    wait_until(lambda: h.status()["escalations"] == 1, what="escalation")
    # Default escalation: every child stopped, nothing restarted afterwards, no second escalation.
    wait_until(lambda: not any(h.bound(n) for n in NAMES), what="children stopped")
    h.tick(5.0)
    status = h.status()
    assert [e.kind for e in status["events"]].count("escalated") == 1
    assert status["escalations"] == 1


def test_intensity_window_forgets_old_restarts(harness_factory):
    h = harness_factory(specs(), config(max_restarts=2, period_s=5.0), faults=crash_plan("a:crash:every=1"))
    for _ in range(4):  # 4 restarts, but never more than 2 inside any 5 s window
        h.services.send("a", Work(0))
        wait_until(lambda: h.status()["states"]["a"] == "down")
        h.tick(3.0)
        wait_until(lambda: h.bound("a"))
    assert h.status()["escalations"] == 0 and h.epoch("a") == 5


def test_output_of_an_older_incarnation_is_dropped_by_the_receiver(harness_factory):
    from runtime.messages import Envelope

    h = harness_factory(specs(), config(), faults=crash_plan("a:crash:after=1"))
    h.services.send("a", Work(0))
    restart_after_backoff(h, "a", 2, 0.2)
    c = h.services.directory.get("c").ref
    c.tell(Envelope("a", 1, Work(1)))  # late output stamped with a's old epoch
    c.tell(Envelope("a", 2, Work(2)))
    wait_until(lambda: h.ask("c", "seen") == [2])
    assert h.services.metrics.value("c.stale_dropped") == 1


def test_transient_child_that_exits_normally_stays_stopped_temporary_is_never_restarted(harness_factory):
    specs_ = [ChildSpec("a", Echo), ChildSpec("b", Echo, restart="transient"),
              ChildSpec("c", Echo, restart="temporary")]
    h = harness_factory(specs_, config(), faults=crash_plan("c:crash:after=1"))
    h.services.directory.get("b").ref.stop(block=True, timeout=5)
    h.tick(0.1)
    h.tick(0.1)
    wait_until(lambda: h.status()["states"]["b"] == "stopped", what="transient exit noticed")
    h.services.send("c", Work(0))
    wait_until(lambda: h.status()["states"]["c"] == "given_up", what="temporary crash")
    h.tick(2.0)
    status = h.status()
    assert status["restarts"] == {"a": 0, "b": 0, "c": 0}
    assert not h.bound("b") and not h.bound("c") and h.bound("a")
