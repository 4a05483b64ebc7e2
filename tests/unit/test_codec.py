"""Frame decoding: the documented example frames type correctly; anything else is classified."""

from __future__ import annotations

import calendar

import msgspec
import pytest

from actors.streaming.codec import (
    CandlesFrame,
    FrameDecoder,
    FuturesBalanceSummaryFrame,
    HeartbeatsFrame,
    L2DataFrame,
    MarketTradesFrame,
    Rejected,
    StatusFrame,
    SubscriptionsFrame,
    TickerFrame,
    UserFrame,
    classify,
)
from actors.wire.timestamps import parse_timestamp

# The server -> client examples of COINBASE.md (made-up values, exact field names).
SUBSCRIPTIONS = """{"channel": "subscriptions", "client_id": "", "timestamp": "2026-11-23T21:40:00.100000000Z", "sequence_num": 0,
 "events": [{"subscriptions": {"level2": ["BTC-USD", "ETH-USD"], "market_trades": ["BTC-USD"]}}]}"""
HEARTBEAT = """{"channel": "heartbeats", "client_id": "", "timestamp": "2026-11-23T21:40:01.000412345Z", "sequence_num": 1,
 "events": [{"current_time": "2026-11-23 21:40:01.000398221 +0000 UTC m=+5012.775310091", "heartbeat_counter": 5012}]}"""
L2_SNAPSHOT = """{"channel": "l2_data", "client_id": "", "timestamp": "2026-11-23T21:40:01.120000000Z", "sequence_num": 2,
 "events": [{"type": "snapshot", "product_id": "BTC-USD", "updates": [
   {"side": "bid", "event_time": "2026-11-23T21:40:01.118000Z", "price_level": "91234.55", "new_quantity": "0.42000000"},
   {"side": "bid", "event_time": "2026-11-23T21:40:01.118000Z", "price_level": "91234.01", "new_quantity": "1.10000000"},
   {"side": "offer", "event_time": "2026-11-23T21:40:01.118000Z", "price_level": "91234.56", "new_quantity": "0.05000000"},
   {"side": "offer", "event_time": "2026-11-23T21:40:01.118000Z", "price_level": "91235.20", "new_quantity": "2.00000000"}]}]}"""
L2_UPDATE = """{"channel": "l2_data", "client_id": "", "timestamp": "2026-11-23T21:40:01.350000000Z", "sequence_num": 3,
 "events": [{"type": "update", "product_id": "BTC-USD", "updates": [
   {"side": "offer", "event_time": "2026-11-23T21:40:01.349001Z", "price_level": "91234.56", "new_quantity": "0"},
   {"side": "bid", "event_time": "2026-11-23T21:40:01.349001Z", "price_level": "91234.55", "new_quantity": "0.37000000"}]}]}"""
TICKER = """{"channel": "ticker", "client_id": "", "timestamp": "2026-11-23T21:40:01.400000000Z", "sequence_num": 4,
 "events": [{"type": "update", "tickers": [{"type": "ticker", "product_id": "BTC-USD", "price": "91234.56",
   "volume_24_h": "15328.12345678", "low_24_h": "89500.01", "high_24_h": "92200", "low_52_w": "49000",
   "high_52_w": "126000", "price_percent_chg_24_h": "1.8537", "best_bid": "91234.55",
   "best_bid_quantity": "0.37000000", "best_ask": "91235.20", "best_ask_quantity": "2.00000000"}]}]}"""
TRADES = """{"channel": "market_trades", "client_id": "", "timestamp": "2026-11-23T21:40:01.410000000Z", "sequence_num": 5,
 "events": [{"type": "update", "trades": [{"trade_id": "812345001", "product_id": "BTC-USD", "price": "91234.56",
   "size": "0.05000000", "side": "BUY", "time": "2026-11-23T21:40:01.349001Z"}]}]}"""
CANDLES = """{"channel": "candles", "client_id": "", "timestamp": "2026-11-23T21:40:02.000000000Z", "sequence_num": 6,
 "events": [{"type": "update", "candles": [{"start": "1795470000", "high": "91300.00", "low": "91100.10",
   "open": "91180.00", "close": "91234.56", "volume": "12.34500000", "product_id": "BTC-USD"}]}]}"""
STATUS = """{"channel": "status", "client_id": "", "timestamp": "2026-11-23T21:40:02.100000000Z", "sequence_num": 7,
 "events": [{"type": "snapshot", "products": [{"product_type": "SPOT", "id": "BTC-USD", "base_currency": "BTC",
   "quote_currency": "USD", "base_increment": "0.00000001", "quote_increment": "0.01", "display_name": "BTC/USD",
   "status": "online", "status_message": "", "min_market_funds": "1"}]}]}"""
