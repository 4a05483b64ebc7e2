"""Chaos for the built-in exchange: what can go wrong with its feed, its private REST and its
`user` channel, and when.

Owns the `--chaos SPEC` grammar (`KIND:every=SECONDS` or `KIND:at=SECONDS`, plus `for=SECONDS` for
the kinds that last a while, options separated by commas, e.g. `stall:at=40,for=8`; `rest_5xx` also
takes `accept=1`: order writes are carried out before the 503) and the plan that says which
injections are due at a given time. `every=S` fires at start + S, start + 2S, ...; `at=S` fires
once at start + S.

Pure: no clocks, no sockets, no threads. Time comes in as an argument (epoch seconds of the
exchange's injected clock); the server applies what is due to its connections.
"""

from __future__ import annotations

import math
from typing import Iterable

import msgspec

DISCONNECT = "disconnect"  # close every connection abruptly (no close frame)
GAP = "gap"  # skip one sequence number on every connection
STALL = "stall"  # send nothing for a while; the socket stays open
DUPLICATE = "duplicate"  # send the next data frame twice with the same sequence_num
REORDER = "reorder"  # send the next two data frames in swapped order
MALFORMED = "malformed"  # send a line of invalid JSON
ERROR_FRAME = "error_frame"  # send {"type": "error", ...}
NO_HEARTBEAT = "no_heartbeat"  # suppress heartbeats for a while; other data continues
SLOW_SNAPSHOT = "slow_snapshot"  # for a while, level2 snapshots arrive that much after subscribe
REFUSE = "refuse"  # refuse new WebSocket connections (HTTP 503) for a while
IGNORE_SUBSCRIBE = "ignore_subscribe"  # for a while, subscribe messages get no answer
# Private REST and the user channel
REST_TIMEOUT = "rest_timeout"  # for a while, order writes are carried out and never answered in time
REST_5XX = "rest_5xx"  # for a while, private requests get HTTP 503 (with accept=1: writes done first)
REST_429 = "rest_429"  # for a while, private requests get HTTP 429 until the window's end
USER_DUPLICATE = "user_duplicate"  # for a while, every user-channel update is sent twice
USER_REPLAY = "user_replay"  # re-send the last user-channel updates (older states, again)

# Default durations of the kinds that last; the others are instantaneous.
DEFAULT_DURATION_S: dict[str, float] = {
    STALL: 8.0,
    REFUSE: 5.0,
    NO_HEARTBEAT: 5.0,
    SLOW_SNAPSHOT: 3.0,
    IGNORE_SUBSCRIBE: 5.0,
    REST_TIMEOUT: 5.0,
    REST_5XX: 3.0,
    REST_429: 3.0,
    USER_DUPLICATE: 5.0,
}
INSTANT_KINDS = (DISCONNECT, GAP, DUPLICATE, REORDER, MALFORMED, ERROR_FRAME, USER_REPLAY)
ACCEPT_KINDS = (REST_5XX,)  # the kinds taking `accept=0|1`
KINDS = (*INSTANT_KINDS, *DEFAULT_DURATION_S)


class ChaosSpecError(ValueError):
    """A chaos spec that cannot be parsed; the message names the spec and the problem, one line."""


class ChaosSpec(msgspec.Struct, frozen=True):
    """One injection schedule: exactly one of `every_s` / `at_s` is set."""

    kind: str
    every_s: float | None = None
    at_s: float | None = None
    duration_s: float = 0.0  # 0 for instantaneous kinds
    accept: bool = False  # rest_5xx: carry out order writes, then answer 503

    def __str__(self) -> str:
        timing = f"every={self.every_s:g}" if self.every_s is not None else f"at={self.at_s:g}"
        lasting = f",for={self.duration_s:g}" if self.kind in DEFAULT_DURATION_S else ""
        accepting = ",accept=1" if self.accept else ""
        return f"{self.kind}:{timing}{lasting}{accepting}"


class ChaosEvent(msgspec.Struct, frozen=True):
    """One firing of a spec, at the time it was scheduled for."""

    kind: str
    ts: float
    duration_s: float
    spec: ChaosSpec


