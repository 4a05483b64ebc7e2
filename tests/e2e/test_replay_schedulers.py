"""A replay on the single-threaded dispatcher and on Pykka threads: the same trading, bit for bit.

The fingerprint hashes fills, orders and positions; the bundled sample's is pinned, so neither
scheduler can drift from the other or from what replays gave before the dispatcher existed.
"""

from __future__ import annotations

import threading

import pytest

from actors.app.replay import load_capture, run_replay
from actors.app.tree import FAULT_TARGETS
from config.loader import apply_overrides, load_profile
from runtime.faults import parse_fault

SAMPLE_FINGERPRINT = "5ff554219b63713c9f542b7a38ae157402844f72e9f1fa0372fafc94f05da931"


def _replay(tmp_path, name, threads, faults=()):
    profile = apply_overrides(load_profile("paper"), **{"run.data_dir": str(tmp_path / name)})
    capture, lines = load_capture(None)
    specs = [parse_fault(text, FAULT_TARGETS) for text in faults]
    return run_replay(profile, capture, lines, specs, threads=threads)


def _trading(report):
    supervision = report["supervision"]
    return {
        "fingerprint": report["fingerprint"],
        "positions": report["positions"],
        "trading": report["trading"],
        "restarts": supervision["restarts"],
        "events": supervision["events"],  # "kind child#epoch detail", the back-off delays included
        "feed": {k: report["feed"][k] for k in ("frames", "gaps", "malformed")},
    }


def test_the_bundled_sample_trades_identically_on_both_schedulers(tmp_path):
    before = {t.ident for t in threading.enumerate()}
    dispatched, status_d = _replay(tmp_path, "dispatcher", threads=False)
    assert not {t.ident for t in threading.enumerate() if t.is_alive()} - before  # no actor thread was made
    threaded, status_t = _replay(tmp_path, "threads", threads=True)
    assert status_d == status_t == 0
    assert dispatched["replay"]["scheduler"] == "dispatcher" and threaded["replay"]["scheduler"] == "threads"
    assert dispatched["replay"]["frames"] == threaded["replay"]["frames"] == dispatched["replay"]["frames_in_capture"]
    assert dispatched["trading"]["fills"] > 0
    assert _trading(dispatched) == _trading(threaded)
    assert dispatched["fingerprint"] == SAMPLE_FINGERPRINT


@pytest.mark.parametrize("fault", ["market_data:crash:after=400", "portfolio:crash:on=Fill:after=2"])
def test_a_crash_is_supervised_the_same_way_on_both_schedulers(tmp_path, fault):
    dispatched, _ = _replay(tmp_path, "dispatcher", threads=False, faults=[fault])
    threaded, _ = _replay(tmp_path, "threads", threads=True, faults=[fault])
    actor = fault.split(":")[0]
    assert dispatched["supervision"]["restarts"][actor] == 1  # the fault fired, and was restarted from
    assert f"restarted {actor}#2" in dispatched["supervision"]["events"]
    assert _trading(dispatched) == _trading(threaded)


def test_a_blocking_fault_replays_on_threads(tmp_path):
    report, _ = _replay(tmp_path, "hang", threads=False, faults=["strategy:slow:after=5:slow_s=0.01"])
    assert report["replay"]["scheduler"] == "threads"
