"""Addressing by logical name: the current incarnation (ref and epoch) of every supervised actor.

Owned and written by the supervisor only; every other thread reads it. Writes replace the whole
mapping (copy-on-write), so a reader always sees a consistent entry without locks.
Must never cache refs for callers: always look the name up at send time.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, NamedTuple


class Entry(NamedTuple):
    epoch: int
    ref: Any  # pykka.ActorRef, or None while the incarnation is starting or the child is down


class Directory:
    def __init__(self) -> None:
        self._entries: MappingProxyType[str, Entry] = MappingProxyType({})

    def _replace(self, name: str, entry: Entry | None) -> None:
        entries = dict(self._entries)
        if entry is None:
            entries.pop(name, None)
        else:
            entries[name] = entry
        self._entries = MappingProxyType(entries)

    def begin(self, name: str, epoch: int) -> None:
        """Announce a new incarnation: from now on only messages of `epoch` are current."""
        self._replace(name, Entry(epoch, None))

    def bind(self, name: str, epoch: int, ref: Any) -> None:
        current = self._entries.get(name)
        if current is not None and current.epoch == epoch:
            self._replace(name, Entry(epoch, ref))

    def remove(self, name: str) -> None:
        self._replace(name, None)

    def get(self, name: str) -> Entry | None:
        return self._entries.get(name)

    def epoch(self, name: str) -> int | None:
        entry = self._entries.get(name)
        return None if entry is None else entry.epoch

    def names(self) -> list[str]:
        return list(self._entries)
