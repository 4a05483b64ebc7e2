"""The gateway core's REST listings: sync snapshots, reconciliation after a user-stream reconnect,
cancel-all sweeps, and fills never counted twice across the socket and REST."""

from __future__ import annotations

import urllib.parse
from decimal import Decimal as D

import msgspec

from actors.venue.coinbase_rest import Response
from actors.venue.gateway import GatewayCore
from actors.venue.gateway_state import DONE, Http, Snapshot
from actors.venue.listing import MAX_PAGES, Complete, Failed, Listing, Next
from actors.wire.rate_limit import RateLimiter
from actors.wire.user import UserOrder
from domain.orders import Fill, KnownOrder, KnownOrders, OrderUpdate, PlaceOrder

T0 = 1_795_000_000.0


def order(cid: str = "rt-1", size: str = "1.0") -> PlaceOrder:
    return PlaceOrder(cid, "BTC-USD", "BUY", "limit", D(size), D("100"))


def rest_order(oid: str, cid: str, status: str, filled: str = "0", base: str = "1.0") -> dict:
    return {"order_id": oid, "client_order_id": cid, "product_id": "BTC-USD", "side": "BUY", "status": status,
            "filled_size": filled, "order_configuration": {"limit_limit_gtc": {"base_size": base,
                                                                                "limit_price": "100"}}}


def rest_fill(tid: str, oid: str, size: str, price: str, fee: str = "0", second: int = 1) -> dict:
    return {"trade_id": tid, "order_id": oid, "product_id": "BTC-USD", "side": "BUY", "price": price, "size": size,
            "commission": fee, "liquidity_indicator": "MAKER", "trade_time": f"2026-11-23T21:40:0{second}.000Z"}


def ok(body: dict) -> Response:
    return Response(200, msgspec.json.encode(body))


def http(effects, path_end: str) -> list[Http]:
    return [e for e in effects if type(e) is Http and e.request.path.endswith(path_end)]


def query(h: Http) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(h.request.target).query)


def accepted(gw: GatewayCore, cid: str, oid: str, now: float = T0) -> None:
    [create] = http(gw.place(order(cid), now), "/orders")
    gw.on_response(create.request_id, ok({"success": True, "success_response": {"order_id": oid}}), now)


def test_a_sync_reads_every_page_and_answers_with_live_orders_and_every_fill():
    gw = GatewayCore(RateLimiter(private_per_s=100))
    out = gw.sync("execution", T0)
    [orders1] = http(out, "/orders/historical/batch")
    [fills1] = http(out, "/orders/historical/fills")
    assert "order_status" not in query(orders1)  # never OPEN-only: it would hide PENDING and QUEUED
    out = gw.on_response(orders1.request_id, ok({"orders": [
        rest_order("o1", "c1", "OPEN", "0.25"), rest_order("o2", "c2", "FILLED", "1.0"),
        rest_order("o3", "c3", "PENDING")], "has_next": True, "cursor": "p2"}), T0)
    [orders2] = http(out, "/orders/historical/batch")
    assert query(orders2)["cursor"] == ["p2"]
    out = gw.on_response(fills1.request_id, ok({"fills": [rest_fill("t1", "o2", "0.4", "100", "0.04"),
                                                          rest_fill("t2", "o2", "0.6", "105", "0.06", 2)],
                                                "cursor": ""}), T0)
    assert [e for e in out if type(e) is Snapshot] == []  # not before both lists are read
    out = gw.on_response(orders2.request_id, ok({"orders": [rest_order("o4", "c4", "QUEUED"),
                                                            rest_order("o5", "c5", "CANCELLED")],
                                                 "has_next": False, "cursor": ""}), T0)
    [snapshot] = [e for e in out if type(e) is Snapshot]
    assert snapshot.reply_to == ("execution",)
    live = [(u.client_order_id, u.status, u.filled_size, u.leaves_size) for u in snapshot.snapshot.open_orders]
    assert live == [("c1", "OPEN", D("0.25"), D("0.75")), ("c3", "PENDING", D(0), D("1.0")),
                    ("c4", "QUEUED", D(0), D("1.0"))]
    fills = snapshot.snapshot.fills
    assert [(f.trade_id, f.client_order_id, f.size, f.price, f.fee, f.liquidity) for f in fills] == [
        ("t1", "c2", D("0.4"), D("100"), D("0.04"), "MAKER"), ("t2", "c2", D("0.6"), D("105"), D("0.06"), "MAKER")]
    assert gw.jobs_running() == 0


