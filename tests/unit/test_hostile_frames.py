"""Hostile frames: a bad number, a frame too large or too deep, bytes that are not UTF-8. The codec
classifies each as malformed (never raising); the streaming core counts it, forwards none of it and
keeps the sequence rule."""

from __future__ import annotations

import itertools
import json

import pytest

from actors.streaming import codec
from actors.streaming.codec import FrameDecoder, L2DataFrame, Rejected
from actors.streaming.core import StreamingCore
from domain.market import L2Update, RawFrame, StreamGap, TradePrint

TS = "2026-11-23T21:40:01.120000000Z"
PRODUCTS = ("BTC-USD", "ETH-USD")


def frame(channel: str, seq: int, events: list) -> str:
    return json.dumps({"channel": channel, "client_id": "", "timestamp": TS, "sequence_num": seq, "events": events})


def event(product: str, kind: str, levels: list[tuple[str, str, str]]) -> dict:
    return {"type": kind, "product_id": product,
            "updates": [{"side": s, "event_time": TS, "price_level": p, "new_quantity": q} for s, p, q in levels]}


def l2(seq: int, levels: list[tuple[str, str, str]], kind: str = "update", product: str = "BTC-USD") -> str:
    return frame("l2_data", seq, [event(product, kind, levels)])


def trades(seq: int, price: str, size: str) -> str:
    return frame("market_trades", seq, [{"type": "update", "trades": [
        {"trade_id": "1", "product_id": "BTC-USD", "price": price, "size": size, "side": "BUY", "time": TS}]}])


BAD_NUMBERS = ["9" * 5000, "1e999999999", "1e-999999999", "NaN", "Infinity", "-inf", "", ".", "1.2.3", " 1",
               "1_0", "\u0661", "1" * 16]
DEEP_SHAPES = {
    "array": "[" * 100_000 + "]" * 100_000,
    "in events": '{"channel":"l2_data","sequence_num":1,"timestamp":"%s","events":' % TS + "[" * 100_000 + "]" * 100_000 + "}",
    "unknown field": '{"channel":"l2_data","sequence_num":1,"timestamp":"%s","events":[],"x":' % TS
                     + "[" * 100_000 + "]" * 100_000 + "}",
    "object": '{"a":' * 100_000 + "1" + "}" * 100_000,
}


@pytest.fixture(scope="module")
def decoder() -> FrameDecoder:
    return FrameDecoder()


# ---------------------------------------------------------------- codec


@pytest.mark.parametrize("bad", BAD_NUMBERS)
@pytest.mark.parametrize("field", ["price", "size"])
def test_a_bad_level2_number_is_a_malformed_frame(decoder, bad, field):
    level = ("offer", bad, "1") if field == "price" else ("offer", "101.00", bad)
    got = decoder.decode(l2(7, [("bid", "100.00", "1"), level]))
    assert isinstance(got, Rejected)
    assert (got.kind, got.reason, got.channel, got.sequence_num) == (codec.MALFORMED, codec.BAD_DECIMAL, "l2_data", 7)
    assert len(got.detail) < 120  # never the whole value


def test_a_negative_size_is_malformed_and_other_spellings_of_sane_numbers_pass(decoder):
    assert decoder.decode(l2(1, [("bid", "100.00", "-5")])).reason == codec.BAD_DECIMAL
    good = decoder.decode(l2(1, [("bid", "1E+2", "0E-8"), ("offer", "101.0000000000000001", "2.")]))
    assert isinstance(good, L2DataFrame)
    assert [(u.price_level, u.new_quantity) for u in good.events[0].updates] == [
        ("1E+2", "0E-8"), ("101.0000000000000001", "2.")]
    feed = Feed()  # and the core forwards them as they were written
    out = feed(l2(0, [("bid", "1E+2", "0E-8"), ("offer", "101.0000000000000001", "2.")], "snapshot")).outputs
    assert (out[0].bids, out[0].offers) == ((("1E+2", "0E-8"),), (("101.0000000000000001", "2."),))


@pytest.mark.parametrize("bad", ["NaN", "1e999999999", "-1", "9" * 100])
def test_bad_trade_and_status_numbers_are_malformed(decoder, bad):
    for text in (trades(3, bad, "1"), trades(3, "100", bad)):
        got = decoder.decode(text)
        assert isinstance(got, Rejected) and (got.reason, got.channel, got.sequence_num) == (
            codec.BAD_DECIMAL, "market_trades", 3)
    status = frame("status", 4, [{"type": "update", "products": [{"id": "BTC-USD", "status": "online",
                                                                 "base_increment": bad}]}])
    assert decoder.decode(status).reason == codec.BAD_DECIMAL


def test_a_status_without_increments_is_still_good(decoder):
    status = frame("status", 4, [{"type": "update", "products": [{"id": "BTC-USD", "status": "offline"}]}])
    assert not isinstance(decoder.decode(status), Rejected)


@pytest.mark.parametrize("shape", sorted(DEEP_SHAPES))
def test_deep_nesting_is_malformed_not_a_recursion_error(decoder, shape):
    for text in (DEEP_SHAPES[shape], DEEP_SHAPES[shape].encode()):
        got = decoder.decode(text)
        assert isinstance(got, Rejected) and (got.kind, got.reason) == (codec.MALFORMED, codec.TOO_DEEP), got


