"""The backup actor with the real journal on a manual clock: scheduled ticks take daily, then
frequent, then hourly snapshots with retention per tier, a test restore is recorded in the
manifest, BackupNow and the shutdown helper answer with the snapshot taken, and an escalation at
the orchestrator leaves an escalation backup."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.backup import manifest as mf
from actors.backup.actor import BackupActor, shutdown_backup
from actors.backup.snapshot import list_snapshots, verify_snapshot
from actors.journal.actor import JournalActor
from actors.orchestrator.actor import Orchestrator
from config.schema import BackupConfig
from domain.control import BackupDone, BackupNow, Decision
from runtime.faults import FaultPlan, parse_fault
from runtime.supervisor import ChildSpec, SupervisorConfig
from tests.support import Harness, Recorder, wait_until

CONFIG = BackupConfig(interval_s=30.0, keep=2, hourly_keep=2, daily_keep=2, test_restore_interval_s=3600.0)


def specs(tmp_path: Path, config: BackupConfig = CONFIG) -> list[ChildSpec]:
    db = str(tmp_path / "perpsbot.db")
    return [ChildSpec("journal", JournalActor, {"db_path": db}),
            ChildSpec("backup", BackupActor, {"db_path": db, "dest_dir": str(tmp_path / "backups"), "config": config})]


def write(h: Harness, n: int) -> None:
    for i in range(n):
        h.ask("journal", Decision(h.clock.now(), "tick", str(i)))  # a direct ask: written on return


def manifest(tmp_path: Path) -> mf.Manifest:
    return mf.load(tmp_path / "backups")


def tick(h: Harness, tmp_path: Path, seconds: float) -> mf.Manifest:
    """Advance the clock to the next backup tick and wait for the snapshot it takes."""
    before = {e.id for e in manifest(tmp_path).entries}
    h.tick(seconds)
    return wait_until(lambda: (m := manifest(tmp_path)) and ({e.id for e in m.entries} - before) and m,
                      what="a new backup in the manifest")


def tiers(m: mf.Manifest) -> list[str]:
    return [e.tier for e in m.entries]


@pytest.fixture
def h(tmp_path):
    harness = Harness(specs(tmp_path))
    wait_until(lambda: harness.bound("journal") and harness.bound("backup"), what="children started")
    yield harness
    harness.stop()


def test_scheduled_tiers_retention_and_the_test_restore(h, tmp_path):
    start = h.clock.now()
    write(h, 5)
    m = tick(h, tmp_path, 30)
    assert tiers(m) == ["daily"]  # nothing yet: the first backup is the day's
    daily = m.entries[0]
    assert daily.created == start + 30 and daily.row_counts["decisions"] == 5
    check = wait_until(lambda: manifest(tmp_path).last_test_restore, what="first test restore")
    assert check.ok, check.detail
    assert check.backup_id == daily.id and check.at == start + 30
    assert check.row_counts["snapshot"] == check.row_counts["restored"] == daily.row_counts
    assert check.row_counts["live"]["decisions"] >= 5

    for _ in range(3):
        write(h, 1)
        m = tick(h, tmp_path, 30)
    # keep=2 frequents: the oldest frequent retired, the daily untouched.
    assert tiers(m) == ["daily", "frequent", "frequent"]
    assert [e.created for e in m.entries] == [start + 30, start + 90, start + 120]
    assert m.last_test_restore == check  # not due again within the hour

    m = tick(h, tmp_path, 3600)  # an hour past the daily (which served as that hour's)
    assert tiers(m) == ["daily", "frequent", "frequent", "hourly"]
    hourly = m.entries[-1]
    again = wait_until(lambda: (c := manifest(tmp_path).last_test_restore) and c.backup_id == hourly.id and c,
                       what="second test restore, of the newest backup")
    assert again.ok and again.at == start + 3720

    files = sorted(p.name for p in list_snapshots(tmp_path / "backups"))
    assert files == sorted(e.file for e in m.entries)  # the manifest lists exactly what is on disk
    assert all(verify_snapshot(tmp_path / "backups" / e.file, sha256=e.sha256) for e in m.entries)
    assert h.services.metrics.counter("backup.snapshots").value == 5
    assert h.services.metrics.counter("backup.test_restores").value == 2
    assert h.services.metrics.gauge("backup.test_restore_ok").value == 1


def test_backup_now_and_the_shutdown_helper_answer_with_the_backup(h, tmp_path):
    write(h, 3)
    done = h.ask("backup", BackupNow("escalation", "by hand"))
    assert type(done) is BackupDone and done.ok and done.tier == "escalation"
    assert Path(done.path).is_file()
    done = shutdown_backup(h.services, timeout_s=5.0)
    assert done.ok and done.tier == "shutdown" and done.detail == "clean shutdown"
    refused = h.ask("backup", BackupNow("weekly", ""))
    assert not refused.ok and "unknown tier" in refused.detail
    m = manifest(tmp_path)
    assert tiers(m) == ["escalation", "shutdown"]
    assert [e.reason for e in m.entries] == ["by hand", "clean shutdown"]
    assert shutdown_backup(h.services, 5.0, name="nobody").detail == "nobody is not running"


def test_a_restarted_actor_adopts_files_the_manifest_missed(tmp_path):
    h = Harness(specs(tmp_path))
    try:
        wait_until(lambda: h.bound("backup"), what="backup started")
        write(h, 2)
        first = h.ask("backup", BackupNow("daily", "")).path
        h.ask("backup", BackupNow("frequent", ""))
    finally:
        h.stop()
    # As if a crash fell between a snapshot's rename and the manifest write:
    folder = tmp_path / "backups"
    m = mf.load(folder)
    mf.save(folder, mf.remove(m, {m.entries[1].id}))
    h = Harness(specs(tmp_path))
    try:
        wait_until(lambda: len(mf.load(folder).entries) == 2, what="orphan adopted at start")
        assert tiers(mf.load(folder)) == ["daily", "unlisted"]  # no retention rule touches it
        assert mf.load(folder).entries[0].file == Path(first).name
    finally:
        h.stop()
    # An unreadable manifest is kept aside and the index rebuilt from the files and their sidecars.
    (folder / "manifest.json").write_text("{half a manifest")
    h = Harness(specs(tmp_path))
    try:
        wait_until(lambda: (folder / "manifest.json.unreadable").exists(), what="manifest set aside")
        rebuilt = wait_until(lambda: len(mf.load(folder).entries) == 2 and mf.load(folder), what="rebuilt")
        # a lost index never makes a daily backup a frequent one that retention would delete
        assert tiers(rebuilt) == ["unlisted", "unlisted"] and rebuilt.db_file == "perpsbot.db"
    finally:
        h.stop()


def test_an_escalation_takes_an_escalation_backup(tmp_path):
    children = specs(tmp_path) + [ChildSpec(name, Recorder) for name in ("venue", "execution", "strategy", "poison")]
    faults = FaultPlan([parse_fault("poison:crash:every=1", ("poison",))])
    h = Harness(children, SupervisorConfig(max_restarts=0, ping_interval_s=0.1, hang_timeout_s=0.5),
                faults=faults, supervisor_class=Orchestrator)
    try:
        wait_until(lambda: all(h.bound(s.name) for s in children), what="children started")
        write(h, 2)
        h.services.send("poison", "anything")
        wait_until(lambda: h.status()["escalations"] == 1, what="escalation")
        m = wait_until(lambda: (m := manifest(tmp_path)).entries and m, what="escalation backup")
        assert tiers(m) == ["escalation"]
        assert m.entries[0].reason.startswith("escalation: poison")
    finally:
        h.stop()
