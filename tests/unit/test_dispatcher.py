"""The single-threaded dispatcher: the same actor classes as on Pykka threads, one FIFO, no threads."""

from __future__ import annotations

import threading
from typing import Any

import pykka
import pytest

from runtime.actor import SupervisedActor
from runtime.clock import ManualClock
from runtime.dispatcher import DispatchableActor, Dispatcher
from runtime.messages import STATUS
from runtime.scheduler import Scheduler
from runtime.services import Services
from runtime.supervisor import ChildSpec, Supervisor, SupervisorConfig


class Recorder(DispatchableActor):
    def __init__(self, dispatcher: Dispatcher, log: list[Any], name: str, peer: Any = None) -> None:
        super().__init__(dispatcher)
        self.log, self.name, self.peer = log, name, peer
        self.started_on: int | None = None

    def on_start(self) -> None:
        self.started_on = threading.get_ident()
        self.log.append((self.name, "start"))

    def on_receive(self, message: Any) -> Any:
        self.log.append((self.name, message))
        if message == "boom":
            raise ValueError("boom")
        if message == "forward" and self.peer is not None:
            self.peer.tell("from " + self.name)
        if message == "ask peer":
            return self.peer.ask("ping", timeout=1)
        return message.upper() if isinstance(message, str) else message

    def on_failure(self, *exc_info: Any) -> None:
        self.log.append((self.name, "on_failure"))


def test_no_thread_runs_and_fifo_order_holds_across_actors() -> None:
    dispatcher, log = Dispatcher(), []
    threads_before = threading.active_count()
    b = Recorder.start(dispatcher, log, "b")
    a = Recorder.start(dispatcher, log, "a", peer=b)
    a.tell("forward")
    b.tell("one")
    assert log == []  # nothing runs until the dispatcher is driven
    assert dispatcher.run_until_idle() == 5
    assert threading.active_count() == threads_before
    assert log == [("b", "start"), ("a", "start"), ("a", "forward"), ("b", "one"), ("b", "from a")]


def test_an_ask_drives_the_queue_and_gets_the_reply() -> None:
    dispatcher, log = Dispatcher(), []
    b = Recorder.start(dispatcher, log, "b")
    a = Recorder.start(dispatcher, log, "a", peer=b)
    assert a.ask("hello", timeout=1) == "HELLO"
    assert a.ask("ask peer", timeout=1) == "PING"  # a nested ask from a handler is answered too
    assert dispatcher.pending() == 0


def test_a_handler_exception_goes_to_the_asker_or_stops_the_actor_as_on_a_thread() -> None:
    dispatcher, log = Dispatcher(), []
    a = Recorder.start(dispatcher, log, "a")
    with pytest.raises(ValueError, match="boom"):
        a.ask("boom", timeout=1)
    assert a.is_alive()  # an ask's exception is the asker's, as with Pykka
    a.tell("boom")
    a.tell("after")
    dispatcher.run_until_idle()
    assert not a.is_alive()
    assert ("a", "on_failure") in log and ("a", "after") not in log
    with pytest.raises(pykka.ActorDeadError):
        a.ask("late", timeout=1)


def test_stop_answers_and_later_messages_meet_a_dead_actor() -> None:
    dispatcher, log = Dispatcher(), []
    a = Recorder.start(dispatcher, log, "a")
    a.tell("before")
    future = a.ask("queued", block=False)
    assert a.stop(block=True, timeout=1) is True
    assert log[-2:] == [("a", "before"), ("a", "queued")]
    assert future.get(timeout=1) == "QUEUED"
    assert a.stop(block=True, timeout=1) is False  # already dead


def test_an_ask_nobody_can_answer_times_out_at_once() -> None:
    dispatcher, log = Dispatcher(), []
    a = Recorder.start(dispatcher, log, "a")
    dispatcher.run_until_idle()
    future = a.ask("x", block=False)
    dispatcher._queue.clear()  # the message is lost: nothing left to run would answer
    with pytest.raises(pykka.Timeout):
        future.get(timeout=5)


def test_only_the_thread_that_made_it_may_use_it() -> None:
    dispatcher, log = Dispatcher(), []
    a = Recorder.start(dispatcher, log, "a")
    errors: list[BaseException] = []

    def other() -> None:
        try:
            a.tell("x")
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(timeout=5)
    assert errors and "one thread" in str(errors[0])


class Crasher(SupervisedActor):
    def handle(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError("crash")
        return message


def test_a_supervised_tree_restarts_a_crashed_child_on_the_manual_clock_without_threads() -> None:
    clock = ManualClock(1_000.0)
    scheduler = Scheduler(clock)
    scheduler.start()
    dispatcher = Dispatcher()
    services = Services(clock, scheduler, dispatcher=dispatcher)
    threads_before = threading.active_count()
    supervisor = Supervisor.start([ChildSpec("child", Crasher)], SupervisorConfig(), services)
    dispatcher.run_until_idle()
    assert services.directory.epoch("child") == 1
    services.send("child", "crash")
    dispatcher.run_until_idle()
    assert services.directory.get("child") is not None and services.directory.get("child").ref is None
    clock.advance(5.0)  # past the restart back-off: RestartDue fires inside advance
    dispatcher.run_until_idle()
    status = supervisor.ask(STATUS, timeout=1)
    assert status["epochs"] == {"child": 2} and status["restarts"] == {"child": 1}
    assert [e.kind for e in status["events"]][:4] == ["started", "failed", "restart_scheduled", "restarted"]
    assert services.send("child", "hello")
    assert threading.active_count() == threads_before
    supervisor.stop(block=True, timeout=2)
    scheduler.stop()
    assert not any(t.name.startswith(("Crasher", "Supervisor")) for t in threading.enumerate())


def test_a_dispatched_supervisor_does_not_ping_its_children() -> None:
    clock = ManualClock(1_000.0)
    scheduler = Scheduler(clock)
    scheduler.start()
    dispatcher = Dispatcher()
    seen: list[Any] = []
    services = Services(clock, scheduler, dispatcher=dispatcher, trace=lambda actor, way, msg: seen.append(msg))
    supervisor = Supervisor.start([ChildSpec("child", Crasher)], SupervisorConfig(), services)
    for _ in range(20):
        clock.advance(0.25)
        dispatcher.run_until_idle()
    assert supervisor.ask(STATUS, timeout=1)["awaiting_pong"] == []
    assert not any(type(m).__name__ == "Ping" for m in seen)
    supervisor.stop(block=True, timeout=2)
    scheduler.stop()
