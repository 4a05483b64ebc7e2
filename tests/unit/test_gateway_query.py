"""Execution's question about orders it heard nothing of (QueryOrders): one never given to the
gateway ends FAILED "never reached the venue" (never re-sent); one the venue named is read again
over REST and its state reported; one still being sent is left to its own retries; a sync for a
reconciliation also reads cfm/positions and the snapshot carries them."""

from __future__ import annotations

from decimal import Decimal as D

from actors.venue.gateway import GatewayCore
from actors.venue.gateway_state import Snapshot
from actors.wire.rate_limit import RateLimiter
from domain.orders import FUTURES_ONLY, NEVER_REACHED, OrderUpdate
from tests.unit.test_gateway_listings import T0, accepted, http, ok, order, query, rest_order


def test_an_order_the_gateway_was_never_given_ends_failed_and_nothing_is_sent():
    gw = GatewayCore(RateLimiter(private_per_s=100))
    out = gw.query((("pb-lost", "BTC-USD"),), T0)
    assert out == [OrderUpdate("pb-lost", "", "BTC-USD", "FAILED", D(0), D(0), NEVER_REACHED, T0)]
    assert gw.counters["never_sent"] == 1 and gw.counters["creates_sent"] == 0


def test_an_order_the_venue_named_is_read_again_and_its_state_reported():
    gw = GatewayCore(RateLimiter(private_per_s=100))
    accepted(gw, "pb-1", "v-1")
    out = gw.query((("pb-1", "BTC-USD"),), T0 + 10)
    [orders] = http(out, "/orders/historical/batch")
    [fills] = http(out, "/orders/historical/fills")
    assert query(orders)["order_ids"] == ["v-1"] and query(fills)["order_ids"] == ["v-1"]
    out = gw.on_response(orders.request_id, ok({"orders": [rest_order("v-1", "pb-1", "OPEN")], "has_next": False}),
                         T0 + 10)
    out += gw.on_response(fills.request_id, ok({"fills": [], "cursor": ""}), T0 + 10)
    assert [(u.client_order_id, u.status) for u in out if type(u) is OrderUpdate] == [("pb-1", "OPEN")]


def test_an_order_still_being_sent_is_left_alone():
    gw = GatewayCore(RateLimiter(private_per_s=100))
    gw.place(order("pb-2"), T0)  # the create is in flight: no answer yet
    out = gw.query((("pb-2", "BTC-USD"),), T0 + 10)
    assert [e for e in out if type(e) is OrderUpdate] == [] and http(out, "/orders/historical/batch") == []


def test_a_sync_with_positions_reads_cfm_positions_and_the_snapshot_carries_them():
    gw = GatewayCore(RateLimiter(private_per_s=100))
    out = gw.sync("reconciler", T0, positions=True)
    [orders] = http(out, "/orders/historical/batch")
    [fills] = http(out, "/orders/historical/fills")
    [positions] = http(out, "/cfm/positions")
    out = gw.on_response(orders.request_id, ok({"orders": [], "has_next": False}), T0)
    out += gw.on_response(fills.request_id, ok({"fills": [], "cursor": ""}), T0)
    assert [e for e in out if type(e) is Snapshot] == []
    out += gw.on_response(positions.request_id, ok({"positions": [
        {"product_id": "BIP-20DEC30-CDE", "side": "SHORT", "number_of_contracts": "2"}]}), T0)
    [snapshot] = [e.snapshot for e in out if type(e) is Snapshot]
    assert snapshot.positions == (("BIP-20DEC30-CDE", D(-2)),) and snapshot.positions_cover == FUTURES_ONLY


def test_a_plain_sync_does_not_ask_for_positions():
    gw = GatewayCore(RateLimiter(private_per_s=100))
    assert http(gw.sync("execution", T0), "/cfm/positions") == []
