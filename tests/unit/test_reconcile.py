"""reconcile(): the journal's view set against the venue's, pure.

Invariants: a venue fill is inferred once by venue order and quantity (never again under another
id for the same quantity, never twice across reconciliations); an unanswered intent settles with
the venue's status or ABSENT, never assumed; a live order the journal does not know is adopted
when its client id is ours (`pb-`), foreign otherwise; positions are compared only for the
perpetual-style products traded, a difference is a mismatch and the reconciliation is not clean.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from actors.recovery.reconcile import (
    ABSENT,
    JournalView,
    SettledIntent,
    VenueOrder,
    VenueView,
    beyond,
    reconcile,
)
from domain.orders import Fill, net_positions

D = Decimal
PERP = "BIP-20DEC30-CDE"
SPOT = "BTC-USD"
OTHER = "ETH-USD"
PRODUCTS = {PERP, SPOT}
PERPETUALS = {PERP}


def fill(trade_id: str, venue_order_id: str, size: str, *, side: str = "BUY", product: str = PERP,
         fee: str = "0", price: str = "100", ts: float = 1.0, client: str = "pb-a") -> Fill:
    return Fill(trade_id, client, venue_order_id, product, side, D(price), D(size), D(fee), "TAKER", ts)


def order(client: str, venue_id: str, *, status: str = "OPEN", live: bool = True, product: str = PERP,
          side: str = "BUY") -> VenueOrder:
    return VenueOrder(client, venue_id, product, side, status, live)


def venue(fills: tuple[Fill, ...] = (), orders: tuple[VenueOrder, ...] = (),
          positions: dict[str, Decimal] | None = None) -> VenueView:
    return VenueView(fills, orders, positions if positions is not None else {})


def run(journal: JournalView, view: VenueView):
    return reconcile(journal, view, PRODUCTS, PERPETUALS)


def settle_into(journal: JournalView, result) -> JournalView:
    """The journal after the start's repairs wrote the inferred fills."""
    return msgspec.structs.replace(journal, fills=(*journal.fills, *result.inferred))


# -- inferred fills, by venue order and quantity ---------------------------------------------

def test_a_fill_journaled_under_its_user_channel_id_is_not_inferred_again_from_rest_trade_ids():
    # the user channel gave the whole order as `V1:3`; REST lists the same 3 as two real trades
    journal = JournalView(fills=(fill("V1:3", "V1", "3"),))
    view = venue(fills=(fill("T1", "V1", "1", ts=1.0), fill("T2", "V1", "2", ts=2.0)), positions={PERP: D(3)})
    result = run(journal, view)
    assert result.inferred == ()
    assert result.positions == {PERP: (D(3), D(3))}
    assert result.clean


def test_a_venue_fill_beyond_the_journaled_quantity_is_inferred_once():
    journal = JournalView(fills=(fill("V1:2", "V1", "2"),))
    missed = fill("T2", "V1", "1", ts=2.0, fee="0.06")
    view = venue(fills=(fill("T1", "V1", "2", ts=1.0), missed), positions={PERP: D(3)})
    result = run(journal, view)
    assert result.inferred == (missed,)  # whole, under its real trade id, with its own fee
    assert result.positions[PERP] == (D(3), D(3)) and result.clean
    # journaled by the repairs, the same venue state infers nothing more
    again = run(settle_into(journal, result), view)
    assert again.inferred == () and again.clean


def test_a_partly_covered_fill_is_cut_under_trade_id_cumulative_with_its_fee_share():
    journal = JournalView(fills=(fill("V1:1", "V1", "1"),))
    view = venue(fills=(fill("T1", "V1", "3", fee="0.30"),), positions={PERP: D(3)})
    result = run(journal, view)
    assert len(result.inferred) == 1
    piece = result.inferred[0]
    assert (piece.trade_id, piece.size, piece.fee) == ("T1:3", D(2), D("0.20"))
    assert (piece.venue_order_id, piece.product_id, piece.side, piece.price) == ("V1", PERP, "BUY", D(100))
    assert result.clean
    assert run(settle_into(journal, result), view).inferred == ()


