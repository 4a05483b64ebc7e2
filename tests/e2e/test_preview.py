"""`bin/perpsbot orders preview`: the quantized order, every check's verdict and the exact body,
nothing sent; bad arguments are one line and exit 2."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from actors.risk.gate import CHECK_NAMES

ROOT = Path(__file__).resolve().parents[2]
PERPSBOT = [sys.executable, str(ROOT / "bin" / "perpsbot")]
PERP = "BIP-20DEC30-CDE"


def preview(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PERPSBOT, "orders", "preview", *args], capture_output=True, text=True, timeout=60)


def as_json(*args: str) -> dict:
    result = preview(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_limit_order_is_quantized_checked_and_its_body_shown():
    # 3.7 contracts floor to 3; a BUY limit 100499 floors to the tick of 5: 100495, 49.5 bps over the
    # mark 100000: inside the 50 bps slippage limit.
    out = as_json("--product", PERP, "--side", "buy", "--type", "limit", "--size", "3.7", "--price", "100499",
                  "--post-only", "--mark", "100000")
    order = out["order"]
    assert (order["size"], order["limit_price"], order["time_in_force"], order["post_only"]) == \
        ("3", "100495", "GTC", True)
    assert [c["check"] for c in out["checks"]] == list(CHECK_NAMES)
    verdicts = {c["check"]: c for c in out["checks"]}
    assert verdicts["slippage"]["verdict"] == "pass"
    assert "49.5 bps" in verdicts["slippage"]["detail"]
    # --mark gives no liquidity metrics: the impact guard refuses as the bot would.
    assert (verdicts["impact"]["verdict"], verdicts["impact"]["reason"]) == ("refuse", "no_liquidity_data")
    assert out["accepted"] is False and out["refusal"] == "no_liquidity_data"
    body = dict(out["body"])
    assert re.fullmatch(r"pb-[0-9a-f]{24}", body.pop("client_order_id"))  # derived from the order: same every run
    assert body == {
        "product_id": PERP, "side": "BUY",
        "order_configuration": {"limit_limit_gtc": {"base_size": "3", "limit_price": "100495", "post_only": True}},
    }


def test_slippage_is_the_limit_against_the_mark():
    out = as_json("--product", "BTC-USD", "--side", "SELL", "--type", "limit", "--size", "0.1", "--price", "99000",
                  "--mark", "100000")  # 100 bps under the mark: over 50
    refused = [(c["check"], c["reason"]) for c in out["checks"] if c["verdict"] == "refuse"]
    assert ("slippage", "slippage") in refused


def test_a_reduce_only_order_that_would_flip_is_refused():
    out = as_json("--product", PERP, "--side", "SELL", "--type", "market", "--size", "5", "--reduce-only",
                  "--position", "3", "--mark", "100000")
    assert out["refusal"] == "reduce_only"
    assert out["body"]["order_configuration"] == {"market_market_ioc": {"base_size": "5"}}


def test_a_stop_limit_gtd_with_the_built_in_market(tmp_path):
    out = as_json("--product", PERP, "--side", "SELL", "--type", "stop_limit", "--size", "2", "--price", "1000",
                  "--stop", "1003", "--tif", "gtd", "--end-time", "2030-01-01T00:00:00Z")
    assert out["market"]["source"].startswith("built-in exchange, seed 1")
    assert out["market"]["liquidity"]["condition"] in ("excellent", "good", "fair", "poor", "critical")
    config = out["body"]["order_configuration"]["stop_limit_stop_limit_gtd"]
    # SELL prices round up to the tick of 5; a stop under the market triggers going down.
    assert config == {"base_size": "2", "limit_price": "1000", "stop_price": "1005",
                      "stop_direction": "STOP_DIRECTION_STOP_DOWN", "end_time": "2030-01-01T00:00:00Z"}
    assert {c["check"]: c["verdict"] for c in out["checks"]}["impact"] == "pass"


def test_a_stop_market_is_held_locally_and_shows_the_market_order_it_becomes():
    out = as_json("--product", PERP, "--side", "SELL", "--type", "stop_market", "--size", "1", "--stop", "95002",
                  "--reduce-only", "--position", "2", "--mark", "100000")
    assert (out["order"]["type"], out["order"]["stop_price"], out["order"]["stop_direction"]) == \
        ("stop_market", "95005", "STOP_DIRECTION_STOP_DOWN")
    assert out["held_locally"] is True and out["accepted"] is True
    assert out["body"]["order_configuration"] == {"market_market_ioc": {"base_size": "1"}}
    assert "held     by perpsbot" in preview("--product", PERP, "--side", "SELL", "--type", "stop_market", "--size",
                                             "1", "--stop", "95002", "--mark", "100000").stdout


def test_text_output():
    result = preview("--product", "BTC-USD", "--side", "BUY", "--type", "market", "--size", "0.01", "--mark", "50000")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "orders preview: nothing is sent"
    assert lines[1] == "  order    BTC-USD BUY market size 0.01 IOC"
    assert any(line.startswith("  verdict  refused: no_liquidity_data") for line in lines)
    body = next(line for line in lines if line.startswith("  body     "))
    assert json.loads(body.removeprefix("  body     "))["order_configuration"] == {
        "market_market_ioc": {"base_size": "0.01"}}


@pytest.mark.parametrize("args,needle", [
    (["--product", "DOGE-USD", "--side", "BUY", "--type", "market", "--size", "1"], "unknown product"),
    (["--product", PERP, "--side", "BUY", "--type", "limit", "--size", "1"], "--price is required"),
    (["--product", PERP, "--side", "BUY", "--type", "market", "--size", "1", "--post-only"], "--post-only"),
    (["--product", PERP, "--side", "BUY", "--type", "market", "--size", "abc"], "--size must be a number"),
    (["--product", PERP, "--side", "BUY", "--type", "market", "--size", "-1"], "--size must be a positive"),
    (["--product", PERP, "--side", "HOLD", "--type", "market", "--size", "1"], "--side"),
    (["--product", PERP, "--side", "BUY", "--type", "stop", "--size", "1"], "--type"),
    (["--product", PERP, "--side", "BUY", "--type", "limit", "--size", "1", "--price", "1", "--tif", "GTD"],
     "--end-time is required"),
    (["--product", PERP, "--side", "BUY", "--type", "limit", "--size", "1", "--price", "1", "--tif", "GTD",
      "--end-time", "tomorrow"], "RFC 3339"),
    (["--product", PERP, "--side", "BUY", "--type", "stop_limit", "--size", "1", "--price", "1"], "--stop is required"),
    (["--product", PERP, "--side", "BUY", "--type", "stop_market", "--size", "1"], "--stop is required"),
    (["--product", PERP, "--side", "BUY", "--type", "stop_market", "--size", "1", "--stop", "1", "--price", "1"],
     "--price applies"),
    (["--product", PERP, "--side", "BUY", "--type", "market", "--size", "0.5", "--mark", "1"], "below_min_size"),
    (["--product", PERP, "--side", "BUY", "--type", "limit", "--size", "1", "--price", "1", "--tif", "IOC",
      "--post-only", "--mark", "1"], "invalid_post_only"),
    (["--product", PERP, "--side", "BUY", "--type", "market", "--size", "1", "--tif", "GTC", "--mark", "1"],
     "invalid_time_in_force"),
    (["--product", PERP, "--side", "BUY", "--type", "market", "--size", "1", "--profile", "nope"], "nope"),
    (["--side", "BUY", "--type", "market", "--size", "1"], "--product"),
])
def test_bad_arguments_exit_2_with_one_line(args, needle):
    result = preview(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert needle in result.stderr
