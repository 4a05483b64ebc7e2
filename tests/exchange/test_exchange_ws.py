"""The built-in exchange's WebSocket server against a real websocket-client connection on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal

import pytest
import websocket

from domain.products import BTC_PERP, BTC_USD
from exchange.server import ExchangeServer

SPOT = BTC_USD.product_id
PERP = BTC_PERP.product_id
RECV_TIMEOUT_S = 3.0


@pytest.fixture
def threads_before():
    before = set(threading.enumerate())
    yield before
    assert set(threading.enumerate()) <= before


@pytest.fixture
def server(threads_before):
    srv = ExchangeServer(seed=7, heartbeat_interval_s=0.2, subscribe_timeout_s=0.5)
    srv.start()
    yield srv
    srv.stop()


def connect(srv: ExchangeServer) -> websocket.WebSocket:
    return websocket.create_connection(srv.url, timeout=RECV_TIMEOUT_S)


def hang_up(ws: websocket.WebSocket) -> None:
    ws.close()
    ws.shutdown()  # close() is a no-op once a close frame was received; this closes the socket


def send(ws: websocket.WebSocket, **message) -> None:
    ws.send(json.dumps(message))


def recv(ws: websocket.WebSocket) -> dict:
    return json.loads(ws.recv())


def recv_until(ws: websocket.WebSocket, done, deadline_s: float = 5.0) -> list[dict]:
    """Frames received until done(frame) is true; fails after the deadline."""
    frames = []
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        frames.append(recv(ws))
        if done(frames[-1]):
            return frames
    pytest.fail(f"condition not met within {deadline_s} s; last frames {frames[-3:]}")


class Books:
    """A client-side book per product rebuilt from l2_data frames, Decimal keys and sizes."""

    def __init__(self) -> None:
        self.levels: dict[str, dict[tuple[str, Decimal], Decimal]] = {}

    def apply(self, frame: dict) -> None:
        for event in frame["events"]:
            if event["type"] == "snapshot":
                self.levels[event["product_id"]] = {}
            book = self.levels[event["product_id"]]  # an update before a snapshot would fail here
            for u in event["updates"]:
                key = (u["side"], Decimal(u["price_level"]))
                if Decimal(u["new_quantity"]) == 0:
                    book.pop(key, None)
                else:
                    book[key] = Decimal(u["new_quantity"])

    def equals(self, srv: ExchangeServer, product_id: str) -> bool:
        bids, offers = srv.books(product_id)
        expected = {**{("bid", p): q for p, q in bids}, **{("offer", p): q for p, q in offers}}
        return self.levels.get(product_id) == expected

    def uncrossed(self, product_id: str) -> bool:
        book = self.levels[product_id]
        bids = [p for side, p in book if side == "bid"]
        offers = [p for side, p in book if side == "offer"]
        return max(bids) < min(offers)


def test_stream_is_an_advanced_trade_stream_and_rebuilds_the_exchange_book(server):
    ws = connect(server)
    try:
        send(ws, type="subscribe", channel="heartbeats", jwt="ignored")
        send(ws, type="subscribe", channel="level2", product_ids=[SPOT, PERP])
        send(ws, type="subscribe", channel="market_trades", product_ids=[SPOT, PERP])

        first = recv(ws)
        assert first["channel"] == "subscriptions" and first["sequence_num"] == 0
        assert first["client_id"] == "" and first["timestamp"].endswith("Z")
        assert first["events"] == [{"subscriptions": {"heartbeats": []}}]

        books = Books()
        acks, beats, trade_updates = [first], [], []
        l2_kinds: dict[str, list[str]] = {SPOT: [], PERP: []}
        sequence = [first["sequence_num"]]

        def take(frame: dict) -> None:
            sequence.append(frame["sequence_num"])
            channel = frame["channel"]
            assert channel in ("subscriptions", "heartbeats", "l2_data", "market_trades")
            if channel == "subscriptions":
                acks.append(frame)
            elif channel == "heartbeats":
                beats.append(frame["events"][0]["heartbeat_counter"])
            elif channel == "l2_data":
                for event in frame["events"]:
                    l2_kinds[event["product_id"]].append(event["type"])
                books.apply(frame)
                for product_id in books.levels:
                    assert books.uncrossed(product_id)
            elif frame["events"][0]["type"] == "update":
                trade_updates.extend(frame["events"][0]["trades"])

        recv_until(ws, lambda f: take(f) or (len(beats) >= 3 and trade_updates and len(acks) == 3), 8.0)

        assert sequence == list(range(len(sequence)))
        assert acks[-1]["events"] == [
            {"subscriptions": {"heartbeats": [], "level2": [SPOT, PERP], "market_trades": [SPOT, PERP]}}]
        assert beats == list(range(beats[0], beats[0] + len(beats)))
        for kinds in l2_kinds.values():
            assert kinds[0] == "snapshot" and set(kinds[1:]) == {"update"}
        assert {t["side"] for t in trade_updates} <= {"BUY", "SELL"}

        # at a quiescent point the book rebuilt from the frames is the exchange's book
        server.pause()
        recv_until(ws, lambda f: take(f) or (books.equals(server, SPOT) and books.equals(server, PERP)))
        assert sequence == list(range(len(sequence)))
        server.resume()
        recv_until(ws, lambda f: take(f) or f["channel"] == "l2_data")
    finally:
        hang_up(ws)


def test_bad_requests_get_error_frames_without_a_disconnect_or_a_sequence_number(server):
    ws = connect(server)
    try:
        send(ws, type="subscribe", channels=["level2", "heartbeats"], product_ids=[SPOT])
        assert recv(ws)["type"] == "error"
        ws.send("{not json")
        assert recv(ws) == {"type": "error", "message": "malformed JSON"}
        send(ws, type="subscribe", channel="level3", product_ids=[SPOT])
        assert recv(ws)["type"] == "error"
        send(ws, type="subscribe", channel="level2", product_ids=["DOGE-USD"])
        assert recv(ws)["type"] == "error"

        send(ws, type="subscribe", channel="ticker", product_ids=[PERP])
        ack = recv(ws)
        assert (ack["channel"], ack["sequence_num"]) == ("subscriptions", 0)
        ticker = recv(ws)
        assert (ticker["channel"], ticker["sequence_num"]) == ("ticker", 1)
        assert ticker["events"][0]["type"] == "snapshot"
        row = ticker["events"][0]["tickers"][0]
        assert row["product_id"] == PERP and Decimal(row["best_bid"]) < Decimal(row["best_ask"])
        assert Decimal(row["price"]) % 5 == 0
    finally:
        hang_up(ws)


def test_unsubscribe_acks_and_stops_the_channel(server):
    ws = connect(server)
    other = connect(server)
    try:
        send(other, type="subscribe", channel="heartbeats")
        assert recv(other)["sequence_num"] == 0  # every connection numbers its own frames
        send(ws, type="subscribe", channel="heartbeats")
        send(ws, type="subscribe", channel="level2", product_ids=[SPOT])
        recv_until(ws, lambda f: f["channel"] == "l2_data" and f["events"][0]["type"] == "update")
        send(ws, type="unsubscribe", channel="level2", product_ids=[])
        recv_until(ws, lambda f: f["channel"] == "subscriptions"
                   and f["events"] == [{"subscriptions": {"heartbeats": []}}])
        # frames queued after the ack are the unsubscribed connection's: heartbeats only
        channels: list[str] = []
        recv_until(ws, lambda f: channels.append(f["channel"]) or channels.count("heartbeats") == 3)
        assert set(channels) == {"heartbeats"}
    finally:
        hang_up(ws)
        hang_up(other)


def test_a_connection_that_does_not_subscribe_in_time_is_closed(server):
    ws = connect(server)
    try:
        opcode, frame = ws.recv_data_frame(True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE
        assert frame.data[2:] == b"no subscribe received in time"
    finally:
        hang_up(ws)


def test_stop_closes_connections_and_joins_every_thread(threads_before):
    srv = ExchangeServer(seed=2)
    srv.start()
    ws = connect(srv)
    send(ws, type="subscribe", channel="level2", product_ids=[SPOT])
    assert recv(ws)["channel"] == "subscriptions"
    assert len(set(threading.enumerate()) - threads_before) >= 4  # accept, market, handler, writer
    srv.stop()
    assert set(threading.enumerate()) <= threads_before
    srv.stop()  # idempotent
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        while True:
            ws.recv()  # frames already in flight, then the close
    hang_up(ws)


@pytest.fixture
def fast_server(threads_before):
    srv = ExchangeServer(seed=9, tick_interval_s=0.05, heartbeat_interval_s=0.2,
                         ticker_batch_interval_s=0.3, candle_interval_s=0.2)
    srv.start()
    yield srv
    srv.stop()


def test_ticker_batch_sends_a_snapshot_then_updates_at_its_cadence(fast_server):
    ws = connect(fast_server)
    try:
        send(ws, type="subscribe", channel="ticker_batch", product_ids=[SPOT, PERP])
        assert recv(ws)["channel"] == "subscriptions"
        frames = recv_until(ws, lambda f: f["events"][0]["type"] == "update"
                            and f["events"][0]["tickers"][0]["product_id"] == PERP, 3.0)
        assert {f["channel"] for f in frames} == {"ticker_batch"}
        assert [f["events"][0]["type"] for f in frames[:2]] == ["snapshot", "snapshot"]
        assert [f["events"][0]["tickers"][0]["product_id"] for f in frames[:2]] == [SPOT, PERP]
        for frame in frames:
            row = frame["events"][0]["tickers"][0]
            assert row["type"] == "ticker" and Decimal(row["best_bid"]) < Decimal(row["best_ask"])
    finally:
        hang_up(ws)


def test_candles_are_five_minute_buckets_that_grow_by_the_trades_printed(fast_server):
    ws = connect(fast_server)
    try:
        send(ws, type="subscribe", channel="candles", product_ids=[SPOT])
        send(ws, type="subscribe", channel="market_trades", product_ids=[SPOT])
        stream: list[dict] = []
        recv_until(ws, lambda f: stream.append(f) or sum(x["channel"] == "candles" for x in stream) >= 6, 4.0)

        snapshot = next(f for f in stream if f["channel"] == "candles")["events"][0]
        assert snapshot["type"] == "snapshot"
        for candle in snapshot["candles"]:
            assert int(candle["start"]) % 300 == 0 and candle["product_id"] == SPOT
            low, high = Decimal(candle["low"]), Decimal(candle["high"])
            assert low <= Decimal(candle["open"]) <= high and low <= Decimal(candle["close"]) <= high

        # between two candle frames of one bucket, volume grows by exactly the sizes printed between
        # them, and every print lies within the candle's range
        last, printed, checked = None, [], 0
        for frame in stream:
            if frame["channel"] == "market_trades" and frame["events"][0]["type"] == "update":
                printed += frame["events"][0]["trades"]
            elif frame["channel"] == "candles":
                candle = frame["events"][0]["candles"][-1]
                if last is not None and candle["start"] == last["start"]:
                    grew = Decimal(candle["volume"]) - Decimal(last["volume"])
                    assert grew == sum((Decimal(t["size"]) for t in printed), Decimal(0))
                    for trade in printed:
                        assert Decimal(candle["low"]) <= Decimal(trade["price"]) <= Decimal(candle["high"])
                    checked += 1
                last, printed = candle, []
        assert checked >= 4
    finally:
        hang_up(ws)


def test_status_lists_the_products_and_their_increments(fast_server):
    ws = connect(fast_server)
    try:
        send(ws, type="subscribe", channel="status", product_ids=[SPOT, PERP])
        assert recv(ws)["events"] == [{"subscriptions": {"status": [SPOT, PERP]}}]
        status = recv(ws)
        assert status["channel"] == "status" and status["events"][0]["type"] == "snapshot"
        spot, perp = status["events"][0]["products"]
        assert spot == {"product_type": "SPOT", "id": SPOT, "base_currency": "BTC", "quote_currency": "USD",
                        "base_increment": "0.00000001", "quote_increment": "0.01", "display_name": "BTC/USD",
                        "status": "online", "status_message": "", "min_market_funds": "1"}
        assert (perp["product_type"], perp["id"]) == ("FUTURE", PERP)
        assert (perp["base_increment"], perp["quote_increment"]) == ("1", "0.01")
    finally:
        hang_up(ws)


def test_user_channels_without_a_well_formed_jwt_are_an_authentication_failure(fast_server):
    # The channels themselves are covered by tests/e2e/test_user_stream.py.
    ws = connect(fast_server)
    try:
        for channel in ("user", "futures_balance_summary"):
            send(ws, type="subscribe", channel=channel, jwt="ignored")
            assert recv(ws) == {"type": "error", "message": "authentication failure"}
    finally:
        hang_up(ws)