def test_the_cut_falls_inside_the_fill_that_crosses_the_journaled_quantity():
    journal = JournalView(fills=(fill("V1:3", "V1", "3"),))
    t3 = fill("T3", "V1", "1", ts=3.0, fee="0.1")
    view = venue(fills=(fill("T1", "V1", "2", ts=1.0, fee="0.2"), fill("T2", "V1", "2", ts=2.0, fee="0.2"), t3),
                 positions={PERP: D(5)})
    result = run(journal, view)
    assert [(f.trade_id, f.size, f.fee) for f in result.inferred] == [("T2:4", D(1), D("0.1")), ("T3", D(1), D("0.1"))]
    # the fee of the venue's fills is kept exactly: the journal's share plus the inferred ones
    assert sum(f.fee for f in result.inferred) == D("0.2")
    assert result.clean


def test_an_order_the_journal_never_saw_is_inferred_whole_and_fills_of_untraded_products_are_left_out():
    journal = JournalView(fills=(fill("V1:1", "V1", "1"),))
    view = venue(fills=(fill("T1", "V1", "1", ts=1.0), fill("T9", "V2", "2", side="SELL", ts=5.0),
                        fill("T8", "V3", "1", product=OTHER, ts=4.0), fill("T7", "V4", "1", product=SPOT, ts=3.0)),
                 positions={PERP: D(-1)})
    result = run(journal, view)
    assert [f.trade_id for f in result.inferred] == ["T7", "T9"]  # oldest first; ETH-USD is not traded
    assert result.positions == {PERP: (D(-1), D(-1))} and result.clean


def test_loose_fills_without_a_venue_order_are_matched_by_trade_id():
    journal = JournalView(fills=(fill("L1", "", "1"),))
    view = venue(fills=(fill("L1", "", "1", ts=1.0), fill("L2", "", "2", ts=2.0)), positions={PERP: D(3)})
    result = run(journal, view)
    assert [f.trade_id for f in result.inferred] == ["L2"]
    assert result.clean


def test_beyond_is_the_tail_of_an_orders_fills_past_a_quantity():
    fills = [fill("A", "V", "1", fee="0.3"), fill("B", "V", "2", fee="0.6")]
    assert beyond(fills, D(0)) == fills
    assert beyond(fills, D(3)) == []
    assert beyond(fills, D(5)) == []  # the journal may hold more than the venue: nothing to infer
    (piece,) = beyond(fills, D("1.5"))
    assert (piece.trade_id, piece.size, piece.fee) == ("B:3", D("1.5"), D("0.45"))


# -- unanswered intents ----------------------------------------------------------------------

def test_unanswered_intents_settle_with_the_venues_status_or_absent():
    journal = JournalView(orders={"pb-found": "PENDING", "pb-gone": "PENDING"},
                          unanswered=("pb-found", "pb-gone", "pb-written"))
    view = venue(orders=(order("pb-found", "V7", status="FILLED", live=False),))
    result = run(journal, view)
    assert set(result.settled) == {SettledIntent("pb-found", "FILLED", "V7"), SettledIntent("pb-gone", ABSENT),
                                   SettledIntent("pb-written", ABSENT)}
    assert [s.client_order_id for s in result.settled] == ["pb-found", "pb-gone", "pb-written"]
    # an intent the venue holds is never foreign nor adopted (it is the journal's)
    assert result.foreign == () and result.adopted == ()


def test_an_unanswered_intent_found_live_at_the_venue_settles_open():
    journal = JournalView(orders={"pb-x": "PENDING"}, unanswered=("pb-x",))
    result = run(journal, venue(orders=(order("pb-x", "V1", status="OPEN"),)))
    assert result.settled == (SettledIntent("pb-x", "OPEN", "V1"),)
    assert result.adopted == () and result.foreign == ()


def test_a_written_ahead_intent_the_journal_has_no_order_for_is_adopted_when_live_and_settled():
    # the intent was written, the order reached the venue, the process died before the order row
    journal = JournalView(unanswered=("pb-w",))
    result = run(journal, venue(orders=(order("pb-w", "V2", status="OPEN"),)))
    assert result.settled == (SettledIntent("pb-w", "OPEN", "V2"),)
    assert [o.client_order_id for o in result.adopted] == ["pb-w"]