def test_the_snapshot_includes_our_orders_the_venue_could_not_list_yet():
    gw = GatewayCore()
    [create] = http(gw.place(order("rt-1"), T0), "/orders")  # sent, no answer yet
    out = gw.sync("portfolio", T0)
    for h in http(out, "/batch") + http(out, "/fills"):
        out = gw.on_response(h.request_id, ok({"orders": [], "fills": [], "has_next": False}), T0)
    [snapshot] = [e for e in out if type(e) is Snapshot]
    assert [(u.client_order_id, u.status, u.leaves_size) for u in snapshot.snapshot.open_orders] == [
        ("rt-1", "PENDING", D("1.0"))]


def test_a_failed_page_is_asked_again_as_it_was_after_a_back_off():
    gw = GatewayCore()
    [orders1] = http(gw.sync("execution", T0), "/batch")
    [orders2] = http(gw.on_response(orders1.request_id, ok({"orders": [], "has_next": True, "cursor": "c-2"}), T0),
                     "/batch")
    assert gw.on_response(orders2.request_id, Response(503), T0 + 1) == []
    assert gw.next_wake(T0 + 1) == T0 + 1.5
    assert http(gw.pump(T0 + 1.4), "/batch") == []
    [again] = http(gw.pump(T0 + 1.5), "/batch")
    assert again.request == orders2.request and query(again)["cursor"] == ["c-2"]
    assert gw.counters["list_failures"] == 1


def test_a_429_on_a_page_waits_for_the_venue_reset():
    gw = GatewayCore()
    [orders1] = http(gw.sync("execution", T0), "/batch")
    gw.on_response(orders1.request_id, Response(429, b"{}", (("x-ratelimit-reset", str(int(T0) + 2)),)), T0)
    assert gw.counters["throttled"] == 1
    assert gw.next_wake(T0) == T0 + 2
    assert http(gw.pump(T0 + 1.9), "/batch") == []
    [again] = http(gw.pump(T0 + 2), "/batch")
    assert again.request == orders1.request


def reconcile(gw: GatewayCore, orders: list[dict], fills: list[dict], now: float) -> list:
    out = gw.reconcile(now)
    effects = []
    for h in http(out, "/batch"):
        effects += gw.on_response(h.request_id, ok({"orders": orders, "has_next": False}), now)
    for h in http(out, "/fills"):
        effects += gw.on_response(h.request_id, ok({"fills": fills}), now)
    return effects


def user(oid: str, cid: str, status: str, cum: str, avg: str, fees: str = "0") -> UserOrder:
    return UserOrder(oid, cid, status, "BTC-USD", "BUY", avg_price=avg, cumulative_quantity=cum, total_fees=fees)


def test_a_reconcile_reports_only_what_the_socket_did_not_and_names_the_orders():
    gw = GatewayCore()
    accepted(gw, "rt-1", "v-1")
    [socket_fill] = [e for e in gw.on_user_order(user("v-1", "rt-1", "OPEN", "0.6", "100"), T0) if type(e) is Fill]
    out = gw.reconcile(T0 + 5)
    assert [query(h)["order_ids"] for h in http(out, "/batch") + http(out, "/fills")] == [["v-1"], ["v-1"]]
    effects = []
    for h in http(out, "/batch"):
        effects += gw.on_response(h.request_id, ok({"orders": [rest_order("v-1", "rt-1", "FILLED", "1.0")],
                                                    "has_next": False}), T0 + 5)
    for h in http(out, "/fills"):
        effects += gw.on_response(h.request_id, ok({"fills": [rest_fill("t2", "v-1", "0.4", "105", "0.04", 2),
                                                              rest_fill("t1", "v-1", "0.6", "100", "0.06", 1)]}),
                                  T0 + 5)
    [new] = [e for e in effects if type(e) is Fill]
    assert (new.trade_id, new.size, new.price, new.fee) == ("t2", D("0.4"), D("105"), D("0.04"))
    [update] = [e for e in effects if type(e) is OrderUpdate]
    assert (update.status, update.filled_size) == ("FILLED", D("1.0")) and gw.state("rt-1") == DONE
    # The socket replays the final state later: nothing more.
    assert [e for e in gw.on_user_order(user("v-1", "rt-1", "FILLED", "1.0", "102"), T0 + 6) if type(e) is Fill] == []
    fills = gw.fills()
    assert fills == (socket_fill, new) and sum(f.size for f in fills) == D("1.0")
    assert sum(f.size * f.price for f in fills) == D("102.0")  # 0.6 x 100 + 0.4 x 105
    assert gw.counters["fills_reconciled"] == 1


