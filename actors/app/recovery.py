"""Every start of `run` is a recovery: the journal checked and read, the venue read, the two
reconciled and the repairs journaled, before the actor tree starts trading.

Owns the start's order: the database (integrity first, a broken one replaced by the newest
verified backup: actors.recovery.journal_file), execution's intent log moved into it (the
write-ahead of orders the journal may not have committed before the process died), what the
journal remembers (its fills, its orders, the orders it sent or wrote ahead with no venue answer,
the holds it was under), what the venue holds (the balance; the fills since the journal's fills
watermark, each of their orders whole; orders of every status; `cfm/positions`), the
reconciliation (actors.recovery.reconcile) and its repairs written to the journal in one
transaction: inferred fills, settled intents (an order the venue never heard of ends FAILED,
"never reached the venue"), adopted orders; foreign orders ignored, cancelled or adopted as
`reconcile.foreign_orders` says. The result is the `recovery` report section, the holds the tree
starts under (RECOVERING until execution and portfolio have synced; the operator's halt or reduce
and a daily-loss latch of this UTC day carried over from the journal) and, if positions still
differ, the mismatch. Runs on the main thread before the tree exists, so it is the journal's one
writer then. Must never send an order and never trade on an answer it could not read (LiveError).
"""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
from loguru import logger

from actors.app.exchange_view import read_listing
from actors.app.venue_account import LiveError, read_account
from actors.execution import intent_log
from actors.journal.store import JournalStore
from actors.orchestrator.actor import RECOVERING_HOLD
from actors.orchestrator.holds import Hold
from actors.recovery.journal_file import Opened, open_journal
from actors.recovery.reconcile import ABSENT, JournalView, Reconciliation, VenueOrder, VenueView, reconcile
from actors.strategy.state import HeldStop, StrategyStart, strategy_start
from actors.venue import coinbase_rest as rest
from actors.venue.listing import LIVE, Listing, decode_positions, fills_since
from domain.control import RECOVERING, PositionMismatch
from domain.orders import Fill
from domain.quantize import QuantizedOrder

_ZERO = Decimal(0)
_CARRIED = "(carried over from before the restart)"


class Recovery(msgspec.Struct, frozen=True):
    opened: Opened
    result: Reconciliation
    journal_fills: int
    seconds: float
    holds: tuple[Hold, ...]
    mismatch: PositionMismatch | None
    balance: Decimal  # the account's USD balance, read with the fills
    venue_fills: int  # fills read from the venue (since the watermark)

    def report(self) -> dict[str, Any]:
        r = self.result
        return {
            "started_from": self.opened.started_from,
            "journal_fills": self.journal_fills,
            "venue_fills_inferred": len(r.inferred),
            "intents_settled": len(r.settled),
            "foreign_orders": len(r.foreign),
            "orders_adopted": len(r.adopted),
            "position_mismatches": {pid: {"journal": str(mine), "venue": str(venue)}
                                    for pid, (mine, venue) in r.mismatches.items()},
            "seconds": round(self.seconds, 3),
            "clean": r.clean,
            "detail": self.opened.detail,
        }


# -- reading ------------------------------------------------------------------------------------

