"""In-flight message accounting, so a replay can wait until the actor tree is quiescent.

Owns one counter per actor incarnation: +1 when a message is sent to it, -1 when its handler has
finished with it. The tree is quiescent when every live incarnation's count is zero; a hung
incarnation that the supervisor abandoned is forgotten, so it cannot block replays forever.
Only replays use it (live runs pass None and pay nothing). Must never be read to make a trading
decision.
"""

from __future__ import annotations

import threading


class InflightTracker:
    def __init__(self) -> None:
        # Infrastructure lock: counts are changed from every actor thread.
        self._cond = threading.Condition()
        self._counts: dict[tuple[str, int], int] = {}
        self._forgotten: set[tuple[str, int]] = set()
        self._total = 0

    def sent(self, key: tuple[str, int]) -> None:
        with self._cond:
            if key in self._forgotten:
                return  # e.g. a timer of a hung, abandoned incarnation
            self._counts[key] = self._counts.get(key, 0) + 1
            self._total += 1

    def done(self, key: tuple[str, int]) -> None:
        with self._cond:
            count = self._counts.get(key)
            if not count:
                return  # forgotten incarnation
            self._counts[key] = count - 1
            self._total -= 1
            if self._total == 0:
                self._cond.notify_all()

    def forget(self, key: tuple[str, int]) -> None:
        """The incarnation is gone (crashed, hung and abandoned): its queued messages never finish."""
        with self._cond:
            self._forgotten.add(key)
            self._total -= self._counts.pop(key, 0)
            if self._total == 0:
                self._cond.notify_all()

    def wait_quiescent(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._total == 0, timeout=timeout)

    @property
    def in_flight(self) -> int:
        return self._total
