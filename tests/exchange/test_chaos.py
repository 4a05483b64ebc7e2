"""Chaos specs and the chaos plan: the grammar, its one-line errors, and when injections fire."""

from __future__ import annotations

import pytest

from exchange.chaos import (
    DEFAULT_DURATION_S,
    KINDS,
    ChaosPlan,
    ChaosSpec,
    ChaosSpecError,
    parse_chaos,
)

T0 = 1_795_470_000.0


def test_every_and_at_with_default_and_explicit_durations():
    assert parse_chaos("disconnect:every=20") == ChaosSpec("disconnect", every_s=20.0)
    assert parse_chaos("gap:at=0") == ChaosSpec("gap", at_s=0.0)
    assert parse_chaos("stall:at=40") == ChaosSpec("stall", at_s=40.0, duration_s=8.0)
    assert parse_chaos("refuse:every=30") == ChaosSpec("refuse", every_s=30.0, duration_s=5.0)
    assert parse_chaos(" stall : at=40 , for=2.5 ") == ChaosSpec("stall", at_s=40.0, duration_s=2.5)
    assert parse_chaos("slow_snapshot:for=1,every=0.5") == ChaosSpec(  # options in any order
        "slow_snapshot", every_s=0.5, duration_s=1.0)


def test_every_kind_parses_and_lasting_kinds_have_a_default_duration():
    for kind in KINDS:
        spec = parse_chaos(f"{kind}:every=1")
        assert spec.kind == kind and spec.every_s == 1.0
        assert spec.duration_s == DEFAULT_DURATION_S.get(kind, 0.0)
        assert parse_chaos(str(spec)) == spec  # str() is a spec that parses back to itself
    assert set(DEFAULT_DURATION_S) == {"stall", "refuse", "no_heartbeat", "slow_snapshot", "ignore_subscribe",
                                       "rest_timeout", "rest_5xx", "rest_429", "user_duplicate"}


def test_rest_5xx_takes_accept_and_round_trips():
    spec = parse_chaos("rest_5xx:at=2,for=1,accept=1")
    assert spec == ChaosSpec("rest_5xx", at_s=2.0, duration_s=1.0, accept=True)
    assert str(spec) == "rest_5xx:at=2,for=1,accept=1" and parse_chaos(str(spec)) == spec
    assert parse_chaos("rest_5xx:at=2,accept=0").accept is False
    assert parse_chaos("user_replay:every=7") == ChaosSpec("user_replay", every_s=7.0)  # instantaneous


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("explode:every=1", "unknown kind 'explode'"),
        ("gap", "give exactly one of every=SECONDS or at=SECONDS"),
        ("gap:every=1,at=2", "give exactly one of every=SECONDS or at=SECONDS"),
        ("gap:every=0", "every=0 must be > 0 seconds"),
        ("gap:every=-3", "every=-3 must be > 0 seconds"),
        ("gap:at=-1", "at=-1 must be >= 0 seconds"),
        ("gap:every=soon", "every='soon' is not a number of seconds"),
        ("gap:every=nan", "every=nan must be > 0 seconds"),
        ("gap:every=1,every=2", "option 'every' given twice"),
        ("gap:when=1", "unknown option 'when'"),
        ("gap:every", "option 'every' is not KEY=SECONDS"),
        ("gap:every=1,for=2", "for= applies only to stall, refuse, no_heartbeat"),
        ("stall:at=1,for=0", "for=0 must be > 0 seconds"),
        ("rest_429:at=1,accept=1", "accept= applies only to rest_5xx"),
        ("rest_5xx:at=1,accept=yes", "accept='yes' must be 0 or 1"),
        ("rest_5xx:at=1,accept=1,accept=0", "option 'accept' given twice"),
    ],
)
def test_a_bad_spec_is_one_line_naming_the_spec_and_the_problem(text, problem):
    with pytest.raises(ChaosSpecError) as caught:
        parse_chaos(text)
    message = str(caught.value)
    assert message.startswith(f"bad chaos spec {text!r}: ")
    assert problem in message
    assert "\n" not in message
    assert isinstance(caught.value, ValueError)


def test_every_fires_at_each_multiple_after_the_start_never_at_the_start():
    plan = ChaosPlan([parse_chaos("gap:every=10")], start_ts=T0)
    assert plan.due(T0) == []
    assert plan.due(T0 + 9.999) == []
    first = plan.due(T0 + 10)
    assert [(e.kind, e.ts) for e in first] == [("gap", T0 + 10)]
    assert plan.due(T0 + 10) == []  # each firing is returned once
    assert plan.due(T0 + 15) == []
    assert [e.ts for e in plan.due(T0 + 20.5)] == [T0 + 20]
    assert plan.next_ts() == T0 + 30
    assert plan.counts() == {"gap": 2}


def test_a_late_call_returns_every_overdue_firing_in_time_order():
    plan = ChaosPlan([parse_chaos("gap:every=10"), parse_chaos("stall:at=15,for=2")], start_ts=T0)
    events = plan.due(T0 + 31)
    assert [(e.kind, e.ts - T0, e.duration_s) for e in events] == [
        ("gap", 10.0, 0.0), ("stall", 15.0, 2.0), ("gap", 20.0, 0.0), ("gap", 30.0, 0.0)]
    assert plan.counts() == {"gap": 3, "stall": 1}


def test_at_fires_once_including_at_zero():
    plan = ChaosPlan([parse_chaos("refuse:at=0,for=1"), parse_chaos("disconnect:at=40")], start_ts=T0)
    assert [e.kind for e in plan.due(T0)] == ["refuse"]
    assert plan.due(T0 + 39.9) == []
    assert [e.kind for e in plan.due(T0 + 40)] == ["disconnect"]
    assert plan.due(T0 + 1000) == []
    assert plan.next_ts() is None
    assert plan.counts() == {"refuse": 1, "disconnect": 1}


def test_the_plan_reads_only_the_time_it_is_given():
    plan = ChaosPlan([parse_chaos("gap:every=1")], start_ts=T0)
    assert plan.due(T0 - 100) == []  # a clock before the start fires nothing
    assert len(plan.due(T0 + 3)) == 3
    assert plan.due(T0 + 2) == []  # time going backwards does not fire again
    assert plan.counts() == {"gap": 3}
    assert ChaosPlan([], start_ts=T0).due(T0 + 1e9) == []
