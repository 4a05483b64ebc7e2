"""A gateway crash that takes a filled order's `user` frame and its create's answer with it, under
429 storms, on the exchange venue (bin/perpsbot as a subprocess): the restarted gateway learns
from execution only that the order's fate is unknown, its re-sent create (throttled, held, then
answered with the original order) says only that the order exists, and what it did while nobody
listened is read from the venue, so both sides of the wire agree on every position."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal

import pytest

from tests.e2e.test_paper_exchange_venue import PERPSBOT, without_credentials

# The crash lands on the first order's fill frame (the first `user` frame is the subscribe
# snapshot). Held create answers (rest_timeout) make sure that answer is lost with the crash
# rather than racing the frame; the 429 storms throttle the new incarnation's re-sends.
FAULT = "venue:crash:after=2:on=UserStreamFrame"
CHAOS = ("rest_timeout:at=1,for=6", "rest_429:every=8")  # 8-11 s, 16-19 s: none on at the report


@pytest.mark.slow
def test_a_gateway_crashed_on_a_fill_under_429s_loses_no_fill(tmp_path):
    out = tmp_path / "report.json"
    chaos = [arg for spec in CHAOS for arg in ("--chaos", spec)]
    result = subprocess.run([*PERPSBOT, "paper", "--venue", "exchange", "--profile", "dev", "--duration", "20",
                             "--data-dir", str(tmp_path / "data"), "--report-json", str(out), "--fault", FAULT, *chaos],
                            capture_output=True, text=True, timeout=90, env=without_credentials())
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    trading, exchange = report["trading"], report["exchange"]
    assert "error" not in exchange, exchange
    assert report["supervision"]["restarts"]["venue"] >= 1  # the fault fired
    assert report["chaos"]["rest_429"] >= 1 and report["chaos"]["rest_timeout"] >= 1
    assert trading["throttled"] >= 1 and trading["fills"] >= 1
    bot = {pid: Decimal(p["size"]) for pid, p in report["positions"].items() if Decimal(p["size"])}
    venue = {pid: Decimal(size) for pid, size in exchange["net_filled"].items() if Decimal(size)}
    assert exchange["matches"] is True and bot == venue, (report["positions"], exchange)
    assert exchange["orders"] == exchange["client_order_ids"]  # never two venue orders for one intent
    assert trading["unsettled_orders"] == 0, trading
