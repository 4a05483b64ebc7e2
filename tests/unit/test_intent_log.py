"""Execution's intent log: one line per order written before it is sent, read back whole in
order, a torn or garbage line skipped and counted, a refused write raised (never half a line
taken for an intent), and the file emptied once the journal has it."""

from __future__ import annotations

import errno
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from actors.execution.intent_log import IntentLog, clear, intent_log_path, read_intents
from domain.orders import PlaceOrder


def order(n: int) -> PlaceOrder:
    return PlaceOrder(f"pb-{n:04d}", "BIP-20DEC30-CDE", "SELL", "stop_limit", Decimal("3.000"), Decimal("99.50"),
                      stop_price=Decimal("100.00"), reduce_only=True, leverage=Decimal("2"))


def test_intents_read_back_exactly_in_order_and_appends_survive_a_reopen(tmp_path):
    path = intent_log_path(tmp_path / "perpsbot.db")
    assert path.name == "perpsbot.db-intents"
    log = IntentLog(path)
    for n in range(3):
        log.append(order(n), f"i{n}", 1_700_000_000.123456 + n)
    log.close()
    log = IntentLog(path)  # a restarted execution appends to what is there
    log.append(order(3), "i3", 5.0)
    log.close()
    intents, unreadable = read_intents(path)
    assert unreadable == 0
    assert [(i.order, i.intent_id) for i in intents] == [(order(n), f"i{n}") for n in range(4)]
    assert intents[0].ts == 1_700_000_000.123456 and intents[0].order.size == Decimal("3.000"), "exact"
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_torn_last_line_and_garbage_are_skipped_and_counted(tmp_path):
    path = tmp_path / "db-intents"
    log = IntentLog(path)
    log.append(order(1), "i1", 1.0)
    log.append(order(2), "i2", 2.0)
    log.close()
    whole = path.read_bytes()
    path.write_bytes(whole + b"not json\n" + whole.splitlines()[0][:40])  # garbage, then a torn line
    intents, unreadable = read_intents(path)
    assert [i.intent_id for i in intents] == ["i1", "i2"] and unreadable == 2
    assert read_intents(tmp_path / "absent") == ([], 0)


def test_a_write_the_os_refuses_raises_and_leaves_no_line(tmp_path):
    path = tmp_path / "db-intents"
    log = IntentLog(path)
    log.full = True  # the execution:disk_full drill
    with pytest.raises(OSError) as raised:
        log.append(order(1), "i1", 1.0)
    assert raised.value.errno == errno.ENOSPC
    log.close()
    with pytest.raises(OSError):
        log.append(order(2), "i2", 2.0)
    assert read_intents(path) == ([], 0)


def test_a_line_written_just_before_a_kill_9_is_there(tmp_path):
    path = tmp_path / "db-intents"
    script = ("import os, sys; from decimal import Decimal; from actors.execution.intent_log import IntentLog;"
              "from domain.orders import PlaceOrder;"
              f"log = IntentLog({str(path)!r});"
              "log.append(PlaceOrder('pb-1', 'BTC-USD', 'BUY', 'market', Decimal('0.01')), 'i1', 1.0);"
              "os.kill(os.getpid(), 9)")
    done = subprocess.run([sys.executable, "-c", script], timeout=60, cwd=Path(__file__).parents[2])
    assert done.returncode == -9, "killed, no close, no flush of ours"
    intents, unreadable = read_intents(path)
    assert [i.order.client_order_id for i in intents] == ["pb-1"] and unreadable == 0


def test_clear_empties_the_log(tmp_path):
    path = tmp_path / "db-intents"
    log = IntentLog(path)
    log.append(order(1), "i1", 1.0)
    clear(path)
    log.append(order(2), "i2", 2.0)  # O_APPEND: the next line starts at the new end
    log.close()
    assert [i.intent_id for i in read_intents(path)[0]] == ["i2"]
    clear(tmp_path / "absent")  # nothing to clear: no error
