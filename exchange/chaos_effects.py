"""What chaos (see `chaos.py`) does to the built-in exchange while it runs: the effects of the
injections the plan says are due, on live connections and on later requests.

Chaos is timed on the injected clock and applied to every live connection, on both WebSocket
endpoints alike: sequence tricks (gap, duplicate, reorder) are markers in a connection's queue that
its writer obeys, malformed and error_frame queue a bad frame, a stall withholds a connection's
frames and releases them in order afterwards, a disconnect marks the connections to cut (the
caller shuts their TCP sockets down, without a close frame, once the lock is released), and the
windows (refuse, ignore_subscribe, no_heartbeat, slow_snapshot, and for private REST rest_timeout,
rest_5xx, rest_429, and user_duplicate) are server-wide deadlines, in clock time, that the code
they concern reads from here. user_replay has the user feed re-send its last updates at once.

Owns the plan, those deadlines, the stalls' release and the level2 snapshots slow_snapshot
delays. Every method runs with the server lock held. Must never send on a socket or close one
itself, and never take the lock (its callers hold it).
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

from loguru import logger

from exchange import frames
from exchange.chaos import (
    DISCONNECT,
    DUPLICATE,
    ERROR_FRAME,
    GAP,
    IGNORE_SUBSCRIBE,
    MALFORMED,
    NO_HEARTBEAT,
    REFUSE,
    REORDER,
    REST_5XX,
    REST_429,
    REST_TIMEOUT,
    SLOW_SNAPSHOT,
    STALL,
    USER_DUPLICATE,
    USER_REPLAY,
    ChaosPlan,
    ChaosSpec,
)
from exchange.frames import PendingFrame
from exchange.ws_session import DUPLICATE_NEXT, LEVEL2, REORDER_NEXT, SKIP_SEQUENCE, Session


class ChaosEffects:
    """The due injections applied to `sessions`, and the windows they open (lock held throughout)."""

    def __init__(self, specs: Iterable[ChaosSpec], sessions: dict[int, Session],
                 replay_user: Callable[[], None]) -> None:
        self.specs = tuple(specs)
        self._sessions = sessions
        self._replay_user = replay_user
        self._plan: ChaosPlan | None = None  # created by start(): its times count from then
        self.refuse_until = -math.inf  # clock times ending the chaos windows
        self.ignore_subscribe_until = -math.inf
        self.no_heartbeat_until = -math.inf
        self.slow_snapshot_until = -math.inf
        self.slow_snapshot_delay_s = 0.0
        self.rest_timeout_until = -math.inf
        self.rest_5xx_until = -math.inf
        self.rest_5xx_accept = False
        self.rest_429_until = -math.inf
        self.user_duplicate_until = -math.inf
        self._pending_snapshots: list[tuple[float, Session, str]] = []  # (due clock time, ...)

    def start(self, ts: float) -> None:
        """Make the plan; its times count from `ts`."""
        self._plan = ChaosPlan(self.specs, ts)

    def counts(self) -> dict[str, int]:
        """Injections applied so far by kind (only the kinds that fired)."""
        return self._plan.counts() if self._plan is not None else {}

    def apply(self, ts: float) -> list[Session]:
        """Apply what the plan says is due (lock held); returns the sessions to cut off."""
        if self._plan is None:
            return []
        aborted: list[Session] = []
        for event in self._plan.due(ts):
            logger.info("chaos: {} fired on {} connection(s)", event.spec, len(self._sessions))
            until = ts + event.duration_s
            sessions = list(self._sessions.values())
            kind = event.kind
            if kind == DISCONNECT:
                for session in sessions:
                    if not session.closing:
                        session.closing = True
                        session.held = None
                        aborted.append(session)
            elif kind == STALL:
                for session in sessions:
                    session.stalled_until = max(session.stalled_until, until)
                    if session.held is None:
                        session.held = []
            elif kind in (GAP, DUPLICATE, REORDER, MALFORMED, ERROR_FRAME):
                item = {
                    GAP: SKIP_SEQUENCE,
                    DUPLICATE: DUPLICATE_NEXT,
                    REORDER: REORDER_NEXT,
                    MALFORMED: frames.malformed(),
                    ERROR_FRAME: frames.error("chaos: injected error"),
                }[kind]
                for session in sessions:
                    session.enqueue(item)
            elif kind == NO_HEARTBEAT:
                self.no_heartbeat_until = max(self.no_heartbeat_until, until)
            elif kind == SLOW_SNAPSHOT:
                self.slow_snapshot_until = max(self.slow_snapshot_until, until)
                self.slow_snapshot_delay_s = event.duration_s
            elif kind == REFUSE:
                self.refuse_until = max(self.refuse_until, until)
            elif kind == IGNORE_SUBSCRIBE:
                self.ignore_subscribe_until = max(self.ignore_subscribe_until, until)
            elif kind == REST_TIMEOUT:
                self.rest_timeout_until = max(self.rest_timeout_until, until)
            elif kind == REST_5XX:
                self.rest_5xx_until = max(self.rest_5xx_until, until)
                self.rest_5xx_accept = event.spec.accept
            elif kind == REST_429:
                self.rest_429_until = max(self.rest_429_until, until)
            elif kind == USER_DUPLICATE:
                self.user_duplicate_until = max(self.user_duplicate_until, until)
            elif kind == USER_REPLAY:
                self._replay_user()
        return aborted

    def defer_snapshot(self, ts: float, session: Session, product_id: str) -> bool:
        """During slow_snapshot, keep a level2 snapshot back for the window's delay and say so:
        the updates flow meanwhile, the snapshot comes late (lock held)."""
        if ts < self.slow_snapshot_until:
            self._pending_snapshots.append((ts + self.slow_snapshot_delay_s, session, product_id))
            return True
        return False

    def release_due(self, ts: float, l2_snapshot: Callable[[str], PendingFrame]) -> None:
        """End stalls whose time is up and send delayed snapshots that are due (lock held)."""
        for session in self._sessions.values():
            if session.held is not None and ts >= session.stalled_until:
                held, session.held = session.held, None
                for item in held:
                    session.outbox.put(item)
        if not self._pending_snapshots:
            return
        due = [p for p in self._pending_snapshots if p[0] <= ts]
        self._pending_snapshots = [p for p in self._pending_snapshots if p[0] > ts]
        for _, session, product_id in due:
            live = self._sessions.get(session.number) is session
            if live and product_id in session.subscriptions.get(LEVEL2, ()):
                session.enqueue(l2_snapshot(product_id))
