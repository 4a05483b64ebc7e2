"""The orchestrator: root supervisor of the actor tree and owner of TradingState.

Owns TradingState (ACTIVE / REDUCING / RECOVERING / HALTED) and tells execution and strategy
whenever it changes or they restart. The state is the worst of the holds on it (actors.orchestrator.holds):
- escalation: restart intensity exceeded. The tree is not stopped (market data keeps flowing):
  the failing child stays down, trading is HALTED for good and every open order is cancelled;
- feed: the feed failed its reconnects: REDUCING until it is back with every book valid;
- risk:<guard>: a runtime guard's verdict (actors.risk) at REDUCING or HALTED, released when the
  guard clears; a daily-loss breach also cancels every open order and stays latched until the
  UTC day rolls, even if the risk actor restarts and forgets it;
- operator: `bin/perpsbot ctl halt|reduce|resume` (an OperatorCommand from the control actor),
  answered with an OperatorReply that says the new state and what still holds it;
- recovering: a `run` that started from its journal, RECOVERING until execution and portfolio have
  both synced with the venue (Synced); given at construction (initial_holds) with the holds the
  journal says were in force (an operator halt, a daily-loss latch of the same UTC day);
- reconcile: the bot's and the venue's positions differ (PositionMismatch): REDUCING until
  `ctl resume --accept-venue` (portfolio adopts the venue's sizes: AdoptPositions) or `ctl halt`;
- dead_man: the private stream silent for `run.dead_man_s` (DeadManSwitch from the gateway, which
  cancelled every open order): REDUCING until the stream is back and the venue re-read;
- journal: a journal write failed (JournalHealth ok=False): HALTED, open orders cancelled. Latched:
  a refused write is lost, so the journal writing again does not release it; `ctl resume` does,
  but only once the journal has reported ok since its last failure (else the hold stays, named);
- intent_log: execution could not write an order's intent ahead (so did not send it): HALTED until
  `ctl resume` (an order whose intent is refused again halts again; nothing unlogged is ever sent).
Entering HALTED cancels every open order at the venue. A restarted journal is told again what
execution, portfolio and the venue's fills hold (JournalRestarted to each), so what its mailbox
lost comes back; the state and holds are journaled whenever they change (TradingStateRecord).
Every change is journaled as a Decision and
logged as one `trading state OLD -> NEW: reason; held by ...` line; every operator command as one
`operator COMMAND -> STATE` line.
Must never trade or hold market state itself.
"""

from __future__ import annotations

from typing import Any

from loguru import logger

from actors.orchestrator.holds import Hold, Holds
from domain.control import (
    HALTED,
    REDUCING,
    AdoptPositions,
    BackupNow,
    BooksHealth,
    DeadManSwitch,
    Decision,
    FeedHealth,
    JournalHealth,
    JournalRestarted,
    OperatorCommand,
    OperatorReply,
    PositionMismatch,
    ResyncRequest,
    RiskVerdict,
    Shutdown,
    Synced,
    TradingStateChanged,
    utc_day,
)
from domain.orders import CancelAll
from domain.records import TradingStateRecord
from runtime.messages import SupervisionEvent
from runtime.supervision import Plan
from runtime.supervisor import Supervisor

STATE_FOLLOWERS = ("execution", "strategy")
CONTROL = "control"  # the actor that carries operator commands in and replies out
DAILY_LOSS = "daily_loss"
_OPERATOR_STATES = {"halt": HALTED, "reduce": REDUCING}


RECOVERING_HOLD = "recovering"
RECONCILE_HOLD = "reconcile"
DEAD_MAN_HOLD = "dead_man"
SYNCED_BEFORE_TRADING = frozenset({"execution", "portfolio"})
JOURNAL_SENDERS = ("execution", "portfolio", "reconciler")  # told again what a restarted journal lost


