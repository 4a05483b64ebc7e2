"""The money-path audit of a running TreeHarness: do report (portfolio, execution), journal and
venue agree on every position, fill and order? Each check returns the differences it found as
lines a failing test prints (empty: they agree), so one assertion names everything that is lost.

The journal is read through its own SQLite file opened read-only (the journal actor stays its only
writer); the venue and the actors are asked, each ask with a timeout. Orders sent in the last step
of the run are on their way to the venue (a latency timer on the manual clock): they count as in
flight, not as lost.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from domain.orders import net_positions
from domain.queries import OPEN_ORDERS, REPORT, OrderQuery
from tests.tree_harness import TreeHarness

ASK_S = 5.0


def journal_rows(h: TreeHarness, sql: str, *args: object) -> list[tuple]:
    db = Path(h.tmp.name) / h.profile.journal.file
    conn = sqlite3.connect(db.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def venue_positions(h: TreeHarness) -> dict[str, Decimal]:
    return {pid: size for pid, size in net_positions(h.fills()) if size}


def portfolio_positions(h: TreeHarness) -> dict[str, Decimal]:
    report = h.tree.ask("portfolio", REPORT, timeout=ASK_S)
    assert report is not None, "portfolio did not answer"
    return {pid: Decimal(str(p["size"])) for pid, p in report["positions"].items() if p["size"]}


def in_flight(h: TreeHarness) -> set[str]:
    """Client ids of orders the journal wrote ahead within the venue's latency: not arrived yet."""
    latency_s = h.profile.venue.latency_ms / 1000 * (1 + h.profile.venue.latency_jitter)
    since = h.clock.now() - latency_s
    return {cid for (cid,) in journal_rows(
        h, "SELECT client_order_id FROM orders WHERE status = 'PENDING' AND created_at >= ?", since)}


def position_differences(h: TreeHarness) -> list[str]:
    """(1) portfolio's positions are the venue's net positions from its fills."""
    mine, venue = portfolio_positions(h), venue_positions(h)
    return [f"(1) position {pid}: portfolio {mine.get(pid, 0)} venue {venue.get(pid, 0)}"
            for pid in sorted(set(mine) | set(venue)) if mine.get(pid, 0) != venue.get(pid, 0)]


def journal_fill_differences(h: TreeHarness) -> list[str]:
    """(2) the journal's fills table holds every venue fill exactly once, and none the venue lacks."""
    venue: dict[str, tuple] = {}
    out: list[str] = []
    for f in h.fills():
        row = (f.client_order_id, f.product_id, f.side, str(f.price), str(f.size))
        if venue.setdefault(f.trade_id, row) != row:
            out.append(f"(2) venue trade id {f.trade_id} names two different fills: {venue[f.trade_id]} and {row}")
    counts = dict(journal_rows(h, "SELECT trade_id, count(*) FROM fills GROUP BY trade_id"))
    journaled = {t: (c, p, s, pr, sz) for t, c, p, s, pr, sz in journal_rows(
        h, "SELECT trade_id, client_order_id, product_id, side, price, size FROM fills")}
    out += [f"(2) fill {t} ({venue[t][0]} {venue[t][2]} {venue[t][4]} {venue[t][1]}): not in the journal"
            for t in sorted(set(venue) - set(journaled))]
    out += [f"(2) fill {t}: in the journal {counts[t]} times" for t in sorted(counts) if counts[t] != 1]
    out += [f"(2) fill {t}: in the journal, the venue never made it" for t in sorted(set(journaled) - set(venue))]
    out += [f"(2) fill {t}: journal {journaled[t]} venue {venue[t]}" for t in sorted(set(journaled) & set(venue))
            if tuple(map(str, journaled[t])) != venue[t]]
    return out


def journal_position_differences(h: TreeHarness) -> list[str]:
    """(3) the journal's positions table agrees with the venue on each product it lists."""
    venue = venue_positions(h)
    return [f"(3) journal position {pid}: {size} venue {venue.get(pid, 0)}"
            for pid, size in journal_rows(h, "SELECT product_id, size FROM positions ORDER BY product_id")
            if Decimal(size) != venue.get(pid, 0)]


def order_differences(h: TreeHarness) -> list[str]:
    """(4) no order open in execution that the venue does not have open (or on its way there), and
    none open at the venue that execution does not count (execution reports a count, not its ids:
    the directory is the supervisor's to write, so a test cannot stand up an actor to ask for
    them); every order the venue has is in the journal's orders table (4) with the venue's status
    (4b: an order the venue never had is FAILED there)."""
    out: list[str] = []
    report = h.tree.ask("execution", REPORT, timeout=ASK_S)
    assert report is not None, "execution did not answer"
    venue_open = h.tree.ask("venue", OPEN_ORDERS, timeout=ASK_S)
    assert venue_open is not None, "the venue did not answer"
    opened = {u.client_order_id for u in venue_open}
    flying = in_flight(h)
    if not len(opened) <= report["open_orders"] <= len(opened) + len(flying):
        out.append(f"(4) execution has {report['open_orders']} open orders, the venue {len(opened)} "
                   f"(+{len(flying)} on their way)")
    journal = dict(journal_rows(h, "SELECT client_order_id, status FROM orders"))
    at_venue = opened | {f.client_order_id for f in h.fills()}
    out += [f"(4) order {cid}: at the venue, not in the journal's orders" for cid in sorted(at_venue - set(journal))]
    for cid, status in sorted(journal.items()):
        known = h.tree.ask("venue", OrderQuery(cid), timeout=ASK_S)
        if known is None:
            if status != "FAILED" and cid not in flying:
                out.append(f"(4b) order {cid}: journal {status}, the venue never had it")
        elif status != known.status:
            out.append(f"(4b) order {cid}: journal {status} venue {known.status} (filled {known.filled_size})")
    return out


def disagreements(h: TreeHarness) -> list[str]:
    """Every difference between report, journal and venue (empty: they agree)."""
    return (position_differences(h) + journal_fill_differences(h) + journal_position_differences(h)
            + order_differences(h))
