"""What the strategy remembers across a restart: each product's crossover state (the window of
closes, the last sign, a pending confirmation) and the protective stop it keeps under each
position.

Owns the journaled shape of that state (StrategyStateRecord bodies keyed `crossover:PRODUCT`) and
StrategyStart, what a `run` start read back for the strategy actor: the crossover bodies and the
protective stops execution holds armed (the same journal rows execution re-arms from, so the two
never disagree about which stop guards a position). Must never read the journal itself (the
caller does) or decide anything: it only carries state.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

CROSSOVER_KEY = "crossover:"
PROTECTIVE_SUFFIX = ":stop"  # the intent ids of protective stops (actors.strategy.protective)


class CrossoverSnapshot(msgspec.Struct, frozen=True):
    """One product's crossover state after the bar that ended at `bar_end`."""

    closes: tuple[Decimal, ...]
    last_sign: int
    primed: bool
    pending_sign: int
    pending_held: int
    bar_end: float
    interval_s: float


class HeldStop(msgspec.Struct, frozen=True):
    """A protective stop execution holds armed for `product_id`."""

    product_id: str
    intent_id: str
    side: str
    size: Decimal
    stop_price: Decimal


class StrategyStart(msgspec.Struct, frozen=True):
    crossover: tuple[tuple[str, CrossoverSnapshot], ...] = ()
    stops: tuple[HeldStop, ...] = ()


_snapshot_decoder = msgspec.json.Decoder(CrossoverSnapshot)


def encode_snapshot(snapshot: CrossoverSnapshot) -> str:
    return msgspec.json.encode(snapshot).decode()


def strategy_start(bodies: dict[str, str], held_stops: list[HeldStop]) -> tuple[StrategyStart, int]:
    """The start from the journal's `strategy_state` bodies and execution's held protective stops;
    also how many bodies were unreadable (skipped: the window then starts empty)."""
    crossover, unreadable = [], 0
    for key, body in sorted(bodies.items()):
        if not key.startswith(CROSSOVER_KEY):
            continue
        try:
            crossover.append((key[len(CROSSOVER_KEY):], _snapshot_decoder.decode(body)))
        except msgspec.DecodeError:
            unreadable += 1
    stops = tuple(s for s in held_stops if s.intent_id.endswith(PROTECTIVE_SUFFIX))
    return StrategyStart(tuple(crossover), stops), unreadable
