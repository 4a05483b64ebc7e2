"""The fills watermark: unfiltered fills reads start an hour before the newest fill already counted,
and every order seen in that window is read again whole, so cumulative per-order counting (the
gateway's and recovery's) never sees only an order's tail and never misses a fill."""

from __future__ import annotations

import urllib.parse
from decimal import Decimal as D

import msgspec

from actors.venue.coinbase_rest import Response
from actors.venue.gateway import GatewayCore
from actors.venue.gateway_state import Http, Snapshot
from actors.venue.listing import FILLS_LOOKBACK_S, ORDER_IDS_PER_PAGE, Complete, Listing, Next, sequence_timestamp
from actors.wire.rate_limit import RateLimiter
from actors.wire.timestamps import parse_timestamp

T0 = 1_795_000_000.0


def fill(tid: str, oid: str, size: str, second: int) -> dict:
    return {"trade_id": tid, "order_id": oid, "product_id": "BTC-USD", "side": "BUY", "price": "100",
            "size": size, "commission": "0", "liquidity_indicator": "MAKER",
            "trade_time": f"2026-11-23T21:40:{second:02d}.000Z"}


def ok(body: dict) -> Response:
    return Response(200, msgspec.json.encode(body))


def query(request) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(request.target).query)


def test_sequence_timestamp_is_rfc3339_utc_with_microseconds():
    assert sequence_timestamp(0.25) == "1970-01-01T00:00:00.250000Z"
    assert sequence_timestamp(1_795_000_000.5).endswith(".500000Z")


def test_a_windowed_read_asks_from_the_watermark_then_reads_each_order_of_the_window_whole():
    listing = Listing(orders=False, fills=True, fills_since="2026-11-23T20:40:00.000000Z")
    [(_, first)] = listing.start()
    assert query(first)["start_sequence_timestamp"] == ["2026-11-23T20:40:00.000000Z"]
    # the window holds the tail of order A (its first trade is older) and a loose fill with no order
    window = {"fills": [fill("a2", "A", "0.5", 2), {**fill("x1", "", "0.1", 3), "order_id": ""}], "cursor": ""}
    step = listing.on_page("fills", ok(window))
    assert type(step) is Next
    asked = query(step.request)
    assert asked["order_ids"] == ["A"] and "start_sequence_timestamp" not in asked
    whole = {"fills": [fill("a1", "A", "0.5", 1), fill("a2", "A", "0.5", 2)], "cursor": ""}
    assert type(listing.on_page("fills", ok(whole))) is Complete
    assert listing.done
    assert sorted(f.trade_id for f in listing.fills) == ["a1", "a2", "x1"]  # A whole, A's tail not twice


def test_the_orders_of_a_window_are_read_in_batches_and_each_batch_to_its_last_page():
    ids = [f"O{i:03d}" for i in range(ORDER_IDS_PER_PAGE + 1)]
    listing = Listing(orders=False, fills=True, fills_since="2026-11-23T20:40:00.000000Z")
    listing.start()
    step = listing.on_page("fills", ok({"fills": [fill(f"t{o}", o, "1", 1) for o in ids], "cursor": ""}))
    assert len(query(step.request)["order_ids"]) == ORDER_IDS_PER_PAGE
    step = listing.on_page("fills", ok({"fills": [fill("t-page1", ids[0], "1", 1)], "cursor": "c2"}))
    assert query(step.request)["cursor"] == ["c2"]  # the batch is paged to its end first
    step = listing.on_page("fills", ok({"fills": [], "cursor": ""}))
    assert query(step.request)["order_ids"] == [ids[-1]]
    assert type(listing.on_page("fills", ok({"fills": [], "cursor": ""}))) is Complete


def test_a_window_with_no_fills_ends_at_once_and_named_orders_ignore_the_watermark():
    listing = Listing(orders=False, fills=True, fills_since="2026-11-23T20:40:00.000000Z")
    listing.start()
    assert type(listing.on_page("fills", ok({"fills": [], "cursor": ""}))) is Complete
    named = Listing(orders=False, fills=True, order_ids=("A",), fills_since="2026-11-23T20:40:00.000000Z")
    [(_, request)] = named.start()
    assert "start_sequence_timestamp" not in query(request)


def _sync_fills_request(gw: GatewayCore, now: float):
    out = gw.sync("portfolio", now)
    [orders] = [e for e in out if type(e) is Http and e.request.path.endswith("/historical/batch")]
    [fills] = [e for e in out if type(e) is Http and e.request.path.endswith("/historical/fills")]
    return out, orders, fills


def test_a_gateway_with_no_fill_counted_reads_the_whole_history_then_from_its_newest_fill():
    gw = GatewayCore(RateLimiter(private_per_s=100))
    _, orders, fills = _sync_fills_request(gw, T0)
    assert "start_sequence_timestamp" not in query(fills.request)
    gw.on_response(orders.request_id, ok({"orders": [], "has_next": False, "cursor": ""}), T0)
    gw.on_response(fills.request_id, ok({"fills": [fill("a1", "A", "0.5", 1)], "cursor": ""}), T0)
    newest = parse_timestamp("2026-11-23T21:40:01.000Z")  # a1's trade time
    _, _, fills = _sync_fills_request(gw, T0 + 60)
    assert query(fills.request)["start_sequence_timestamp"] == [sequence_timestamp(newest - FILLS_LOOKBACK_S)]


def test_a_seeded_gateway_finds_a_missed_fill_of_an_order_whose_first_fills_are_older_than_the_window():
    """Order A: 0.5 journaled long ago, then 0.5 the bot missed. The window only holds the missed
    trade; reading A whole, the gateway reports exactly that 0.5, once."""
    gw = GatewayCore(RateLimiter(private_per_s=100))
    gw.seed({"A": (D("0.5"), D("50"), D("0"))}, newest_fill=parse_timestamp("2026-11-23T21:40:01.000Z"))
    out, orders, fills = _sync_fills_request(gw, T0)
    assert query(fills.request)["start_sequence_timestamp"]
    gw.on_response(orders.request_id, ok({"orders": [], "has_next": False, "cursor": ""}), T0)
    out = gw.on_response(fills.request_id, ok({"fills": [fill("a2", "A", "0.5", 9)], "cursor": ""}), T0)
    [whole] = [e for e in out if type(e) is Http]
    assert query(whole.request)["order_ids"] == ["A"]
    out = gw.on_response(whole.request_id, ok({"fills": [fill("a1", "A", "0.5", 1), fill("a2", "A", "0.5", 9)],
                                               "cursor": ""}), T0)
    reported = [e for e in out if type(e).__name__ == "Fill"]
    assert [(f.trade_id, f.size) for f in reported] == [("a2", D("0.5"))]
    [snapshot] = [e for e in out if type(e) is Snapshot]
    assert [f.trade_id for f in snapshot.snapshot.fills] == ["a2"]
