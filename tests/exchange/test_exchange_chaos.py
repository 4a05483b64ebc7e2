"""Every chaos kind, injected by the built-in exchange, seen by a real websocket-client connection."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable

import pytest
import websocket

from domain.products import BTC_PERP, BTC_USD
from exchange.chaos import parse_chaos
from exchange.server import ExchangeServer
from tests.support import wait_until

SPOT = BTC_USD.product_id
PERP = BTC_PERP.product_id
RECV_TIMEOUT_S = 3.0

Arrival = tuple[float, str]  # (monotonic time received, raw text)


@pytest.fixture
def make_server():
    """Start an exchange with the given chaos specs (fast heartbeats); stopped after the test."""
    before = set(threading.enumerate())
    servers: list[ExchangeServer] = []

    def make(*specs: str, **options) -> ExchangeServer:
        options = {"seed": 11, "tick_interval_s": 0.05, "heartbeat_interval_s": 0.1, **options}
        server = ExchangeServer(chaos=[parse_chaos(s) for s in specs], **options)
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.stop()
    assert set(threading.enumerate()) <= before


def connect(server: ExchangeServer) -> websocket.WebSocket:
    return websocket.create_connection(server.url, timeout=RECV_TIMEOUT_S)


def hang_up(ws: websocket.WebSocket) -> None:
    ws.close()
    ws.shutdown()


def subscribe(ws: websocket.WebSocket, channel: str, *product_ids: str) -> None:
    message = {"type": "subscribe", "channel": channel}
    if product_ids:
        message["product_ids"] = list(product_ids)
    ws.send(json.dumps(message))


def collect(ws: websocket.WebSocket, seconds: float, until: Callable[[list[Arrival]], bool] = lambda a: False,
            ) -> list[Arrival]:
    """Everything received for `seconds`, or until `until(arrivals)` holds."""
    arrivals: list[Arrival] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ws.settimeout(min(left, 0.5))
        try:
            text = ws.recv()
        except websocket.WebSocketTimeoutException:
            continue
        arrivals.append((time.monotonic(), text))
        if until(arrivals):
            break
    ws.settimeout(RECV_TIMEOUT_S)
    return arrivals


def decoded(arrivals: list[Arrival]) -> list[dict]:
    return [json.loads(text) for _, text in arrivals]


def sequence_nums(arrivals: list[Arrival]) -> list[int]:
    result = []
    for _, text in arrivals:
        try:
            frame = json.loads(text)
        except json.JSONDecodeError:
            continue
        if "sequence_num" in frame:
            result.append(frame["sequence_num"])
    return result


def steps(arrivals: list[Arrival]) -> list[int]:
    """Differences between consecutive sequence numbers as received."""
    seq = sequence_nums(arrivals)
    return [b - a for a, b in zip(seq, seq[1:])]


def fired(server: ExchangeServer, kind: str) -> int:
    return server.chaos_counts().get(kind, 0)


def test_gap_skips_exactly_one_sequence_number(make_server):
    server = make_server("gap:every=0.3")
    ws = connect(server)
    try:
        subscribe(ws, "heartbeats")
        arrivals = collect(ws, 3.0, lambda a: 2 in steps(a))
        jumps = steps(arrivals)
        assert 2 in jumps and set(jumps) <= {1, 2}
        assert jumps.count(2) <= fired(server, "gap")
    finally:
        hang_up(ws)


def test_duplicate_sends_one_data_frame_twice_with_the_same_sequence_number(make_server):
    server = make_server("duplicate:every=0.3")
    ws = connect(server)
    try:
        subscribe(ws, "heartbeats")
        arrivals = collect(ws, 3.0, lambda a: len(a) > 1 and a[-1][1] == a[-2][1])
        texts = [text for _, text in arrivals]
        assert texts[-1] == texts[-2]  # the very same frame, sequence_num included
        seq = sequence_nums(arrivals)
        assert seq[-1] == seq[-2] and sorted(set(seq)) == list(range(seq[-1] + 1))  # nothing lost
        assert fired(server, "duplicate") >= 1
    finally:
        hang_up(ws)


def test_reorder_swaps_two_data_frames_and_loses_none(make_server):
    server = make_server("reorder:every=0.3")
    ws = connect(server)
    try:
        subscribe(ws, "heartbeats")
        arrivals = collect(ws, 3.0, lambda a: steps(a)[-1:] == [-1])
        seq = sequence_nums(arrivals)
        assert seq[-2] == seq[-1] + 1  # n + 1 arrived before n
        assert sorted(seq) == list(range(len(seq)))  # every number once
        assert fired(server, "reorder") >= 1
    finally:
        hang_up(ws)


def test_malformed_text_is_not_json_and_takes_no_sequence_number(make_server):
    server = make_server("malformed:every=0.3")
    ws = connect(server)

    def bad(text: str) -> bool:
        try:
            json.loads(text)
        except json.JSONDecodeError:
            return True
        return False

    try:
        subscribe(ws, "heartbeats")
        arrivals = collect(ws, 3.0, lambda a: any(bad(t) for _, t in a[:-1]))  # one good frame after it
        assert any(bad(text) for _, text in arrivals)
        assert sequence_nums(arrivals) == list(range(len(sequence_nums(arrivals))))
    finally:
        hang_up(ws)


def test_error_frame_arrives_and_the_stream_goes_on(make_server):
    server = make_server("error_frame:every=0.3")
    ws = connect(server)
    try:
        subscribe(ws, "heartbeats")
        arrivals = collect(ws, 3.0, lambda a: any(json.loads(t).get("type") == "error" for _, t in a[:-1]))
        frames = decoded(arrivals)
        errors = [f for f in frames if "channel" not in f]
        assert errors and errors[0] == {"type": "error", "message": "chaos: injected error"}
        assert frames[-1]["channel"] == "heartbeats"  # still connected after the error
        assert sequence_nums(arrivals) == list(range(len(sequence_nums(arrivals))))
    finally:
        hang_up(ws)


def test_disconnect_cuts_the_socket_without_a_close_frame_and_a_new_one_starts_at_zero(make_server):
    server = make_server("disconnect:at=0.4")
    ws = connect(server)
    try:
        subscribe(ws, "heartbeats")
        opcodes = []
        deadline = time.monotonic() + 3.0
        with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
            while time.monotonic() < deadline:
                opcode, _ = ws.recv_data_frame(True)
                opcodes.append(opcode)
        assert websocket.ABNF.OPCODE_CLOSE not in opcodes
        assert opcodes.count(websocket.ABNF.OPCODE_TEXT) >= 2
        assert fired(server, "disconnect") == 1
    finally:
        hang_up(ws)
    again = connect(server)
    try:
        subscribe(again, "heartbeats")
        assert json.loads(again.recv())["sequence_num"] == 0
    finally:
        hang_up(again)


def test_stall_sends_nothing_for_its_duration_then_everything_in_order(make_server):
    server = make_server("stall:at=0.5,for=0.8")
    ws = connect(server)
    try:
        subscribe(ws, "heartbeats")
        subscribe(ws, "level2", SPOT)
        arrivals = collect(ws, 3.0, lambda a: fired(server, "stall") and a[-1][0] - a[0][0] > 1.6)
        times = [t for t, _ in arrivals]
        silences = [b - a for a, b in zip(times, times[1:])]
        longest = max(silences)
        assert 0.65 <= longest < 1.3
        after = times[silences.index(longest) + 1:]
        assert len(after) >= 5  # frames again, including the backlog held during the stall
        assert sequence_nums(arrivals) == list(range(len(arrivals)))  # nothing lost or reordered
    finally:
        hang_up(ws)


def test_no_heartbeat_suppresses_heartbeats_while_data_continues(make_server):
    server = make_server("no_heartbeat:at=0.4,for=0.6")
    ws = connect(server)
    try:
        subscribe(ws, "heartbeats")
        subscribe(ws, "level2", SPOT, PERP)
        arrivals = collect(ws, 3.0, lambda a: fired(server, "no_heartbeat") and a[-1][0] - a[0][0] > 1.3)
        beats = [(t, json.loads(x)) for t, x in arrivals if json.loads(x)["channel"] == "heartbeats"]
        silences = [(b[0] - a[0], a, b) for a, b in zip(beats, beats[1:])]
        longest, (start, before), (end, after) = max(silences, key=lambda s: s[0])
        assert 0.45 <= longest < 1.0
        # the counter kept counting: the silent beats were lost, and the gap shows it
        assert after["events"][0]["heartbeat_counter"] - before["events"][0]["heartbeat_counter"] >= 4
        data_in_silence = [t for t, x in arrivals if start < t < end and json.loads(x)["channel"] == "l2_data"]
        assert len(data_in_silence) >= 2
        assert sequence_nums(arrivals) == list(range(len(arrivals)))
    finally:
        hang_up(ws)


def test_slow_snapshot_sends_updates_first_and_the_snapshot_late(make_server):
    server = make_server("slow_snapshot:at=0,for=0.6")
    wait_until(lambda: fired(server, "slow_snapshot"), timeout=2, what="slow_snapshot to fire")
    ws = connect(server)
    try:
        subscribe(ws, "level2", SPOT)
        subscribed_at = time.monotonic()

        def snapshot(arrivals: list[Arrival]) -> bool:
            return '"type":"snapshot"' in arrivals[-1][1]

        arrivals = collect(ws, 3.0, snapshot)
        frames = decoded(arrivals)
        assert frames[0]["channel"] == "subscriptions" and snapshot(arrivals)
        assert arrivals[-1][0] - subscribed_at >= 0.45
        assert [f["events"][0]["type"] for f in frames[1:-1]] == ["update"] * (len(frames) - 2)
        assert len(frames) - 2 >= 1  # updates arrived before their snapshot
    finally:
        hang_up(ws)
    later = connect(server)  # the window is over: the snapshot follows the ack at once
    try:
        subscribe(later, "level2", SPOT)
        assert json.loads(later.recv())["channel"] == "subscriptions"
        assert json.loads(later.recv())["events"][0]["type"] == "snapshot"
    finally:
        hang_up(later)


def test_refuse_rejects_the_handshake_with_503_then_accepts_again(make_server):
    server = make_server("refuse:at=0,for=0.6")
    wait_until(lambda: fired(server, "refuse"), timeout=2, what="refuse to fire")
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(server)
    assert refused.value.status_code == 503
    with urllib.request.urlopen(f"{server.rest_url}/api/v3/brokerage/time", timeout=3) as answer:
        assert answer.status == 200  # REST keeps serving during the window

    def try_connect() -> websocket.WebSocket | None:
        try:
            return connect(server)
        except websocket.WebSocketBadStatusException:
            return None

    ws = wait_until(try_connect, timeout=3, interval=0.1, what="the exchange to accept again")
    try:
        subscribe(ws, "heartbeats")
        assert json.loads(ws.recv())["channel"] == "subscriptions"
    finally:
        hang_up(ws)


def test_ignore_subscribe_answers_nothing_for_its_duration(make_server):
    server = make_server("ignore_subscribe:at=0,for=0.6")
    wait_until(lambda: fired(server, "ignore_subscribe"), timeout=2, what="ignore_subscribe to fire")
    ws = connect(server)
    try:
        first_try = time.monotonic()
        subscribe(ws, "heartbeats")
        assert collect(ws, 0.3) == []  # no ack, no error
        acks: list[dict] = []
        deadline = time.monotonic() + 3.0
        while not acks and time.monotonic() < deadline:
            subscribe(ws, "heartbeats")
            acks = [f for f in decoded(collect(ws, 0.15)) if f.get("channel") == "subscriptions"]
        assert acks and acks[0]["sequence_num"] == 0
        assert time.monotonic() - first_try >= 0.45
    finally:
        hang_up(ws)


def test_chaos_counts_report_every_configured_kind(make_server):
    server = make_server("gap:every=0.2", "error_frame:at=0.1", "stall:at=100")
    wait_until(lambda: fired(server, "gap") >= 2 and fired(server, "error_frame") == 1, timeout=3)
    counts = server.chaos_counts()
    assert set(counts) == {"gap", "error_frame", "stall"}
    assert counts["stall"] == 0 and counts["error_frame"] == 1