def parse_chaos(text: str) -> ChaosSpec:
    """Parse `KIND:every=S` / `KIND:at=S` with optional `,for=S` (and `,accept=0|1` for rest_5xx);
    raise ChaosSpecError if bad."""

    def fail(problem: str) -> ChaosSpecError:
        return ChaosSpecError(f"bad chaos spec {text!r}: {problem}")

    kind, _, options = text.strip().partition(":")
    kind = kind.strip()
    if kind not in KINDS:
        raise fail(f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    values: dict[str, float] = {}
    accept: bool | None = None
    for option in filter(None, (o.strip() for o in options.split(","))):
        key, sep, raw = option.partition("=")
        key = key.strip()
        if not sep:
            raise fail(f"option {option!r} is not KEY=SECONDS")
        if key == "accept":
            if kind not in ACCEPT_KINDS:
                raise fail(f"accept= applies only to {', '.join(ACCEPT_KINDS)}")
            if accept is not None:
                raise fail("option 'accept' given twice")
            if raw.strip() not in ("0", "1"):
                raise fail(f"accept={raw.strip()!r} must be 0 or 1")
            accept = raw.strip() == "1"
            continue
        if key not in ("every", "at", "for"):
            raise fail(f"unknown option {key!r} (expected every, at or for)")
        if key in values:
            raise fail(f"option {key!r} given twice")
        try:
            value = float(raw)
        except ValueError:
            raise fail(f"{key}={raw.strip()!r} is not a number of seconds") from None
        if not math.isfinite(value) or value < 0 or (value == 0 and key != "at"):
            raise fail(f"{key}={raw.strip()} must be {'>= 0' if key == 'at' else '> 0'} seconds")
        values[key] = value
    if ("every" in values) == ("at" in values):
        raise fail("give exactly one of every=SECONDS or at=SECONDS")
    if "for" in values and kind not in DEFAULT_DURATION_S:
        raise fail(f"for= applies only to {', '.join(DEFAULT_DURATION_S)}")
    return ChaosSpec(
        kind=kind,
        every_s=values.get("every"),
        at_s=values.get("at"),
        duration_s=values.get("for", DEFAULT_DURATION_S.get(kind, 0.0)),
        accept=bool(accept),
    )


class ChaosPlan:
    """Which injections are due, given the time. Each firing is returned exactly once."""

    def __init__(self, specs: Iterable[ChaosSpec], start_ts: float) -> None:
        self._specs = tuple(specs)
        self._start_ts = start_ts
        self._fired = [0] * len(self._specs)  # firings returned so far, per spec
        self._counts: dict[str, int] = {}

    @property
    def specs(self) -> tuple[ChaosSpec, ...]:
        return self._specs

    def due(self, now: float) -> list[ChaosEvent]:
        """Every firing scheduled at or before `now` not returned before, oldest first."""
        events: list[tuple[float, int, ChaosEvent]] = []
        for index, spec in enumerate(self._specs):
            while (ts := self._next_ts(index)) is not None and ts <= now:
                self._fired[index] += 1
                events.append((ts, index, ChaosEvent(spec.kind, ts, spec.duration_s, spec)))
        events.sort(key=lambda e: (e[0], e[1]))
        for _, _, event in events:
            self._counts[event.kind] = self._counts.get(event.kind, 0) + 1
        return [event for _, _, event in events]

    def next_ts(self) -> float | None:
        """When the next firing is scheduled, or None when nothing is left."""
        times = [t for i in range(len(self._specs)) if (t := self._next_ts(i)) is not None]
        return min(times, default=None)

    def counts(self) -> dict[str, int]:
        """Firings returned so far, by kind."""
        return dict(self._counts)

    def _next_ts(self, index: int) -> float | None:
        spec, fired = self._specs[index], self._fired[index]
        if spec.every_s is not None:
            return self._start_ts + (fired + 1) * spec.every_s
        assert spec.at_s is not None  # exactly one of every_s / at_s is set
        return self._start_ts + spec.at_s if fired == 0 else None
