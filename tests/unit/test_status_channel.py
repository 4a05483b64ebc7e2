"""The `status` channel end to end in the pure parts: decode, ProductStatus from the streaming core,
tradability and increment checks in market data, the gate's product_status refusal, and the
exchange's status frames."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from actors.market_data.core import MarketDataCore, status_is_tradable
from actors.risk.gate import PreTradeGate
from actors.risk.gate_context import GateContext
from actors.streaming.codec import FrameDecoder, StatusFrame, StatusProduct
from actors.streaming.core import StreamingCore
from domain.market import ProductStatus, ProductTradability, RawFrame
from domain.products import BTC_PERP, BTC_USD, CATALOG
from domain.quantize import QuantizedOrder
from exchange import frames

SPOT = BTC_USD.product_id
PERP = BTC_PERP.product_id
TS = "2026-11-23T21:40:02.100000000Z"
TS_EPOCH = 1795470002.1  # TS in epoch seconds

SAMPLE = """{"channel": "status", "client_id": "", "timestamp": "2026-11-23T21:40:02.100000000Z", "sequence_num": 7,
 "events": [{"type": "snapshot", "products": [{"product_type": "SPOT", "id": "BTC-USD", "base_currency": "BTC",
   "quote_currency": "USD", "base_increment": "0.00000001", "quote_increment": "0.01", "display_name": "BTC/USD",
   "status": "online", "status_message": "", "min_market_funds": "1"}]}]}"""


def status_frame(seq: int, products: list[dict], kind: str = "update", ts: str = TS) -> str:
    return json.dumps({"channel": "status", "client_id": "", "timestamp": ts, "sequence_num": seq,
                       "events": [{"type": kind, "products": products}]})


# ---------------------------------------------------------------- codec


def test_the_documented_status_frame_decodes_every_field_as_a_wire_string():
    f = FrameDecoder().decode(SAMPLE)
    assert isinstance(f, StatusFrame) and f.sequence_num == 7
    (event,) = f.events
    assert event.type == "snapshot"
    assert event.products == (StatusProduct(
        id="BTC-USD", product_type="SPOT", base_currency="BTC", quote_currency="USD",
        base_increment="0.00000001", quote_increment="0.01", display_name="BTC/USD", status="online",
        status_message="", min_market_funds="1"),)


def test_missing_status_fields_default_to_empty_and_unknown_ones_are_ignored():
    text = status_frame(3, [{"id": "BTC-USD", "status": "delisted", "added_later": {"x": [1]}}])
    f = FrameDecoder().decode(text)
    assert isinstance(f, StatusFrame)
    (product,) = f.events[0].products
    assert (product.id, product.status, product.status_message, product.base_increment,
            product.quote_increment, product.min_market_funds) == ("BTC-USD", "delisted", "", "", "", "")
    bare = FrameDecoder().decode(json.dumps({"channel": "status", "timestamp": TS, "sequence_num": 4}))
    assert isinstance(bare, StatusFrame) and bare.events == ()
    no_products = FrameDecoder().decode(json.dumps(
        {"channel": "status", "timestamp": TS, "sequence_num": 5, "events": [{"type": "update"}]}))
    assert isinstance(no_products, StatusFrame) and no_products.events[0].products == ()


# ---------------------------------------------------------------- streaming core


def test_core_emits_product_status_only_for_its_subscribed_products():
    core = StreamingCore((SPOT, PERP), ("level2", "status"))
    core.on_connected(1)
    text = status_frame(0, [
        {"id": "ETH-USD", "status": "online"},
        {"id": SPOT, "status": "offline", "status_message": "maintenance", "base_increment": "0.00000001",
         "quote_increment": "0.01", "min_market_funds": "1"},
        {"id": PERP, "status": "online", "base_increment": "1", "quote_increment": "0.01"},
    ])
    result = core.on_frame(RawFrame(text, 1, 10), 100.0)
    assert result.outputs == [
        ProductStatus(SPOT, "offline", "maintenance", "0.00000001", "0.01", "1", pytest.approx(TS_EPOCH)),
        ProductStatus(PERP, "online", "", "1", "0.01", "", pytest.approx(TS_EPOCH)),
    ]
    assert core.per_channel == {"status": 1}
    # It counted in the connection's sequence: the next frame, number 1, is no gap.
    core.on_frame(RawFrame(status_frame(1, []), 1, 11), 100.1)
    assert core.gaps == 0


def test_status_with_a_bad_timestamp_still_passes_on_with_ts_zero():
    core = StreamingCore((SPOT,), ("status",))
    core.on_connected(1)
    result = core.on_frame(RawFrame(status_frame(0, [{"id": SPOT, "status": "online"}], ts="yesterday"), 1, 1), 1.0)
    assert result.outputs == [ProductStatus(SPOT, "online", "", "", "", "", 0.0)]


def test_status_is_subscribed_with_product_ids():
    core = StreamingCore((SPOT,), ("status",))
    assert json.loads(core.subscribe_messages()[-1]) == {"type": "subscribe", "product_ids": [SPOT],
                                                          "channel": "status"}


# ---------------------------------------------------------------- market data


def status(pid: str, state: str, base: str = "", quote: str = "", message: str = "", ts: float = 5.0) -> ProductStatus:
    return ProductStatus(pid, state, message, base, quote, "", ts)


@pytest.fixture
def md() -> MarketDataCore:
    return MarketDataCore(dict(CATALOG), bar_interval_s=60.0, stale_after_s=5.0)


@pytest.mark.parametrize("state, tradable", [
    ("online", True), ("ONLINE", True), (" Online ", True),
    ("offline", False), ("internal", False), ("delisted", False), ("", False), ("new_value", False),
])
def test_only_online_is_tradable(state, tradable):
    assert status_is_tradable(state) is tradable


def test_market_data_keeps_the_latest_status_and_publishes_tradability(md):
    assert md.is_tradable(SPOT) and md.report(SPOT)["status"] is None and md.tradabilities() == []
    out, warning = md.on_status(status(SPOT, "offline", message="maintenance", ts=7.0))
    assert out == ProductTradability(SPOT, False, "offline", "maintenance", 7.0) and warning is None
    assert not md.is_tradable(SPOT) and md.is_tradable(PERP)
    assert md.report(SPOT)["status"] == "offline" and md.report(PERP)["status"] is None
    out, _ = md.on_status(status(SPOT, "Online", ts=8.0))
    assert out == ProductTradability(SPOT, True, "Online", "", 8.0)
    assert md.is_tradable(SPOT)
    assert md.tradabilities() == [out]


def test_unknown_product_status_is_counted_not_kept(md):
    assert md.on_status(status("ETH-USD", "offline")) == (None, None)
    assert md.unknown_products == 1 and md.tradabilities() == []


def test_differing_increments_are_counted_and_warned_about_once_never_applied(md):
    # Same values written differently are no mismatch: compared as numbers.
    _, warning = md.on_status(status(PERP, "online", base="1.0", quote="0.010"))
    assert warning is None and md.report(PERP)["status_increment_mismatches"] == 0
    _, warning = md.on_status(status(PERP, "online", base="1", quote="5"))
    assert warning is not None and "quote_increment '5'" in warning
    _, warning = md.on_status(status(PERP, "online", base="junk", quote="0.01"))
    assert warning is None  # logged once per product
    assert md.report(PERP)["status_increment_mismatches"] == 2
    assert md.report(SPOT)["status_increment_mismatches"] == 0


# ---------------------------------------------------------------- gate

GATE = PreTradeGate(max_position_notional=D("50000"), max_leverage=D("3"))


def order(side: str, size: str) -> QuantizedOrder:
    return QuantizedOrder(intent_id="i", product_id=PERP, side=side, order_type="market", size=D(size))


def ctx(**kw) -> GateContext:
    base = dict(state="ACTIVE", book_valid=True, book_stale=False, mark=D("100000"), position=D(0),
                equity=D("20000"), other_gross_exposure=D(0), spec=BTC_PERP)
    base.update(kw)
    return GateContext(**base)


def test_a_product_that_is_not_tradable_refuses_new_risk_only():
    offline = ctx(tradable=False, position=D(10))
    assert GATE.check(order("BUY", "1"), offline) == "product_status"  # 10 -> 11
    assert GATE.check(order("SELL", "11"), offline) == "product_status"  # 10 -> -1: flips
    assert GATE.check(order("SELL", "4"), offline) is None  # 10 -> 6
    assert GATE.check(order("SELL", "10"), offline) is None  # 10 -> 0
    assert GATE.check(order("BUY", "1"), ctx(tradable=False)) == "product_status"  # from flat
    assert GATE.check(order("BUY", "1"), ctx()) is None  # tradable by default


def test_product_status_comes_after_the_trading_state_and_before_the_book():
    assert GATE.check(order("BUY", "1"), ctx(tradable=False, state="HALTED")) == "halted"
    assert GATE.check(order("BUY", "1"), ctx(tradable=False, state="REDUCING")) == "reducing"
    assert GATE.check(order("BUY", "1"), ctx(tradable=False, book_stale=True)) == "product_status"
    # A reduction on an offline product goes, even while its book is stale: the way out stays open.
    assert GATE.check(order("SELL", "1"), ctx(tradable=False, book_stale=True, position=D(10))) is None


# ---------------------------------------------------------------- exchange frames


def test_exchange_status_frames_carry_the_given_statuses_online_otherwise():
    pending = frames.status(1795470002.1, frames.UPDATE, [BTC_USD, BTC_PERP], {SPOT: ("delisted", "gone")})
    sent = json.loads(pending.render(3))
    spot, perp = sent["events"][0]["products"]
    assert sent["events"][0]["type"] == "update"
    assert (spot["id"], spot["status"], spot["status_message"]) == (SPOT, "delisted", "gone")
    assert (perp["id"], perp["status"], perp["status_message"]) == (PERP, "online", "")
    assert (perp["base_increment"], perp["quote_increment"], perp["min_market_funds"]) == ("1", "0.01", "0")
    decoded = FrameDecoder().decode(pending.render(3))
    assert isinstance(decoded, StatusFrame) and decoded.events[0].products[0].status == "delisted"
