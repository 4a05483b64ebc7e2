"""Shared fixtures: every test must leave no actor and no thread behind."""

from __future__ import annotations

import threading

import pykka
import pytest

from tests.support import wait_until
from tests.tree_harness import TreeHarness


@pytest.fixture(autouse=True)
def no_leaked_threads():
    before = {t.ident for t in threading.enumerate()}
    yield
    pykka.ActorRegistry.stop_all(block=True, timeout=10)

    def leaked() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]

    try:
        wait_until(lambda: not leaked(), timeout=10, what="threads to finish")
    except AssertionError:
        pytest.fail(f"leaked threads: {[t.name for t in leaked()]}")


@pytest.fixture
def harness():
    """Make whole trees on the manual clock (tests.tree_harness); each is stopped at the end."""
    made: list[TreeHarness] = []

    def make(**kwargs) -> TreeHarness:
        h = TreeHarness(**kwargs)
        made.append(h)
        return h

    yield make
    for h in made:
        h.stop()
