"""The paper session: the built-in exchange and the whole actor tree in one process.

Owns the session's lifetime: start the exchange on 127.0.0.1 (with its chaos plan), or take
market data from another Advanced Trade endpoint; read the product rules from the venue; start
the tree streaming over a real socket (and, with credentials, the private stream over the user-data
endpoint); trade on the in-process paper venue (`venue` "sim") or, with `venue` "exchange", through
the Coinbase gateway over the built-in exchange's private REST and `user` channel (with the
operator's credentials, or a key made for the run whose public half the exchange is started
with), until the duration ends or SIGINT/SIGTERM; collect the report; stop everything. The data dir
is checked, held (one process) and private (umask 077) for the whole session. Must never leave a
thread or a socket behind, or send orders anywhere but the built-in exchange it started.
"""

from __future__ import annotations

import gc
import secrets
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from loguru import logger

from actors.app.exchange_view import as_text, compare, differences, read_exchange
from actors.app.preflight import PreflightError, check_credentials, check_duration
from actors.app.report import collect
from actors.app.session import held_data_dir, private_files
from actors.app.signals import StopSignals
from actors.app.tree import Tree, products_of
from actors.backup.actor import shutdown_backup
from actors.products_rest import ProductsError, fetch_products
from actors.streaming.rest_books import rest_base_for
from actors.venue.coinbase_auth import Credentials, new_private_key_pem
from actors.venue.coinbase_rest import RestTransport
from actors.venue.endpoints import COINBASE_USER_WS, COINBASE_WS
from config.schema import Profile
from domain.control import HALTED
from domain.products import ProductSpec
from exchange.account import PaperAccount
from exchange.config import ExchangeConfig, ExchangeConfigError, exchange_config
from exchange.server import ExchangeServer
from runtime.clock import WallClock
from runtime.data_dir import DataDirLock
from runtime.faults import FaultPlan, FaultSpec
from runtime.scheduler import Scheduler
from runtime.services import Services


