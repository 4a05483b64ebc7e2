"""Snapshots: online copy under concurrent writes, checksum, verification, retention, restore."""

from __future__ import annotations

import gzip
import hashlib
import sqlite3
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from actors.backup import snapshot as snap
from actors.backup.snapshot import (
    SnapshotError,
    list_snapshots,
    restore_snapshot,
    sidecar_path,
    take_snapshot,
    verify_snapshot,
)
from actors.journal.store import JournalStore
from domain.orders import Fill

NOW = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def fill(i: int) -> Fill:
    return Fill(
        trade_id=f"t{i}", client_order_id=f"c{i}", venue_order_id=f"v{i}", product_id="BTC-USD",
        side="BUY" if i % 2 else "SELL", price=Decimal("64000.01") + i, size=Decimal("0.0001"),
        fee=Decimal("0.0064"), liquidity="MAKER", ts=NOW + i,
    )


@pytest.fixture
def journal(tmp_path):
    path = tmp_path / "journal.db"
    with JournalStore(path) as store:
        for i in range(50):
            store.record_fill(fill(i))
        store.record_decision(NOW, "start", "paper")
    return path


def test_snapshot_name_sidecar_and_digest(journal, tmp_path):
    dest = tmp_path / "snaps"
    info = take_snapshot(journal, dest, now=NOW, keep=5)
    path = Path(info.path)
    assert path.name == "journal-20231114T221320Z-0001.db.gz"
    assert path.parent == dest
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sidecar_path(path).read_text() == f"{info.sha256}  {path.name}\n"
    assert info.size_bytes == path.stat().st_size
    assert info.source_bytes > 0 and info.duration_s >= 0
    assert verify_snapshot(path) is True
    assert list_snapshots(dest) == [path]
    # Only the snapshot and its sidecar are left: no work files.
    assert sorted(p.name for p in dest.iterdir()) == [path.name, path.name + ".sha256"]


def test_snapshot_while_another_connection_writes(tmp_path):
    path = tmp_path / "journal.db"
    JournalStore(path).close()
    started = threading.Event()
    stop = threading.Event()
    written = []
    errors = []

    def writer() -> None:
        try:
            with JournalStore(path) as store:
                for i in range(200_000):  # bounded; stops as soon as the snapshots are done
                    if stop.is_set():
                        break
                    store.record_decision(float(i), "tick", str(i))
                    written.append(i)
                    if i == 100:
                        started.set()
        except BaseException as exc:  # surfaced to the test thread below
            errors.append(exc)
            started.set()

    thread = threading.Thread(target=writer, name="journal-writer")
    thread.start()
    try:
        assert started.wait(timeout=5.0)
        infos = [take_snapshot(path, tmp_path / "snaps", now=NOW, keep=3) for _ in range(2)]
    finally:
        stop.set()
        thread.join(timeout=5.0)
    assert not thread.is_alive()
    assert errors == []
    for k, info in enumerate(infos):
        assert Path(info.path).name.endswith(f"-000{k + 1}.db.gz")
        assert verify_snapshot(info.path)
        restored = tmp_path / f"restored{k}.db"
        restore_snapshot(info.path, restored)
        conn = sqlite3.connect(restored)
        try:
            ids = [r[0] for r in conn.execute("SELECT id FROM decisions ORDER BY id")]
        finally:
            conn.close()
        # A consistent point in time: a gap-free prefix of what the writer committed.
        assert len(ids) > 100
        assert ids == list(range(1, len(ids) + 1))
        assert len(ids) <= len(written)


