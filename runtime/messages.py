"""Runtime messages: the envelope every inter-actor message travels in, liveness probes and the
typed supervision events. Values only (frozen msgspec Structs); must never carry live objects
other than the body of an envelope.
"""

from __future__ import annotations

from typing import Any

import msgspec


class Envelope(msgspec.Struct, frozen=True):
    """A message from one actor incarnation to another. `sender` None = from outside the tree
    (main thread, socket thread, timer); then `epoch` is ignored."""

    sender: str | None
    epoch: int
    body: Any


class Ping(msgspec.Struct, frozen=True, tag=True):
    seq: int


class Pong(msgspec.Struct, frozen=True, tag=True):
    name: str
    epoch: int
    seq: int


class ChildFailed(msgspec.Struct, frozen=True, tag=True):
    """Reported by a child (crash in a handler or in start-up) or by the supervisor's own probes
    (hang = ping deadline missed, dead = found not alive). kind: crash, start, hang, dead."""

    name: str
    epoch: int
    kind: str
    reason: str


class RestartDue(msgspec.Struct, frozen=True, tag=True):
    name: str
    epoch: int


class PingTick(msgspec.Struct, frozen=True, tag=True):
    pass


class SupervisionEvent(msgspec.Struct, frozen=True, tag=True):
    """Every supervisor decision, logged and journaled. kind is one of:
    started, failed, restart_scheduled, restarted, stopped, gave_up, escalated."""

    ts: float
    kind: str
    child: str
    epoch: int
    detail: str = ""


class StatusQuery(msgspec.Struct, frozen=True, tag=True):
    """Ask a supervisor for its status: its children, their epochs and restarts, unanswered pings."""


STATUS = StatusQuery()
