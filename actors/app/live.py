"""`bin/perpsbot run`: live trading on Coinbase, or on any Coinbase-compatible endpoint.

Owns the live session's life: the latch (Coinbase's production hosts need `--live`), the checks
before anything connects, the data dir (one stable database reused across restarts, held by
this process through its lock), the account's cash read from the venue so the bot sizes on the
money it really has, the actor tree trading through the Coinbase gateway and the `user` stream,
and the clean stop: no new risk, open orders cancelled or left (`run.cancel_on_exit`), a final
backup, the journal closed, the report with the venue's own view beside the bot's.
Must never open a connection before every check has passed, and never log or print a secret.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import pykka
from loguru import logger

from actors.app.paper import collect_beside_exchange, exit_status
from actors.app.recovery import journaled_strategy, recover
from actors.app.tree import StartState, Tree
from actors.app.venue_account import LiveError, journal_funding, starting_cash
from actors.backup.actor import shutdown_backup
from actors.journal.store import JournalStore
from actors.products_rest import ProductsError, fetch_products
from actors.venue.coinbase_auth import Credentials
from actors.venue.coinbase_rest import RestTransport
from actors.venue.endpoints import COINBASE_REST, COINBASE_USER_WS, COINBASE_WS, is_production
from config.schema import Profile
from domain.control import Shutdown, utc_day
from domain.queries import REPORT
from runtime.clock import WallClock
from runtime.faults import FaultPlan
from runtime.scheduler import Scheduler
from runtime.services import Services

SETTLE_ORDERS_S = 10.0  # at a clean stop, how long cancels get to be confirmed
EXIT_RECONCILE = 4  # `run --strict-reconcile`: the start found positions that differ from the venue's


class RunTarget(msgspec.Struct, frozen=True):
    rest_url: str = COINBASE_REST
    ws_url: str = COINBASE_WS
    user_ws_url: str = COINBASE_USER_WS

    def urls(self) -> tuple[tuple[str, str], ...]:
        return (("--rest-url", self.rest_url), ("--ws-url", self.ws_url), ("--user-ws-url", self.user_ws_url))


def check_target(target: RunTarget, live: bool) -> None:
    """The URLs are well formed and, against production, `--live` was given."""
    schemes = {"--rest-url": ("http", "https"), "--ws-url": ("ws", "wss"), "--user-ws-url": ("ws", "wss")}
    for flag, url in target.urls():
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in schemes[flag] or not parts.hostname:
            raise LiveError(f"{flag} must be a {' or '.join(s + '://' for s in schemes[flag])} URL, got {url!r}")
        if parts.username is not None or parts.password is not None:
            raise LiveError(f"{flag} must not carry a user or password (it would be logged)")
        try:
            parts.port  # noqa: B018  (raises on a port out of range)
        except ValueError:
            raise LiveError(f"{flag} has a bad port: {url!r}") from None
    production = [flag for flag, url in target.urls() if is_production(url)]
    if production and not live:
        raise LiveError(f"{', '.join(production)} point at Coinbase production: real money. Add --live to"
                        " trade it (nothing was sent)")


def load_credentials(key_file: str | None) -> Credentials:
    """The key from `--key-file`, else from the environment; LiveError without one."""
    from actors.venue.coinbase_auth import CredentialsError

    try:
        credentials = Credentials.from_key_file(key_file) if key_file else Credentials.from_env()
    except CredentialsError as exc:
        raise LiveError(str(exc)) from None
    if credentials is None:
        raise LiveError("run needs an API key: --key-file FILE (Coinbase's CDP JSON) or COINBASE_API_KEY_NAME"
                        " and COINBASE_API_PRIVATE_KEY")
    return credentials


# -- the session --------------------------------------------------------------------------------

def run_live(profile: Profile, target: RunTarget, credentials: Credentials, data_dir: Path,
             duration_s: float | None, stop: Any, faults: Sequence[Any] = (),
             strict_reconcile: bool = False) -> tuple[dict[str, Any], int]:
    """Trade until `stop` is set or `duration_s` passes; returns (report, exit status). The data
    dir is checked and held by the caller; its database is `profile.journal.file` in it. Every
    start is a recovery (actors.app.recovery); with `strict_reconcile` a start whose positions
    differ from the venue's returns at once with EXIT_RECONCILE, before the tree starts."""
    wanted = tuple(profile.strategy.products)
    db = data_dir / profile.journal.file
    try:
        products = fetch_products(target.rest_url, wanted)
    except ProductsError as exc:
        raise LiveError(f"the products endpoint did not answer: {exc}") from None
    perps = {pid for pid, spec in products.items() if spec.is_perpetual}
    transport = RestTransport(target.rest_url, credentials, timeout_s=profile.venue.rest_timeout_s)
    try:
        recovery = recover(db, transport, set(products), perps, profile.reconcile.foreign_orders, utc_day(time.time()))
    finally:
        transport.close()
    if recovery.mismatch is not None and strict_reconcile:
        logger.error("run: --strict-reconcile: positions differ from the venue's; nothing was started")
        return {"mode": "run", "data_dir": str(data_dir), "recovery": recovery.report()}, EXIT_RECONCILE
    today = utc_day(time.time())
    with JournalStore(db) as store:
        fills = tuple(f for f in store.fills() if f.product_id in products)
        day_equity = store.day_start(today)
    balance = recovery.balance
    cash = starting_cash(balance, list(fills), products, journal_funding(db, products))
    profile = msgspec.structs.replace(profile, portfolio=msgspec.structs.replace(profile.portfolio, starting_cash=cash))
    logger.info("run: venue {} (market data {}, user data {}), data dir {}, products {}", target.rest_url,
                target.ws_url, target.user_ws_url, data_dir, ", ".join(products))
    logger.info("run: account balance {} USD, {} fills read from the venue, {} in the journal; the ledger starts"
                " from {}", balance, recovery.venue_fills, len(fills), cash)
    start = StartState(recovery.holds, fills, recovery.mismatch, None if day_equity is None else (today, day_equity),
                       journaled_strategy(db))
    if day_equity is not None:
        logger.info("run: today's start-of-day equity {} comes from the journal (the day's loss so far counts)",
                    day_equity)
    scheduler = Scheduler(WallClock())
    scheduler.start()
    services = Services(scheduler.clock, scheduler, faults=FaultPlan(list(faults)))
    tree = None
    try:
        started = time.monotonic()
        tree = Tree(profile, services, data_dir, target.ws_url, credentials, products, target.user_ws_url,
                    "exchange", target.rest_url, start)
        stop.wait(duration_s)
        logger.info("run: stopping ({})", stop.signal_name or "duration reached")
        _stop_trading(tree, profile.run.cancel_on_exit)
        elapsed = time.monotonic() - started
        extra = {"recovery": recovery.report(), "data_dir": str(data_dir), "feed_url": target.ws_url, "venue": "exchange",
                 "rest_url": target.rest_url, "stopped_by": stop.signal_name or "duration"}
        report = collect_beside_exchange(tree, elapsed, extra, target.rest_url, credentials, perps, mode="run")
        # last, so the backup holds the stop's cancels and the fills that settled meanwhile
        done = shutdown_backup(services, timeout_s=30.0, reason="clean stop")
        if not done.ok:
            logger.warning("run: the shutdown backup failed: {}", done.detail)
    finally:
        if tree is not None:
            tree.stop()
        scheduler.stop()
    return report, exit_status(report)


