"""The backup planner: which tier a scheduled snapshot takes, what retention deletes, and when a
test restore is due. Pure arithmetic over (now, the existing backups, the policy).

Owns the tier vocabulary and the retention rules. Must never read the clock, touch a file or hold
state: the backup actor passes `now` and the manifest's entries in, and performs the answer.

Tiers: `frequent` every `interval_s`, `hourly`, `daily`, `shutdown` (every clean shutdown) and
`escalation` (every escalation). Hourly and daily are promotions: on a scheduled tick the one
snapshot taken is labelled with the coarsest tier that is due, and a coarser backup also counts
as the finer scheduled tier's latest (a daily serves as that hour's backup). A period counts as
elapsed half a tick early, so a tick that runs a few ms short never slips a promotion a whole tick.
Retention, per tier: keep the newest `keep`; of those, drop any older than `max_age_s`, except
the tier's newest, which age alone never deletes. A backup just taken is never deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

import msgspec

from config.schema import BackupConfig

FREQUENT, HOURLY, DAILY, SHUTDOWN, ESCALATION = "frequent", "hourly", "daily", "shutdown", "escalation"
TIERS = (FREQUENT, HOURLY, DAILY, SHUTDOWN, ESCALATION)
SCHEDULED = (DAILY, HOURLY, FREQUENT)  # coarsest first
HOUR_S, DAY_S = 3600.0, 86400.0
PERIODS = {HOURLY: HOUR_S, DAILY: DAY_S}


class Backup(Protocol):
    """What the planner reads of a backup (the manifest's Entry has these). Read-only, so a
    frozen Entry matches."""

    @property
    def id(self) -> str: ...
    @property
    def tier(self) -> str: ...
    @property
    def created(self) -> float: ...


B = TypeVar("B", bound=Backup)


class TierRule(msgspec.Struct, frozen=True):
    keep: int
    max_age_s: float


class Policy(msgspec.Struct, frozen=True, kw_only=True):
    interval_s: float
    test_restore_interval_s: float
    rules: dict[str, TierRule]

    @classmethod
    def from_config(cls, config: BackupConfig) -> Policy:
        """From the profile's `[backup]` section."""
        c = config
        return cls(
            interval_s=c.interval_s,
            test_restore_interval_s=c.test_restore_interval_s,
            rules={
                FREQUENT: TierRule(c.keep, c.frequent_max_age_s),
                HOURLY: TierRule(c.hourly_keep, c.hourly_max_age_s),
                DAILY: TierRule(c.daily_keep, c.daily_max_age_s),
                SHUTDOWN: TierRule(c.shutdown_keep, c.shutdown_max_age_s),
                ESCALATION: TierRule(c.escalation_keep, c.escalation_max_age_s),
            },
        )


def due_tier(now: float, backups: Iterable[Backup], policy: Policy) -> str:
    """The tier of the snapshot a scheduled tick at `now` takes: daily if no daily backup is
    younger than a day, else hourly if no hourly-or-daily backup is younger than an hour, else
    frequent. Backups stamped in the future (a clock stepped back) count as young."""
    backups = list(backups)
    slack = policy.interval_s / 2
    for k, tier in enumerate(SCHEDULED[:-1]):
        counted = SCHEDULED[: k + 1]  # this tier and the coarser ones
        newest = max((b.created for b in backups if b.tier in counted), default=None)
        if newest is None or now - newest >= PERIODS[tier] - slack:
            return tier
    return FREQUENT


def retire(now: float, backups: Iterable[Backup], policy: Policy,
           keep_ids: Iterable[str] = ()) -> tuple[str, ...]:
    """Ids of the backups retention deletes, oldest first. `keep_ids` (the backup just taken)
    always stay and count first against their tier's `keep`. Tiers without a rule are left alone."""
    keep_ids = frozenset(keep_ids)
    doomed: list[Backup] = []
    by_tier: dict[str, list[Backup]] = {}
    for b in backups:
        by_tier.setdefault(b.tier, []).append(b)
    for tier, members in by_tier.items():
        rule = policy.rules.get(tier)
        if rule is None:
            continue
        ordered = sorted(members, key=lambda b: (b.id in keep_ids, b.created, b.id), reverse=True)
        latest = newest(members)
        for rank, b in enumerate(ordered):
            if b.id in keep_ids:
                continue
            if rank >= rule.keep or (b is not latest and now - b.created > rule.max_age_s):
                doomed.append(b)
    return tuple(b.id for b in sorted(doomed, key=lambda b: (b.created, b.id)))


def test_restore_due(now: float, last_at: float | None, policy: Policy) -> bool:
    """A test restore is due if none was ever recorded, or the last is a period old (half a
    tick early, like the tiers), or it is stamped in the future by more than a period."""
    if last_at is None:
        return True
    age = now - last_at
    return age >= policy.test_restore_interval_s - policy.interval_s / 2 or age < -policy.test_restore_interval_s


test_restore_due.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported


def newest(backups: Iterable[B]) -> B | None:
    return max(backups, key=lambda b: (b.created, b.id), default=None)
