"""A read-only reader of the journal, for tools outside the run (`bin/perpsbot status`).

Owns finding the journal in a data dir (a `*.db` directly in it, else the newest run directory
holding one) and reading the operator's view of it: trading state and its history, positions,
open and held orders, the latest events. It reads through its own read-only connection
(`mode=ro`) inside one read transaction, so every section comes from the same moment while the
journal actor keeps writing in WAL mode. Money stays the exact TEXT the journal stored.

Must never: write to the journal, change its journal mode or schema, or be used by a running tree
(the journal actor is the database's one owner). SQLite may create the `-wal`/`-shm` side files
a WAL reader needs; that is SQLite's doing, not a write to the journal.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from actors.journal.store import SCHEMA_VERSION, TERMINAL_STATUSES

EVENTS = 20  # the last N journal events shown
STATE_HISTORY = 10
_SOURCES = ("decision", "supervision", "order", "fill")  # tie-break order at equal ts


class JournalNotFound(Exception):
    """No journal where one was looked for; the message is one line naming where."""


class JournalUnreadable(Exception):
    """The file is there but is not a journal SQLite can read (corrupt, not a database, locked)."""


@dataclass(frozen=True)
class Located:
    db: Path
    note: str  # how it was chosen, when there was a choice ("" otherwise)


def iso(ts: float | None) -> str | None:
    """UTC ISO-8601 with milliseconds and a Z, or None."""
    if ts is None:
        return None
    try:
        return datetime.fromtimestamp(float(ts), timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"
    except (OverflowError, OSError, ValueError, TypeError):
        return str(ts)


def _modified(db: Path) -> float:
    """When the journal last changed: a WAL journal's main file moves only at checkpoints."""
    times = []
    for path in (db, db.with_name(db.name + "-wal")):
        try:
            times.append(path.stat().st_mtime)
        except OSError:
            pass
    return max(times, default=0.0)


def _journals(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.glob("*.db") if p.is_file()]
    except OSError:
        return []


def locate(data_dir: Path, run_dir: Path | None = None) -> Located:
    """The journal to read: in `run_dir` (the running process's) if it holds one, else a `*.db`
    directly in `data_dir`, else the newest run directory under it holding one. The most recently
    modified wins a choice, and the note says what was chosen from."""
    if run_dir is not None and run_dir.is_dir():
        found = sorted(_journals(run_dir), key=lambda p: (_modified(p), p.name))
        if found:
            return Located(found[-1], f"the running process's journal in {run_dir}")
    if not data_dir.is_dir():
        raise JournalNotFound(f"data dir {data_dir} does not exist")
    direct = sorted(_journals(data_dir), key=lambda p: (_modified(p), p.name))
    if direct:
        note = f"newest of {len(direct)} journals in {data_dir}" if len(direct) > 1 else ""
        return Located(direct[-1], note)
    runs = []
    try:
        folders = [p for p in data_dir.iterdir() if p.is_dir()]
    except OSError as exc:
        raise JournalNotFound(f"cannot list data dir {data_dir}: {exc.strerror or exc}") from None
    for folder in folders:
        for db in _journals(folder):
            runs.append((_modified(db), folder.name, db.name, db))
    if not runs:
        raise JournalNotFound(f"no journal (*.db) in {data_dir} or its run directories")
    runs.sort()
    db = runs[-1][3]
    count = len({r[1] for r in runs})
    return Located(db, f"newest of {count} run directories: {db.parent.name}" if count > 1
                   else f"run directory {db.parent.name}")


def _is_zero(text: str) -> bool:
    try:
        return Decimal(text) == 0
    except (InvalidOperation, TypeError):
        return False


