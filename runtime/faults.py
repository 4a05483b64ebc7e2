"""Fault plans: deliberate failures injected into an actor's message handling, for tests and drills.

Owns parsing of `ACTOR:KIND[:after=N|every=N][:on=MessageType]` and deciding, per handled message,
whether a fault fires. A plan's counter is shared by every incarnation of its actor, so `after=N`
fires once per run while `every=N` keeps firing (every=1 is a poison message). The actor base
performs the generic kinds; an actor-specific kind (ACTOR_KINDS) is performed by the actors named:
`journal:disk_full` makes the journal's database grow no further, so its next write needing a page
fails with sqlite's own "database or disk is full"; `execution:disk_full` refuses every write to its
intent log from then on (ENOSPC). Must never decide anything about trading.
"""

from __future__ import annotations

import threading

import msgspec

KINDS = ("crash", "hang", "slow", "drop", "duplicate", "disk_full")
BLOCKING_FAULTS = ("hang", "slow")  # they block the handler: only actors on their own threads can carry them
ACTOR_KINDS = {"disk_full": ("journal", "execution")}  # kinds only these actors can perform


class FaultSpecError(ValueError):
    pass


class InjectedFault(RuntimeError):
    """Raised by a `crash` fault."""


class FaultSpec(msgspec.Struct, frozen=True):
    actor: str
    kind: str
    after: int | None = None
    every: int | None = None
    on: str | None = None  # only count messages of this type name
    slow_s: float = 0.05
    hang_s: float = 30.0


def parse_fault(text: str, actors: tuple[str, ...]) -> FaultSpec:
    parts = text.split(":")
    if len(parts) < 2:
        raise FaultSpecError(f"--fault {text!r}: expected ACTOR:KIND[:after=N|every=N]")
    actor, kind, options = parts[0], parts[1], parts[2:]
    if actor not in actors:
        raise FaultSpecError(f"--fault {text!r}: unknown actor {actor!r} (one of {', '.join(actors)})")
    if kind not in KINDS:
        raise FaultSpecError(f"--fault {text!r}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
    if kind in ACTOR_KINDS and actor not in ACTOR_KINDS[kind]:
        raise FaultSpecError(f"--fault {text!r}: {kind} applies only to {', '.join(ACTOR_KINDS[kind])}")
    fields: dict[str, object] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key not in ("after", "every", "on", "slow_s", "hang_s"):
            raise FaultSpecError(f"--fault {text!r}: bad option {option!r}")
        try:
            if key in ("after", "every"):
                number = int(value)
                if number < 1:
                    raise ValueError
                fields[key] = number
            elif key in ("slow_s", "hang_s"):
                fields[key] = float(value)
            else:
                fields[key] = value
        except ValueError:
            raise FaultSpecError(f"--fault {text!r}: {key} must be a positive number") from None
    if "after" in fields and "every" in fields:
        raise FaultSpecError(f"--fault {text!r}: use after= or every=, not both")
    if "after" not in fields and "every" not in fields:
        fields["after"] = 1
    return FaultSpec(actor=actor, kind=kind, **fields)  # type: ignore[arg-type]


class FaultInjector:
    """Counts the matching messages an actor handles and says which fault, if any, fires now."""

    def __init__(self, specs: list[FaultSpec], release: threading.Event) -> None:
        self.specs = specs
        self.release = release  # set at shutdown: every hang ends
        self._counts = [0] * len(specs)
        self.fired = 0

    def check(self, message: object) -> FaultSpec | None:
        type_name = type(message).__name__
        for index, spec in enumerate(self.specs):
            if spec.on is not None and spec.on != type_name:
                continue
            self._counts[index] += 1
            count = self._counts[index]
            if (spec.after is not None and count == spec.after) or (
                spec.every is not None and count % spec.every == 0
            ):
                self.fired += 1
                return spec
        return None


class FaultPlan:
    """All fault specs of a run, grouped by actor name."""

    def __init__(self, specs: list[FaultSpec] | None = None) -> None:
        self.release = threading.Event()
        by_actor: dict[str, list[FaultSpec]] = {}
        for spec in specs or []:
            by_actor.setdefault(spec.actor, []).append(spec)
        self._injectors = {name: FaultInjector(group, self.release) for name, group in by_actor.items()}

    def arm(self, spec: FaultSpec) -> None:
        """Add a fault while the tree runs (drills, tests). Counting starts now."""
        injectors = dict(self._injectors)  # copy-on-write: actor threads read this mapping
        current = injectors.get(spec.actor)
        injectors[spec.actor] = FaultInjector((current.specs if current else []) + [spec], self.release)
        self._injectors = injectors

    def injector(self, actor: str) -> FaultInjector | None:
        return self._injectors.get(actor)

    def release_all(self) -> None:
        self.release.set()

    def fired(self) -> dict[str, int]:
        return {name: inj.fired for name, inj in self._injectors.items()}
