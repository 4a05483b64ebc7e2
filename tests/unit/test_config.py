"""Profiles load, validate, and fail with one line naming the file and the key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from config.loader import PROFILE_NAMES, ConfigError, apply_overrides, load_profile
from config.schema import Profile
from exchange.config import ExchangeConfig, exchange_config


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_every_bundled_profile_loads(name: str) -> None:
    profile = load_profile(name)
    assert isinstance(profile, Profile)
    exchange_config(profile.exchange)  # the exchange's own section is valid too
    assert profile.strategy.short_window < profile.strategy.long_window


def test_paper_is_the_default_and_equals_the_schema_defaults() -> None:
    paper = load_profile("paper")
    assert load_profile() == paper == msgspec.structs.replace(Profile(), exchange=paper.exchange)
    assert exchange_config(paper.exchange) == ExchangeConfig()  # the exchange's own section, its defaults
    p = Profile()
    assert p.strategy.products == ("BTC-USD", "BIP-20DEC30-CDE")
    assert p.strategy.equity_fraction == Decimal("0.1")
    assert p.portfolio.taker_fee_rate == Decimal("0.0006")
    assert p.supervisor.strategy == "one_for_one"


def test_profiles_differ_where_they_should() -> None:
    paper, dev, canary, prod = (load_profile(n) for n in ("paper", "dev", "canary", "prod"))
    assert dev.market_data.bar_interval_s < paper.market_data.bar_interval_s
    assert dev.strategy.equity_fraction < paper.strategy.equity_fraction
    assert canary.strategy.equity_fraction < paper.strategy.equity_fraction
    assert canary.execution.max_position_notional < paper.execution.max_position_notional
    assert prod.execution.max_leverage < paper.execution.max_leverage


def test_bare_name_resolves_inside_the_package_not_the_cwd(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_profile("dev").strategy.long_window == 8


def test_unknown_profile_name() -> None:
    with pytest.raises(ConfigError) as info:
        load_profile("nope")
    assert str(info.value).startswith('config/profiles/nope.toml: no such profile "nope"')


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return str(path)


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "[strategy]\nshort_window = 3\nfoo = 1\n")
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    assert str(info.value) == f'{path}: unknown key "strategy.foo"'
    assert "\n" not in str(info.value)


def test_unknown_section(tmp_path: Path) -> None:
    path = _write(tmp_path, "[stratgy]\nshort_window = 3\n")
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    assert str(info.value) == f'{path}: unknown key "stratgy"'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[run]\nduration_s = -1\n", "run.duration_s: Expected float >= 0.1, got -1"),
        ("[run]\nseed = \"x\"\n", 'run.seed: Expected int, got "x"'),
        (
            "[supervisor]\nstrategy = \"all\"\n",
            'supervisor.strategy: expected one of "one_for_one", "rest_for_one", "one_for_all", got "all"',
        ),
        (
            "[strategy]\nshort_window = 20\nlong_window = 10\n",
            "strategy.short_window: must be < long_window (10), got 20",
        ),
        ("[strategy]\nequity_fraction = \"0\"\n", "strategy.equity_fraction: must be in (0, 1], got 0"),
        (
            "[strategy]\nproducts = [\"ETH-USD\"]\n",
            'strategy.products: unknown product "ETH-USD" (known: BIP-20DEC30-CDE, BTC-USD)',
        ),
        ("[execution]\nmax_leverage = \"-2\"\n", "execution.max_leverage: must be > 0, got -2"),
        ("[streaming]\nchannels = [\"level2\", \"bogus\"]\n", "streaming.channels[1]: expected one of"),
        (
            "[supervisor]\nping_interval_s = 2.0\nhang_timeout_s = 1.0\n",
            "supervisor.hang_timeout_s: must be > ping_interval_s (2.0), got 1.0",
        ),
    ],
)
def test_bad_value_is_one_line_naming_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {expected}")
    assert "\n" not in message


def test_invalid_toml(tmp_path: Path) -> None:
    path = _write(tmp_path, "[run\n")
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    assert str(info.value).startswith(f"{path}: invalid TOML: ")


def test_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "absent.toml")
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    assert str(info.value).startswith(f"{path}: cannot read")


def test_decimals_from_strings_and_floats_are_exact(tmp_path: Path) -> None:
    path = _write(tmp_path, '[portfolio]\nmaker_fee_rate = "0.00015"\ntaker_fee_rate = 0.0007\n')
    profile = load_profile(path)
    assert profile.portfolio.maker_fee_rate == Decimal("0.00015")
    assert profile.portfolio.taker_fee_rate == Decimal("0.0007")


def test_overrides_replace_nested_fields_and_keep_the_rest() -> None:
    base = load_profile("paper")
    out = apply_overrides(
        base,
        **{"run.seed": 7, "strategy.equity_fraction": Decimal("0.25")},
        market_data__bar_interval_s=0.5,
    )
    assert out.run.seed == 7
    assert out.strategy.equity_fraction == Decimal("0.25")
    assert out.market_data.bar_interval_s == 0.5
    assert out.run.duration_s == base.run.duration_s
    assert base.run.seed == 1  # the original is untouched (frozen values)


def test_overrides_convert_cli_strings() -> None:
    out = apply_overrides(
        Profile(),
        **{"run.seed": "42", "strategy.products": "BTC-USD", "portfolio.starting_cash": "2500.50"},
    )
    assert out.run.seed == 42
    assert out.strategy.products == ("BTC-USD",)
    assert out.portfolio.starting_cash == Decimal("2500.50")


def test_override_errors_name_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(Profile(), **{"run.nope": 1})
    assert str(info.value) == 'overrides: unknown key "run.nope"'
    with pytest.raises(ConfigError) as info:
        apply_overrides(Profile(), **{"run.duration_s": -1})
    assert str(info.value) == "overrides: run.duration_s: Expected float >= 0.1, got -1"
    with pytest.raises(ConfigError) as info:
        apply_overrides(Profile(), **{"strategy.long_window": 3})
    assert str(info.value) == "overrides: strategy.short_window: must be < long_window (3), got 5"
