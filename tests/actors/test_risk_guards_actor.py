"""The risk actor and the orchestrator on a manual clock: guard breaches move the trading state
down and back, a daily-loss breach cancels every open order and stays latched until the UTC roll,
and operator commands arrive through the control files and are answered there."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from actors.app.report import collect
from actors.orchestrator.actor import Orchestrator
from actors.orchestrator.control import ControlActor, control_dir, write_atomically
from actors.risk.actor import RiskActor
from config.schema import RiskConfig
from domain.control import BooksHealth, Decision, FeedHealth, RiskVerdict, TradingStateChanged, Verdict
from domain.market import Bar
from domain.orders import CancelAll
from domain.portfolio import PortfolioUpdate
from domain.products import CATALOG
from domain.queries import REPORT
from runtime.supervisor import ChildSpec, SupervisorConfig
from tests.support import Harness, Recorder, wait_until
from tests.tree_harness import TreeHarness

D = Decimal
DAY = 86_400.0


@pytest.fixture
def rig(tmp_path: Path):
    config = RiskConfig(volatility_window=2, volatility_cooldown_s=10.0)
    specs = [ChildSpec(name, Recorder) for name in ("journal", "venue", "execution", "strategy")]
    specs += [ChildSpec("risk", RiskActor, {"products": CATALOG, "config": config, "bar_interval_s": 60.0}),
              ChildSpec("control", ControlActor, {"run_dir": str(tmp_path)})]
    h = Harness(specs, SupervisorConfig(ping_interval_s=0.1, hang_timeout_s=0.5), supervisor_class=Orchestrator)
    wait_until(lambda: all(h.bound(s.name) for s in specs), what="children started")
    h.run_dir = tmp_path
    yield h
    h.stop()


def state(h: Harness) -> str:
    return h.status()["trading_state"]


def seen(h: Harness, name: str, kind: type) -> list[Any]:
    return [m for m in h.ask(name, "seen") if type(m) is kind]


def portfolio(h: Harness, equity: str) -> None:
    h.services.send("risk", PortfolioUpdate(equity=D(equity), positions=(), marks=(), ts=h.clock.now()))


def bar(h: Harness, close: str) -> None:
    c = D(close)
    h.services.send("risk", Bar("BTC-USD", h.clock.now(), 60.0, c, c, c, c, D(1), 1, 0))


def evaluate(h: Harness) -> dict:
    """Let the guards run once (the timer is every second) and wait until the risk actor is done."""
    h.tick(1.0)
    return h.ask("risk", REPORT)


def test_a_daily_loss_breach_reduces_cancels_and_stays_latched_until_the_utc_roll(rig):
    h = rig
    portfolio(h, "100000")
    evaluate(h)
    wait_until(lambda: h.status()["risk_level"] == "OK", what="first verdict")
    assert state(h) == "ACTIVE"

    portfolio(h, "94000")  # 6% below the start of the day: over the 5% limit
    assert evaluate(h)["verdicts"]["daily_loss"]["level"] == "REDUCING"
    wait_until(lambda: state(h) == "REDUCING", what="REDUCING on the breach")
    wait_until(lambda: seen(h, "venue", CancelAll), what="open orders cancelled")
    assert [c.reason for c in seen(h, "venue", CancelAll)] == ["daily loss limit"]
    wait_until(lambda: any(s.state == "REDUCING" for s in seen(h, "execution", TradingStateChanged)),
               what="execution told")
    decisions = [(d.kind, d.detail) for d in seen(h, "journal", Decision)]
    assert any(kind == "trading_state" and detail.startswith("REDUCING: daily_loss: day loss reached 5")
               for kind, detail in decisions), decisions

    portfolio(h, "100000")  # equity back: the breach stays latched
    assert evaluate(h)["verdicts"]["daily_loss"]["level"] == "REDUCING"
    # A restarted risk actor would start afresh and say OK: the orchestrator keeps the latch.
    h.services.tell_supervisor(RiskVerdict("OK", (Verdict("daily_loss", "OK", "fresh start"),), h.clock.now()))
    assert state(h) == "REDUCING" and "risk:daily_loss" in h.status()["holds"]

    h.tick(DAY - h.clock.now() % DAY + 1.0)  # just past midnight UTC
    wait_until(lambda: state(h) == "ACTIVE", what="ACTIVE after the UTC roll")
    assert h.status()["holds"] == {}
    assert len(seen(h, "venue", CancelAll)) == 1
    assert ("trading_state", "ACTIVE: risk guards clear") in [(d.kind, d.detail) for d in seen(h, "journal", Decision)]


def test_the_volatility_breaker_halts_then_steps_back_after_its_cooldown(rig):
    h = rig
    portfolio(h, "100000")
    bar(h, "100000")
    bar(h, "105000")  # one bar return of 500 bps >= the halted threshold of 400
    evaluate(h)
    wait_until(lambda: state(h) == "HALTED", what="HALTED")
    wait_until(lambda: seen(h, "venue", CancelAll), what="entering HALTED cancels every open order")
    assert h.status()["holds"] == {"risk:volatility:BTC-USD": "HALTED: volatility:BTC-USD: realised vol 500.0 bps"}

    h.tick(11.0)  # past the 10 s cooldown
    bar(h, "105000")  # window (500, 0) bps: RMS 353.6, reducing level: one step down
    evaluate(h)
    wait_until(lambda: state(h) == "REDUCING", what="REDUCING after the cooldown")
    bar(h, "105000")  # window (0, 0): calm, but the reducing level was met just now
    assert evaluate(h)["verdicts"]["volatility:BTC-USD"]["level"] == "REDUCING"

    h.tick(11.0)
    bar(h, "105000")
    evaluate(h)
    wait_until(lambda: state(h) == "ACTIVE", what="ACTIVE once calm for a cooldown")
    assert len(seen(h, "venue", CancelAll)) == 1  # REDUCING from volatility does not cancel


def command(h: Harness, name: str, request_id: str) -> dict:
    """Write a command file as `perpsbot ctl` does; advance the clock until the reply is there."""
    folder = control_dir(h.run_dir)
    write_atomically(folder / f"{request_id}.cmd", {"command": name})
    reply = folder / f"{request_id}.reply"
    for _ in range(20):
        h.tick(0.2)  # the control actor polls on the clock; its reply is written a moment later
        try:
            wait_until(reply.exists, timeout=0.3)
        except AssertionError:
            continue
        return json.loads(reply.read_text())
    raise AssertionError(f"no reply to {name}")


def test_operator_commands_through_the_control_files(rig):
    h = rig
    folder = control_dir(h.run_dir)
    wait_until(lambda: (folder / "pid").exists(), what="the control actor wrote its pid file")
    assert (folder / "pid").read_text().strip() == str(os.getpid())

    halted = command(h, "halt", "r1")
    assert halted["state"] == "HALTED" and halted["line"].startswith("HALTED after halt")
    assert state(h) == "HALTED"
    wait_until(lambda: seen(h, "venue", CancelAll), what="halt cancels every open order")

    h.services.tell_supervisor(FeedHealth(False, "refused", 5))  # the feed goes down meanwhile
    resumed = command(h, "resume", "r2")
    assert resumed["state"] == "REDUCING"
    assert resumed["line"] == "REDUCING after resume; held by feed REDUCING (feed down: refused)"

    h.services.tell_supervisor(FeedHealth(True, "back"))
    h.services.tell_supervisor(BooksHealth(True))
    assert state(h) == "ACTIVE"
    assert command(h, "reduce", "r3")["line"] == "REDUCING after reduce; held by operator REDUCING (operator reduce)"
    assert command(h, "resume", "r4") == {"state": "ACTIVE", "line": "ACTIVE after resume", "holds": []}
    assert command(h, "explode", "r5") == {"error": "unknown command 'explode'"}

    decisions = [(d.kind, d.detail) for d in seen(h, "journal", Decision)]
    assert [d for d in decisions if d[0] == "operator"] == [("operator", c) for c in ("halt", "resume", "reduce",
                                                                                        "resume")]
    assert [d for d in decisions if d[0] == "trading_state"] == [
        ("trading_state", "HALTED: operator halt"),
        ("trading_state", "REDUCING: feed down: refused"),
        ("trading_state", "ACTIVE: feed recovered: every book valid"),
        ("trading_state", "REDUCING: operator reduce"),
        ("trading_state", "ACTIVE: operator resume"),
    ]
    assert not list(folder.glob("*.cmd"))


def test_the_pid_file_goes_when_the_process_stops(tmp_path):
    specs = [ChildSpec("control", ControlActor, {"run_dir": str(tmp_path)})]
    h = Harness(specs, supervisor_class=Orchestrator)
    try:
        wait_until(lambda: (control_dir(tmp_path) / "pid").exists(), what="pid file")
    finally:
        h.stop()
    assert not (control_dir(tmp_path) / "pid").exists()


def test_in_the_whole_tree_the_guards_see_portfolio_and_bars_and_the_report_has_them():
    h = TreeHarness(**{"strategy.long_window": 200, "strategy.stop_loss_bps": 0})
    try:
        h.run(3.0)
        wait_until(lambda: "volatility:BTC-USD" in h.tree.ask("risk", REPORT)["verdicts"], what="bars reach risk")
        report = collect(h.tree, "test", 3.0)
        risk = report["risk"]
        assert risk["level"] == "OK" and risk["holds"] == {}
        assert set(risk["verdicts"]) >= {"daily_loss", "liquidation_buffer", "volatility:BTC-USD",
                                         "volatility:BIP-20DEC30-CDE"}
        assert risk["start_of_day_equity"] == "100000"
    finally:
        h.stop()