def test_a_rest_fill_that_overlaps_the_socket_reports_only_its_new_part():
    gw = GatewayCore()
    accepted(gw, "rt-1", "v-1")
    gw.on_user_order(user("v-1", "rt-1", "OPEN", "0.5", "100"), T0)
    effects = reconcile(gw, [rest_order("v-1", "rt-1", "OPEN", "0.7")],
                        [rest_fill("t1", "v-1", "0.3", "100", "0.03", 1),
                         rest_fill("t2", "v-1", "0.4", "100", "0.04", 2)], T0 + 1)
    [new] = [e for e in effects if type(e) is Fill]
    # t1 covers (0, 0.3] and t2 (0.3, 0.7]; the socket reported (0, 0.5]: (0.5, 0.7] is new.
    assert (new.trade_id, new.size, new.fee) == ("t2:0.7", D("0.2"), D("0.02"))
    assert sum(f.size for f in gw.fills()) == D("0.7")


def test_rest_first_then_the_socket_reports_the_rest_priced_from_the_cumulative_value():
    gw = GatewayCore()
    accepted(gw, "rt-1", "v-1")
    reconcile(gw, [rest_order("v-1", "rt-1", "OPEN", "0.6")], [rest_fill("t1", "v-1", "0.6", "100", "0.06")], T0)
    [fill] = [e for e in gw.on_user_order(user("v-1", "rt-1", "FILLED", "1.0", "102", "0.1"), T0 + 1)
              if type(e) is Fill]
    # 1.0 x 102 = 102 in all, 60 reported: 42 for 0.4 -> 105; fees 0.1 - 0.06.
    assert (fill.size, fill.price, fill.fee) == (D("0.4"), D("105"), D("0.04"))
    assert sum(f.size for f in gw.fills()) == D("1.0")


def test_a_reconcile_with_nothing_unfinished_sends_nothing():
    gw = GatewayCore()
    accepted(gw, "rt-1", "v-1")
    gw.on_user_order(user("v-1", "rt-1", "FILLED", "1.0", "100"), T0)
    assert gw.reconcile(T0 + 1) == [] and gw.counters["reconciles"] == 0


def test_a_cancel_all_sweeps_every_cancelable_order_the_venue_lists_in_batches_of_100():
    gw = GatewayCore(RateLimiter(private_per_s=1000))
    out = gw.cancel_everything(T0)
    [listing] = http(out, "/batch")
    assert http(out, "/fills") == []
    orders = [rest_order(f"o{i}", f"c{i}", "OPEN") for i in range(140)]
    orders += [rest_order("p1", "cp", "PENDING"), rest_order("q1", "cq", "QUEUED"),
               rest_order("x1", "cx", "CANCEL_QUEUED"), rest_order("f1", "cf", "FILLED")]
    out = gw.on_response(listing.request_id, ok({"orders": orders, "has_next": False}), T0)
    batches = [msgspec.json.decode(h.request.body)["order_ids"] for h in http(out, "/batch_cancel")]
    assert [len(b) for b in batches] == [100, 42]
    assert set(batches[0] + batches[1]) == {f"o{i}" for i in range(140)} | {"p1", "q1"}


def test_an_order_never_sent_is_cancelled_here_without_a_request():
    gw = GatewayCore(RateLimiter(private_per_s=1))
    http(gw.place(order("a"), T0), "/orders")  # spends the only token
    assert gw.place(order("b"), T0) == []  # waits for budget
    [update] = gw.cancel(["b"], T0)
    assert (update.client_order_id, update.status) == ("b", "CANCELLED") and gw.state("b") == DONE
    assert http(gw.pump(T0 + 5), "/orders") == []  # it never leaves
    assert gw.counters["cancelled_unsent"] == 1


def test_an_order_from_an_earlier_run_listed_live_can_be_cancelled_by_its_client_id():
    gw = GatewayCore()
    out = gw.sync("execution", T0)
    for h in http(out, "/batch"):
        gw.on_response(h.request_id, ok({"orders": [rest_order("v-old", "old-1", "OPEN")], "has_next": False}), T0)
    for h in http(out, "/fills"):
        gw.on_response(h.request_id, ok({"fills": []}), T0)
    [cancel] = http(gw.cancel(["old-1"], T0 + 1), "/batch_cancel")
    assert msgspec.json.decode(cancel.request.body) == {"order_ids": ["v-old"]}


