"""The orchestrator: root supervisor of the actor tree and owner of TradingState.

Owns TradingState (ACTIVE / REDUCING / HALTED) and tells execution and strategy whenever it
changes or they restart. On escalation it does not stop the tree (market data keeps flowing): the
failing child stays down, trading enters HALTED, every open order is cancelled at the venue and new
orders are refused. Must never trade or hold market state itself.
"""

from __future__ import annotations

from typing import Any

from actors.execution.messages import CancelAll
from actors.orchestrator.messages import (
    ACTIVE,
    HALTED,
    REDUCING,
    BooksHealth,
    Decision,
    FeedHealth,
    ResyncRequest,
    TradingStateChanged,
)
from runtime.messages import SupervisionEvent
from runtime.supervision import Plan
from runtime.supervisor import Supervisor

STATE_FOLLOWERS = ("execution", "strategy")


class Orchestrator(Supervisor):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trading_state = ACTIVE
        self.state_reason = "start"
        self.state_before_feed_loss: str | None = None  # set while the feed forced REDUCING
        self.feed_healthy = True
        self.books_valid = False

    def on_event(self, event: SupervisionEvent) -> None:
        self.services.send("journal", event)
        if event.kind in ("started", "restarted"):
            if event.child in STATE_FOLLOWERS:
                self._tell_state(event.child)
            if event.kind == "restarted" and event.child == "market_data":
                self.services.send("streaming", ResyncRequest("market_data restarted"))

    def escalate(self, plan: Plan) -> None:
        self.set_state(HALTED, f"escalation: {plan.failed} {plan.reason}")
        self.services.send("venue", CancelAll(reason=f"escalation: {plan.failed}"))

    def on_fact(self, message: Any) -> Any:
        kind = type(message)
        if kind is FeedHealth:
            self.feed_healthy = message.healthy
            if not message.healthy and self.trading_state == ACTIVE:
                self.state_before_feed_loss = self.trading_state
                self.set_state(REDUCING, f"feed down: {message.reason}")
        elif kind is BooksHealth:
            self.books_valid = message.all_valid
        if self.state_before_feed_loss is not None and self.feed_healthy and self.books_valid:
            previous, self.state_before_feed_loss = self.state_before_feed_loss, None
            if self.trading_state == REDUCING:
                self.set_state(previous, "feed recovered: every book valid")
        return None

    def set_state(self, state: str, reason: str) -> None:
        if state == self.trading_state:
            return
        self.trading_state, self.state_reason = state, reason
        now = self.clock.now()
        self.services.send("journal", Decision(now, "trading_state", f"{state}: {reason}"))
        for name in STATE_FOLLOWERS:
            self._tell_state(name)

    def _tell_state(self, name: str) -> None:
        self.services.send(name, TradingStateChanged(self.trading_state, self.state_reason, self.clock.now()))

    def status(self) -> dict[str, Any]:
        status = super().status()
        status["trading_state"] = self.trading_state
        status["state_reason"] = self.state_reason
        return status
