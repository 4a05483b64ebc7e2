"""Holds on the trading state: the worst one wins, releasing one returns only as far as the rest allow."""

from __future__ import annotations

import pytest

from actors.orchestrator.holds import Holds


def test_no_hold_is_active() -> None:
    assert Holds().state() == ("ACTIVE", "")


def test_the_worst_hold_sets_the_state_and_releases_step_back() -> None:
    holds = Holds()
    holds.put("feed", "REDUCING", "feed down")
    assert holds.state() == ("REDUCING", "feed down")
    holds.put("operator", "HALTED", "operator halt")
    assert holds.state() == ("HALTED", "operator halt")
    holds.put("risk:daily_loss", "REDUCING", "daily loss")
    assert holds.drop("operator")
    assert holds.state() == ("REDUCING", "feed down; daily loss")
    assert holds.describe() == "feed REDUCING (feed down), risk:daily_loss REDUCING (daily loss)"
    holds.put("feed", "ACTIVE", "")  # ACTIVE releases
    assert holds.sources() == ("risk:daily_loss",)
    assert not holds.drop("feed")


def test_unknown_state() -> None:
    with pytest.raises(ValueError):
        Holds().put("x", "PAUSED", "")