class Orchestrator(Supervisor):
    def __init__(self, *args: Any, initial_holds: tuple[Hold, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.holds = Holds()
        for hold in initial_holds:
            self.holds.put(hold.source, hold.state, hold.reason)
        self.trading_state, held_by = self.holds.state()
        self.state_reason = held_by or "start"
        self.synced: set[str] = set()
        self.journaled_holds: tuple[str, tuple[tuple[str, str], ...]] | None = None
        self.mismatch: PositionMismatch | None = None
        self.feed_healthy = True
        self.books_valid = False
        self.daily_loss_day: int | None = None  # UTC day of the last daily-loss breach
        self.risk_level = "OK"
        self.journal_ok = True  # the journal has written since its last failure
        if self.holds.get(f"risk:{DAILY_LOSS}") is not None:  # carried over from before a restart
            self.daily_loss_day = utc_day(self.clock.now())

    def on_event(self, event: SupervisionEvent) -> None:
        self.services.send("journal", event)
        if event.kind in ("started", "restarted"):
            if event.child == "journal":
                self.journaled_holds = None  # a restarted journal may have lost the last record
                self._journal_holds()
                if event.kind == "restarted":
                    for name in JOURNAL_SENDERS:
                        self.services.send(name, JournalRestarted())
            if event.child in STATE_FOLLOWERS:
                self._tell_state(event.child)
            if event.child == "execution" and self.mismatch is not None:
                self.services.send("execution", self.mismatch)  # a restart must not forget the dispute
            if event.kind == "restarted" and event.child == "market_data":
                self.services.send("streaming", ResyncRequest("market_data restarted"))

    def escalate(self, plan: Plan) -> None:
        self.holds.put("escalation", HALTED, f"escalation: {plan.failed} {plan.reason}")
        self._apply("escalation", cancel=False)
        self.services.send("venue", CancelAll(reason=f"escalation: {plan.failed}"))
        self.services.send("backup", BackupNow("escalation", f"escalation: {plan.failed} {plan.reason}"))

    def on_fact(self, message: Any) -> Any:
        kind = type(message)
        if kind is FeedHealth:
            self.feed_healthy = message.healthy
            if not message.healthy:
                self.holds.put("feed", REDUCING, f"feed down: {message.reason}")
        elif kind is BooksHealth:
            self.books_valid = message.all_valid
        elif kind is RiskVerdict:
            self._on_risk(message)
            return None
        elif kind is JournalHealth:
            if message.writer == "journal":
                self.journal_ok = message.ok
            if not message.ok:  # intent_log: released by resume alone (the next refused write halts again)
                self.holds.put(message.writer, HALTED, f"journal: {message.reason}")
                self._apply(message.writer)
            return None
        elif kind is DeadManSwitch:
            if message.tripped:
                self.holds.put(DEAD_MAN_HOLD, REDUCING, f"dead-man switch: {message.reason}")
                self._apply(DEAD_MAN_HOLD)
            elif self.holds.drop(DEAD_MAN_HOLD):
                self._apply(f"dead-man switch released: {message.reason}")
            return None
        elif kind is Synced:
            self.synced.add(message.actor)
            if self.holds.get(RECOVERING_HOLD) is not None and SYNCED_BEFORE_TRADING <= self.synced:
                self.holds.drop(RECOVERING_HOLD)
                self._apply("recovered: execution and portfolio synced with the venue")
            return None
        elif kind is PositionMismatch:
            self.mismatch = message
            self.services.send("execution", message)  # nothing goes out on a disputed product
            self.holds.put(RECONCILE_HOLD, REDUCING, f"position mismatch ({message.source}): {message.describe()}")
            self._apply(RECONCILE_HOLD)
            return None
        elif kind is OperatorCommand:
            self._on_operator(message)
            return None
        elif kind is Shutdown:
            self._on_shutdown(message)
            return None
        else:
            return None
        if self.holds.get("feed") is not None and self.feed_healthy and self.books_valid:
            self.holds.drop("feed")
            self._apply("feed recovered: every book valid")
        else:
            self._apply("feed")
        return None

    # -- risk guards --------------------------------------------------------------------------
    def _on_risk(self, verdict: RiskVerdict) -> None:
        self.risk_level = verdict.level
        day = utc_day(self.clock.now())
        breached = {v.guard: v for v in verdict.verdicts if v.level in (REDUCING, HALTED)}
        if DAILY_LOSS in breached:
            self.daily_loss_day = day
        for source in self.holds.sources():
            guard = source.removeprefix("risk:")
            if source.startswith("risk:") and guard not in breached:
                if guard == DAILY_LOSS and self.daily_loss_day == day:
                    continue  # latched until the UTC roll, whatever a restarted risk actor says
                self.holds.drop(source)
        new_daily_loss = DAILY_LOSS in breached and self.holds.get(f"risk:{DAILY_LOSS}") is None
        for guard, v in breached.items():
            self.holds.put(f"risk:{guard}", v.level, f"{guard}: {v.reason}")
        self._apply("risk guards clear")
        if new_daily_loss:
            self.services.send("venue", CancelAll(reason="daily loss limit"))
            self.services.send("journal", Decision(self.clock.now(), "cancel_all", "daily loss limit"))

    # -- operator -----------------------------------------------------------------------------
    def _on_operator(self, command: OperatorCommand) -> None:
        now = self.clock.now()
        name = command.command
        if name in _OPERATOR_STATES:
            self.holds.put("operator", _OPERATOR_STATES[name], f"operator {name}")
        elif name == "resume":
            self.holds.drop("operator")
            self.holds.drop("intent_log")
            if self.journal_ok:
                self.holds.drop("journal")
            if command.accept_venue and self.mismatch is not None:
                self.services.send("portfolio", AdoptPositions(tuple(pid for pid, _, _ in self.mismatch.positions)))
                self.services.send("journal", Decision(now, "accept_venue", self.mismatch.describe()))
                self.holds.drop(RECONCILE_HOLD)
                self.mismatch = None
                self.services.send("execution", PositionMismatch((), "accepted"))
        else:
            logger.warning("operator {!r}: unknown command, trading stays {}", name, self.trading_state)
            self._reply(command, f"unknown command {name!r}")
            return
        self.services.send("journal", Decision(now, "operator", name + (" --accept-venue" if command.accept_venue else "")))
        self._apply(f"operator {name}")
        held = self.holds.describe()
        logger.info("operator {} -> {}{}{}", name, self.trading_state, "; held by " if held else "", held)
        self._reply(command, f"{self.trading_state} after {name}" + (f"; held by {held}" if held else ""))

    def _reply(self, command: OperatorCommand, line: str) -> None:
        self.services.send(CONTROL, OperatorReply(command.request_id, self.trading_state, line, self.holds.lines()))

    def _on_shutdown(self, message: Shutdown) -> None:
        # HALTED makes execution cancel what it knows and disarm its stops; the venue's CancelAll
        # also reaches orders execution does not know. Left working: REDUCING, so no new risk.
        if message.cancel_orders:
            self.holds.put("shutdown", HALTED, "shutdown: cancelling open orders")
            self._apply("shutdown", cancel=False)
            self.services.send("venue", CancelAll(reason="shutdown"))
        else:
            self.holds.put("shutdown", REDUCING, "shutdown: open orders left working")
            self._apply("shutdown")

    # -- the state ----------------------------------------------------------------------------
    def _apply(self, why_released: str, cancel: bool = True) -> None:
        """Set the state the holds call for. Entering HALTED cancels every open order."""
        state, held_by = self.holds.state()
        if state != self.trading_state:
            self.set_state(state, held_by or why_released)
            if state == HALTED and cancel:
                self.services.send("venue", CancelAll(reason=held_by))
        self._journal_holds()

    def _journal_holds(self) -> None:
        """The state and every hold, journaled when either changed: a restart carries the
        operator's and the daily-loss latch's over (actors.app.recovery.carried_holds)."""
        holds = tuple((h.source, f"{h.state}: {h.reason}") for h in self.holds.holding())
        if (self.trading_state, holds) == self.journaled_holds:
            return
        self.journaled_holds = (self.trading_state, holds)
        self.services.send("journal", TradingStateRecord(self.clock.now(), self.trading_state, self.state_reason,
                                                         holds, self.daily_loss_day))

    def set_state(self, state: str, reason: str) -> None:
        if state == self.trading_state:
            return
        held = self.holds.describe()
        logger.info("trading state {} -> {}: {}{}{}", self.trading_state, state, reason, "; held by " if held else "",
                    held)
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
        status["holds"] = {h.source: f"{h.state}: {h.reason}" for h in self.holds.holding()}
        status["risk_level"] = self.risk_level
        return status
