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
from typing import Annotated, Any, Literal

import msgspec

from domain.products import CATALOG

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


class RunConfig(_Section, frozen=True):
    duration_s: Annotated[float, msgspec.Meta(ge=0.1)] = 60.0
    seed: int = 1
    data_dir: Name = "data"
    # `run`: at a clean stop, cancel the orders still open at the venue (false: leave them working).
    cancel_on_exit: bool = True
    # `run`: the private stream or its heartbeats silent this long: cancel every open order, REDUCING.
    dead_man_s: Seconds = 30.0


class StreamingConfig(_Section, frozen=True):
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


class MarketDataConfig(_Section, frozen=True):
    bar_interval_s: Seconds = 1.0
    stale_after_s: Seconds = 5.0
    view_interval_s: Seconds = 0.25


class StrategyConfig(_Section, frozen=True):
    products: tuple[str, ...] = ("BTC-USD", "BIP-20DEC30-CDE")
    short_window: Window = 5
    long_window: Annotated[int, msgspec.Meta(ge=2)] = 20
    confirmation_bars: Count = 0
    equity_fraction: Decimal = Decimal("0.1")
    target_leverage: Decimal = Decimal("1")
    # A trailing reduce-only stop-market this far from the close under every position (0: none).
    stop_loss_bps: Decimal = Decimal("100")

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
        _require_range("stop_loss_bps", self.stop_loss_bps, Decimal(0), Decimal(5000), low_open=False)


class ExecutionConfig(_Section, frozen=True):
    max_position_notional: Decimal = Decimal("50000")  # per product, quote currency
    max_leverage: Decimal = Decimal("3")
    max_impact_bps: Decimal = Decimal("50")  # the impact guard: estimated impact of the order

    def __post_init__(self) -> None:
        _require_positive("max_position_notional", self.max_position_notional)
        _require_positive("max_leverage", self.max_leverage)
        _require_positive("max_impact_bps", self.max_impact_bps)


class RiskConfig(_Section, frozen=True):
    """Pre-trade limits (the pre-trade gate, actors.risk.gate, after [execution]'s) and the runtime
    guards (the risk actor). Percentages are of equity unless said otherwise; money and ratios are
    strings."""

    max_slippage_bps: Decimal = Decimal("50")  # a limit price this much worse than the mark is refused
    liquidation_buffer_pct: Decimal = Decimal("15")  # (equity - maintenance margin) / equity, at least
    max_exposure_product_pct: Decimal = Decimal("20")  # one product's notional
    max_exposure_total_pct: Decimal = Decimal("80")  # gross notional
    min_liquidation_distance_pct: Decimal = Decimal("10")  # |mark - liquidation price| / mark, perps
    # Per product: notional / equity caps (unlisted: the venue's 1 / initial margin rate), and lower
    # caps for the UTC night window [night_start_hour_utc, night_end_hour_utc) (equal: no window).
    product_max_leverage: dict[str, Decimal] = {}
    product_max_leverage_night: dict[str, Decimal] = {}
    night_start_hour_utc: Annotated[int, msgspec.Meta(ge=0, le=23)] = 0
    night_end_hour_utc: Annotated[int, msgspec.Meta(ge=0, le=23)] = 0
    # Runtime guards, evaluated every interval_s.
    interval_s: Seconds = 1.0
    max_daily_loss_pct: Decimal = Decimal("5")  # of start-of-day (UTC) equity: REDUCING, latched
    volatility_window: Window = 20  # bars
    # RMS of bar returns in bps, scaled to a one-minute horizon (per-bar thresholds x sqrt(bar/60 s)).
    volatility_warn_bps: Decimal = Decimal("100")
    volatility_reducing_bps: Decimal = Decimal("200")
    volatility_halted_bps: Decimal = Decimal("400")
    volatility_cooldown_s: Annotated[float, msgspec.Meta(ge=0)] = 300.0
    max_concentration_pct: Decimal = Decimal("70")  # one product's share of gross exposure: WARN

    def __post_init__(self) -> None:
        _require_positive("max_slippage_bps", self.max_slippage_bps)
        for field in ("liquidation_buffer_pct", "min_liquidation_distance_pct"):
            _require_range(field, getattr(self, field), Decimal(0), Decimal(100), low_open=False)
        for field in ("max_exposure_product_pct", "max_exposure_total_pct", "max_concentration_pct"):
            _require_range(field, getattr(self, field), Decimal(0), Decimal(10_000), low_open=True)
        if self.max_exposure_product_pct > self.max_exposure_total_pct:
            raise ValueError(
                f"max_exposure_product_pct: must be <= max_exposure_total_pct ({self.max_exposure_total_pct}),"
                f" got {self.max_exposure_product_pct}"
            )
        for field in ("product_max_leverage", "product_max_leverage_night"):
            for product_id, cap in getattr(self, field).items():
                if product_id not in CATALOG:
                    known = ", ".join(sorted(CATALOG))
                    raise ValueError(f'{field}: unknown product "{product_id}" (known: {known})')
                _require_positive(f"{field}", cap)
        if self.product_max_leverage_night and self.night_start_hour_utc == self.night_end_hour_utc:
            raise ValueError(
                "product_max_leverage_night: never applies while night_start_hour_utc equals"
                f" night_end_hour_utc ({self.night_end_hour_utc})"
            )
        _require_range("max_daily_loss_pct", self.max_daily_loss_pct, Decimal(0), Decimal(100), low_open=True)
        if self.max_daily_loss_pct == 100:
            raise ValueError("max_daily_loss_pct: must be < 100, got 100")
        _require_positive("volatility_warn_bps", self.volatility_warn_bps)
        if not self.volatility_warn_bps <= self.volatility_reducing_bps <= self.volatility_halted_bps:
            raise ValueError(
                "volatility_reducing_bps: thresholds must rise: warn"
                f" ({self.volatility_warn_bps}) <= reducing <= halted ({self.volatility_halted_bps}),"
                f" got {self.volatility_reducing_bps}"
            )
        for field in ("volatility_reducing_bps", "volatility_halted_bps"):
            _finite(field, getattr(self, field))