def test_an_unknown_outcome_is_settled_by_the_listing():
    gw = GatewayCore()
    [create] = http(gw.place(order("rt-1"), T0), "/orders")
    gw.on_response(create.request_id, Response(None, error="timeout"), T0 + 5)
    effects = reconcile(gw, [], [], T0 + 5)  # no venue id known yet: nothing to name
    assert effects == []
    out = gw.sync("execution", T0 + 5.1)
    effects = []
    for h in http(out, "/batch"):
        effects += gw.on_response(h.request_id, ok({"orders": [rest_order("v-7", "rt-1", "OPEN")],
                                                    "has_next": False}), T0 + 5.1)
    for h in http(out, "/fills"):
        effects += gw.on_response(h.request_id, ok({"fills": []}), T0 + 5.1)
    assert gw.in_flight() == [] and gw.counters["unknown_settled"] == 1
    assert http(gw.pump(T0 + 100), "/orders") == []  # no retry once settled


def test_a_listing_stops_on_a_repeated_cursor_and_reports_an_unreadable_page():
    listing = Listing(orders=True, fills=False)
    [(which, _)] = listing.start()
    assert type(listing.on_page(which, ok({"orders": [], "has_next": True, "cursor": "a"}))) is Next
    assert type(listing.on_page(which, ok({"orders": [], "has_next": True, "cursor": "a"}))) is Complete
    assert listing.done and MAX_PAGES >= 100
    bad = Listing(orders=False, fills=True)
    [(which, _)] = bad.start()
    assert type(bad.on_page(which, Response(200, b"<html>"))) is Failed
    assert not bad.done


def test_a_request_that_raises_before_any_response_is_answered_as_no_response():
    import threading

    from actors.venue import coinbase_rest as cr
    from actors.venue.gateway_state import Http
    from actors.venue.rest_worker import RestWorker

    class Broken:
        def send(self, request):
            raise ValueError("cannot sign")

        def close(self):
            pass

    got, done = [], threading.Event()

    def deliver(result):
        got.append(result)
        done.set()

    worker = RestWorker(Broken, deliver, threads=1)
    worker.start()
    try:
        worker.submit(Http(7, cr.products()))
        assert done.wait(5)
    finally:
        assert worker.stop(2.0)
    [result] = got
    assert result.request_id == 7 and result.response.status is None and "cannot sign" in result.response.error


def test_a_restarted_gateway_resumes_from_execution_and_reports_no_fill_twice():
    # Before the crash: rt-1 (v-1) had 0.6 of 1.0 filled at 100 (fees 0.06) and reported; rt-2 was sent
    # but its answer was lost. The new incarnation knows nothing until execution tells it.
    gw = GatewayCore(RateLimiter(private_per_s=100))
    known = KnownOrders((
        KnownOrder("rt-1", "v-1", True, order("rt-1"), D("0.6"), D("60"), D("0.06")),
        KnownOrder("rt-2", "", True, order("rt-2"), D(0), D(0), D(0)),
        KnownOrder("rt-0", "v-0", False, order("rt-0"), D("1.0"), D("99"), D("0.1")),  # finished before
    ))
    out = gw.resume(known, T0)
    # It reconciles the order it knows at the venue, and asks again for the one whose fate is unknown.
    assert [query(h)["order_ids"] for h in http(out, "/batch") + http(out, "/fills")] == [["v-1"], ["v-1"]]
    [retry] = http(out, "/orders")
    assert msgspec.json.decode(retry.request.body)["client_order_id"] == "rt-2"
    assert gw.counters["resumed"] == 2 and gw.counters["unknown_outcomes"] == 1

    # The socket, for a fresh deriver, reports v-1 at 1.0 cumulative (avg 102, fees 0.1): only the last
    # 0.4 is new, priced from the cumulative value: (102 - 60) / 0.4 = 105, fee 0.1 - 0.06.
    [fill] = [e for e in gw.on_user_order(user("v-1", "rt-1", "FILLED", "1.0", "102", "0.1"), T0 + 1)
              if type(e) is Fill]
    assert (fill.size, fill.price, fill.fee) == (D("0.4"), D("105"), D("0.04"))
    # A replay of a finished order's state reports nothing either.
    assert [e for e in gw.on_user_order(user("v-0", "rt-0", "FILLED", "1.0", "99"), T0 + 1) if type(e) is Fill] == []
