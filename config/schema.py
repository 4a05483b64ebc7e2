"""The configuration schema: one frozen msgspec Struct per TOML section, and `Profile` over them.

Owns the names, types, defaults and value ranges of every setting. Ranges msgspec can express
(floats, ints, enums) are `Annotated` constraints; the rest (Decimal ranges, relations between
fields, product ids) are checked in `__post_init__`, which raises `ValueError("<field>: <why>")`
so the loader can name the key. Unknown keys are refused: these are our own files, not venue data.
Must never read files, the environment or the clock (that is `config.loader`'s job).

Money and fractions are `Decimal`. TOML has no decimal type: write them as strings ("0.0004") to
keep every digit; a TOML float is accepted and converted through its shortest repr.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from actors.products import CATALOG

Seconds = Annotated[float, msgspec.Meta(gt=0)]
Factor = Annotated[float, msgspec.Meta(ge=1)]
Jitter = Annotated[float, msgspec.Meta(ge=0, le=1)]
Count = Annotated[int, msgspec.Meta(ge=0)]
Window = Annotated[int, msgspec.Meta(ge=1)]
Name = Annotated[str, msgspec.Meta(min_length=1)]

Channel = Literal["level2", "market_trades", "ticker", "ticker_batch", "candles", "status", "heartbeats"]
SupervisorStrategy = Literal["one_for_one", "rest_for_one", "one_for_all"]


def _finite(field: str, value: Decimal) -> None:
    if not value.is_finite():
        raise ValueError(f"{field}: must be a finite number, got {value}")


def _require_positive(field: str, value: Decimal) -> None:
    _finite(field, value)
    if value <= 0:
        raise ValueError(f"{field}: must be > 0, got {value}")


def _require_range(field: str, value: Decimal, low: Decimal, high: Decimal, low_open: bool) -> None:
    _finite(field, value)
    below = value <= low if low_open else value < low
    if below or value > high:
        bracket = "(" if low_open else "["
        raise ValueError(f"{field}: must be in {bracket}{low}, {high}], got {value}")


def _require_unique(field: str, values: tuple[str, ...]) -> None:
    if not values:
        raise ValueError(f"{field}: must not be empty")
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ValueError(f'{field}: duplicate entry "{v}"')
        seen.add(v)


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class RunConfig(_Section):
    duration_s: Annotated[float, msgspec.Meta(ge=0.1)] = 60.0
    seed: int = 1
    data_dir: Name = "data"


class ExchangeConfig(_Section):
    tick_interval_s: Seconds = 0.1


class StreamingConfig(_Section):
    channels: tuple[Channel, ...] = ("level2", "market_trades", "ticker", "status")
    reconnect_base_s: Seconds = 0.5
    reconnect_factor: Factor = 2.0
    reconnect_cap_s: Seconds = 30.0
    reconnect_jitter: Jitter = 0.25
    # Streaming never gives up: after this many failed reconnects in a row trading goes REDUCING
    # (and returns to its previous state once every book is valid again); retries go on at the cap.
    reduce_after_attempts: Annotated[int, msgspec.Meta(ge=1)] = 5
    stable_period_s: Seconds = 10.0  # connected this long: the attempt counter starts afresh
    message_timeout_s: Seconds = 5.0  # no frame at all for this long: the socket is dead
    heartbeat_timeout_s: Seconds = 3.5  # no heartbeat for this long (they come every second)
    watchdog_interval_s: Seconds = 0.5
    rest_fallback: bool = True  # refresh books from the public product_book while unhealthy
    rest_interval_s: Seconds = 1.0  # per product; keep products / interval under 10 req/s
    # The private stream (user, futures_balance_summary; runs only with credentials). "" derives it
    # at run time: the built-in exchange's user endpoint in paper, the feed URL for another feed.
    user_url: str = ""
    # Failed connections in a row to the endpoint in use before the private stream tries the other
    # one (the user-data endpoint and the market-data endpoint, its failover).
    user_failover_after: Annotated[int, msgspec.Meta(ge=1)] = 3

    def __post_init__(self) -> None:
        _require_unique("channels", self.channels)
        if self.user_url and not self.user_url.startswith(("ws://", "wss://")):
            raise ValueError(f"user_url: must be a ws:// or wss:// URL (or empty), got {self.user_url!r}")
        if self.reconnect_cap_s < self.reconnect_base_s:
            raise ValueError(
                f"reconnect_cap_s: must be >= reconnect_base_s ({self.reconnect_base_s}),"
                f" got {self.reconnect_cap_s}"
            )


class MarketDataConfig(_Section):
    bar_interval_s: Seconds = 1.0
    stale_after_s: Seconds = 5.0
    view_interval_s: Seconds = 0.25


class StrategyConfig(_Section):
    products: tuple[str, ...] = ("BTC-USD", "BIP-20DEC30-CDE")
    short_window: Window = 5
    long_window: Annotated[int, msgspec.Meta(ge=2)] = 20
    confirmation_bars: Count = 0
    equity_fraction: Decimal = Decimal("0.1")
    target_leverage: Decimal = Decimal("1")

    def __post_init__(self) -> None:
        _require_unique("products", self.products)
        for product_id in self.products:
            if product_id not in CATALOG:
                known = ", ".join(sorted(CATALOG))
                raise ValueError(f'products: unknown product "{product_id}" (known: {known})')
        if self.short_window >= self.long_window:
            raise ValueError(
                f"short_window: must be < long_window ({self.long_window}), got {self.short_window}"
            )
        _require_range("equity_fraction", self.equity_fraction, Decimal(0), Decimal(1), low_open=True)
        _require_positive("target_leverage", self.target_leverage)


class ExecutionConfig(_Section):
    max_position_notional: Decimal = Decimal("50000")  # per product, quote currency
    max_leverage: Decimal = Decimal("3")
    max_impact_bps: Decimal = Decimal("50")  # the impact guard: estimated impact of the order

    def __post_init__(self) -> None:
        _require_positive("max_position_notional", self.max_position_notional)
        _require_positive("max_leverage", self.max_leverage)
        _require_positive("max_impact_bps", self.max_impact_bps)


class PortfolioConfig(_Section):
    starting_cash: Decimal = Decimal("100000")
    maker_fee_rate: Decimal = Decimal("0.0004")
    taker_fee_rate: Decimal = Decimal("0.0006")

    def __post_init__(self) -> None:
        _require_positive("starting_cash", self.starting_cash)
        # A fee rate above 10% is a typo (percent written as a fraction), not a venue.
        for field in ("maker_fee_rate", "taker_fee_rate"):
            _require_range(field, getattr(self, field), Decimal(0), Decimal("0.1"), low_open=False)


class VenueConfig(_Section):
    """The in-process paper venue. Each order and cancel reaches it after latency_ms, varied by
    +- latency_jitter of itself (seeded by run.seed), and meets the book as it stands then."""

    latency_ms: Annotated[float, msgspec.Meta(ge=0, le=10_000)] = 20.0
    latency_jitter: Jitter = 0.5


class JournalConfig(_Section):
    file: Name = "perpsbot.db"


class BackupConfig(_Section):
    interval_s: Seconds = 30.0
    keep: Annotated[int, msgspec.Meta(ge=1)] = 5
    dir: Name = "backups"


class SupervisorConfig(_Section):
    strategy: SupervisorStrategy = "one_for_one"
    max_restarts: Count = 5
    period_s: Seconds = 30.0
    backoff_base_s: Seconds = 0.05
    backoff_factor: Factor = 2.0
    backoff_cap_s: Seconds = 2.0
    backoff_jitter: Jitter = 0.2
    ping_interval_s: Seconds = 0.25
    hang_timeout_s: Seconds = 1.5
    shutdown_timeout_s: Seconds = 2.0

    def __post_init__(self) -> None:
        if self.backoff_cap_s < self.backoff_base_s:
            raise ValueError(
                f"backoff_cap_s: must be >= backoff_base_s ({self.backoff_base_s}),"
                f" got {self.backoff_cap_s}"
            )
        # A hang is detected by a missed ping reply, so the deadline must span at least one ping.
        if self.hang_timeout_s <= self.ping_interval_s:
            raise ValueError(
                f"hang_timeout_s: must be > ping_interval_s ({self.ping_interval_s}),"
                f" got {self.hang_timeout_s}"
            )


class Profile(_Section):
    """A whole run configuration. Every section is optional in the file; missing keys take the
    defaults above, which are the `paper` profile."""

    run: RunConfig = msgspec.field(default_factory=RunConfig)
    exchange: ExchangeConfig = msgspec.field(default_factory=ExchangeConfig)
    streaming: StreamingConfig = msgspec.field(default_factory=StreamingConfig)
    market_data: MarketDataConfig = msgspec.field(default_factory=MarketDataConfig)
    strategy: StrategyConfig = msgspec.field(default_factory=StrategyConfig)
    execution: ExecutionConfig = msgspec.field(default_factory=ExecutionConfig)
    portfolio: PortfolioConfig = msgspec.field(default_factory=PortfolioConfig)
    venue: VenueConfig = msgspec.field(default_factory=VenueConfig)
    journal: JournalConfig = msgspec.field(default_factory=JournalConfig)
    backup: BackupConfig = msgspec.field(default_factory=BackupConfig)
    supervisor: SupervisorConfig = msgspec.field(default_factory=SupervisorConfig)
