"""A restarted gateway actor and what the crash took with it: execution answering after the resume
deadline (the held `user` frames go on without its word, and the late answer is still taken, so
the order whose create's fate the crash hid is created again under its id and what the venue did
with it, filled while nobody listened, reaches execution once), execution's start-up sync that
was being listed and the cancels execution still wants (asked for, sent again)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from actors.app.paper import ephemeral_credentials
from actors.execution.actor import ExecutionActor
from actors.venue import gateway_actor
from actors.venue.gateway_actor import CoinbaseGatewayActor
from config.loader import load_profile
from domain.control import HALTED, TradingStateChanged
from domain.orders import (
    CancelOrder,
    Fill,
    KnownOrder,
    KnownOrders,
    OrdersRequest,
    OrderUpdate,
    PlaceOrder,
    ReplaceIntent,
    SyncRequest,
    VenueSnapshot,
)
from domain.products import CATALOG
from domain.queries import REPORT
from runtime.clock import WallClock
from runtime.faults import FaultPlan, FaultSpec
from runtime.scheduler import Scheduler
from runtime.services import Services
from runtime.supervisor import ChildSpec, Supervisor, SupervisorConfig
from tests.actors.fake_coinbase import FakeCoinbase, as_streamed
from tests.actors.test_execution_replace_stops import START, ExecutionRig, limit, update
from tests.actors.test_gateway_actor import Rig
from tests.support import Recorder, wait_until


class Boom:
    """The message the venue's fault plan crashes on."""


class CrashRig(Rig):
    def __init__(self, fake: FakeCoinbase) -> None:  # Rig's tree, with a fault plan for the venue
        self.fake = fake
        self.scheduler = Scheduler(WallClock())
        self.scheduler.start()
        faults = FaultPlan([FaultSpec("venue", "crash", after=1, on="Boom")])
        self.services = Services(self.scheduler.clock, self.scheduler, faults=faults)
        specs = [ChildSpec("execution", Recorder), ChildSpec("venue", CoinbaseGatewayActor, {
            "rest_url": fake.url, "credentials": ephemeral_credentials(), "timeout_s": 1.0, "private_per_s": 20.0})]
        config = SupervisorConfig(ping_interval_s=0.1, hang_timeout_s=2.0)
        self.ref = Supervisor.start(specs, config, self.services)
        wait_until(lambda: self.ask("venue", REPORT) is not None, what="gateway started")


@pytest.fixture
def fake():
    server = FakeCoinbase().start()
    yield server
    server.stop()


def test_execution_answering_after_the_resume_deadline_is_still_taken(fake, monkeypatch):
    monkeypatch.setattr(gateway_actor, "RESUME_DEADLINE_S", 0.3)
    rig = CrashRig(fake)
    try:
        # Before the crash: "late" was taken and filled at the venue, its answer and frame lost.
        fake.seed_order("late", "FILLED", filled="1")
        fake.seed_fill("t-1", "late", "1", "100")
        fake.seed_order("other", "OPEN")
        rig.send(Boom())
        wait_until(lambda: rig.services.directory.epoch("venue") == 2 and rig.seen(OrdersRequest),
                   what="restarted, asking execution")
        rig.send(as_streamed(fake.user_frame("other", "OPEN"), 1))
        rig.update("other", "OPEN")  # held until the deadline, then read without execution's word
        late = PlaceOrder("late", "BTC-USD", "BUY", "limit", D("1"), D("100"))
        rig.send(KnownOrders((KnownOrder("late", "", True, late, D(0), D(0), D(0)),)))
        wait_until(lambda: fake.creates("late") == 1, what="the late answer's unknown order sent again")
        rig.update("late", "FILLED")
        wait_until(lambda: rig.report()["jobs_running"] == 0, what="reconciled")
        assert [(f.trade_id, f.size) for f in rig.seen(Fill) if f.client_order_id == "late"] == [("t-1", D("1"))]
        assert len(fake.orders) == 2  # one venue order per client_order_id
        assert not [u for u in rig.seen(OrderUpdate) if u.client_order_id == "late" and u.status == "CANCELLED"]
    finally:
        rig.stop()


def test_execution_asks_a_restarted_gateway_again_for_the_sync_that_died_with_the_old_one():
    """Execution's start-up SyncRequest was being listed when the gateway crashed: the new
    incarnation never answers it, so execution, asked what it knows, asks for it again (else it
    refuses every intent as not synced for the rest of the run)."""
    profile = load_profile("paper")
    scheduler = Scheduler(WallClock())
    scheduler.start()
    services = Services(scheduler.clock, scheduler)
    specs = [ChildSpec(name, Recorder) for name in ("venue", "portfolio", "market_data", "journal")]
    specs.append(ChildSpec("execution", ExecutionActor, {
        "products": {"BTC-USD": CATALOG["BTC-USD"]}, "config": profile.execution, "risk": profile.risk,
        "stale_after_s": 5.0}))
    ref = Supervisor.start(specs, SupervisorConfig(ping_interval_s=1.0), services)

    def venue_saw(kind: type) -> list:
        entry = services.directory.get("venue")
        return [m for m in entry.ref.ask("seen", timeout=5) if isinstance(m, kind)] if entry and entry.ref else []

    try:
        wait_until(lambda: len(venue_saw(SyncRequest)) == 1, what="the start-up sync asked")
        assert services.send("execution", OrdersRequest(reply_to="venue"))  # the restarted gateway
        wait_until(lambda: venue_saw(KnownOrders), what="execution answered")
        wait_until(lambda: len(venue_saw(SyncRequest)) == 2, what="the sync asked again")
        assert services.send("execution", VenueSnapshot((), ()))  # one sender: handled in this order
        assert services.send("execution", OrdersRequest(reply_to="venue"))
        wait_until(lambda: len(venue_saw(KnownOrders)) == 2, what="answered again")
        assert len(venue_saw(SyncRequest)) == 2  # synced: not asked a third time
    finally:
        ref.stop(block=True, timeout=10)
        scheduler.stop()


def test_execution_sends_a_restarted_gateway_again_the_cancels_it_still_wants():
    """The cancel of a waiting replacement's original (and, while halted, of every open order) may
    have died with the gateway: execution, asked what it knows, sends them again."""
    rig = ExecutionRig()
    try:
        rig.send(limit("a", "BUY", "0.04", "49000"))
        rig.send(limit("b", "BUY", "0.01", "48000"))
        a, b = (o.client_order_id for o in rig.seen("venue", PlaceOrder))
        rig.send(update(a, "OPEN", "0", "0.04"))
        rig.send(ReplaceIntent("a2", replaces="a", limit_price=D("49500")))
        assert rig.seen("venue", CancelOrder) == [CancelOrder(a)]
        rig.send(OrdersRequest(reply_to="venue"))  # the gateway restarted
        assert rig.seen("venue", CancelOrder) == [CancelOrder(a)] * 2  # b is not being cancelled
        rig.send(TradingStateChanged(HALTED, "test", START))
        rig.send(OrdersRequest(reply_to="venue"))
        halt_and_again = [CancelOrder(a), CancelOrder(b)] * 2
        assert rig.seen("venue", CancelOrder) == [CancelOrder(a)] * 2 + halt_and_again
    finally:
        rig.stop()
