"""The Coinbase gateway actor: the "venue" of a run that trades over REST and the `user` channel.

A drop-in for the paper venue actor, speaking the same protocol: PlaceOrder / CancelOrder from
execution, CancelAll from the orchestrator, SyncRequest from a (re)starting execution or
portfolio; OrderUpdate / Fill to execution and VenueSnapshot to whoever asked. A thin shell over
GatewayCore: it performs the core's effects (requests go to the RestWorker's threads, whose
answers come back as RestResult messages; updates, fills and snapshots are sent by name) and wakes
the core with a timer when its budget or a back-off says so. `user` frames arrive from the private
stream already decoded (actors.wire.user.UserStreamFrame, by streaming); a frame on a new
connection means the socket was down, so the orders not yet finished are reconciled over REST. A
restarted incarnation asks execution for the orders and fills it knows before it reconciles
(GatewayCore.resume), holding `user` frames until then or until a deadline (an answer after it is
still taken). With `dead_man_s` it keeps the dead-man
switch (actors.venue.dead_man): the private stream silent (heartbeats included) for that long
cancels every open order at the venue and tells the orchestrator (REDUCING); the stream back and
the venue re-read releases it. QueryOrders (orders execution heard nothing of) goes to
GatewayCore.query. Measures tick-to-order latency where an order leaves the bot.
Must never block in a handler (no HTTP here), decide what to trade, or invent a client_order_id.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import msgspec
from loguru import logger

from actors.venue.coinbase_rest import DEFAULT_TIMEOUT_S
from actors.venue.dead_man import RECONCILE, RELEASE, TRIP, DeadMan
from actors.venue.gateway import GatewayCore
from actors.venue.gateway_state import Http, Snapshot
from actors.venue.rest_worker import AbortableTransport, RestResult, RestWorker
from actors.wire.rate_limit import DEFAULT_PRIVATE_PER_S, DEFAULT_PUBLIC_PER_S, RateLimiter
from actors.wire.user import UserStreamFrame
from domain.control import DeadManSwitch
from domain.orders import (
    CancelAll,
    CancelOrder,
    Fill,
    KnownOrders,
    OrdersRequest,
    OrderUpdate,
    PlaceOrder,
    PrivateStreamBack,
    QueryOrders,
    SyncRequest,
)
from domain.queries import FillsQuery, OpenOrdersQuery, ReportQuery
from runtime.actor import SupervisedActor
from runtime.scheduler import TimerHandle

# Core counters mirrored into the process-wide metrics (they outlive an incarnation).
_METRICS = ("unknown_outcomes", "unknown_settled", "throttled", "retries", "rejected", "creates_sent",
            "cancels_sent", "fills_reconciled", "reconciles")


class Wake(msgspec.Struct, frozen=True):
    """Timer message: the core has something to send now (budget refilled, back-off over)."""


class ResumeDeadline(msgspec.Struct, frozen=True):
    """Timer message: execution did not say what it knows in time; go on without it."""


RESUME_DEADLINE_S = 2.0


class DeadManCheck(msgspec.Struct, frozen=True):
    """Timer message: has the private stream been silent too long?"""


class CoinbaseGatewayActor(SupervisedActor):
    def __init__(self, name: str, epoch: int, services: Any, rest_url: str, credentials: Any = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, private_per_s: float = DEFAULT_PRIVATE_PER_S,
                 public_per_s: float = DEFAULT_PUBLIC_PER_S, threads: int = 2,
                 make_transport: Any = None, stop_timeout_s: float = 1.5,
                 reported: dict[str, tuple[Decimal, Decimal, Decimal]] | None = None,
                 newest_fill: float | None = None, dead_man_s: float | None = None) -> None:
        """`make_transport`: builds one transport per worker thread (default: an AbortableTransport
        to `rest_url` signing with `credentials`). `stop_timeout_s` bounds the worker's join.
        `reported`, `newest_fill`: per venue order id the fills the journal holds, and the newest
        one's time (GatewayCore.seed)."""
        super().__init__(name, epoch, services)
        self.core = GatewayCore(RateLimiter(private_per_s, public_per_s))
        self.core.seed(reported or {}, newest_fill)
        self.dead_man_s = dead_man_s  # None: off (no private stream feeds this gateway)
        self.dead_man: DeadMan | None = None
        self.reconciles_seen = 0  # the core's finished reconciliations when the switch asked for one
        self.dead_man_trips = self.metrics.counter("venue.dead_man_trips")
        self.stop_timeout_s = stop_timeout_s
        self.make_transport = make_transport or (
            lambda: AbortableTransport(rest_url, credentials, timeout_s))
        self.threads = threads
        self.worker: RestWorker | None = None
        self.wake: TimerHandle | None = None
        self.wake_at: float | None = None
        self.user_conn: int | None = None
        self.held_frames: list[UserStreamFrame] | None = None  # a list while resuming after a restart
        self.awaiting_known = False  # a restart: execution's KnownOrders not taken yet
        self.tick_to_order = self.metrics.histogram("latency.tick_to_order_us")
        self.cancel_alls = self.metrics.counter("venue.cancel_all")
        self.unreadable_frames = self.metrics.counter("venue.unreadable_user_frames")
        self._mirrored = {key: self.metrics.counter(f"venue.{key}") for key in _METRICS}
        self._mirrored_at = dict.fromkeys(_METRICS, 0)

    def start_core(self) -> None:
        if self.dead_man_s is not None:
            self.dead_man = DeadMan(self.dead_man_s, self.clock.now())
            self.every(min(1.0, self.dead_man_s / 4), DeadManCheck())
        self.worker = RestWorker(self.make_transport, self._tell_self, self.threads, name=f"rest-{self.name}")
        self.worker.start()
        if self.epoch > 1:  # a restart: take back what the crashed incarnation knew
            self.held_frames = []  # user frames wait for it: they must not report a fill twice
            self.awaiting_known = True
            self.send("execution", OrdersRequest(reply_to=self.name))
            self.later(RESUME_DEADLINE_S, ResumeDeadline())

    def stop_core(self) -> None:
        if self.worker is not None:
            if not self.worker.stop(self.stop_timeout_s):
                logger.warning("{}: a REST request did not end within {}s of stop", self.name, self.stop_timeout_s)
            self.worker = None

    def handle(self, message: Any) -> Any:
        kind = type(message)
        now = self.clock.now()
        if kind is RestResult:
            self._perform(self.core.on_response(message.request_id, message.response, now))
        elif kind is PlaceOrder:
            if message.origin_ns:
                self.tick_to_order.observe((time.perf_counter_ns() - message.origin_ns) / 1000)
            self._perform(self.core.place(message, now))
        elif kind is CancelOrder:
            self._perform(self.core.cancel([message.client_order_id], now))
        elif kind is UserStreamFrame:
            self._on_user_frame(message, now)
        elif kind is DeadManCheck:
            self._check_dead_man(now)
        elif kind is Wake:
            self.wake, self.wake_at = None, None
            self._perform(self.core.pump(now))
        elif kind is CancelAll:
            self.cancel_alls.inc()
            logger.warning("{}: cancel all ({})", self.name, message.reason)
            self._perform(self.core.cancel_everything(now))
        elif kind is QueryOrders:
            if not self.awaiting_known:  # a restart takes back execution's live orders first
                self._perform(self.core.query(message.orders, now))
        elif kind is SyncRequest:
            self._perform(self.core.sync(message.reply_to, now, message.positions))
        elif kind is KnownOrders:
            if self.awaiting_known:  # late (after the deadline) or not, its live orders must not be lost
                self.awaiting_known = False
                self._perform(self.core.resume(message, now))
                self._release_frames(now)
        elif kind is ResumeDeadline:
            if self.held_frames is not None:
                logger.warning("{}: execution did not answer within {}s; resuming without it", self.name,
                               RESUME_DEADLINE_S)
                self._release_frames(now)
        elif kind is FillsQuery:
            return self.core.fills()
        elif kind is OpenOrdersQuery:
            return self.core.open_orders(now)
        elif kind is ReportQuery:
            return self.report()
        return None  # books and trades (a paper tree's stream) mean nothing to a real venue

    def _check_dead_man(self, now: float) -> None:
        dead_man = self.dead_man
        if dead_man is None or dead_man.check(now) != TRIP:
            return
        self.dead_man_trips.inc()
        reason = f"the private stream has been silent for {dead_man.silent_for(now):.0f}s (limit {self.dead_man_s:g}s)"
        logger.error("{}: dead-man switch: {}: cancelling every open order, trading REDUCING", self.name, reason)
        self.tell_supervisor(DeadManSwitch(True, reason))
        self._perform(self.core.cancel_everything(now))

    def _dead_man_heard(self, frame: UserStreamFrame, now: float) -> list[Any]:
        """A frame: if the switch had tripped, re-read the venue before releasing it. That re-read
        covers the connection the frame came on: its first `user` frame is no reconnect to re-read."""
        if self.dead_man is None or self.dead_man.on_frame(now) != RECONCILE:
            return []
        started, self.reconciles_seen = self.core.counters["reconciles"], self.core.counters["reconciles_done"]
        self.user_conn = frame.conn
        self.send("reconciler", PrivateStreamBack("the private stream spoke again after the dead-man switch"))
        effects = self.core.reconcile(now)
        if self.core.counters["reconciles"] == started:  # nothing was open: nothing to re-read
            self._release_dead_man("the private stream is back (no order was open)")
        return effects

    def _release_dead_man(self, why: str) -> None:
        if self.dead_man is not None and self.dead_man.reconciled() == RELEASE:
            logger.warning("{}: dead-man switch released: {}", self.name, why)
            self.tell_supervisor(DeadManSwitch(False, why))

    def _release_frames(self, now: float) -> None:
        held, self.held_frames = self.held_frames or [], None
        for frame in held:
            self._on_user_frame(frame, now)

    def _on_user_frame(self, frame: UserStreamFrame, now: float) -> None:
        if self.held_frames is not None:
            self.held_frames.append(frame)
            return
        effects = self._dead_man_heard(frame, now)  # any frame, heartbeats included, says the stream lives
        if frame.unreadable:
            self.unreadable_frames.inc()
            return self._perform(effects)
        if frame.channel != "user":
            return self._perform(effects)
        if self.user_conn is not None and frame.conn != self.user_conn:
            effects += self.core.reconcile(now)  # the socket was down: what did it not say?
            self.send("reconciler", PrivateStreamBack("the private stream reconnected"))
        self.user_conn = frame.conn
        for event in frame.events:
            for order in event.orders:
                effects += self.core.on_user_order(order, now)
        self._perform(effects)

    def _perform(self, effects: list[Any]) -> None:
        for effect in effects:
            kind = type(effect)
            if kind is Http:
                if self.worker is not None:
                    self.worker.submit(effect)
            elif kind is OrderUpdate or kind is Fill:
                self.send("execution", effect)
            elif kind is Snapshot:
                for name in effect.reply_to:
                    self.send(name, effect.snapshot)
        self._mirror_counters()
        self._schedule_wake()
        if self.dead_man is not None and self.core.counters["reconciles_done"] > self.reconciles_seen:
            self._release_dead_man("the private stream is back and the venue was re-read")

    def _schedule_wake(self) -> None:
        now = self.clock.now()
        due = self.core.next_wake(now)
        if due is None or (self.wake_at is not None and self.wake_at <= due):
            return
        if self.wake is not None:
            self.wake.cancel()
        self.wake_at = due
        self.wake = self.later(max(0.0, due - now), Wake())

    def _mirror_counters(self) -> None:
        counters = self.core.counters
        for key, counter in self._mirrored.items():
            delta = counters[key] - self._mirrored_at[key]
            if delta:
                counter.inc(delta)
                self._mirrored_at[key] = counters[key]

    def report(self) -> dict[str, Any]:
        report: dict[str, Any] = dict(self.core.counters)
        report["limiter"] = self.core.limiter.counters()
        report["in_flight"] = len(self.core.in_flight())
        report["jobs_running"] = self.core.jobs_running()
        report["next_wake"] = self.core.next_wake(self.clock.now())
        report["fills"] = len(self.core.fills())
        report["deriver"] = {"duplicates": self.core.deriver.duplicates, "stale": self.core.deriver.stale,
                             "unreadable": self.core.deriver.unreadable}
        return report