def test_corrupted_byte_fails_verification_and_restore(journal, tmp_path):
    info = take_snapshot(journal, tmp_path / "snaps", now=NOW, keep=5)
    path = Path(info.path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    assert verify_snapshot(path) is False
    with pytest.raises(SnapshotError):
        restore_snapshot(path, tmp_path / "restored.db")
    assert not (tmp_path / "restored.db").exists()


def test_missing_or_foreign_sidecar_fails_verification(journal, tmp_path):
    info = take_snapshot(journal, tmp_path / "snaps", now=NOW, keep=5)
    path = Path(info.path)
    side = sidecar_path(path)
    side.write_text(f"{info.sha256}  someone-else.db.gz\n")
    assert verify_snapshot(path) is False
    side.unlink()
    assert verify_snapshot(path) is False


def test_matching_digest_over_a_broken_database_fails_integrity(journal, tmp_path):
    info = take_snapshot(journal, tmp_path / "snaps", now=NOW, keep=5)
    path = Path(info.path)
    db_bytes = bytearray(gzip.decompress(path.read_bytes()))
    page_size = int.from_bytes(db_bytes[16:18], "big")
    # Scribble over the second page (a b-tree page), keep the header valid.
    db_bytes[page_size : page_size + 64] = b"\xff" * 64
    packed = gzip.compress(bytes(db_bytes))
    path.write_bytes(packed)
    sidecar_path(path).write_text(f"{hashlib.sha256(packed).hexdigest()}  {path.name}\n")
    assert verify_snapshot(path) is False


def test_failed_verification_leaves_nothing_claiming_to_be_good(journal, tmp_path, monkeypatch):
    real_compress = snap._compress

    def compress_then_disk_flips_a_bit(raw: Path, packed: Path) -> str:
        digest = real_compress(raw, packed)
        data = bytearray(packed.read_bytes())
        data[-20] ^= 0x80
        packed.write_bytes(bytes(data))
        return digest

    monkeypatch.setattr(snap, "_compress", compress_then_disk_flips_a_bit)
    dest = tmp_path / "snaps"
    with pytest.raises(SnapshotError, match="failed verification"):
        take_snapshot(journal, dest, now=NOW, keep=5)
    assert list(dest.iterdir()) == []


def test_retention_keeps_newest_n_with_their_sidecars(journal, tmp_path):
    dest = tmp_path / "snaps"
    for now in (NOW, NOW + 0.5, NOW + 1, NOW + 2, NOW + 3):
        take_snapshot(journal, dest, now=now, keep=3)
    names = [p.name for p in list_snapshots(dest)]
    assert names == [
        "journal-20231114T221321Z-0001.db.gz",
        "journal-20231114T221322Z-0001.db.gz",
        "journal-20231114T221323Z-0001.db.gz",
    ]
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        names + [n + ".sha256" for n in names]
    )


def test_same_second_snapshots_get_increasing_counters(journal, tmp_path):
    dest = tmp_path / "snaps"
    take_snapshot(journal, dest, now=NOW, keep=5)
    take_snapshot(journal, dest, now=NOW + 0.9, keep=5)
    assert [p.name for p in list_snapshots(dest)] == [
        "journal-20231114T221320Z-0001.db.gz",
        "journal-20231114T221320Z-0002.db.gz",
    ]


def test_clock_step_back_never_deletes_the_snapshot_just_taken(journal, tmp_path):
    dest = tmp_path / "snaps"
    take_snapshot(journal, dest, now=NOW + 10, keep=2)
    take_snapshot(journal, dest, now=NOW + 20, keep=2)
    info = take_snapshot(journal, dest, now=NOW, keep=2)
    assert [p.name for p in list_snapshots(dest)] == [
        "journal-20231114T221320Z-0001.db.gz",
        "journal-20231114T221340Z-0001.db.gz",
    ]
    assert verify_snapshot(info.path)


def test_restore_gives_the_same_rows(journal, tmp_path):
    info = take_snapshot(journal, tmp_path / "snaps", now=NOW, keep=5)
    restored = tmp_path / "restored" / "journal.db"
    restore_snapshot(info.path, restored)
    with JournalStore(journal) as original, JournalStore(restored) as copy:
        assert copy.fills() == original.fills()
        assert copy.counts() == original.counts()
        assert copy.counts()["fills"] == 50
        assert copy.journal_mode() == "wal"


def test_restore_refuses_to_replace_unless_told(journal, tmp_path):
    info = take_snapshot(journal, tmp_path / "snaps", now=NOW, keep=5)
    target = tmp_path / "target.db"
    with JournalStore(target) as other:
        other.record_decision(1.0, "other")
    with pytest.raises(SnapshotError, match="already exists"):
        restore_snapshot(info.path, target)
    restore_snapshot(info.path, target, overwrite=True)
    with JournalStore(target) as copy:
        assert copy.counts()["fills"] == 50
        assert copy.counts()["decisions"] == 1  # the snapshot's, not the replaced database's


def test_bad_arguments(journal, tmp_path):
    with pytest.raises(ValueError):
        take_snapshot(journal, tmp_path / "snaps", now=NOW, keep=0)
    with pytest.raises(SnapshotError):
        take_snapshot(tmp_path / "missing.db", tmp_path / "snaps", now=NOW, keep=1)
    assert list_snapshots(tmp_path / "nowhere") == []