USER = """{"channel": "user", "client_id": "", "timestamp": "2026-11-23T21:40:03.000000000Z", "sequence_num": 1,
 "events": [{"type": "update", "orders": [{"order_id": "7f3c2a10-0000-4000-8000-00000000a001",
   "client_order_id": "rt-20261123-000042", "status": "OPEN", "product_id": "BTC-USD", "post_only": "true"}],
   "positions": {"perpetual_futures_positions": [], "expiring_futures_positions": []}}]}"""
FUTURES_BALANCE = """{"channel": "futures_balance_summary", "client_id": "", "timestamp": "2026-11-23T21:40:04.000000000Z",
 "sequence_num": 2, "events": [{"type": "snapshot", "fcm_balance_summary": {"futures_buying_power": "4200.00"}}]}"""
ERROR = """{"type": "error", "message": "authentication failure"}"""


@pytest.fixture(scope="module")
def decoder() -> FrameDecoder:
    return FrameDecoder()


def test_subscriptions_frame(decoder):
    f = decoder.decode(SUBSCRIPTIONS)
    assert isinstance(f, SubscriptionsFrame)
    assert f.sequence_num == 0
    assert f.events[0].subscriptions == {"level2": ("BTC-USD", "ETH-USD"), "market_trades": ("BTC-USD",)}


def test_heartbeat_counter_as_int_and_as_string(decoder):
    f = decoder.decode(HEARTBEAT)
    assert isinstance(f, HeartbeatsFrame)
    assert f.events[0].heartbeat_counter == 5012
    assert f.events[0].current_time.startswith("2026-11-23 21:40:01")
    documented = decoder.decode(HEARTBEAT.replace('"heartbeat_counter": 5012', '"heartbeat_counter": "5012"'))
    assert documented.events[0].heartbeat_counter == 5012


def test_l2_snapshot_and_update_keep_wire_strings(decoder):
    snap = decoder.decode(L2_SNAPSHOT)
    assert isinstance(snap, L2DataFrame)
    assert snap.sequence_num == 2
    event = snap.events[0]
    assert (event.type, event.product_id) == ("snapshot", "BTC-USD")
    assert [(u.side, u.price_level, u.new_quantity) for u in event.updates] == [
        ("bid", "91234.55", "0.42000000"),
        ("bid", "91234.01", "1.10000000"),
        ("offer", "91234.56", "0.05000000"),
        ("offer", "91235.20", "2.00000000"),
    ]
    upd = decoder.decode(L2_UPDATE.encode())  # bytes work too
    assert isinstance(upd, L2DataFrame)
    assert upd.events[0].type == "update"
    assert upd.events[0].updates[0].new_quantity == "0"


def test_ticker_trades_candles(decoder):
    t = decoder.decode(TICKER)
    assert isinstance(t, TickerFrame)
    ticker = t.events[0].tickers[0]
    assert (ticker.product_id, ticker.best_bid, ticker.best_ask_quantity) == ("BTC-USD", "91234.55", "2.00000000")
    m = decoder.decode(TRADES)
    assert isinstance(m, MarketTradesFrame)
    trade = m.events[0].trades[0]
    assert (trade.trade_id, trade.price, trade.size, trade.side) == ("812345001", "91234.56", "0.05000000", "BUY")
    c = decoder.decode(CANDLES)
    assert isinstance(c, CandlesFrame)
    assert c.events[0].candles[0].close == "91234.56"


@pytest.mark.parametrize(
    "text, cls, seq",
    [(STATUS, StatusFrame, 7), (USER, UserFrame, 1), (FUTURES_BALANCE, FuturesBalanceSummaryFrame, 2)],
)
def test_known_but_ignored_channels_keep_their_sequence(decoder, text, cls, seq):
    f = decoder.decode(text)
    assert isinstance(f, cls)
    assert f.sequence_num == seq


def test_unknown_fields_are_ignored(decoder):
    text = L2_UPDATE.replace('"type": "update",', '"type": "update", "new_field": [1, {"x": 2}],').replace(
        '"client_id": ""', '"client_id": "", "added_later": true'
    )
    f = decoder.decode(text)
    assert isinstance(f, L2DataFrame)
    assert len(f.events[0].updates) == 2


def test_missing_client_id_is_fine(decoder):
    f = decoder.decode(HEARTBEAT.replace('"client_id": "", ', ""))
    assert isinstance(f, HeartbeatsFrame)


def test_error_frame(decoder):
    r = decoder.decode(ERROR)
    assert r == Rejected("error_frame", "authentication failure")


@pytest.mark.parametrize("text", ["", "not json", "{", "[1, 2]", '"text"', "42", "null", "{}", '{"channel": 5}'])
def test_malformed(decoder, text):
    r = decoder.decode(text)
    assert isinstance(r, Rejected)
    assert r.kind == "malformed"


def test_unknown_channel_keeps_sequence_number(decoder):
    r = decoder.decode('{"channel": "brand_new", "sequence_num": 9, "timestamp": "x", "events": []}')
    assert r == Rejected("unknown", "brand_new", "brand_new", 9)


