"""The second scheduler: every actor of a tree driven by one thread from one FIFO queue.

Owns the queue of (actor, pykka envelope) and the loop that hands each envelope to its actor the
way a Pykka actor thread would (start-up hook first, a handler's exception to the asker or to
`on_failure`, stop, replies of ActorDeadError for what reaches a stopped actor). The actor classes
are the same as on threads: `DispatchableActor` chooses, when it is built, between a Pykka thread
and this queue, from `Services.dispatcher`. With a manual clock the whole tree then runs on the
thread that drives the clock, in an order fixed by the sends alone: a replay needs no quiescence
tracking and no cross-thread hand-off per message.

Must never be used from a second thread (every put checks), and must never run an actor's handler
inside that same actor's handler: a blocking ask made from a handler (a supervisor stopping its
children) drives the queue but skips the actors that are mid-handler.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import pykka
from pykka import ActorDeadError, ActorRef
from pykka._envelope import Envelope as PykkaEnvelope
from pykka.messages import _ActorStop

from runtime.messages import Envelope

_START = object()  # the envelope body that runs an actor's on_start


class Dispatcher:
    def __init__(self) -> None:
        self._queue: deque[tuple[pykka.Actor, Any]] = deque()
        self._owner = threading.get_ident()
        self._busy: set[int] = set()  # id() of each actor whose handler is running
        self.delivered = 0

    def put(self, actor: pykka.Actor, envelope: Any) -> None:
        if threading.get_ident() != self._owner:
            raise RuntimeError("a dispatcher runs on the one thread that made it")
        self._queue.append((actor, envelope))

    def pending(self) -> int:
        return len(self._queue)

    def run_until_idle(self) -> int:
        """Deliver until the queue is empty (what handlers send is delivered too); the count."""
        count = 0
        while self._step():
            count += 1
        return count

    def run_until(self, done: Callable[[], bool]) -> None:
        """Deliver until `done()` or nothing is left that may run."""
        while not done() and self._step():
            pass

    def _step(self) -> bool:
        queue = self._queue
        if not queue:
            return False
        if not self._busy:
            actor, envelope = queue.popleft()
        else:  # a nested drive: leave the actors that are mid-handler their place in the queue
            for index, item in enumerate(queue):
                if id(item[0]) not in self._busy:
                    del queue[index]
                    actor, envelope = item
                    break
            else:
                return False
        self._deliver(actor, envelope)
        return True

    def _deliver(self, actor: pykka.Actor, envelope: Any) -> None:
        self.delivered += 1
        reply_to = envelope.reply_to
        if actor.actor_stopped.is_set():  # what Pykka's teardown answers for a stopped actor
            if reply_to is not None:
                if isinstance(envelope.message, _ActorStop):
                    reply_to.set(None)
                else:
                    reply_to.set_exception(exc_info=(
                        ActorDeadError, ActorDeadError(f"{actor} stopped before handling the message"), None))
            return
        key = id(actor)
        self._busy.add(key)
        try:
            if envelope.message is _START:
                actor._actor_loop_setup()
                return
            try:
                message = envelope.message
                # the tree's own envelopes skip Pykka's checks for its system messages
                response = actor.on_receive(message) if type(message) is Envelope else actor._handle_receive(message)
                if reply_to is not None:
                    reply_to.set(response)
            except Exception:
                if reply_to is not None:
                    reply_to.set_exception()
                else:  # as on a Pykka thread: log and stop, then the actor's own failure hook
                    actor._handle_failure(*sys.exc_info())
                    try:
                        actor.on_failure(*sys.exc_info())
                    except Exception:
                        actor._handle_failure(*sys.exc_info())
        finally:
            self._busy.discard(key)


class _Inbox:
    """An actor's inbox on a dispatcher: a put is an entry in the shared queue."""

    __slots__ = ("_dispatcher", "_actor")

    def __init__(self, dispatcher: Dispatcher, actor: pykka.Actor) -> None:
        self._dispatcher = dispatcher
        self._actor = actor

    def put(self, envelope: Any, /) -> None:
        self._dispatcher.put(self._actor, envelope)

    def get(self) -> Any:
        raise RuntimeError("a dispatched actor's inbox is read by its dispatcher")

    def empty(self) -> bool:
        return True  # nothing waits here: the queue is the dispatcher's


class _Future(pykka.ThreadingFuture[Any]):
    """A reply on a dispatcher: waiting for it drives the queue until it is set."""

    def __init__(self, dispatcher: Dispatcher | None = None) -> None:
        super().__init__()
        self._dispatcher = dispatcher

    def get(self, *, timeout: float | None = None) -> Any:
        if self._dispatcher is not None and self._get_hook is None:
            self._dispatcher.run_until(lambda: self._result is not None)
            if self._result is None:
                raise pykka.Timeout(f"{timeout} seconds: nothing left to run would answer")
        return super().get(timeout=timeout)


class _Ref(ActorRef[Any]):
    """A ref whose asks are answered by driving the dispatcher (tell, stop and is_alive as Pykka's;
    tell straight onto the queue)."""

    def __init__(self, actor: pykka.Actor, dispatcher: Dispatcher) -> None:
        super().__init__(actor)
        self._dispatcher = dispatcher
        self._actor = actor

    def tell(self, message: Any) -> None:
        if self.actor_stopped.is_set():
            raise ActorDeadError(f"{self} not found")
        self._dispatcher.put(self._actor, PykkaEnvelope(message))

    def ask(self, message: Any, *, block: bool = True, timeout: float | None = None) -> Any:
        future = _Future(self._dispatcher)
        if self.is_alive():
            self.actor_inbox.put(PykkaEnvelope(message, reply_to=future))
        else:
            future.set_exception(exc_info=(ActorDeadError, ActorDeadError(f"{self} not found"), None))
        return future.get(timeout=timeout) if block else future


class DispatchableActor(pykka.ThreadingActor):
    """A Pykka actor that runs on its own thread, or on `dispatcher` when one is given."""

    use_daemon_thread = True

    def __init__(self, dispatcher: Dispatcher | None) -> None:
        self._dispatcher = dispatcher  # before Pykka's __init__, which builds the inbox from it
        super().__init__()
        if dispatcher is not None:
            self._actor_ref = _Ref(self, dispatcher)

    def _create_actor_inbox(self) -> Any:  # type: ignore[override]  # Pykka's is a staticmethod
        if self._dispatcher is None:
            return pykka.ThreadingActor._create_actor_inbox()
        return _Inbox(self._dispatcher, self)

    def _start_actor_loop(self) -> None:
        if self._dispatcher is None:
            super()._start_actor_loop()
        else:
            self._dispatcher.put(self, PykkaEnvelope(_START))
