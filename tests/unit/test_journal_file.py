"""open_journal(): where a start begins, on real files in a temporary data dir.

Invariants: a broken database is never deleted (it is moved aside as `<db>.corrupt-<stamp>` with
its bytes and companions intact); only a backup that verifies is restored, the newest such one;
a good journal is left exactly as it is; a start with nothing good to restore says so.
Backups are made the way the backup actor makes them (make_snapshot, then a manifest entry added
and the manifest saved)."""

from __future__ import annotations

import gzip
import hashlib
import sqlite3
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from actors.backup import catalog
from actors.backup import manifest as mf
from actors.backup.snapshot import make_snapshot, sidecar_path, verify_problem
from actors.journal.store import JournalStore
from actors.recovery.journal_file import BACKUP, EMPTY, JOURNAL, integrity_problem, open_journal
from domain.orders import Fill

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def add_fills(db: Path, first: int, count: int, decisions: int = 0) -> None:
    with JournalStore(db) as store:
        for i in range(first, first + count):
            store.record_fill(Fill(f"t{i}", f"pb-{i}", f"v{i}", "BIP-20DEC30-CDE", "BUY", Decimal("87000.5"),
                                   Decimal(1), Decimal("0.52"), "TAKER", T0 + i))
        for i in range(decisions):
            store.record_decision(T0 + i, "note", "x" * 200)