def run_dir_for(profile: Profile, mode: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    base = Path(profile.run.data_dir).expanduser() / f"{mode}-{stamp}-seed{profile.run.seed}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = Path(f"{base}-{n}")
    path.mkdir(parents=True)
    return path




def feed_url_for(feed: str | None) -> str | None:
    """None: the built-in exchange; "coinbase": the production market-data endpoint; else a URL."""
    if feed is None:
        return None
    return COINBASE_WS if feed == "coinbase" else feed


def user_url_for(profile: Profile, feed: str | None, exchange: ExchangeServer | None) -> str | None:
    """The private stream's endpoint: the built-in exchange's user endpoint when it serves the
    market data; else `streaming.user_url`, or Coinbase's user-data host for `--feed coinbase`, or
    the feed URL itself (a market-data host serves the private channels too)."""
    if exchange is not None:
        return exchange.user_url
    if profile.streaming.user_url:
        return profile.streaming.user_url
    return COINBASE_USER_WS if feed == "coinbase" else feed_url_for(feed)


def ephemeral_credentials() -> Credentials:
    """A CDP-style key made for one run (EC P-256), never written anywhere."""
    return Credentials(f"organizations/perpsbot-paper/apiKeys/{secrets.token_hex(8)}", new_private_key_pem())


def exchange_key_kwargs(credentials: Credentials) -> dict[str, Any]:
    """The built-in exchange's API key arguments for `credentials`: with them it verifies every
    private request's and subscribe's JWT against the public half."""
    return {"api_key_name": credentials.key_name, "api_public_key_pem": credentials.public_key_pem()}


def run_paper(profile: Profile, faults: list[FaultSpec], feed: str | None = None,
              chaos: tuple = (), credentials: Any = None, venue: str = "sim",
              spot: tuple[tuple[str, Decimal], ...] = ()) -> tuple[dict[str, Any], int]:
    """Run one bounded paper session; returns (report, exit status). Market data comes from the
    built-in exchange (with its `chaos`) unless `feed` names another Advanced Trade endpoint.
    `venue` "exchange" trades through the built-in exchange's REST and `user` channel (no `feed`).
    `spot`: the exchange's spot holdings (`--spot-balance`; see paper_account).
    Checks come first (PreflightError, DataDirError: nothing has started); SIGINT or SIGTERM (on
    the main thread) ends the session early with the same clean stop and report."""
    if venue == "exchange" and feed is not None:
        raise ValueError("venue 'exchange' trades on the built-in exchange: it cannot take another feed")
    check_duration(profile.run.duration_s, "run.duration_s")
    check_credentials(credentials)
    try:
        settings = exchange_config(profile.exchange)
    except ExchangeConfigError as exc:
        raise PreflightError(str(exc)) from None
    account = paper_account(profile, venue, spot)  # refuses spot USD beyond the cash before anything starts
    if venue == "exchange" and credentials is None:
        credentials = ephemeral_credentials()
    with private_files(), held_data_dir(profile.run.data_dir, "paper") as lock, StopSignals() as stop:
        return _paper_session(profile, settings, faults, feed, chaos, credentials, venue, account, lock, stop)


def _paper_session(profile: Profile, settings: ExchangeConfig, faults: list[FaultSpec], feed: str | None,
                   chaos: tuple, credentials: Any,
                   venue: str, account: PaperAccount, lock: DataDirLock,
                   stop: StopSignals) -> tuple[dict[str, Any], int]:
    feed_url = feed_url_for(feed)
    exchange = None
    if feed_url is None:
        keys = exchange_key_kwargs(credentials) if venue == "exchange" else {}
        exchange = ExchangeServer(seed=profile.run.seed, tick_interval_s=settings.tick_interval_s,
                                  products=products_of(profile), chaos=list(chaos), account=account,
                                  fees=settings.fees, **keys)
    scheduler = Scheduler(WallClock())
    tree = None
    try:
        if exchange is not None:
            exchange.start()
            feed_url = exchange.url
        scheduler.start()
        services = Services(scheduler.clock, scheduler, faults=FaultPlan(faults))
        run_dir = run_dir_for(profile, "paper")
        lock.update(run_dir=str(run_dir))
        user_url = user_url_for(profile, feed, exchange) if credentials is not None else None
        rest_url = exchange.rest_url if venue == "exchange" and exchange is not None else None
        logger.info("paper session: feed {} data {} private stream {} venue {}", feed_url, run_dir,
                    user_url or "off (no credentials)", rest_url or "in-process")
        started = time.monotonic()
        assert feed_url is not None  # the given feed's, or the in-process exchange's
        products = venue_products(profile, feed_url)
        tree = Tree(profile, services, run_dir, feed_url, credentials, products, user_url, venue, rest_url)
        # What exists now lives for the whole session: kept out of the collector's sweeps, the
        # pauses that stall every actor thread shrink (up to ~4 ms measured before, ~0.4 ms after).
        gc.freeze()
        stop.wait(profile.run.duration_s)
        elapsed = time.monotonic() - started
        done = shutdown_backup(services, timeout_s=30.0, reason="end of session")
        if not done.ok:
            logger.warning("the shutdown backup failed: {}", done.detail)
        extra: dict[str, Any] = {"data_dir": str(run_dir), "feed_url": feed_url, "venue": venue,
                                 "stopped_by": stop.signal_name}
        if exchange is not None:
            extra["chaos"] = exchange.chaos_counts()
            if venue == "exchange":
                # what the venue saw: `throttled` counts requests over its private rate limit
                extra["exchange_rest"] = exchange.rest_counts()
        if venue == "exchange" and rest_url is not None:
            perps = {pid for pid, spec in products.items() if spec.is_perpetual}
            report = collect_beside_exchange(tree, elapsed, extra, rest_url, credentials, perps)
        else:
            report = collect(tree, "paper", elapsed, extra)
    finally:
        gc.unfreeze()
        if tree is not None:
            tree.stop()
        scheduler.stop()
        if exchange is not None:
            exchange.stop()
    return report, exit_status(report)


def paper_account(profile: Profile, venue: str, spot: tuple[tuple[str, Decimal], ...] = ()) -> PaperAccount:
    """The built-in exchange's account. The session's starting cash is the futures account's USD;
    trading on the exchange (`venue` "exchange") it is split with the spot account, half each
    unless `spot` says how much USD the spot side holds, so spot orders are funded and the exchange
    holds what the bot counts as its equity. Other spot assets in `spot` are held at the exchange
    only (the bot's equity does not count them). PreflightError: spot USD beyond the cash."""
    cash = profile.portfolio.starting_cash
    holdings = dict(spot)
    assets = tuple(sorted((a, v) for a, v in holdings.items() if a != "USD"))
    if venue != "exchange":
        return PaperAccount(cfm_usd_balance=cash, cbi_usd_balance=holdings.get("USD", Decimal(0)), spot_assets=assets)
    spot_usd = holdings.get("USD", cash / 2)
    if spot_usd > cash:
        raise PreflightError(f"--spot-balance USD={spot_usd} is more than the session's cash {cash}")
    return PaperAccount(cfm_usd_balance=cash - spot_usd, cbi_usd_balance=spot_usd, spot_assets=assets)


def collect_beside_exchange(tree: Tree, elapsed: float, extra: dict[str, Any], rest_url: str,
                            credentials: Credentials, perps: set[str], settle_s: float = 3.0,
                            mode: str = "paper") -> dict[str, Any]:
    """The report with an `exchange` section: what the exchange holds, read over REST, and whether
    the bot's positions match it. Orders may be in flight at the cut, so both are read again
    (for at most `settle_s`) until they agree."""
    transport = RestTransport(rest_url, credentials, timeout_s=2.0)
    deadline = time.monotonic() + settle_s
    pause = threading.Event()
    try:
        while True:
            held = read_exchange(transport)
            report = collect(tree, mode, elapsed, extra)
            matches = compare(held, report["positions"], perps)
            if matches or time.monotonic() >= deadline:
                break
            pause.wait(0.2)
    finally:
        transport.close()
    report["exchange"] = {**as_text(held), "matches": matches}
    if not matches:
        for line in differences(report["exchange"], report["positions"]) or ["positions differ"]:
            logger.warning("MISMATCH bot and venue disagree: {}", line)
    return report


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
