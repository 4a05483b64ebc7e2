"""The paper session: the built-in exchange and the whole actor tree in one process.

Owns the session's lifetime: start the exchange on 127.0.0.1 (with its chaos plan), or take
market data from another Advanced Trade endpoint; read the product rules from the venue; start
the tree streaming over a real socket (and, with credentials, the private stream over the user-data
endpoint); trade on the in-process paper venue until the duration ends or Ctrl-C; collect the
report; stop everything. Must never leave a thread or a socket behind.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

from loguru import logger

from actors.app.report import collect
from actors.app.tree import Tree, products_of
from actors.exchange.account import PaperAccount
from actors.exchange.server import ExchangeServer
from actors.orchestrator.messages import HALTED
from actors.products import ProductSpec
from actors.products_rest import ProductsError, fetch_products
from actors.streaming.rest_books import rest_base_for
from config.schema import Profile
from runtime.clock import WallClock
from runtime.faults import FaultPlan, FaultSpec
from runtime.scheduler import Scheduler
from runtime.services import Services


def run_dir_for(profile: Profile, mode: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    base = Path(profile.run.data_dir) / f"{mode}-{stamp}-seed{profile.run.seed}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = Path(f"{base}-{n}")
    path.mkdir(parents=True)
    return path


COINBASE_MARKET_DATA = "wss://advanced-trade-ws.coinbase.com"
COINBASE_USER_DATA = "wss://advanced-trade-ws-user.coinbase.com"


def feed_url_for(feed: str | None) -> str | None:
    """None: the built-in exchange; "coinbase": the production market-data endpoint; else a URL."""
    if feed is None:
        return None
    return COINBASE_MARKET_DATA if feed == "coinbase" else feed


def user_url_for(profile: Profile, feed: str | None, exchange: ExchangeServer | None) -> str | None:
    """The private stream's endpoint: the built-in exchange's user endpoint when it serves the
    market data; else `streaming.user_url`, or Coinbase's user-data host for `--feed coinbase`, or
    the feed URL itself (a market-data host serves the private channels too)."""
    if exchange is not None:
        return exchange.user_url
    if profile.streaming.user_url:
        return profile.streaming.user_url
    return COINBASE_USER_DATA if feed == "coinbase" else feed_url_for(feed)


def run_paper(profile: Profile, faults: list[FaultSpec], feed: str | None = None,
              chaos: tuple = (), credentials: Any = None) -> tuple[dict[str, Any], int]:
    """Run one bounded paper session; returns (report, exit status). Market data comes from the
    built-in exchange (with its `chaos`) unless `feed` names another Advanced Trade endpoint."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set()) if _main_thread() else None
    feed_url = feed_url_for(feed)
    exchange = None
    if feed_url is None:
        exchange = ExchangeServer(seed=profile.run.seed, tick_interval_s=profile.exchange.tick_interval_s,
                                  products=products_of(profile), chaos=list(chaos),
                                  account=PaperAccount(cfm_usd_balance=profile.portfolio.starting_cash))
    scheduler = Scheduler(WallClock())
    tree = None
    try:
        if exchange is not None:
            exchange.start()
            feed_url = exchange.url
        scheduler.start()
        services = Services(scheduler.clock, scheduler, faults=FaultPlan(faults))
        run_dir = run_dir_for(profile, "paper")
        user_url = user_url_for(profile, feed, exchange) if credentials is not None else None
        logger.info("paper session: feed {} data {} private stream {}", feed_url, run_dir,
                    user_url or "off (no credentials)")
        started = time.monotonic()
        tree = Tree(profile, services, run_dir, feed_url, credentials, venue_products(profile, feed_url), user_url)
        stop.wait(profile.run.duration_s)
        if stop.is_set():
            logger.warning("interrupted: stopping cleanly")
        elapsed = time.monotonic() - started
        extra: dict[str, Any] = {"data_dir": str(run_dir), "feed_url": feed_url}
        if exchange is not None:
            extra["chaos"] = exchange.chaos_counts()
        report = collect(tree, "paper", elapsed, extra)
    finally:
        if tree is not None:
            tree.stop()
        scheduler.stop()
        if exchange is not None:
            exchange.stop()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return report, exit_status(report)


def venue_products(profile: Profile, feed_url: str) -> dict[str, ProductSpec]:
    """Product rules from the venue's products endpoint; the static catalog if it cannot answer."""
    wanted = tuple(profile.strategy.products)
    try:
        return fetch_products(rest_base_for(feed_url), wanted)
    except ProductsError as exc:
        logger.warning("products endpoint unavailable ({}): using the built-in catalog", exc)
        return products_of(profile)


def exit_status(report: dict[str, Any]) -> int:
    halted_by_escalation = report["trading"]["state"] == HALTED and report["supervision"]["escalations"] > 0
    return 3 if halted_by_escalation else 0


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
