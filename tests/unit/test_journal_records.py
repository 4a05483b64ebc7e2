"""The journal's recovery records: frozen tagged values that survive JSON and msgpack exactly, each
written by the journal actor, and a module that imports nothing of ours but execution's messages."""

from __future__ import annotations

import ast
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from actors.journal.actor import JournalActor
from domain import records
from domain.orders import OrderPlaced, PlaceOrder
from domain.records import DayStartRecord, Intent, StrategyStateRecord, TradingStateRecord, WatermarkRecord

ORDER = PlaceOrder("c1", "BIP-20DEC30-CDE", "SELL", "stop_limit", Decimal("3.000"), Decimal("99.50"),
                   stop_price=Decimal("100.00"), reduce_only=True, leverage=Decimal("2"))
SAMPLES = [
    OrderPlaced(ORDER, "i1", 1_700_000_000.123456),
    TradingStateRecord(2.0, "HALTED", "daily loss limit", (("risk", "HALTED: daily loss limit"),), 19_675),
    TradingStateRecord(2.5, "ACTIVE", "resume", (), None),
    DayStartRecord(19_675, Decimal("10000.000000000000000001"), 3.0),
    WatermarkRecord("fills.cursor", "MTcwMDAwMDAwMA==", 4.0),
    StrategyStateRecord("sma:BTC-USD", '{"closes":["64000.1"]}', 5.0),
    Intent("c1", "i1", ORDER, 1.0),
]
WRITTEN = (OrderPlaced, TradingStateRecord, DayStartRecord, WatermarkRecord, StrategyStateRecord)


@pytest.mark.parametrize("record", SAMPLES, ids=lambda r: type(r).__name__)
def test_records_round_trip_exactly_through_json_and_msgpack(record):
    kind = type(record)
    formats = ((msgspec.json.encode, msgspec.json.decode), (msgspec.msgpack.encode, msgspec.msgpack.decode))
    for encode, decode in formats:
        assert decode(encode(record), type=kind) == record
    union = msgspec.json.decode(msgspec.json.encode(record), type=kind | WatermarkRecord | DayStartRecord)
    assert type(union) is kind, "tagged: a union of records decodes to the right one"


def test_records_are_frozen_tagged_and_hold_tuples():
    for kind in (*WRITTEN, Intent):
        config = kind.__struct_config__
        assert config.frozen and config.tag == kind.__name__, kind
    record = SAMPLES[1]
    with pytest.raises(AttributeError):
        record.state = "ACTIVE"
    decoded = msgspec.json.decode(msgspec.json.encode(record), type=TradingStateRecord)
    assert type(decoded.holds) is tuple and type(decoded.holds[0]) is tuple
    assert b'"equity":"10000.000000000000000001"' in msgspec.json.encode(SAMPLES[3]), "money as exact text"


def test_the_journal_actor_writes_every_record():
    assert set(WRITTEN) <= set(JournalActor._WRITES)


def test_records_import_nothing_of_the_bot():
    """The records are domain values: loading them loads nothing of actors, runtime or config."""
    tree = ast.parse(Path(records.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert {name for name in imported if name.split(".")[0] in ("actors", "runtime", "config")} == set()
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, domain.records; "
         "print(sorted(m for m in sys.modules if m.split('.')[0] in ('actors', 'runtime', 'config')))"],
        capture_output=True, text=True, timeout=60, check=True, cwd=Path(records.__file__).parents[1]).stdout
    assert ast.literal_eval(loaded) == []