def test_known_channel_with_bad_fields_is_malformed(decoder):
    no_product = L2_UPDATE.replace('"product_id": "BTC-USD", ', "")
    r = decoder.decode(no_product)
    assert isinstance(r, Rejected)
    assert (r.kind, r.channel, r.sequence_num) == ("malformed", "l2_data", 3)
    assert "product_id" in r.detail
    numeric_price = L2_UPDATE.replace('"price_level": "91234.56"', '"price_level": 91234.56')
    assert decoder.decode(numeric_price).kind == "malformed"
    no_sequence = HEARTBEAT.replace('"sequence_num": 1,', "")
    assert decoder.decode(no_sequence).kind == "malformed"


# ---------------------------------------------------------------- timestamps


def test_timestamp_hand_worked():
    assert parse_timestamp("1970-01-01T00:00:00Z") == 0.0
    assert parse_timestamp("1970-01-02T01:01:01.5Z") == 86400 + 3600 + 60 + 1 + 0.5
    assert parse_timestamp("1970-01-02T01:01:01.5+01:00") == 86400 + 60 + 1 + 0.5
    assert parse_timestamp("1970-01-01T00:00:00-00:30") == 1800.0
    assert parse_timestamp("2000-03-01T00:00:00Z") == 951868800.0  # day after a leap day


def test_timestamp_nine_digits_and_microseconds():
    whole = calendar.timegm((2026, 11, 23, 21, 40, 1, 0, 0, 0))
    assert parse_timestamp("2026-11-23T21:40:01.000412345Z") == pytest.approx(whole + 0.000412345, abs=1e-6)
    assert parse_timestamp("2026-11-23T21:40:01.118000Z") == pytest.approx(whole + 0.118, abs=1e-6)
    assert parse_timestamp("2026-11-23T21:40:01.120000000Z") > parse_timestamp("2026-11-23T21:40:01.118000Z")
    # the cached hour base must not leak into a different minute/second
    assert parse_timestamp("2026-11-23T21:59:59Z") - parse_timestamp("2026-11-23T21:00:00Z") == 3599


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-11-23",
        "2026-11-23T21:40:01",
        "2026-11-23T21:40:01.Z",
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-11-23T24:00:00Z",
        "2026-11-23T21:60:00Z",
        "2026-11-23 21:40:01.000398221 +0000 UTC m=+5012.775310091",
        "2026-11-23T21:40:01.5ZZ",
        "2026-11-23T21:4_:01Z",
        "２026-11-23T21:40:01Z",
    ],
)
def test_timestamp_rejects(text):
    with pytest.raises(ValueError):
        parse_timestamp(text)


def test_decode_or_raise_is_the_typed_decode_and_classify_its_slow_path(decoder):
    assert decoder.decode_or_raise(L2_UPDATE) == decoder.decode(L2_UPDATE)
    for text in (ERROR, "not json", '{"channel": "brand_new", "sequence_num": 9}'):
        with pytest.raises(msgspec.DecodeError) as caught:
            decoder.decode_or_raise(text)
        assert classify(text, caught.value) == decoder.decode(text)


def test_timestamp_seconds_and_minutes_roll_over_between_calls():
    minute = calendar.timegm((2026, 11, 23, 21, 40, 0))
    assert parse_timestamp("2026-11-23T21:40:59.75Z") == minute + 59.75
    assert parse_timestamp("2026-11-23T21:41:00.25Z") == minute + 60.25
    assert parse_timestamp("2026-11-23T21:40:59.5Z") == minute + 59.5  # back to an earlier second
    assert parse_timestamp("2026-11-23T21:40:59.5z") == minute + 59.5
    assert parse_timestamp("2026-11-23T21:40:59.5+00:00") == minute + 59.5
    assert parse_timestamp("2026-11-23T21:40:59Z") == minute + 59


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-23T21:40:01.5e3Z",
        "2026-11-23T21:40:01.5 Z",
        "2026-11-23T21:40:01._5Z",
        "2026-11-23T21:40:01.5_5Z",
        "2026-11-23T21:40:01.\u0665Z",  # an Arabic-Indic digit five
        "2026-11-23T21:40:0112.5Z",
        "2026-11-23T21:40:01",
        "2026-11-23T21:40:01.",
    ],
)
def test_timestamp_rejects_after_a_good_one_of_the_same_second(text):
    parse_timestamp("2026-11-23T21:40:01.5Z")  # the second is cached now
    with pytest.raises(ValueError):
        parse_timestamp(text)


def test_an_empty_timestamp_is_refused_by_a_fresh_parser_too():
    """The last-stamp cache starts empty: no text, the empty one included, matches it."""
    import importlib

    import actors.wire.timestamps as timestamps

    fresh = importlib.reload(timestamps)
    try:
        with pytest.raises(ValueError):
            fresh.parse_timestamp("")
        assert fresh.parse_timestamp("2026-11-23T21:40:01.5Z") == fresh.parse_timestamp("2026-11-23T21:40:01.5Z")
    finally:
        importlib.reload(timestamps)
