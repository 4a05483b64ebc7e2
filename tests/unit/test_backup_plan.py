"""The backup planner on hand-worked times: which tier a tick takes, what retention deletes, when
a test restore is due."""

from __future__ import annotations

import msgspec
import pytest

from actors.backup.plan import (
    DAILY,
    ESCALATION,
    FREQUENT,
    HOURLY,
    SHUTDOWN,
    Policy,
    TierRule,
    due_tier,
    newest,
    retire,
)
from actors.backup.plan import (
    test_restore_due as restore_due,
)
from config.schema import BackupConfig

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
HOUR, DAY = 3600.0, 86400.0


class B(msgspec.Struct, frozen=True):
    id: str
    tier: str
    created: float


def policy(**rules: TierRule) -> Policy:
    base = {FREQUENT: TierRule(3, DAY), HOURLY: TierRule(2, 2 * DAY), DAILY: TierRule(2, 30 * DAY),
            SHUTDOWN: TierRule(2, 30 * DAY), ESCALATION: TierRule(2, 90 * DAY)}
    base.update(rules)
    return Policy(interval_s=30.0, test_restore_interval_s=HOUR, rules=base)


# -- due_tier -------------------------------------------------------------------------------


def test_first_tick_ever_is_a_daily_then_frequent_until_the_hour():
    p = policy()
    assert due_tier(T0, [], p) == DAILY
    taken = [B("d", DAILY, T0)]
    # The daily also serves as the hour's backup: hourly is due an hour after it, half a tick early.
    assert due_tier(T0 + 30, taken, p) == FREQUENT
    assert due_tier(T0 + 3584.9, taken, p) == FREQUENT
    assert due_tier(T0 + 3585, taken, p) == HOURLY
    taken.append(B("h", HOURLY, T0 + 3600))
    assert due_tier(T0 + 3630, taken, p) == FREQUENT
    assert due_tier(T0 + 7185, taken, p) == HOURLY  # an hour after the hourly, not the daily
    assert due_tier(T0 + DAY - 15.1, taken, p) != DAILY
    assert due_tier(T0 + DAY - 15, taken, p) == DAILY


def test_shutdown_and_escalation_backups_do_not_satisfy_the_schedule():
    p = policy()
    taken = [B("s", SHUTDOWN, T0), B("e", ESCALATION, T0)]
    assert due_tier(T0 + 30, taken, p) == DAILY
    taken.append(B("d", DAILY, T0 + 30))
    assert due_tier(T0 + 60, taken + [B("f", FREQUENT, T0 + 45)], p) == FREQUENT


def test_a_clock_stepped_back_counts_future_backups_as_young():
    p = policy()
    taken = [B("d", DAILY, T0 + 500), B("h", HOURLY, T0 + 500)]
    assert due_tier(T0, taken, p) == FREQUENT


def test_a_long_outage_takes_the_daily_first():
    p = policy()
    taken = [B("d", DAILY, T0), B("h", HOURLY, T0 + HOUR), B("f", FREQUENT, T0 + HOUR + 30)]
    assert due_tier(T0 + 3 * DAY, taken, p) == DAILY


# -- retire ---------------------------------------------------------------------------------


def test_count_keeps_the_newest_per_tier_and_tiers_are_independent():
    p = policy()
    taken = [B(f"f{i}", FREQUENT, T0 + 30 * i) for i in range(5)]  # f0..f4 at T0..T0+120
    taken += [B("h0", HOURLY, T0 - 2 * HOUR), B("h1", HOURLY, T0 - HOUR)]
    taken += [B("d0", DAILY, T0 - 3 * DAY)]
    # keep 3 frequents: f4 (just taken), f3, f2; f1 and f0 go, oldest first; hourly and daily keep theirs.
    assert retire(T0 + 120, taken, p, keep_ids=("f4",)) == ("f0", "f1")
    assert retire(T0 + 120, taken + [B("h2", HOURLY, T0 + 120)], p, keep_ids=("h2",)) == ("h0", "f0", "f1")


def test_age_drops_old_backups_but_never_a_tiers_newest():
    p = policy(**{FREQUENT: TierRule(10, HOUR)})
    taken = [B("f0", FREQUENT, T0), B("f1", FREQUENT, T0 + 1800), B("f2", FREQUENT, T0 + 3700)]
    # at T0+3700: f0 is 3700 s old > 3600; f1 is 1900 s old
    assert retire(T0 + 3700, taken, p) == ("f0",)
    assert retire(T0 + 3600, taken[:2], p) == ()  # exactly max age: kept
    # Alone for 40 days past its 30-day limit: the only daily stays.
    assert retire(T0 + 40 * DAY, [B("d0", DAILY, T0)], p) == ()
    dailies = [B("d0", DAILY, T0), B("d1", DAILY, T0 + DAY)]
    assert retire(T0 + 31 * DAY, dailies, p) == ("d0",)  # d1 is exactly 30 days old: kept
    assert retire(T0 + 31 * DAY + 1, dailies, p) == ("d0",)  # d1 is over age but the tier's newest


def test_the_backup_just_taken_stays_even_if_a_clock_step_made_it_oldest():
    p = policy(**{FREQUENT: TierRule(2, DAY)})
    taken = [B("a", FREQUENT, T0 + 10), B("b", FREQUENT, T0 + 20), B("c", FREQUENT, T0)]
    assert retire(T0, taken, p, keep_ids=("c",)) == ("a",)
    # and age never deletes it either
    p = policy(**{FREQUENT: TierRule(5, HOUR)})
    assert retire(T0 + 2 * HOUR, [B("x", FREQUENT, T0 - HOUR), B("y", FREQUENT, T0)], p,
                  keep_ids=("x",)) == ()


def test_unknown_tiers_are_left_alone_and_ties_break_by_id():
    p = policy(**{FREQUENT: TierRule(1, DAY)})
    taken = [B("legacy", "unlisted", T0 - 100 * DAY), B("f-0001", FREQUENT, T0), B("f-0002", FREQUENT, T0)]
    assert retire(T0, taken, p) == ("f-0001",)
    assert newest(taken).id == "f-0002"
    assert newest([]) is None


# -- test restore ---------------------------------------------------------------------------


def test_test_restore_is_due_first_then_every_interval_half_a_tick_early():
    p = policy()
    assert restore_due(T0, None, p)
    assert not restore_due(T0 + HOUR - 15.1, T0, p)
    assert restore_due(T0 + HOUR - 15, T0, p)
    assert not restore_due(T0, T0 + 100, p)  # a small step back: not yet
    assert restore_due(T0, T0 + HOUR + 1, p)  # stamped more than a period in the future


# -- the policy from the config -------------------------------------------------------------


def test_policy_from_config_defaults():
    p = Policy.from_config(BackupConfig())
    assert p.interval_s == 30.0 and p.test_restore_interval_s == 3600.0
    assert p.rules == {
        FREQUENT: TierRule(5, 86_400.0), HOURLY: TierRule(24, 172_800.0), DAILY: TierRule(7, 2_592_000.0),
        SHUTDOWN: TierRule(5, 2_592_000.0), ESCALATION: TierRule(10, 7_776_000.0),
    }


def test_config_refuses_an_age_limit_below_the_tiers_period():
    with pytest.raises(ValueError, match="frequent_max_age_s"):
        BackupConfig(interval_s=600.0, frequent_max_age_s=300.0)
    with pytest.raises(ValueError, match="daily_max_age_s"):
        BackupConfig(daily_max_age_s=3600.0)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"hourly_keep": 0}, BackupConfig)
