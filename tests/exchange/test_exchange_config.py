"""The exchange's own `[exchange]` section: read by its own type, each bad key refused in one line
(exit 2 from `paper`, before anything starts), and its fee schedule charged by the exchange."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from exchange.config import ExchangeConfig, ExchangeConfigError, exchange_config

PERPSBOT = [sys.executable, str(Path(__file__).resolve().parents[2] / "bin" / "perpsbot")]


def test_an_empty_section_is_the_defaults_and_the_fee_schedule_follows_the_rates():
    assert exchange_config({}) == ExchangeConfig()
    settings = exchange_config({"tick_interval_s": 0.05, "maker_fee_rate": "0", "taker_fee_rate": "0.001"})
    assert (settings.tick_interval_s, settings.fees.maker, settings.fees.taker) == (0.05, 0, Decimal("0.001"))


@pytest.mark.parametrize("table,says", [
    ({"tick_interval_s": 0}, "[exchange] tick_interval_s: must be from 0.001 to 60 seconds"),
    ({"tick": 1}, '[exchange] Object contains unknown field "tick"'),
    ({"maker_fee_rate": "x"}, "[exchange] maker_fee_rate: Invalid decimal string"),
    ({"taker_fee_rate": "0.5"}, "[exchange] taker_fee_rate: must be a fraction from 0 to 0.1"),
])
def test_a_bad_key_is_named_in_one_line(table, says):
    with pytest.raises(ExchangeConfigError) as refused:
        exchange_config(table)
    assert str(refused.value).startswith(says) and "\n" not in str(refused.value)


def test_paper_refuses_a_bad_exchange_section_before_it_starts(tmp_path):
    profile = tmp_path / "bad.toml"
    profile.write_text("[exchange]\ntick_interval_s = -1\n")
    done = subprocess.run([*PERPSBOT, "paper", "--profile", str(profile), "--duration", "5",
                           "--data-dir", str(tmp_path / "data")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "perpsbot: error: [exchange] tick_interval_s: must be from 0.001 to 60 seconds, got -1.0"]
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())
