"""The streaming connection's decisions, synchronously: no socket, no thread, time given by the test.

Back-off and its reset after a stable period, failover and the way back, the watchdogs, the REST
fallback's edges and REDUCING after N failed attempts (reported once, and up again once healthy)."""

from __future__ import annotations

import random

import pytest

from actors.streaming.connection import Close, ConnectionPolicy, Fallback, Later, Note, ReportFeed
from config.schema import StreamingConfig
from runtime.clock import ManualClock

CONFIG = StreamingConfig(reconnect_base_s=0.5, reconnect_factor=2.0, reconnect_cap_s=4.0, reconnect_jitter=0.0,
                         reduce_after_attempts=3, stable_period_s=10.0, message_timeout_s=5.0,
                         heartbeat_timeout_s=3.5)
BOOKS = frozenset({"BTC-USD", "ETH-USD"})
PRIMARY, FAILOVER = "wss://primary", "wss://failover"


def policy(**kw) -> ConnectionPolicy:
    args = {"config": CONFIG, "url": PRIMARY, "epoch": 1, "rng": random.Random(1), "level2_products": BOOKS,
            "fallback": True}
    return ConnectionPolicy(**{**args, **kw})


def of(effects, kind):
    return [e for e in effects if type(e) is kind]


def connect_and_sync(p: ConnectionPolicy, clock: ManualClock) -> list:
    [connect] = p.connect(clock.now())
    assert p.opened(connect.conn, clock.now())
    for product in sorted(BOOKS):
        p.snapshot(product, connect.conn)
    return p.health()


def test_back_off_doubles_to_the_cap_and_never_gives_up() -> None:
    clock, p = ManualClock(), policy()
    delays = []
    for _ in range(8):
        [connect] = p.connect(clock.now())
        effects = p.closed(connect.conn, "refused", clock.now())
        assert type(effects[0]) is Close
        [later] = of(effects, Later)
        delays.append(later.delay_s)
        clock.advance(later.delay_s)
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert p.attempt == 8


def test_jitter_stays_within_its_fraction_and_repeats_with_the_seed() -> None:
    config = StreamingConfig(reconnect_base_s=1.0, reconnect_factor=2.0, reconnect_cap_s=30.0, reconnect_jitter=0.25)

    def delays(seed: int) -> list[float]:
        p = policy(config=config, rng=random.Random(seed))
        out = []
        for _ in range(4):
            [connect] = p.connect(0.0)
            out += [e.delay_s for e in of(p.closed(connect.conn, "x", 0.0), Later)]
        return out

    first = delays(3)
    assert first == delays(3) != delays(4)
    for attempt, delay in enumerate(first, start=1):
        raw = min(2.0 ** (attempt - 1), 30.0)
        assert raw * 0.75 <= delay <= raw * 1.25


def test_reducing_after_n_failed_attempts_once_then_up_again_when_every_book_is_fresh() -> None:
    clock, p = ManualClock(), policy()
    reports = []
    for attempt in range(1, 6):
        [connect] = p.connect(clock.now())
        effects = p.closed(connect.conn, "refused", clock.now())
        reports += of(effects, ReportFeed)
        if attempt < CONFIG.reduce_after_attempts:
            assert not reports
    assert reports == [ReportFeed(False, "refused", 3)]  # once, at the third failure in a row
    [connect] = p.connect(clock.now())
    assert p.opened(connect.conn, clock.now())
    p.snapshot("BTC-USD", connect.conn)
    assert of(p.health(), ReportFeed) == []  # one book still without a snapshot
    p.snapshot("ETH-USD", connect.conn)
    assert p.health() == [Fallback(False), ReportFeed(True, "subscribed with fresh snapshots")]


def test_a_stable_connection_resets_the_back_off() -> None:
    clock, p = ManualClock(), policy()
    for _ in range(2):
        [connect] = p.connect(clock.now())
        p.closed(connect.conn, "refused", clock.now())
    connect_and_sync(p, clock)
    clock.advance(CONFIG.stable_period_s)
    p.frame(p.conn, clock.now())
    assert p.watchdog(clock.now(), clock.now()) == []
    assert p.attempt == 0
    [later] = of(p.closed(p.conn, "lost", clock.now()), Later)
    assert later.delay_s == CONFIG.reconnect_base_s and later.attempt == 1


def test_failover_after_n_failures_and_back_to_the_primary_when_a_stable_failover_connection_is_lost() -> None:
    clock, p = ManualClock(), policy(failover_url=FAILOVER, failover_after=2)
    urls = []
    notes = []
    for _ in range(3):
        [connect] = p.connect(clock.now())
        urls.append(connect.url)
        notes += [n.counter for n in of(p.closed(connect.conn, "refused", clock.now()), Note)]
    assert urls == [PRIMARY, PRIMARY, FAILOVER]
    assert notes.count("failovers") == 1
    connect_and_sync(p, clock)
    assert p.url == FAILOVER
    clock.advance(CONFIG.stable_period_s + 1)
    p.closed(p.conn, "lost", clock.now())
    [connect] = p.connect(clock.now())
    assert connect.url == PRIMARY


def test_connection_numbers_are_unique_across_incarnations_and_late_events_are_ignored() -> None:
    clock = ManualClock()
    first, second = policy(epoch=1), policy(epoch=2)
    [a] = first.connect(clock.now())
    [b] = second.connect(clock.now())
    assert a.conn != b.conn
    [c] = first.closed(a.conn, "x", clock.now())[:1]
    assert type(c) is Close
    [d] = first.connect(clock.now())
    assert d.conn != a.conn
    assert first.closed(a.conn, "late close of the old socket", clock.now()) == []
    assert not first.opened(a.conn, clock.now())


@pytest.mark.parametrize("case,advance,heartbeat_age,reason", [
    ("no connection", 5.1, None, "no connection within 5.0s"),
    ("no frame", 5.1, 0.0, "no frame for 5.1s"),
    ("no heartbeat", 3.6, 3.6, "no heartbeat for 3.6s"),
])
def test_watchdogs_declare_a_silent_socket_dead(case, advance, heartbeat_age, reason) -> None:
    clock, p = ManualClock(), policy()
    [connect] = p.connect(clock.now())
    if case != "no connection":
        p.opened(connect.conn, clock.now())
    start = clock.now()
    clock.advance(advance)
    if case == "no heartbeat":
        p.frame(connect.conn, clock.now())  # frames flow, heartbeats do not
    heartbeat = None if heartbeat_age is None else start
    effects = p.watchdog(clock.now(), heartbeat)
    assert effects and type(effects[0]) is Note and effects[0].counter == "stalls" and reason in effects[0].text
    assert of(effects, Close) and of(effects, Later)
    assert p.watchdog(clock.now(), heartbeat) == []  # waiting for the reconnect: nothing more to watch


def test_the_rest_fallback_runs_while_unhealthy_only() -> None:
    clock, p = ManualClock(), policy()
    assert connect_and_sync(p, clock) == [Fallback(False)]
    assert of(p.closed(p.conn, "lost", clock.now()), Fallback) == [Fallback(True)]
    assert p.resync() == []  # already unhealthy: no edge
    connect_and_sync(p, clock)
    assert p.resync() == [Fallback(True)]  # fresh snapshots asked for: unhealthy until they come


def test_a_private_stream_never_reports_the_market_feed_and_a_replay_never_connects() -> None:
    clock, p = ManualClock(), policy(reports_feed=False, fallback=False)
    for _ in range(5):
        [connect] = p.connect(clock.now())
        assert of(p.closed(connect.conn, "refused", clock.now()), ReportFeed) == []
    assert policy(url=None).connect(0.0) == []
