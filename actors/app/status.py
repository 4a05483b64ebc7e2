"""`bin/perpsbot status`: what a data dir's journal says, whether or not a process is running.

Owns the command's arguments and output: the trading state and its reason, who holds the data dir
(its OS lock, the one `runtime.data_dir` keeps), positions, open and held orders, the last journal
events and the backups' health, as aligned text or one JSON object (`--json`, keys below are a
contract: add, never rename). Exit 0 when shown; 2 on bad arguments, no journal, or a journal that
cannot be read (what could still be shown is printed, the problem is one line on stderr).
Must never: write to the journal or the data dir (reads go through actors.journal.reader), take
the data dir's lock, or print a secret from the lock file.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from actors.journal.reader import (
    EVENTS,
    JournalNotFound,
    JournalUnreadable,
    iso,
    locate,
    read_journal,
)
from runtime.data_dir import LOCK_FILE, DataDirError
from runtime.data_dir import holder as data_dir_holder

EXIT_OK, EXIT_ERROR = 0, 2
BACKUP_DIR = "backups"  # beside the journal: DIR/backups, or DIR/<run>/backups
_SECRET = re.compile(r"secret|token|password|passphrase|private|credential|pem", re.IGNORECASE)
_LABEL = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", metavar="DIR",
                        help="the data dir: its journal, backups and lock (default: data, or the"
                             " --db file's data dir)")
    parser.add_argument("--db", metavar="PATH", help="read this journal file instead of finding one")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--all", action="store_true", help="include flat (zero-size) positions")


def data_dir_of(args: argparse.Namespace) -> Path:
    """--data-dir; else the folder of --db holding the lock (its own, or its run's parent); else data."""
    if args.data_dir is not None:
        return Path(args.data_dir)
    if args.db is None:
        return Path("data")
    folder = Path(args.db).parent
    return folder.parent if (folder.parent / LOCK_FILE).exists() and not (folder / LOCK_FILE).exists() else folder


def _holder(data_dir: Path, problems: list[str]) -> dict[str, Any] | None:
    try:
        info = data_dir_holder(data_dir)
    except DataDirError as exc:
        problems.append(str(exc))
        return None
    if info is None:
        return None
    return {k: ("***" if _SECRET.search(str(k)) else v) for k, v in info.items()}


def _run_dir(data_dir: Path, held: dict[str, Any] | None) -> Path | None:
    text = (held or {}).get("run_dir")
    if not isinstance(text, str) or not text:
        return None
    path = Path(text)
    return path if path.is_absolute() or path.is_dir() else data_dir / path.name


def _stamp(name: str) -> float | None:
    match = re.match(r"^journal-(\d{8}T\d{6}Z)-", name)
    if not match:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()


def _listed_backups(folder: Path, now: float) -> dict[str, Any]:
    """Without actors.backup.health: count the snapshot files and date the newest by its name."""
    from actors.backup.snapshot import list_snapshots

    snapshots = list_snapshots(folder)
    newest = snapshots[-1] if snapshots else None
    at = None
    if newest is not None:
        at = _stamp(newest.name)
        if at is None:
            try:
                at = newest.stat().st_mtime
            except OSError:
                at = None
    newest_id = newest.name[len("journal-"):-len(".db.gz")] if newest else None  # as snapshot_id names it
    return {"count": len(snapshots), "newest_id": newest_id, "newest_at": at,
            "newest_age_s": None if at is None else round(now - at, 3), "per_tier": {},
            "last_test_restore": None, "problems": []}


def backups(folder: Path, now: float) -> dict[str, Any]:
    from actors.backup.health import backup_health

    try:
        report = dict(backup_health(folder, now))
    except Exception as exc:  # noqa: BLE001 - a health bug must not hide the rest of the status
        report = _listed_backups(folder, now)
        report["problems"] = [*report["problems"], f"backup health failed: {type(exc).__name__}: {exc}"]
    return {"dir": str(folder), **report}


def collect(args: argparse.Namespace, now: float) -> tuple[dict[str, Any], str | None]:
    """The status object, and the one-line error when the journal could not be read."""
    data_dir = data_dir_of(args)
    problems: list[str] = []
    held = _holder(data_dir, problems)
    pid = held.get("pid") if held else None
    if args.db is not None:
        found_db, note = Path(args.db), ""
    else:
        try:
            located = locate(data_dir, _run_dir(data_dir, held))
        except JournalNotFound as exc:
            raise JournalNotFound(f"{exc}" + (f" (pid {pid} holds {data_dir})" if held else "")) from None
        found_db, note = located.db, located.note
    error = None
    try:
        view = read_journal(found_db, events=EVENTS, include_flat=args.all)
    except JournalUnreadable as exc:
        error = str(exc)
        view = {"schema_version": None, "trading_state": None, "state_reason": None, "state_since": None,
                "state_history": [], "positions": {}, "open_orders": [], "held_orders": [], "events": [],
                "problems": [error]}
    status = {
        "data_dir": str(data_dir), "db": str(found_db), "db_note": note,
        "pid": pid if isinstance(pid, int) else None, "holder": held,
        "trading_state": view["trading_state"], "state_reason": view["state_reason"],
        "state_since": view["state_since"], "state_history": view["state_history"],
        "positions": view["positions"], "open_orders": view["open_orders"], "held_orders": view["held_orders"],
        "events": view["events"], "backups": backups(found_db.parent / BACKUP_DIR, now),
        "schema_version": view["schema_version"], "problems": problems + view["problems"],
    }
    return status, error


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _held_summary(body: Any) -> str:
    if not isinstance(body, dict):
        return str(body)[:80]
    words = [str(body.get(k)) for k in ("product_id", "side", "size") if body.get(k) is not None]
    words += [f"{k.split('_')[0]} {body[k]}" for k in ("stop_price", "limit_price") if body.get(k) is not None]
    return " ".join(words) or json.dumps(body)[:80]


def render(s: dict[str, Any], now: float) -> str:
    lines: list[str] = []

    def line(label: str, text: str) -> None:
        lines.append(f"{label:<{_LABEL}}{text}".rstrip())

    if s["trading_state"] is None:
        line("state", "unknown (no trading state in the journal)")
    else:
        line("state", f"{s['trading_state']}: {s['state_reason'] or '-'} (since {iso(s['state_since'])})")
    held = s["holder"]
    if held is None:
        line("pid", f"no process holds {s['data_dir']}")
    else:
        extra = ", ".join(f"{k} {held[k]}" for k in ("mode", "run_dir") if held.get(k))
        started = held.get("started")
        if isinstance(started, (int, float)):
            extra += f"{', ' if extra else ''}since {iso(started)}"
        line("pid", f"{held.get('pid')} holds {s['data_dir']}" + (f" ({extra})" if extra else ""))
    schema = "?" if s["schema_version"] is None else s["schema_version"]
    line("journal", f"{s['db']} (schema {schema})" + (f"; {s['db_note']}" if s["db_note"] else ""))
    label = "positions"
    for product, p in s["positions"].items():
        line(label, f"{product}  size {p['size']}  entry {p['entry']}  realized {p['realized_pnl']}"
                    f"  (updated {iso(p['updated_at'])})")
        label = ""
    if label:
        line(label, "none")
    label = "orders"
    for o in s["open_orders"]:
        price = f" @ {o['limit_price']}" if o["limit_price"] else ""
        filled = f"  filled {o['filled_size']}" if o["filled_size"] is not None else ""
        line(label, f"{o['client_order_id']}  {o['product_id']} {o['side']} {o['order_type']} {o['size']}{price}"
                    f"  {o['status']}{filled}")
        label = ""
    for h in s["held_orders"]:
        line(label, f"{h['key']}  {h['kind']} held locally: {_held_summary(h['body'])}")
        label = ""
    if label:
        line(label, "none open")
    b = s["backups"]
    if b.get("count"):
        text = f"{b['count']} snapshots, newest {b.get('newest_id')} ({_age(b.get('newest_age_s'))} old)"
        tiers = b.get("per_tier") or {}
        if tiers:
            text += "; " + ", ".join(f"{tier} {n}" for tier, n in tiers.items())
        restore = b.get("last_test_restore")
        if isinstance(restore, dict):
            verdict = "ok" if restore.get("ok") else "FAILED"
            text += (f"; last test restore {restore.get('at_iso')} of {restore.get('backup_id')}: {verdict}"
                     f" ({restore.get('detail')})")
        line("backups", text)
    else:
        line("backups", f"none in {b['dir']}")
    for problem in b.get("problems") or ():
        line("", f"backup problem: {problem}")
    line("events", f"last {len(s['events'])}, newest last" if s["events"] else "none")
    for e in s["events"]:
        lines.append(f"  {e['time']}  {e['source']:<11} {e['kind']:<16} {e['text']}".rstrip())
    for problem in s["problems"]:
        line("problem", problem)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    now = time.time()
    try:
        status, error = collect(args, now)
    except JournalNotFound as exc:
        return _fail(str(exc))
    print(json.dumps(status, indent=2, default=str) if args.json else render(status, now))
    if error is not None:
        return _fail(error)
    return EXIT_OK


def _fail(message: str) -> int:
    print(f"perpsbot: error: {message}", file=sys.stderr)
    return EXIT_ERROR
