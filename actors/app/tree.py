"""Wiring: the child specs of the actor tree for a profile, and a handle on a running tree.

Owns the start order (dependency order), the one place where config sections become actor
arguments, and whether the private stream (`user_stream`) runs: only with credentials and a
socket, and which venue the tree trades on: the in-process paper venue ("sim") or the Coinbase
gateway over REST and the `user` channel ("exchange"). Must never contain trading logic; the
handle is for the main thread and tests only (every ask it makes has a timeout).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pykka

from actors.backup.actor import BackupActor
from actors.execution.actor import ExecutionActor
from actors.execution.intent_log import intent_log_path
from actors.journal.actor import JournalActor
from actors.liquidity.actor import LiquidityActor
from actors.market_data.actor import MarketDataActor
from actors.orchestrator.actor import Orchestrator
from actors.orchestrator.control import ControlActor
from actors.orchestrator.holds import Hold
from actors.portfolio.actor import PortfolioActor
from actors.reconcile.actor import ReconcilerActor
from actors.risk.actor import RiskActor
from actors.strategy.actor import StrategyActor
from actors.strategy.state import StrategyStart
from actors.streaming.actor import StreamingActor
from actors.streaming.rest_books import rest_base_for
from actors.venue.actor import PaperVenueActor
from actors.venue.gateway_actor import CoinbaseGatewayActor
from actors.venue.paper import PaperVenue
from config.schema import Profile
from domain.control import PositionMismatch
from domain.orders import Fill
from domain.products import CATALOG, ProductSpec
from runtime.backoff import Backoff
from runtime.messages import STATUS
from runtime.services import Services
from runtime.supervisor import ChildSpec, SupervisorConfig

# The actors a --fault may target (the venue stands in for the exchange and is not one of them).
FAULT_TARGETS = ("streaming", "market_data", "liquidity", "strategy", "execution", "portfolio", "journal", "backup",
                 "reconciler",
                 "risk")

USER_STREAM = "user_stream"
PRIVATE_CHANNELS = ("user", "futures_balance_summary")  # heartbeats are always added
VENUES = ("sim", "exchange")
_ZERO = Decimal(0)


def products_of(profile: Profile) -> dict[str, ProductSpec]:
    return {pid: CATALOG[pid] for pid in profile.strategy.products}


def supervisor_config(profile: Profile) -> SupervisorConfig:
    s = profile.supervisor
    return SupervisorConfig(
        strategy=s.strategy, max_restarts=s.max_restarts, period_s=s.period_s,
        backoff=Backoff(s.backoff_base_s, s.backoff_factor, s.backoff_cap_s, s.backoff_jitter),
        ping_interval_s=s.ping_interval_s, hang_timeout_s=s.hang_timeout_s, seed=profile.run.seed,
    )


class StartState(msgspec.Struct, frozen=True):
    """What a `run` start rebuilt from its journal (actors.app.recovery) for the tree to start from."""

    holds: tuple[Hold, ...] = ()  # the orchestrator's first holds (RECOVERING, carried-over ones)
    fills: tuple[Fill, ...] = ()  # the journal's fills: the portfolio's ledger
    mismatch: PositionMismatch | None = None  # positions that still differ from the venue's
    day_start: tuple[int, Decimal] | None = None  # (UTC day, equity) journaled for today
    strategy: StrategyStart | None = None  # crossover windows and protective stops journaled

    def reported(self) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
        """Per venue order, (quantity, value, fees) of the journaled fills: the gateway's seed."""
        out: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
        for f in self.fills:
            if f.venue_order_id:
                q, v, fee = out.get(f.venue_order_id, (_ZERO, _ZERO, _ZERO))
                out[f.venue_order_id] = (q + f.size, v + f.size * f.price, fee + f.fee)
        return out

    def newest_fill(self) -> float | None:
        """The newest journaled fill's time: the fills watermark the gateway lists from."""
        return max((f.ts for f in self.fills if f.ts), default=None)


