"""StreamingCore: subscriptions, routing, the per-connection sequence rule, gaps and resyncs."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal

import pytest

from actors.market_data.book import L2Book
from actors.streaming.core import StreamingCore
from actors.wire.timestamps import parse_timestamp
from domain.market import L2Level, L2Update, RawFrame, StreamGap, TradePrint

PRODUCTS = ("BTC-USD", "ETH-USD")
TS = "2026-11-23T21:40:01.120000000Z"


def frame(channel: str, seq: int, events: list, ts: str = TS) -> str:
    return json.dumps({"channel": channel, "client_id": "", "timestamp": ts, "sequence_num": seq, "events": events})


def l2(seq: int, product: str, kind: str, levels: list[tuple[str, str, str]]) -> str:
    updates = [{"side": s, "event_time": TS, "price_level": p, "new_quantity": q} for s, p, q in levels]
    return frame("l2_data", seq, [{"type": kind, "product_id": product, "updates": updates}])


def heartbeat(seq: int, counter) -> str:
    return frame("heartbeats", seq, [{"current_time": "opaque", "heartbeat_counter": counter}])


SNAP_BTC = [("bid", "100.00", "1"), ("offer", "101.00", "2")]
UPD_BTC = [("bid", "100.00", "0.5")]


class Feed:
    """Drives a core with increasing recv_ns and a manual clock."""

    def __init__(self, core: StreamingCore) -> None:
        self.core = core
        self.recv_ns = itertools.count(1000)
        self.now = 1_000.0

    def __call__(self, text: str, conn: int = 1):
        self.now += 0.01
        return self.core.on_frame(RawFrame(text, conn, next(self.recv_ns)), self.now)


@pytest.fixture
def core() -> StreamingCore:
    c = StreamingCore(PRODUCTS, ("level2", "market_trades"))
    c.on_connected(1)
    return c


@pytest.fixture
def feed(core) -> Feed:
    return Feed(core)


# ---------------------------------------------------------------- subscriptions


def test_subscribe_one_message_per_channel_heartbeats_first_without_ids():
    core = StreamingCore(PRODUCTS, ("level2", "market_trades"))
    msgs = [json.loads(m) for m in core.subscribe_messages()]
    assert msgs == [
        {"type": "subscribe", "channel": "heartbeats"},
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "level2"},
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "market_trades"},
    ]


def test_heartbeats_not_duplicated_and_fresh_jwt_per_message():
    tokens = (f"jwt-{i}" for i in itertools.count())
    core = StreamingCore(("BTC-USD",), ("ticker", "heartbeats", "ticker"), jwt_factory=lambda: next(tokens))
    msgs = [json.loads(m) for m in core.subscribe_messages()]
    assert [m["channel"] for m in msgs] == ["heartbeats", "ticker"]
    assert [m["jwt"] for m in msgs] == ["jwt-0", "jwt-1"]


def test_frame_name_is_not_a_subscribe_name():
    with pytest.raises(ValueError, match="level2"):
        StreamingCore(PRODUCTS, ("l2_data",))


# ---------------------------------------------------------------- routing


def test_level2_events_become_l2_updates(feed):
    r = feed(l2(0, "BTC-USD", "snapshot", [("bid", "100.00", "1"), ("offer", "101.00", "2"), ("bid", "99.50", "3")]))
    assert r.resubscribe == [] and r.rejected is None
    levels = (L2Level("bid", "100.00", "1"), L2Level("offer", "101.00", "2"), L2Level("bid", "99.50", "3"))
    assert r.outputs == [L2Update("BTC-USD", True, levels, parse_timestamp(TS), 1, 1000, plain=True)]
    assert r.outputs[0].bids == (("100.00", "1"), ("99.50", "3")) and r.outputs[0].offers == (("101.00", "2"),)
    r = feed(l2(1, "BTC-USD", "update", [("offer", "101.00", "0")]))
    assert r.outputs == [L2Update("BTC-USD", False, (L2Level("offer", "101.00", "0"),), parse_timestamp(TS), 1, 1001,
                                  plain=True)]


def test_an_event_with_an_unusual_but_sane_spelling_is_forwarded_as_not_plain(feed):
    # the book checks and respells such levels itself; plain ones it applies unchecked
    feed(l2(0, "BTC-USD", "snapshot", SNAP_BTC))
    r = feed(l2(1, "BTC-USD", "update", [("bid", "100.00", "1E-8"), ("bid", "99.00", "1")]))
    assert r.rejected is None and [o.plain for o in r.outputs] == [False]
    assert r.outputs[0].bids == (("100.00", "1E-8"), ("99.00", "1"))
    book = L2Book("BTC-USD")
    book.apply(feed(l2(2, "BTC-USD", "snapshot", SNAP_BTC)).outputs[0].levels, True, plain=True)
    book.apply(r.outputs[0].levels, False, plain=r.outputs[0].plain)
    assert book.best_bid == (Decimal("100.00"), Decimal("0.00000001"))


def test_a_side_spelled_otherwise_still_decodes_and_is_read_as_the_ask_side(feed):
    # "bid" and "offer" decode as the literal; any other text takes the lenient decode, as before
    r = feed(l2(0, "BTC-USD", "snapshot", [("bid", "100.00", "1"), ("ask", "101.00", "2")]))
    assert r.rejected is None and len(r.outputs) == 1
    assert r.outputs[0].offers == (("101.00", "2"),) and r.outputs[0].levels[1].side == "ask"
    book = L2Book("BTC-USD")
    book.apply(r.outputs[0].levels, True, plain=r.outputs[0].plain)
    assert book.top() == (Decimal("100.00"), Decimal("101.00"), Decimal("100.500"))


def test_several_products_in_one_frame_split_per_product(feed):
    events = [
        {"type": "snapshot", "product_id": p, "updates": [{"side": "bid", "price_level": "1", "new_quantity": "1"}]}
        for p in PRODUCTS
    ]
    r = feed(frame("l2_data", 0, events))
    assert [(o.product_id, o.is_snapshot) for o in r.outputs] == [("BTC-USD", True), ("ETH-USD", True)]


def test_market_trades_become_trade_prints_and_snapshot_history_is_skipped(feed, core):
    trade = {"trade_id": "7", "product_id": "BTC-USD", "price": "100.5", "size": "0.2", "side": "SELL", "time": TS}
    r = feed(frame("market_trades", 0, [{"type": "snapshot", "trades": [trade, trade]}]))
    assert r.outputs == []
    assert core.snapshot_trades_skipped == 2
    r = feed(frame("market_trades", 1, [{"type": "update", "trades": [trade, {**trade, "trade_id": "8"}]}]))
    assert r.outputs == [
        TradePrint("BTC-USD", "7", "100.5", "0.2", "SELL", parse_timestamp(TS), 1001),
        TradePrint("BTC-USD", "8", "100.5", "0.2", "SELL", parse_timestamp(TS), 1001),
    ]


def test_updates_before_a_snapshot_are_dropped(feed, core):
    r = feed(l2(0, "BTC-USD", "update", UPD_BTC))
    assert r.outputs == []
    assert core.dropped_updates == 1
    feed(l2(1, "BTC-USD", "snapshot", SNAP_BTC))
    assert len(feed(l2(2, "BTC-USD", "update", UPD_BTC)).outputs) == 1


def test_counts_per_channel(feed, core):
    feed(heartbeat(0, 1))
    feed(heartbeat(1, 2))
    feed(l2(2, "BTC-USD", "snapshot", SNAP_BTC))
    feed(frame("ticker", 3, [{"type": "update", "tickers": [{"product_id": "BTC-USD", "price": "1"}]}]))
    feed(frame("subscriptions", 4, [{"subscriptions": {"level2": ["BTC-USD"]}}]))
    assert core.per_channel == {"heartbeats": 2, "l2_data": 1, "ticker": 1, "subscriptions": 1}
    assert core.frames == 5
    assert core.subscriptions == {"level2": ("BTC-USD",)}
    assert core.last_heartbeat_at == pytest.approx(1000.02)


# ---------------------------------------------------------------- sequence rule


def test_gap_emits_stream_gap_and_resubscribe_for_all_level2_products(feed, core):
    feed(l2(0, "BTC-USD", "snapshot", SNAP_BTC))
    feed(l2(1, "ETH-USD", "snapshot", SNAP_BTC))
    r = feed(l2(4, "BTC-USD", "update", UPD_BTC))  # 2 and 3 lost
    assert r.outputs == [StreamGap(1, PRODUCTS, 2, 4)]  # the gap frame's update is dropped
    assert [json.loads(m) for m in r.resubscribe] == [
        {"type": "unsubscribe", "product_ids": list(PRODUCTS), "channel": "level2"},
        {"type": "subscribe", "product_ids": list(PRODUCTS), "channel": "level2"},
    ]
    assert core.gaps == 1
    # both books wait for their new snapshot; a snapshot re-admits only its own product
    assert feed(l2(5, "ETH-USD", "update", UPD_BTC)).outputs == []
    r = feed(l2(6, "BTC-USD", "snapshot", SNAP_BTC))
    assert [o.is_snapshot for o in r.outputs] == [True]
    assert len(feed(l2(7, "BTC-USD", "update", UPD_BTC)).outputs) == 1
    assert feed(l2(8, "ETH-USD", "update", UPD_BTC)).outputs == []
    assert core.dropped_updates == 3
    assert core.gaps == 1


def test_a_gap_frame_that_is_a_snapshot_is_applied(feed):
    feed(heartbeat(0, 1))
    r = feed(l2(3, "BTC-USD", "snapshot", SNAP_BTC))
    assert [type(o) for o in r.outputs] == [StreamGap, L2Update]
    assert r.outputs[0] == StreamGap(1, PRODUCTS, 1, 3)
    assert r.outputs[1].is_snapshot
    assert len(r.resubscribe) == 2


def test_a_gap_on_any_channel_invalidates_level2(feed):
    feed(l2(0, "BTC-USD", "snapshot", SNAP_BTC))
    r = feed(heartbeat(2, 1))
    assert r.outputs == [StreamGap(1, PRODUCTS, 1, 2)]
    assert feed(l2(3, "BTC-USD", "update", UPD_BTC)).outputs == []


def test_duplicate_is_counted_and_skipped(feed, core):
    feed(l2(0, "BTC-USD", "snapshot", SNAP_BTC))
    assert len(feed(l2(1, "BTC-USD", "update", UPD_BTC)).outputs) == 1
    r = feed(l2(1, "BTC-USD", "update", UPD_BTC))
    assert r.outputs == [] and r.resubscribe == []
    assert (core.duplicates, core.gaps) == (1, 0)


def test_smaller_sequence_is_a_new_stream_not_a_gap_nor_duplicate(feed, core):
    feed(l2(0, "BTC-USD", "snapshot", SNAP_BTC))
    feed(l2(1, "BTC-USD", "update", UPD_BTC))
    feed(l2(2, "BTC-USD", "update", UPD_BTC))
    r = feed(l2(1, "BTC-USD", "update", UPD_BTC))
    assert len(r.outputs) == 1 and r.resubscribe == []
    assert (core.sequence_resets, core.gaps, core.duplicates) == (1, 0, 0)
    assert len(feed(l2(2, "BTC-USD", "update", UPD_BTC)).outputs) == 1  # counted from the new start


def test_sequence_restart_at_zero_on_a_new_connection_is_not_a_gap(feed, core):
    for seq in range(0, 50):
        feed(heartbeat(seq, seq), conn=1)
    feed(l2(50, "BTC-USD", "snapshot", SNAP_BTC), conn=1)
    core.on_connected(2)
    r = feed(heartbeat(0, 0), conn=2)
    assert r.outputs == [] and r.resubscribe == []
    # nothing is in sync on the new connection until its snapshot
    assert feed(l2(1, "BTC-USD", "update", UPD_BTC), conn=2).outputs == []
    assert feed(l2(2, "BTC-USD", "snapshot", SNAP_BTC), conn=2).outputs[0].conn == 2
    assert (core.gaps, core.sequence_resets, core.heartbeat_gaps) == (0, 0, 0)


def test_higher_connection_without_on_connected_starts_fresh_and_old_frames_are_stale():
    core = StreamingCore(PRODUCTS, ("level2",))
    feed = Feed(core)
    feed(heartbeat(0, 1), conn=1)
    feed(heartbeat(1, 2), conn=1)
    assert feed(heartbeat(0, 1), conn=2).outputs == []  # replayed capture: conn 2 restarts at 0
    assert feed(l2(7, "BTC-USD", "snapshot", SNAP_BTC), conn=1).outputs == []
    assert (core.gaps, core.stale_conn_frames) == (0, 1)


def test_disconnect_reports_the_books_it_fed(core, feed):
    feed(heartbeat(0, 1))
    feed(heartbeat(1, 2))
    assert core.on_disconnected(1) == [StreamGap(1, PRODUCTS, 2, -1)]
    assert core.on_disconnected(1) == []


def test_no_level2_means_no_resubscribe():
    core = StreamingCore(PRODUCTS, ("market_trades",))
    feed = Feed(core)
    feed(heartbeat(0, 1))
    r = feed(heartbeat(5, 2))
    assert r.outputs == [StreamGap(1, (), 1, 5)]
    assert r.resubscribe == []


# ---------------------------------------------------------------- heartbeats


def test_heartbeat_counter_gap_is_counted(feed, core):
    feed(heartbeat(0, 5012))
    feed(heartbeat(1, "5013"))  # the documented string form
    feed(heartbeat(2, 5015))
    assert core.heartbeat_gaps == 1
    assert core.gaps == 0


# ---------------------------------------------------------------- bad input


def test_bad_frames_are_counted_and_skipped_never_raised(feed, core):
    feed(heartbeat(0, 1))
    results = [
        feed('{"type": "error", "message": "authentication failure"}'),
        feed("not json"),
        feed("[1]"),
        feed('{"channel": "brand_new", "sequence_num": 1, "events": []}'),
        feed(frame("ticker", 2, [{"tickers": [{"price": "1"}]}])),  # ticker without product_id
    ]
    assert all(r.outputs == [] and r.resubscribe == [] for r in results)
    assert [r.rejected.kind for r in results] == ["error_frame", "malformed", "malformed", "unknown", "malformed"]
    assert (core.error_frames, core.malformed, core.unknown) == (1, 3, 1)
    assert core.last_error == "authentication failure"
    # skipped frames with sequence numbers kept the count: no false gap
    r = feed(heartbeat(3, 2))
    assert r.outputs == [] and core.gaps == 0


def test_lost_level2_content_surfaces_as_a_gap(feed, core):
    feed(l2(0, "BTC-USD", "snapshot", SNAP_BTC))
    bad = l2(1, "BTC-USD", "update", UPD_BTC).replace('"product_id": "BTC-USD", ', "")
    assert feed(bad).rejected.kind == "malformed"
    r = feed(l2(2, "BTC-USD", "update", UPD_BTC))
    assert r.outputs == [StreamGap(1, PRODUCTS, 1, 2)]
    assert len(r.resubscribe) == 2


def test_bad_timestamp_on_level2_is_malformed_and_surfaces_as_a_gap(feed, core):
    feed(l2(0, "BTC-USD", "snapshot", SNAP_BTC))
    r = feed(frame("l2_data", 1, [{"type": "update", "product_id": "BTC-USD", "updates": []}], ts="yesterday"))
    assert r.rejected is not None and r.rejected.kind == "malformed"
    assert core.malformed == 1
    assert feed(l2(2, "BTC-USD", "update", UPD_BTC)).outputs[0] == StreamGap(1, PRODUCTS, 1, 2)


def test_counters_snapshot(feed, core):
    feed(heartbeat(0, 1))
    c = core.counters()
    assert c["frames"] == 1 and c["gaps"] == 0 and c["per_channel"] == {"heartbeats": 1}


def test_interleaved_sides_keep_their_order_within_each_side(feed):
    levels = [("offer", "101", "1"), ("bid", "100", "2"), ("offer", "102", "0"), ("bid", "99", "3")]
    (update,) = feed(l2(0, "BTC-USD", "snapshot", levels)).outputs
    assert update.bids == (("100", "2"), ("99", "3"))
    assert update.offers == (("101", "1"), ("102", "0"))


def test_long_in_order_run_then_duplicate_then_gap(feed, core):
    feed(l2(0, "BTC-USD", "snapshot", SNAP_BTC))
    for seq in range(1, 200):
        assert len(feed(l2(seq, "BTC-USD", "update", UPD_BTC)).outputs) == 1
    assert feed(l2(199, "BTC-USD", "update", UPD_BTC)).outputs == []
    assert feed(l2(201, "BTC-USD", "update", UPD_BTC)).outputs == [StreamGap(1, PRODUCTS, 200, 201)]
    assert (core.duplicates, core.gaps, core.dropped_updates) == (1, 1, 1)



def test_the_result_names_the_channel_of_a_frame_that_decoded(feed):
    assert feed(heartbeat(1, 5)).channel == "heartbeats"
    assert feed(l2(2, "BTC-USD", "snapshot", SNAP_BTC)).channel == "l2_data"
    assert feed(frame("user", 3, [])).channel == "user"
    assert feed("not json").channel is None


# ---------------------------------------------------------------- the private stream


def test_a_user_frame_is_decoded_once_here_for_the_venue_gateway():
    core = StreamingCore(("BTC-USD",), ("user",))
    order = {"order_id": "v-1", "client_order_id": "c-1", "status": "FILLED", "cumulative_quantity": "0.5",
             "avg_price": "100.25", "total_fees": "0.01", "leaves_quantity": "0"}
    r = core.on_frame(RawFrame(frame("user", 0, [{"type": "update", "orders": [order], "positions": {}}]), 1, 0), 1.0)
    assert r.channel == "user" and r.rejected is None
    [event] = r.user_events
    [typed] = event.orders
    assert (typed.client_order_id, typed.cumulative_quantity, typed.avg_price) == ("c-1", "0.5", "100.25")


def test_an_unreadable_user_frame_is_rejected_with_its_channel_named():
    # the streaming actor still tells the gateway (`unreadable`): the stream spoke
    core = StreamingCore(("BTC-USD",), ("user",))
    r = core.on_frame(RawFrame(frame("user", 0, [{"type": "update", "orders": "not a list"}]), 1, 0), 1.0)
    assert r.rejected is not None and r.rejected.channel == "user" and r.user_events == ()
    assert core.malformed == 1
