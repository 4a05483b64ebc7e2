"""The dead-man switch on a `run` against the built-in exchange (its own process): the exchange
stalls every connection, so the private stream falls silent (heartbeats included); past
`run.dead_man_s` every open order is cancelled and trading goes REDUCING; once the stream is back
and the venue re-read it goes ACTIVE again, and the run ends with the bot's positions equal to
the exchange's."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.e2e.test_run_live import ENV, PERPSBOT, ROOT
from tests.support import wait_until

STALL_AT_S, STALL_FOR_S, DEAD_MAN_S = 3.0, 3.0, 1.5


def _profile(tmp: Path) -> Path:
    text = (ROOT / "config" / "profiles" / "dev.toml").read_text()
    path = tmp / "dead_man.toml"
    path.write_text(text.replace("[run]\n", f"[run]\ndead_man_s = {DEAD_MAN_S}\n", 1))
    return path


def test_a_silent_private_stream_cancels_everything_holds_reducing_and_releases_once_back(tmp_path):
    key = tmp_path / "key.json"
    exchange = subprocess.Popen([*PERPSBOT, "exchange", "--port", "0", "--seed", "3", "--new-key", str(key),
                                 "--duration", "120", "--chaos", f"stall:at={STALL_AT_S},for={STALL_FOR_S}"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=ENV)
    run = None
    try:
        lines: list[str] = []
        wait_until(lambda: lines.append(exchange.stdout.readline()) or "--rest-url" in lines[-1], timeout=20,
                   what="exchange URLs")
        urls = lines[-1].split()
        report = tmp_path / "report.json"
        log = tmp_path / "run.log"
        with log.open("w") as err:
            run = subprocess.run([*PERPSBOT, "run", "--profile", str(_profile(tmp_path)), "--data-dir",
                                  str(tmp_path / "data"), "--key-file", str(key), *urls, "--duration", "9",
                                  "--report-json", str(report)], stdout=subprocess.DEVNULL, stderr=err,
                                 timeout=90, env=ENV)
        text = log.read_text()
        assert run.returncode == 0, text[-2000:]
        states = re.findall(r"trading state (\w+) -> (\w+): (.*)", text)
        tripped = [i for i, (_, new, why) in enumerate(states) if new == "REDUCING" and why.startswith("dead-man")]
        assert tripped, f"the switch never tripped: {states}"
        assert "dead-man switch: the private stream has been silent" in text
        assert any(new == "ACTIVE" and "dead-man switch released" in why for _, new, why in states[tripped[0]:])
        result = json.loads(report.read_text())
        assert result["exchange"]["matches"], result["exchange"]
    finally:
        exchange.terminate()
        exchange.wait(timeout=20)