def fill_count(db: Path) -> int:
    conn = sqlite3.connect(db.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM fills").fetchone()[0]
    finally:
        conn.close()


def back_up(db: Path, now: float, tier: str = "frequent") -> mf.Entry:
    """As actors.backup.actor.BackupActor.take does: snapshot, entry, manifest add and save."""
    backups = db.parent / catalog.BACKUP_DIR
    info = make_snapshot(db, backups, now)
    entry = catalog.entry_for(info, tier, now, "test")
    mf.save(backups, mf.add(mf.load(backups), entry))
    return entry


def spoil_digest(db: Path, entry: mf.Entry) -> None:
    """Flip one byte of the snapshot: its SHA-256 no longer matches the manifest's."""
    path = db.parent / catalog.BACKUP_DIR / entry.file
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def spoil_content(db: Path, entry: mf.Entry) -> None:
    """A well-formed gzip whose digest is recorded everywhere, but not of a database: only the
    integrity check of what it decompresses to can refuse it."""
    backups = db.parent / catalog.BACKUP_DIR
    path = backups / entry.file
    path.write_bytes(gzip.compress(b"not a database at all " * 500, mtime=0))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    sidecar_path(path).write_text(f"{digest}  {path.name}\n", encoding="ascii")
    manifest = mf.load(backups)
    fixed = tuple(msgspec.structs.replace(e, sha256=digest) if e.id == entry.id else e for e in manifest.entries)
    mf.save(backups, msgspec.structs.replace(manifest, entries=fixed))


def garbage(db: Path) -> bytes:
    data = b"\x00garbage, not SQLite\xff" * 300
    db.write_bytes(data)
    return data


def truncated(db: Path) -> bytes:
    add_fills(db, 100, 200, decisions=300)  # enough pages that half of them are missing
    with db.open("r+b") as f:
        f.truncate(db.stat().st_size // 2)
    return db.read_bytes()


BREAKS = {"garbage": garbage, "truncated": truncated}


def asides(db: Path) -> list[Path]:
    """The databases moved aside (their -wal/-shm companions, if any, beside them)."""
    return sorted(p for p in db.parent.glob(f"{db.name}.corrupt-*") if not p.name.endswith(catalog.COMPANIONS))


@pytest.fixture
def db(tmp_path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    return data / "perpsbot.db"


# -- nothing broken --------------------------------------------------------------------------

def test_no_file_is_an_empty_start_and_creates_nothing(db):
    opened = open_journal(db)
    assert opened.started_from == EMPTY and opened.detail == "no database yet"
    assert opened.moved_aside == "" and opened.restored == ""
    assert list(db.parent.iterdir()) == []


def test_a_database_with_tables_but_no_rows_is_an_empty_start(db):
    JournalStore(db).close()
    opened = open_journal(db)
    assert opened.started_from == EMPTY and "nothing" in opened.detail
    assert asides(db) == []


def test_a_real_journal_with_rows_starts_from_itself_untouched_even_with_backups_beside_it(db):
    add_fills(db, 0, 3)
    back_up(db, T0)
    add_fills(db, 3, 2)
    before = db.read_bytes()
    opened = open_journal(db)
    assert opened.started_from == JOURNAL
    assert (opened.detail, opened.moved_aside, opened.restored) == ("", "", "")
    assert db.read_bytes() == before and fill_count(db) == 5  # not replaced by the older backup
    assert asides(db) == []


# -- a broken database -----------------------------------------------------------------------

@pytest.mark.parametrize("spoil", [spoil_digest, spoil_content], ids=["digest", "content"])
@pytest.mark.parametrize("how", sorted(BREAKS))
def test_a_broken_database_is_moved_aside_and_the_newest_verified_backup_restored(db, how, spoil):
    add_fills(db, 0, 3)
    good = back_up(db, T0)  # 3 fills
    add_fills(db, 3, 4)
    bad = back_up(db, T0 + 60)  # 7 fills, newer, then spoiled
    spoil(db, bad)
    backups = db.parent / catalog.BACKUP_DIR
    assert verify_problem(backups / bad.file, sha256=mf.find(mf.load(backups), bad.id).sha256) is not None
    bad_bytes = (backups / bad.file).read_bytes()
    broken = BREAKS[how](db)
    assert integrity_problem(db) is not None  # the fault is in place

    opened = open_journal(db)

    assert opened.started_from == BACKUP
    assert opened.restored == good.id  # the newer one failed verification and was skipped
    assert "corrupt journal" in opened.detail
    aside = Path(opened.moved_aside)
    assert aside.name.startswith(f"{db.name}.corrupt-") and aside.parent == db.parent
    assert asides(db) == [aside]
    assert aside.read_bytes() == broken  # kept, never deleted, byte for byte
    assert integrity_problem(db) is None and fill_count(db) == 3  # the good backup's content
    # the skipped backup is left as it was: recovery neither deletes nor repairs backups
    assert (backups / bad.file).read_bytes() == bad_bytes
    assert {e.id for e in mf.load(backups).entries} == {good.id, bad.id}


def test_a_broken_databases_wal_goes_aside_with_it_and_no_stale_wal_meets_the_restored_one(db):
    add_fills(db, 0, 2)
    good = back_up(db, T0)
    broken = garbage(db)
    wal = Path(f"{db}-wal")
    wal.write_bytes(b"stale wal bytes")
    opened = open_journal(db)
    assert opened.started_from == BACKUP and opened.restored == good.id
    aside = Path(opened.moved_aside)
    assert aside.read_bytes() == broken
    assert Path(f"{aside}-wal").read_bytes() == b"stale wal bytes"
    assert not wal.exists() or wal.read_bytes() != b"stale wal bytes"
    assert fill_count(db) == 2


def test_a_broken_database_with_no_backup_is_an_empty_start_that_says_so(db):
    broken = garbage(db)
    opened = open_journal(db)
    assert opened.started_from == EMPTY and opened.restored == ""
    assert "corrupt journal" in opened.detail and "no verified backup" in opened.detail
    assert Path(opened.moved_aside).read_bytes() == broken
    assert not db.exists()


def test_when_no_backup_verifies_the_start_is_empty_and_every_backup_is_kept(db):
    add_fills(db, 0, 2)
    first = back_up(db, T0)
    second = back_up(db, T0 + 30)
    spoil_digest(db, first)
    spoil_content(db, second)
    broken = truncated(db)
    opened = open_journal(db)
    assert opened.started_from == EMPTY and "no verified backup" in opened.detail
    assert Path(opened.moved_aside).read_bytes() == broken and not db.exists()
    backups = db.parent / catalog.BACKUP_DIR
    assert (backups / first.file).exists() and (backups / second.file).exists()


def test_a_second_broken_start_never_overwrites_the_first_aside(db):
    first = garbage(db)
    one = open_journal(db)
    second = b"again" + garbage(db)
    db.write_bytes(second)
    two = open_journal(db)
    assert one.moved_aside != two.moved_aside
    assert Path(one.moved_aside).read_bytes() == first and Path(two.moved_aside).read_bytes() == second
    assert len(asides(db)) == 2
