"""The backup manifest (format, atomic save, pure edits), finding backups on disk, the test-restore
verdict and backup health, on hand-worked times."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from actors.backup import catalog
from actors.backup import manifest as mf
from actors.backup.health import backup_health
from actors.backup.restore_check import compare
from actors.backup.restore_check import test_restore as run_test_restore
from actors.backup.snapshot import make_snapshot, take_snapshot
from actors.journal.store import JournalStore
from domain.orders import Fill

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def entry(i: int, tier: str = "frequent", created: float = T0, **kw) -> mf.Entry:
    return mf.Entry(id=f"20231114T221320Z-{i:04d}", tier=tier, file=f"journal-20231114T221320Z-{i:04d}.db.gz",
                    created=created, created_iso=mf.iso(created), size=100 + i, sha256="ab" * 32,
                    source_bytes=4096, row_counts={"fills": i}, **kw)


@pytest.fixture
def journal(tmp_path):
    path = tmp_path / "perpsbot.db"
    with JournalStore(path) as store:
        for i in range(20):
            store.record_fill(Fill(trade_id=f"t{i}", client_order_id=f"c{i}", venue_order_id=f"v{i}",
                                   product_id="BTC-USD", side="BUY", price=Decimal("64000.01"),
                                   size=Decimal("0.0001"), fee=Decimal("0.0064"), liquidity="MAKER", ts=T0 + i))
        store.record_decision(T0, "start", "paper")
    return path


# -- manifest -------------------------------------------------------------------------------


def test_iso_is_utc_with_milliseconds():
    assert mf.iso(T0) == "2023-11-14T22:13:20.000Z"
    assert mf.iso(T0 + 0.25) == "2023-11-14T22:13:20.250Z"


def test_save_then_load_round_trips_and_leaves_no_temp_file(tmp_path):
    check = mf.RestoreCheck(at=T0 + 60, at_iso=mf.iso(T0 + 60), backup_id=entry(1).id, ok=True, detail="ok",
                            row_counts={"snapshot": {"fills": 1}, "restored": {"fills": 1}, "live": {"fills": 3}})
    m = mf.Manifest(db_file="perpsbot.db", interval_s=30.0, test_restore_interval_s=3600.0,
                    entries=(entry(1), entry(2, "daily", T0 + 30)), last_test_restore=check)
    mf.save(tmp_path, m)
    assert mf.load(tmp_path) == m
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]
    raw = json.loads((tmp_path / "manifest.json").read_text())
    assert set(raw) == {"version", "db_file", "interval_s", "test_restore_interval_s", "entries", "last_test_restore"}
    assert set(raw["entries"][0]) == {"id", "tier", "file", "created", "created_iso", "size", "sha256",
                                      "source_bytes", "row_counts", "reason"}
    assert raw["entries"][1]["created_iso"] == "2023-11-14T22:13:50.000Z"
    assert raw["last_test_restore"]["row_counts"]["live"] == {"fills": 3}


def test_load_of_nothing_is_empty_and_of_garbage_is_one_line(tmp_path):
    assert mf.load(tmp_path) == mf.Manifest()
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(mf.ManifestError, match="not a valid manifest"):
        mf.load(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"version": 99}))
    with pytest.raises(mf.ManifestError, match="newer"):
        mf.load(tmp_path)


def test_a_failed_save_keeps_the_old_manifest_and_no_temp(tmp_path, monkeypatch):
    mf.save(tmp_path, mf.Manifest(entries=(entry(1),)))

    def boom(*_a):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        mf.save(tmp_path, mf.Manifest())
    monkeypatch.undo()
    assert mf.load(tmp_path).entries == (entry(1),)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_pure_edits():
    m = mf.add(mf.Manifest(), entry(2, created=T0 + 30))
    m = mf.add(m, entry(1))
    assert [e.id for e in m.entries] == [entry(1).id, entry(2).id]  # oldest first
    with pytest.raises(ValueError):
        mf.add(m, entry(1))
    assert mf.find(m, entry(2).id) == entry(2, created=T0 + 30)
    assert mf.find(m, entry(1).file) == entry(1)
    assert mf.find(m, "nope") is None
    assert mf.remove(m, {entry(1).id}).entries == (entry(2, created=T0 + 30),)
    check = mf.RestoreCheck(at=T0, at_iso=mf.iso(T0), backup_id="x", ok=False, detail="bad")
    assert mf.with_test_restore(m, check).last_test_restore == check
    assert m.last_test_restore is None  # a new value, the old untouched


# -- catalog --------------------------------------------------------------------------------


def test_locate_prefers_dir_backups_else_the_run_whose_backups_changed_last(tmp_path):
    assert catalog.locate(tmp_path) is None
    old, new = tmp_path / "paper-20240101T000000-seed1", tmp_path / "replay-20230101T000000-seed1"
    for run, mtime in ((old, T0), (new, T0 + 100)):
        (run / "backups").mkdir(parents=True)
        os.utime(run / "backups", (mtime, mtime))
    assert catalog.locate(tmp_path) == new / "backups"
    (tmp_path / "backups").mkdir()
    assert catalog.locate(tmp_path) == tmp_path / "backups"


def test_db_path_from_the_manifest_else_the_only_db(tmp_path):
    backups = tmp_path / "backups"
    assert catalog.db_path(backups, mf.Manifest(db_file="j.db")) == tmp_path / "j.db"
    assert catalog.db_path(backups, mf.Manifest()) == tmp_path / "perpsbot.db"
    (tmp_path / "other.db").write_bytes(b"")
    assert catalog.db_path(backups, mf.Manifest()) == tmp_path / "other.db"


def test_unlisted_files_with_a_sidecar_are_found(journal, tmp_path):
    backups = tmp_path / "backups"
    listed = make_snapshot(journal, backups, T0)
    loose = take_snapshot(journal, backups, T0 + 61, keep=5)
    no_sidecar = make_snapshot(journal, backups, T0 + 122)
    Path(no_sidecar.path + ".sha256").unlink()
    m = mf.add(mf.Manifest(), catalog.entry_for(listed, "daily", T0))
    found = catalog.unlisted(backups, m, tier="frequent")
    assert [(e.id, e.tier, e.created, e.sha256, e.size) for e in found] == [
        ("20231114T221421Z-0001", "frequent", T0 + 61, loose.sha256, loose.size_bytes)]


# -- test restore ---------------------------------------------------------------------------


def test_compare_counts():
    assert compare({"a": 1, "b": 2}, {"a": 1, "b": 2}, {"a": 1, "b": 5}) == []
    assert compare({}, {"a": 1}, {"a": 1}) == []  # no recorded counts: only restored <= live
    assert compare({"a": 1}, {"a": 2}, {"a": 9}) == ["restored counts differ from the snapshot's: a 2 != 1"]
    assert compare({"a": 3}, {"a": 3}, {"a": 2}) == ["a: restored 3 > live 2"]
    assert compare({"a": 3}, {"a": 3}, {}) == ["a is not in the live database"]


def test_test_restore_of_a_good_backup_while_the_journal_grows(journal, tmp_path):
    backups = tmp_path / "backups"
    info = make_snapshot(journal, backups, T0)
    assert info.row_counts["fills"] == 20 and info.row_counts["decisions"] == 1
    e = catalog.entry_for(info, "frequent", T0)
    with JournalStore(journal) as store:
        store.record_decision(T0 + 1, "later", "after the snapshot")
    result = run_test_restore(backups, e, journal, T0 + 5)
    assert result.ok, result.detail
    assert result.at == T0 + 5 and result.backup_id == e.id
    assert result.row_counts["snapshot"] == result.row_counts["restored"] == info.row_counts
    assert result.row_counts["live"]["decisions"] == 2
    assert sorted(p.name for p in backups.iterdir()) == sorted([Path(info.path).name, Path(info.path).name + ".sha256"])


def test_test_restore_fails_on_corruption_wrong_counts_or_a_missing_file(journal, tmp_path):
    backups = tmp_path / "backups"
    info = make_snapshot(journal, backups, T0)
    e = catalog.entry_for(info, "frequent", T0)
    wrong = mf.Entry(**{**{f: getattr(e, f) for f in e.__struct_fields__}, "row_counts": {"fills": 19}})
    result = run_test_restore(backups, wrong, journal, T0)
    assert not result.ok and "differ from the snapshot" in result.detail
    data = bytearray(Path(info.path).read_bytes())
    data[len(data) // 2] ^= 0xFF
    Path(info.path).write_bytes(bytes(data))
    result = run_test_restore(backups, e, journal, T0)
    assert not result.ok and "sha256" in result.detail
    Path(info.path).unlink()
    assert "missing" in run_test_restore(backups, e, journal, T0).detail
    assert [p.name for p in backups.iterdir()] == [Path(info.path).name + ".sha256"]  # no temp left


# -- health ---------------------------------------------------------------------------------


def test_health_of_a_healthy_dir(tmp_path):
    (tmp_path / "journal-20231114T221320Z-0001.db.gz").write_bytes(b"x")
    (tmp_path / "journal-20231114T221320Z-0002.db.gz").write_bytes(b"x")
    check = mf.RestoreCheck(at=T0 + 40, at_iso=mf.iso(T0 + 40), backup_id=entry(2).id, ok=True, detail="ok")
    mf.save(tmp_path, mf.Manifest(interval_s=30.0, test_restore_interval_s=3600.0, last_test_restore=check,
                                  entries=(entry(1, "daily"), entry(2, "frequent", T0 + 30))))
    h = backup_health(tmp_path, now=T0 + 60)
    assert h == {"count": 2, "newest_id": entry(2).id, "newest_at": T0 + 30, "newest_age_s": 30.0,
                 "per_tier": {"daily": 1, "frequent": 1}, "last_test_restore": mf.to_dict(check), "problems": []}


def test_health_problems(tmp_path):
    assert backup_health(tmp_path / "nowhere", T0)["problems"] == [f"no backup directory {tmp_path / 'nowhere'}"]
    (tmp_path / "manifest.json").write_text("[]")
    assert backup_health(tmp_path, T0)["problems"][0].startswith("manifest unreadable")
    check = mf.RestoreCheck(at=T0, at_iso=mf.iso(T0), backup_id=entry(1).id, ok=False, detail="integrity_check: x")
    mf.save(tmp_path, mf.Manifest(interval_s=30.0, test_restore_interval_s=3600.0, entries=(entry(1),),
                                  last_test_restore=check))
    problems = backup_health(tmp_path, now=T0 + 91)["problems"]
    assert problems == [
        f"newest backup {entry(1).id} is 91s old (more than 3x the 30s interval)",
        f"1 backup file(s) missing: {entry(1).id}",
        f"last test restore ({entry(1).id} at 2023-11-14T22:13:20.000Z) failed: integrity_check: x",
    ]
    assert backup_health(tmp_path, now=T0 + 90)["problems"][0].startswith("1 backup file(s) missing")
    mf.save(tmp_path, mf.Manifest(interval_s=30.0))
    assert backup_health(tmp_path, T0)["problems"] == ["no backups yet"]


def test_health_counts_snapshot_files_the_manifest_does_not_list(journal, tmp_path):
    backups = tmp_path / "backups"
    take_snapshot(journal, backups, T0, keep=5)  # the old layout: files and sidecars, no manifest
    take_snapshot(journal, backups, T0 + 1, keep=5)
    h = backup_health(backups, now=T0 + 10)
    assert h["count"] == 2 and h["per_tier"] == {"unlisted": 2}
    assert h["newest_id"] == "20231114T221321Z-0001" and h["newest_age_s"] == 9.0
    assert h["problems"] == ["2 backup file(s) not in the manifest (tier unlisted)"]