def child_specs(profile: Profile, run_dir: Path, feed_url: str | None, credentials: Any = None,
                products: dict[str, ProductSpec] | None = None, user_url: str | None = None,
                venue: str = "sim", rest_url: str | None = None, start: StartState | None = None) -> list[ChildSpec]:
    """Children in dependency order: each starts after everything it sends to. `feed_url` None:
    frames come from a replay driver, not a socket. `products`: rules read from the venue
    (default: the static catalog). With credentials and a feed, the private stream runs last
    against `user_url` (default: `streaming.user_url`, else the feed URL), failing over to the
    market-data `feed_url`. `venue` "exchange": the venue is the Coinbase gateway at `rest_url`
    (needs credentials and a feed), fed `user` frames by the private stream."""
    if venue not in VENUES:
        raise ValueError(f"venue must be one of {VENUES}, got {venue!r}")
    if venue == "exchange" and (credentials is None or feed_url is None or not rest_url):
        raise ValueError("venue 'exchange' needs credentials, a feed URL and a REST URL")
    products = products or products_of(profile)
    db_path = str(run_dir / profile.journal.file)
    timeout = profile.supervisor.shutdown_timeout_s
    venue_spec: tuple[str, type[Any], dict[str, Any]]
    if venue == "sim":
        venue_spec = ("venue", PaperVenueActor, {
            "products": products, "maker_fee_rate": profile.portfolio.maker_fee_rate,
            "taker_fee_rate": profile.portfolio.taker_fee_rate, "latency_ms": profile.venue.latency_ms,
            "latency_jitter": profile.venue.latency_jitter, "seed": profile.run.seed,
            "core": PaperVenue(products, profile.portfolio.maker_fee_rate, profile.portfolio.taker_fee_rate)})
        book_consumers: tuple[str, ...] = ("market_data", "venue")
    else:
        venue_spec = ("venue", CoinbaseGatewayActor, {
            "rest_url": rest_url, "credentials": credentials, "timeout_s": profile.venue.rest_timeout_s,
            "private_per_s": profile.venue.private_per_s, "reported": start.reported() if start else None,
            "newest_fill": start.newest_fill() if start else None,
            "dead_man_s": profile.run.dead_man_s if credentials is not None else None})
        book_consumers = ("market_data",)  # a real venue has its own book
    specs: list[tuple[str, type[Any], dict[str, Any]]] = [
        ("journal", JournalActor, {"db_path": db_path}),
        venue_spec,
        ("market_data", MarketDataActor, {"products": products, "bar_interval_s": profile.market_data.bar_interval_s,
                                          "stale_after_s": profile.market_data.stale_after_s,
                                          "view_interval_s": profile.market_data.view_interval_s}),
        ("liquidity", LiquidityActor, {"products": products}),
        ("portfolio", PortfolioActor, {"products": products, "config": profile.portfolio,
                                       "journal_fills": start.fills if start else ()}),
        ("execution", ExecutionActor, {"products": products, "config": profile.execution, "risk": profile.risk,
                                       "stale_after_s": profile.market_data.stale_after_s,
                                       "inflight_s": profile.reconcile.inflight_s,
                                       "intent_log": str(intent_log_path(db_path)) if profile.journal.write_ahead
                                       else None}),
        ("strategy", StrategyActor, {"products": products, "config": profile.strategy,
                                     "restored": start.strategy if start else None}),
        ("streaming", StreamingActor, {"products": tuple(products), "config": profile.streaming, "url": feed_url,
                                       "rest_url": rest_url or (rest_base_for(feed_url) if feed_url else None),
                                       "seed": profile.run.seed, "book_consumers": book_consumers,
                                       "credentials": credentials}),
        ("backup", BackupActor, {"db_path": db_path, "dest_dir": str(run_dir / profile.backup.dir),
                                 "config": profile.backup}),
        ("reconciler", ReconcilerActor, {"products": tuple(products), "interval_s": profile.reconcile.interval_s}),
        # Last, so a restart under rest_for_one takes nothing else down; it tells only the orchestrator.
        ("risk", RiskActor, {"products": products, "config": profile.risk,
                             "bar_interval_s": profile.market_data.bar_interval_s,
                             "day_start": start.day_start if start else None}),
        ("control", ControlActor, {"run_dir": str(run_dir)}),  # operator commands: bin/perpsbot ctl
    ]
    if credentials is not None and feed_url is not None:
        specs.append((USER_STREAM, StreamingActor, {
            "products": tuple(products), "config": profile.streaming,
            "url": user_url or profile.streaming.user_url or feed_url, "rest_url": None,
            "seed": profile.run.seed, "book_consumers": (), "credentials": credentials,
            "channels": PRIVATE_CHANNELS, "failover_url": feed_url,
            "failover_after": profile.streaming.user_failover_after, "metric_prefix": "feed.user_",
            **({"private_consumer": "venue"} if venue == "exchange" else {})}))
    return [ChildSpec(name, cls, kwargs, shutdown_timeout_s=timeout) for name, cls, kwargs in specs]


class Tree:
    """A running actor tree under the orchestrator."""

    def __init__(self, profile: Profile, services: Services, run_dir: Path, feed_url: str | None,
                 credentials: Any = None, products: dict[str, ProductSpec] | None = None,
                 user_url: str | None = None, venue: str = "sim", rest_url: str | None = None,
                 start: StartState | None = None) -> None:
        self.profile = profile
        self.services = services
        self.run_dir = run_dir
        self.venue = venue
        self.specs = child_specs(profile, run_dir, feed_url, credentials, products, user_url, venue, rest_url, start)
        self.orchestrator = Orchestrator.start(self.specs, supervisor_config(profile), services,
                                               initial_holds=start.holds if start else ())
        if start is not None and start.mismatch is not None:
            self.orchestrator.tell(start.mismatch)

    def names(self) -> list[str]:
        return [spec.name for spec in self.specs]

    def all_bound(self) -> bool:
        for name in self.names():
            entry = self.services.directory.get(name)
            if entry is None or entry.ref is None:
                return False
        return True

    def ask(self, name: str, message: Any, timeout: float = 5.0, default: Any = None) -> Any:
        """Ask a child by logical name; `default` if it is down or does not answer in time."""
        entry = self.services.directory.get(name)
        if entry is None or entry.ref is None:
            return default
        try:
            return entry.ref.ask(message, timeout=timeout)
        except (pykka.ActorDeadError, pykka.Timeout):
            return default

    def status(self, timeout: float = 5.0) -> dict[str, Any]:
        """The orchestrator's supervision status; raises pykka.Timeout if it does not answer."""
        return self.orchestrator.ask(STATUS, block=True, timeout=timeout)  # block=True: the reply, not a future

    def stop(self, timeout: float = 30.0) -> None:
        self.services.faults.release_all()  # hung handlers return, so every thread can end
        try:
            self.orchestrator.stop(block=True, timeout=timeout)
        except (pykka.ActorDeadError, pykka.Timeout):
            pass
        self.services.scheduler.stop()