# -- live orders the journal does not know ---------------------------------------------------

def test_unknown_live_orders_ours_by_client_id_are_adopted_others_foreign():
    journal = JournalView(orders={"pb-known": "OPEN"})
    orders = (order("pb-known", "V1"), order("pb-lost", "V2"), order("manual-1", "V3"), order("", "V4"),
              order("pb-done", "V5", status="FILLED", live=False), order("other", "V6", status="CANCELLED", live=False),
              order("pb-eth", "V7", product=OTHER), order("eth-manual", "V8", product=OTHER),
              order("spot-manual", "V9", product=SPOT))
    result = run(journal, venue(orders=orders))
    assert [o.venue_order_id for o in result.adopted] == ["V2"]
    assert [o.venue_order_id for o in result.foreign] == ["V3", "V4", "V9"]
    assert result.settled == () and result.inferred == ()


# -- positions -------------------------------------------------------------------------------

def test_positions_are_compared_only_for_traded_perpetuals():
    journal = JournalView(fills=(fill("S1", "VS", "0.5", product=SPOT), fill("P1", "VP", "2")))
    view = venue(fills=journal.fills, positions={PERP: D(2), "OTHER-PERP-CDE": D(7)})
    result = reconcile(journal, view, PRODUCTS, {PERP, "OTHER-PERP-CDE"})
    assert result.positions == {PERP: (D(2), D(2))}  # spot has no venue position; OTHER is not traded
    assert result.mismatches == {} and result.clean


def test_a_perpetual_whose_cfm_size_differs_is_a_mismatch_and_not_clean():
    journal = JournalView(fills=(fill("P1", "VP", "5"),))
    view = venue(fills=(fill("T1", "VP", "5"),), positions={PERP: D(2)})
    result = run(journal, view)
    assert result.positions == {PERP: (D(5), D(2))}
    assert result.mismatches == {PERP: (D(5), D(2))}
    assert not result.clean


@pytest.mark.parametrize("venue_positions, expected", [
    ({}, (D(-1), D(0))),  # the venue is flat (no cfm row), the journal short
    ({PERP: D(-1)}, None),
    ({PERP: D("-1.0")}, None),  # exact Decimal comparison, not text
    ({PERP: D(1)}, (D(-1), D(1))),  # the sign counts
])
def test_position_comparison_cases(venue_positions, expected):
    journal = JournalView(fills=(fill("P1", "VP", "1", side="SELL"),))
    result = run(journal, venue(fills=journal.fills, positions=venue_positions))
    assert result.mismatches == ({} if expected is None else {PERP: expected})
    assert result.clean is (expected is None)


def test_a_venue_position_the_journal_never_had_is_a_mismatch():
    result = run(JournalView(), venue(positions={PERP: D(3)}))
    assert result.mismatches == {PERP: (D(0), D(3))} and not result.clean


def test_inferred_fills_count_in_the_journals_position_so_a_missed_fill_is_clean():
    journal = JournalView(fills=(fill("V1:1", "V1", "1"),))
    view = venue(fills=(fill("T1", "V1", "1", ts=1.0), fill("T2", "V2", "2", side="SELL", ts=2.0)),
                 positions={PERP: D(-1)})
    result = run(journal, view)
    assert [f.trade_id for f in result.inferred] == ["T2"]
    assert result.positions == {PERP: (D(-1), D(-1))} and result.clean
    # the position arithmetic equals net_positions over what the journal holds after the repairs
    assert dict(net_positions(settle_into(journal, result).fills)) == {PERP: D(-1)}


def test_reconcile_is_pure_and_deterministic():
    journal = JournalView(fills=(fill("V1:1", "V1", "1"),), orders={"pb-a": "PENDING"}, unanswered=("pb-a",))
    view = venue(fills=(fill("T1", "V1", "3", fee="0.3"),), orders=(order("pb-a", "V1", status="FILLED", live=False),
                                                                       order("x", "V9")), positions={PERP: D(2)})
    first, second = run(journal, view), run(journal, view)
    assert first == second
    assert journal == JournalView(fills=(fill("V1:1", "V1", "1"),), orders={"pb-a": "PENDING"}, unanswered=("pb-a",))
