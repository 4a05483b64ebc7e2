"""The execution actor: the thin shell over ExecutionCore (actors.execution.core).

Owns the core, its write-ahead intent log file (opened on start, closed on stop), the timer that
asks the venue about unanswered orders, and the performing of the core's effects (sends and facts
for the orchestrator) in the order the core returned them. Must never decide anything itself.
"""

from __future__ import annotations

from typing import Any

from actors.execution.core import ExecutionCore
from actors.execution.intent_log import IntentLog
from actors.execution.order_flow import CheckInflight, Effect, Send
from config.schema import ExecutionConfig, RiskConfig
from domain.products import ProductSpec
from domain.queries import ReportQuery
from runtime.actor import SupervisedActor

__all__ = ["CheckInflight", "ExecutionActor"]


class ExecutionActor(SupervisedActor):
    def __init__(self, name: str, epoch: int, services: Any, products: dict[str, ProductSpec],
                 config: ExecutionConfig, stale_after_s: float, risk: RiskConfig | None = None, inflight_s: float = 10.0,
                 intent_log: str | None = None) -> None:
        super().__init__(name, epoch, services)
        self.intent_log_path = intent_log  # None: orders are not written ahead
        self.core = ExecutionCore(products, config, stale_after_s, risk, inflight_s, self.metrics, name)

    def start_core(self) -> None:
        if self.intent_log_path is not None:
            self.core.intent_log = IntentLog(self.intent_log_path)
        self.every(self.core.inflight_s / 2, CheckInflight())
        self._perform(self.core.start(self.clock.now()))

    def stop_core(self) -> None:
        if self.core.intent_log is not None:
            self.core.intent_log.close()
            self.core.intent_log = None

    def handle(self, message: Any) -> Any:
        if type(message) is ReportQuery:
            return self.core.report()
        self._perform(self.core.handle(message, self.clock.now()))
        return None

    def _perform(self, effects: list[Effect]) -> None:
        for effect in effects:
            if type(effect) is Send:
                self.send(effect.to, effect.message)
            else:
                self.tell_supervisor(effect.message)

    def _apply_fault(self, spec: Any, body: Any) -> Any:
        if spec.kind == "disk_full" and self.core.intent_log is not None:
            self.core.intent_log.full = True  # the intent-log drill: every append refused from now on
        return super()._apply_fault(spec, body)
