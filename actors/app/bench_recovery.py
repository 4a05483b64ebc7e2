"""`bench`'s recovery figures: how long a start takes to rebuild trading-ready state from a big
journal, and what the write-ahead of every order costs the order path.

Owns two workloads. `recovery`: a journal of N fills (with their orders) is written once, then a
start's work on it is timed: the database checked (integrity) and read, the portfolio's ledger
replayed from its fills, the gateway's per-order seed, and the reconciliation against a venue that
agrees (no venue round trips: they are the network's time, not ours). `journal_overhead`: three paper
sessions one after the other, with each order's intent written to execution's intent log before it
is sent (the default), without the intent log, and with it again; their tick-to-order p50 and the
ratio of the two with-runs' mean to the without-run. Must never touch a data dir but its own
temporary one.
"""

from __future__ import annotations

import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from actors.app.recovery import read_journal
from actors.app.tree import StartState
from actors.journal.store import JournalStore
from actors.portfolio.ledger import Ledger
from actors.recovery.journal_file import open_journal
from actors.recovery.reconcile import VenueView, reconcile
from domain.orders import Fill, net_positions
from domain.products import CATALOG

RECOVERY_FILLS = 100_000
PRODUCT = "BIP-20DEC30-CDE"


def _write_journal(db: Path, n: int) -> None:
    with JournalStore(db) as store, store.transaction():
        for i in range(n):
            side = "BUY" if i % 2 == 0 else "SELL"
            coid, vid = f"pb-{i:024x}", f"v-{i}"
            store.record_order(client_order_id=coid, intent_id=f"bench:{i}", product_id=PRODUCT, side=side,
                               order_type="market", size=Decimal(1), limit_price=None, status="FILLED", ts=i)
            store.record_fill(Fill(f"{vid}:1", coid, vid, PRODUCT, side, Decimal(90000 + i % 500), Decimal(1),
                                   Decimal("0.9"), "TAKER", float(i)))


def measure_recovery(n: int = RECOVERY_FILLS) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="perpsbot-bench-") as tmp:
        db = Path(tmp) / "perpsbot.db"
        _write_journal(db, n)
        started = time.perf_counter()
        opened = open_journal(db)
        journal = read_journal(db)
        ledger = Ledger(Decimal(100_000), {PRODUCT: CATALOG[PRODUCT]})
        for fill in journal.fills:
            ledger.on_fill(fill)
        seed = StartState(fills=journal.fills).reported()
        venue = VenueView(journal.fills, (), dict(net_positions(journal.fills)))
        result = reconcile(journal, venue, {PRODUCT}, {PRODUCT})
        seconds = time.perf_counter() - started
    if opened.started_from != "journal" or len(seed) != n or not result.clean or result.inferred:
        raise RuntimeError(f"recovery bench: rebuilt state is wrong ({opened.started_from}, {len(seed)} orders)")
    return {"fills": len(journal.fills), "seconds": round(seconds, 3)}


def measure_journal_overhead(with_wal: dict[str, Any], measure_tick_to_order: Any) -> dict[str, Any]:
    """Tick-to-order p50 with the write-ahead and without it, as with-without-with: `with_wal` is
    the session just measured, then one without it, then one with it again, and the two with-runs
    averaged. A drift of the shared box over the three sessions cancels out (measured: with the
    write-ahead always first, the ratio swung 1.00-1.34 between runs of the same code)."""
    without = measure_tick_to_order(overrides={"journal.write_ahead": False})
    again = measure_tick_to_order()
    runs = [r["p50"] for r in (with_wal, again) if r["p50"]]
    p50_with = round(sum(runs) / len(runs), 3) if runs else None
    p50_without = without["p50"]
    ratio = round(p50_with / p50_without, 3) if p50_with and p50_without else None
    return {"p50_write_ahead_us": p50_with, "p50_without_us": p50_without, "ratio": ratio,
            "n_write_ahead": with_wal["n"] + again["n"], "n_without": without["n"],
            "p50_write_ahead_runs_us": [with_wal["p50"], again["p50"]]}
