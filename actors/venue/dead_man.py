"""The dead-man switch: Coinbase has no cancel-on-disconnect for spot or US futures, so the bot is
its own.

Owns the private stream's silence and what it calls for: no frame at all (heartbeats included) for
`dead_man_s` trips it (every open order is to be cancelled, listed at the venue without the `OPEN`
filter, and trading held at REDUCING); the first frame after that asks for a reconciliation; once
the venue has been re-read the hold is released. Pure: times come in, verdicts go out. Must never
send anything itself (the gateway actor performs what it says).
"""

from __future__ import annotations

ARMED, TRIPPED, RECONCILING = "armed", "tripped", "reconciling"
TRIP, RECONCILE, RELEASE = "trip", "reconcile", "release"


class DeadMan:
    def __init__(self, dead_man_s: float, now: float) -> None:
        self.dead_man_s = dead_man_s
        self.last_frame = now  # the start counts as heard: the stream needs a moment to connect
        self.state = ARMED
        self.trips = 0

    def check(self, now: float) -> str | None:
        """TRIP once the stream has been silent for `dead_man_s`."""
        if self.state == ARMED and now - self.last_frame > self.dead_man_s:
            self.state = TRIPPED
            self.trips += 1
            return TRIP
        return None

    def on_frame(self, now: float) -> str | None:
        """RECONCILE on the first frame after a trip."""
        self.last_frame = now
        if self.state == TRIPPED:
            self.state = RECONCILING
            return RECONCILE
        return None

    def reconciled(self) -> str | None:
        """RELEASE once the venue was re-read after the stream came back."""
        if self.state == RECONCILING:
            self.state = ARMED
            return RELEASE
        return None

    def silent_for(self, now: float) -> float:
        return now - self.last_frame