def _stop_trading(tree: Tree, cancel_orders: bool) -> None:
    """No new risk; with `cancel_orders`, wait (bounded) until execution has no open order left and
    the gateway has no request in flight (its cancel-all reaches orders execution never knew)."""
    try:
        tree.orchestrator.ask(Shutdown(cancel_orders), timeout=5.0)
    except (pykka.ActorDeadError, pykka.Timeout):
        logger.error("run: the orchestrator did not take the shutdown; stopping anyway")
        return
    if not cancel_orders:
        stops = (tree.ask("execution", REPORT, timeout=2.0, default={}) or {}).get("stops_armed", 0)
        logger.warning("run: open orders are left working (run.cancel_on_exit = false); {} local stop(s) held"
                       " by this process end with it: the positions they guarded are unprotected", stops)
        return
    deadline = time.monotonic() + SETTLE_ORDERS_S
    pause = threading.Event()
    while time.monotonic() < deadline:
        orders = tree.ask("execution", REPORT, timeout=2.0, default=None)
        venue = tree.ask("venue", REPORT, timeout=2.0, default=None)
        if orders is not None and not orders.get("open_orders") and venue is not None and not venue.get("in_flight"):
            logger.info("run: no open order left")
            return
        pause.wait(0.2)
    logger.warning("run: orders still open after {:.0f}s of cancelling; the venue will settle them",
                   SETTLE_ORDERS_S)