def read_journal(db: Path) -> JournalView:
    if not db.exists():
        return JournalView()
    with JournalStore(db) as store:  # opening it migrates the schema forward
        fills = tuple(store.fills())
    conn = sqlite3.connect(db.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        orders = dict(conn.execute("SELECT client_order_id, status FROM orders").fetchall())
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        unanswered = {coid for coid, status in orders.items() if status == "PENDING"}
        if "intents" in tables:  # the write-ahead (schema 4): written, never answered for
            unanswered |= {r[0] for r in conn.execute("SELECT client_order_id FROM intents WHERE state = 'written'")}
    finally:
        conn.close()
    return JournalView(fills, orders, tuple(sorted(unanswered)))


def _venue_order(o: Any) -> VenueOrder:
    status = o.status.upper()
    return VenueOrder(o.client_order_id, o.order_id, o.product_id, o.side.upper(), status, status in LIVE)


def read_venue(transport: Any, fills: list[Fill]) -> VenueView:
    listing = Listing(orders=True, fills=False)  # every status: a PENDING or QUEUED order is seen too
    failure = read_listing(listing, transport)
    if failure is not None:
        raise LiveError(f"the venue's orders could not be read: {failure}")
    orders = {o.order_id: o for o in listing.orders}  # the last listing of an id wins
    response = transport.send(rest.cfm_positions())
    if response.status != 200:
        raise LiveError(f"the venue's positions could not be read: {response.status or response.error}")
    try:
        positions = {pid: p.contracts or _ZERO for pid, p in decode_positions(response.body).items()}
    except ValueError:
        raise LiveError("the venue's positions answer is unreadable") from None
    by_venue_id = {o.order_id: o.client_order_id for o in orders.values()}
    named = tuple(msgspec.structs.replace(f, client_order_id=by_venue_id.get(f.venue_order_id, f.client_order_id))
                  for f in fills)
    return VenueView(named, tuple(_venue_order(o) for o in orders.values()), positions)


def take_intent_log(db: Path) -> int:
    """Move execution's intent log into the journal (one transaction), then empty it; returns how
    many intents the journal did not have (their orders are asked for by client id like any
    unanswered intent)."""
    path = intent_log.intent_log_path(db)
    logged, unreadable = intent_log.read_intents(path)
    if unreadable:
        logger.warning("recovery: {} unreadable lines in the intent log {} skipped", unreadable, path)
    added = 0
    if logged:
        with JournalStore(db) as store:
            added = store.import_intents((i.order, i.intent_id, i.ts) for i in logged)
    intent_log.clear(path)
    if added:
        logger.warning("recovery: {} intents of the intent log were not in the journal: asking the venue", added)
    return added


# -- the repairs --------------------------------------------------------------------------------

def _repair(db: Path, result: Reconciliation, venue: VenueView, policy: str, transport: Any, now: float) -> None:
    by_client = {o.client_order_id: o for o in venue.orders}
    with JournalStore(db) as store, store.transaction():
        for fill in result.inferred:
            store.record_fill(fill)
            store.record_decision(now, "fill_inferred", f"{fill.product_id} {fill.side} {fill.size} @ {fill.price}"
                                                        f" trade {fill.trade_id} order {fill.venue_order_id}")
        for settled in result.settled:
            listed = by_client.get(settled.client_order_id)
            status, reason = ("FAILED", "never reached the venue") if settled.status == ABSENT else (settled.status, "")
            store.record_order_event(client_order_id=settled.client_order_id, venue_order_id=settled.venue_order_id,
                                     status=status, filled_size=_ZERO, leaves_size=_ZERO, reason=reason, ts=now)
            store.record_decision(now, "intent_settled", f"{settled.client_order_id}: {status}"
                                                         + (f" ({reason})" if reason else "")
                                                         + (f" venue {listed.venue_order_id}" if listed else ""))
        adopt = list(result.adopted) + (list(result.foreign) if policy == "adopt" else [])
        for order in adopt:
            store.record_order(client_order_id=order.client_order_id or order.venue_order_id, intent_id="adopted",
                               product_id=order.product_id, side=order.side, order_type="unknown", size=_ZERO,
                               limit_price=None, status=order.status, ts=now)
            store.record_decision(now, "order_adopted", f"{order.client_order_id} venue {order.venue_order_id}")
        for order in result.foreign:
            store.record_decision(now, "foreign_order", f"{order.venue_order_id} ({order.client_order_id or 'no id'})"
                                                        f" {order.product_id} {order.side} {order.status}: {policy}")
    if policy == "cancel" and result.foreign:
        for request in rest.batch_cancel([o.venue_order_id for o in result.foreign]):
            response = transport.send(request)
            if response.status != 200:
                logger.warning("recovery: cancelling foreign orders failed: {}", response.status or response.error)


def carried_holds(db: Path, today: int) -> tuple[Hold, ...]:
    """The holds a restart must not forget: an operator's halt or reduce, and a daily-loss latch of
    this UTC day (the journal's last trading-state record, schema 4)."""
    if not db.exists():
        return ()
    with JournalStore(db) as store:
        last = store.last_trading_state()
    if last is None:
        return ()
    _, _, holds, daily_loss_day = last
    carried = []
    for source, text in sorted(holds.items()):
        state, _, reason = text.partition(": ")
        if source == "operator" or source == "risk:daily_loss" and daily_loss_day == today:
            note = "" if reason.endswith(_CARRIED) else f" {_CARRIED}"
            carried.append(Hold(source, state, f"{reason}{note}"))
    return tuple(carried)


def journaled_strategy(db: Path) -> StrategyStart:
    """The strategy's journaled crossover windows and the protective stops execution holds armed."""
    if not db.exists():
        return StrategyStart()
    with JournalStore(db) as store:
        bodies, held = store.strategy_state(), store.held()
    stops = []
    for _key, kind, body, _ in held:
        if kind != "stop":
            continue
        try:
            order = msgspec.json.decode(body, type=QuantizedOrder)
        except msgspec.DecodeError:
            continue  # execution skips it too
        if order.stop_price is not None:
            stops.append(HeldStop(order.product_id, order.intent_id, order.side, order.size, order.stop_price))
    start, unreadable = strategy_start(bodies, stops)
    if unreadable:
        logger.warning("recovery: {} unreadable strategy states skipped (their bar windows start empty)", unreadable)
    return start


# -- the whole start ----------------------------------------------------------------------------

def recover(db: Path, transport: Any, products: set[str], perpetuals: set[str], foreign_policy: str,
            today: int) -> Recovery:
    """The whole start, from the database to the holds; reads the account (balance, fills since
    the watermark) once the journal is known good."""
    started = time.monotonic()
    opened = open_journal(db)
    take_intent_log(db)
    journal = read_journal(db)
    # the fills watermark: older fills are the journal's already (each start took in what it lacked)
    since = fills_since(max((f.ts for f in journal.fills if f.ts), default=None))
    balance, venue_fills = read_account(transport, since)
    logger.info("recovery: {} fills read from the venue since {}", len(venue_fills), since or "the account's start")
    venue = read_venue(transport, venue_fills)
    result = reconcile(journal, venue, products, perpetuals)
    now = time.time()
    if result.inferred or result.settled or result.adopted or result.foreign:
        _repair(db, result, venue, foreign_policy, transport, now)
    holds = (Hold(RECOVERING_HOLD, RECOVERING, f"recovering from the {opened.started_from} start"),
             *carried_holds(db, today))
    mismatch = None
    if result.mismatches:
        mismatch = PositionMismatch(tuple((pid, mine, venue_size) for pid, (mine, venue_size)
                                          in sorted(result.mismatches.items())), "start")
    recovery = Recovery(opened, result, len(journal.fills), time.monotonic() - started, holds, mismatch, balance,
                        len(venue_fills))
    _log(recovery)
    return recovery


def _log(recovery: Recovery) -> None:
    r, report = recovery.result, recovery.report()
    logger.info("recovery: started from {} ({} journaled fills); {} fills inferred from the venue, {} intents settled,"
                " {} foreign orders, {} orders adopted, in {:.3f}s", report["started_from"], report["journal_fills"],
                report["venue_fills_inferred"], report["intents_settled"], report["foreign_orders"],
                report["orders_adopted"], recovery.seconds)
    for fill in r.inferred:
        logger.warning("recovery: inferred fill {} {} {} @ {} (trade {}, order {})", fill.product_id, fill.side,
                       fill.size, fill.price, fill.trade_id, fill.venue_order_id)
    for settled in r.settled:
        logger.warning("recovery: intent {} settled: {}", settled.client_order_id,
                       "never reached the venue" if settled.status == ABSENT else settled.status)
    if recovery.mismatch is not None:
        logger.error("recovery: positions differ: {}; trading stays REDUCING until `ctl resume --accept-venue`"
                     " or `ctl halt`", recovery.mismatch.describe())
    else:
        logger.info("recovery: clean: every position agrees with the venue")
    for hold in recovery.holds[1:]:
        logger.warning("recovery: {} {} carried over: {}", hold.source, hold.state, hold.reason)