def test_a_frame_over_the_size_limit_is_malformed_unread(decoder):
    big = '{"channel":"l2_data","x":"' + "a" * codec.MAX_FRAME_CHARS + '"}'
    got = decoder.decode(big)
    assert (got.kind, got.reason) == (codec.MALFORMED, codec.TOO_BIG)
    assert f"{len(big):,}" in got.detail


def test_bytes_that_are_not_utf8_are_malformed(decoder):
    got = decoder.decode(b'{"channel":"l2_data","x":"\xff\xfe"}')
    assert (got.kind, got.reason) == (codec.MALFORMED, codec.NOT_UTF8)
    assert decoder.decode(b"{not json").reason == codec.NOT_JSON  # valid UTF-8, not JSON


def test_each_kind_of_malformed_frame_has_its_reason(decoder):
    assert decoder.decode("[1, 2]").reason == codec.NOT_OBJECT
    assert decoder.decode('{"x": 1}').reason == codec.NO_CHANNEL
    assert decoder.decode('{"channel": "l2_data", "sequence_num": "x"}').reason == codec.BAD_FIELDS
    error = decoder.decode(json.dumps({"type": "error", "message": "m" * 10_000}))
    assert error.kind == codec.ERROR_FRAME and len(error.detail) <= 200


# ---------------------------------------------------------------- streaming core


class Feed:
    def __init__(self) -> None:
        self.core = StreamingCore(PRODUCTS, ("level2", "market_trades"))
        self.core.on_connected(1)
        self.recv_ns = itertools.count(1000)

    def __call__(self, text: str | bytes):
        return self.core.on_frame(RawFrame(text, 1, next(self.recv_ns)), 1_000.0)


SNAP = [("bid", "100.00", "1"), ("offer", "101.00", "2")]


def test_a_bad_level2_frame_is_counted_forwards_nothing_and_the_next_frame_shows_the_gap():
    feed = Feed()
    assert isinstance(feed(l2(0, SNAP, "snapshot")).outputs[0], L2Update)
    bad = feed(l2(1, [("bid", "100.50", "1"), ("bid", "100.25", "1e999999999")]))
    assert bad.outputs == [] and bad.rejected.reason == "bad_decimal" and bad.first_of_kind
    assert feed.core.malformed == 1 and feed.core.malformed_kinds == {"bad_decimal": 1}
    after = feed(l2(2, [("bid", "100.00", "3")]))  # number 1 carried content that was lost
    assert [type(o) for o in after.outputs] == [StreamGap] and feed.core.gaps == 1


def test_a_bad_frame_that_did_not_take_a_number_leaves_the_stream_whole():
    feed = Feed()
    feed(l2(0, SNAP, "snapshot"))
    for bad in ("NaN", "-1", "9" * 5000):
        assert feed(l2(1, [("bid", "100.00", bad)])).rejected is not None
    out = feed(l2(1, [("bid", "100.00", "3")])).outputs
    assert [type(o) for o in out] == [L2Update] and out[0].bids == (("100.00", "3"),)
    assert feed.core.gaps == 0 and feed.core.malformed == 3 and feed.core.malformed_kinds == {"bad_decimal": 3}


def test_one_bad_event_spoils_the_whole_frame_and_its_snapshot_does_not_count():
    feed = Feed()
    text = frame("l2_data", 0, [event("ETH-USD", "snapshot", SNAP), event("BTC-USD", "snapshot", [("bid", "NaN", "1")])])
    assert feed(text).outputs == []
    assert feed(l2(0, [("bid", "100.00", "3")], product="ETH-USD")).outputs == []  # not in sync: dropped
    assert feed.core.dropped_updates == 1


def test_only_the_first_frame_of_each_kind_asks_for_a_log_line():
    feed = Feed()
    results = [feed(text) for text in ("[" * 5000 + "]" * 5000, l2(0, [("bid", "NaN", "1")]), b"\xff",
                                       "[" * 5000 + "]" * 5000, l2(0, [("bid", "1", "-1")]), b"\xfe")]
    assert [r.first_of_kind for r in results] == [True, True, True, False, False, False]
    assert feed.core.counters()["malformed_kinds"] == {"too_deep": 2, "bad_decimal": 2, "not_utf8": 2}


def test_a_bad_trades_frame_keeps_its_sequence_number_and_no_book_is_touched():
    feed = Feed()
    feed(l2(0, SNAP, "snapshot"))
    assert feed(trades(1, "100.00", "NaN")).outputs == []
    out = feed(trades(2, "100.00", "0.5")).outputs
    assert [type(o) for o in out] == [TradePrint] and feed.core.gaps == 0


def test_oversize_and_deep_frames_through_the_core():
    feed = Feed()
    assert feed("x" * (codec.MAX_FRAME_CHARS + 1)).rejected.reason == codec.TOO_BIG
    assert feed(DEEP_SHAPES["unknown field"]).rejected.reason == codec.TOO_DEEP
    assert feed.core.malformed == 2 and feed.core.frames == 2