def _body(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _state(detail: str | None) -> tuple[str, str]:
    state, _, reason = (detail or "").partition(":")
    return state.strip(), reason.strip()


class _Read:
    """One read transaction's sections; a missing table (an older schema) is a problem, not a stop."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.problems: list[str] = []

    def rows(self, section: str, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            return self.db.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such" not in str(exc):
                raise
            self.problems.append(f"{section}: {exc}")
            return []

    def states(self) -> list[dict[str, Any]]:
        rows = self.rows("trading state", "SELECT ts, detail FROM decisions WHERE kind = 'trading_state'"
                         " ORDER BY id DESC LIMIT ?", (STATE_HISTORY,))
        return [{"ts": ts, "time": iso(ts), "state": _state(d)[0], "reason": _state(d)[1]}
                for ts, d in reversed(rows)]

    def positions(self, include_flat: bool) -> dict[str, dict[str, Any]]:
        rows = self.rows("positions", "SELECT product_id, size, entry, realized_pnl, updated_at FROM positions"
                         " ORDER BY product_id")
        return {p: {"size": s, "entry": e, "realized_pnl": r, "updated_at": u}
                for p, s, e, r, u in rows if include_flat or not _is_zero(s)}

    def open_orders(self) -> list[dict[str, Any]]:
        terminal = sorted(TERMINAL_STATUSES)
        rows = self.rows(
            "open orders",
            "SELECT o.client_order_id, o.intent_id, o.product_id, o.side, o.order_type, o.size, o.limit_price,"
            " o.status, o.created_at, o.updated_at, e.venue_order_id, e.filled_size, e.leaves_size"
            " FROM orders o LEFT JOIN order_events e ON e.id ="
            " (SELECT max(id) FROM order_events WHERE client_order_id = o.client_order_id)"
            f" WHERE o.status NOT IN ({', '.join('?' * len(terminal))}) ORDER BY o.created_at, o.client_order_id",
            tuple(terminal))
        keys = ("client_order_id", "intent_id", "product_id", "side", "order_type", "size", "limit_price",
                "status", "created_at", "updated_at", "venue_order_id", "filled_size", "leaves_size")
        return [dict(zip(keys, row)) for row in rows]

    def held_orders(self) -> list[dict[str, Any]]:
        rows = self.rows("held orders", "SELECT key, kind, body, ts FROM held_orders ORDER BY ts, key")
        return [{"key": k, "kind": kind, "ts": ts, "time": iso(ts), "body": _body(body)}
                for k, kind, body, ts in rows]

    def events(self, limit: int) -> list[dict[str, Any]]:
        found: list[tuple[float, int, int, dict[str, Any]]] = []

        def add(source: str, rowid: int, ts: float | None, kind: str, text: str) -> None:
            key = float("-inf") if ts is None else float(ts)
            found.append((key, _SOURCES.index(source), rowid,
                          {"ts": ts, "time": iso(ts), "source": source, "kind": kind, "text": text}))

        newest = "ORDER BY rowid DESC LIMIT ?"  # the latest written, without scanning the table
        for rowid, ts, kind, detail in self.rows(
                "decisions", f"SELECT rowid, ts, kind, detail FROM decisions {newest}", (limit,)):
            add("decision", rowid, ts, kind, detail or "")
        for rowid, ts, kind, child, epoch, detail in self.rows(
                "supervision events",
                f"SELECT rowid, ts, kind, child, epoch, detail FROM supervision_events {newest}", (limit,)):
            add("supervision", rowid, ts, kind, f"{child} epoch {epoch}" + (f": {detail}" if detail else ""))
        for rowid, ts, coid, venue_id, status, filled, leaves, reason in self.rows(
                "order events", "SELECT rowid, ts, client_order_id, venue_order_id, status, filled_size,"
                f" leaves_size, reason FROM order_events {newest}", (limit,)):
            add("order", rowid, ts, status, f"{coid} venue {venue_id or '-'} filled {filled} leaves {leaves}"
                + (f" ({reason})" if reason else ""))
        for rowid, ts, trade, coid, product, side, price, size, fee, liquidity in self.rows(
                "fills", "SELECT rowid, ts, trade_id, client_order_id, product_id, side, price, size, fee,"
                f" liquidity FROM fills {newest}", (limit,)):
            words = (product, side, size, "@", price, "fee", fee, liquidity, coid, "trade", trade)
            add("fill", rowid, ts, "fill", " ".join(str(w) for w in words if w))
        found.sort(key=lambda item: item[:3])
        return [item[3] for item in found[-limit:]] if limit > 0 else []


def read_journal(path: Path, *, events: int = EVENTS, include_flat: bool = False,
                 timeout_s: float = 2.0) -> dict[str, Any]:
    """The operator's view of the journal at `path`, as plain JSON-ready values (money as text).
    Raises JournalNotFound if the file is missing, JournalUnreadable if SQLite cannot read it."""
    if not path.is_file():
        raise JournalNotFound(f"journal {path} not found")
    try:
        db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=timeout_s,
                             isolation_level=None)
    except sqlite3.Error as exc:
        raise JournalUnreadable(f"journal {path} cannot be opened: {exc}") from None
    try:
        db.execute("BEGIN")  # one snapshot for every section, however the writer moves on
        read = _Read(db)
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            read.problems.append(f"schema version {version} is newer than this reader knows ({SCHEMA_VERSION})")
        history = read.states()
        view = {
            "schema_version": version,
            "trading_state": history[-1]["state"] if history else None,
            "state_reason": history[-1]["reason"] if history else None,
            "state_since": history[-1]["ts"] if history else None,
            "state_history": history,
            "positions": read.positions(include_flat),
            "open_orders": read.open_orders(),
            "held_orders": read.held_orders(),
            "events": read.events(events),
            "problems": read.problems,
        }
        db.execute("ROLLBACK")
        return view
    except sqlite3.Error as exc:
        raise JournalUnreadable(f"journal {path} is unreadable: {exc}") from None
    finally:
        db.close()