class PortfolioConfig(_Section, frozen=True):
    starting_cash: Decimal = Decimal("100000")
    maker_fee_rate: Decimal = Decimal("0.0004")
    taker_fee_rate: Decimal = Decimal("0.0006")

    def __post_init__(self) -> None:
        _require_positive("starting_cash", self.starting_cash)
        # A fee rate above 10% is a typo (percent written as a fraction), not a venue.
        for field in ("maker_fee_rate", "taker_fee_rate"):
            _require_range(field, getattr(self, field), Decimal(0), Decimal("0.1"), low_open=False)


class VenueConfig(_Section, frozen=True):
    """The in-process paper venue. Each order and cancel reaches it after latency_ms, varied by
    +- latency_jitter of itself (seeded by run.seed), and meets the book as it stands then.
    The Coinbase gateway (`paper --venue exchange`, live runs): rest_timeout_s bounds each REST
    request (no answer in time is an unknown outcome for a create), private_per_s is its private
    request budget (Coinbase allows 30/s)."""

    latency_ms: Annotated[float, msgspec.Meta(ge=0, le=10_000)] = 20.0
    latency_jitter: Jitter = 0.5
    rest_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 5.0
    private_per_s: Annotated[float, msgspec.Meta(gt=0, le=30)] = 15.0


class JournalConfig(_Section, frozen=True):
    file: Name = "perpsbot.db"
    # Every order's intent is written to execution's intent log (`<journal file>-intents`) before
    # the order is sent; the journal takes it over at the next start. false: no intent log, the
    # order is journaled only after it is sent (bench's baseline).
    write_ahead: bool = True


class BackupConfig(_Section, frozen=True):
    """Tiers (actors.backup.plan): `frequent` every interval_s (keeps `keep`), `hourly`, `daily`,
    one per clean `shutdown` and per `escalation`; each tier keeps its newest *_keep and drops
    those older than *_max_age_s (never the tier's newest). A test restore every
    test_restore_interval_s."""

    interval_s: Seconds = 30.0
    keep: Annotated[int, msgspec.Meta(ge=1)] = 5
    dir: Name = "backups"
    frequent_max_age_s: Seconds = 86_400.0
    hourly_keep: Window = 24
    hourly_max_age_s: Seconds = 172_800.0
    daily_keep: Window = 7
    daily_max_age_s: Seconds = 2_592_000.0
    shutdown_keep: Window = 5
    shutdown_max_age_s: Seconds = 2_592_000.0
    escalation_keep: Window = 10
    escalation_max_age_s: Seconds = 7_776_000.0
    test_restore_interval_s: Seconds = 3_600.0

    def __post_init__(self) -> None:
        # An age limit below the tier's period would keep only the newest: a typo, not a policy.
        for field, period in (("frequent_max_age_s", self.interval_s), ("hourly_max_age_s", 3_600.0),
                              ("daily_max_age_s", 86_400.0)):
            if getattr(self, field) < period:
                raise ValueError(f"{field}: must be >= the tier's period ({period:g} s), got {getattr(self, field):g}")


class ReconcileConfig(_Section, frozen=True):
    """Reconciliation with the venue: at every start of `run`, on a schedule, after a reconnect."""

    interval_s: Seconds = 60.0
    inflight_s: Seconds = 10.0  # an order with no answer this long is asked for at the venue
    # Orders at the venue this bot never placed: left alone (and reported), cancelled, or adopted.
    foreign_orders: Literal["ignore", "cancel", "adopt"] = "ignore"


class SupervisorConfig(_Section, frozen=True):
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


class Profile(_Section, frozen=True):
    """A whole run configuration. Every section is optional in the file; missing keys take the
    defaults above, which are the `paper` profile."""

    run: RunConfig = msgspec.field(default_factory=RunConfig)
    # The built-in exchange's own section, opaque here: exchange.config reads and checks it when a
    # command starts the exchange (the bot's configuration must not know the simulator's).
    exchange: dict[str, Any] = msgspec.field(default_factory=dict)
    streaming: StreamingConfig = msgspec.field(default_factory=StreamingConfig)
    market_data: MarketDataConfig = msgspec.field(default_factory=MarketDataConfig)
    strategy: StrategyConfig = msgspec.field(default_factory=StrategyConfig)
    execution: ExecutionConfig = msgspec.field(default_factory=ExecutionConfig)
    risk: RiskConfig = msgspec.field(default_factory=RiskConfig)
    portfolio: PortfolioConfig = msgspec.field(default_factory=PortfolioConfig)
    venue: VenueConfig = msgspec.field(default_factory=VenueConfig)
    journal: JournalConfig = msgspec.field(default_factory=JournalConfig)
    backup: BackupConfig = msgspec.field(default_factory=BackupConfig)
    reconcile: ReconcileConfig = msgspec.field(default_factory=ReconcileConfig)
    supervisor: SupervisorConfig = msgspec.field(default_factory=SupervisorConfig)
