"""The one page of `cfm/positions` a reconciliation's sync reads beside orders and fills: signed
contracts per product; an account the endpoint refuses (no futures) leaves positions unknown
instead of blocking the sync; a 429 is asked again like any page."""

from __future__ import annotations

from decimal import Decimal as D

from actors.venue.coinbase_rest import Response
from actors.venue.listing import POSITIONS, Complete, Failed, Listing


def page(status: int, body: bytes = b"") -> Response:
    return Response(status=status, body=body, headers=(), error="")


def test_positions_are_signed_contracts_and_complete_in_one_page():
    listing = Listing(orders=False, fills=False, positions=True)
    assert [which for which, _ in listing.start()] == [POSITIONS]
    body = (b'{"positions": [{"product_id": "BIP-20DEC30-CDE", "side": "SHORT", "number_of_contracts": "3"},'
            b' {"product_id": "ETP-20DEC30-CDE", "side": "LONG", "number_of_contracts": "1"}]}')
    assert type(listing.on_page(POSITIONS, page(200, body))) is Complete
    assert listing.positions == {"BIP-20DEC30-CDE": D(-3), "ETP-20DEC30-CDE": D(1)}
    assert listing.done


def test_a_refused_positions_page_leaves_them_unknown_and_the_listing_done():
    listing = Listing(orders=False, fills=False, positions=True)
    listing.start()
    assert type(listing.on_page(POSITIONS, page(403, b"{}"))) is Complete
    assert listing.positions is None and listing.done


def test_a_throttled_positions_page_is_asked_again():
    listing = Listing(orders=False, fills=False, positions=True)
    listing.start()
    result = listing.on_page(POSITIONS, page(429))
    assert type(result) is Failed and result.throttled and not listing.done


def test_an_unreadable_contract_count_fails_the_page():
    listing = Listing(orders=False, fills=False, positions=True)
    listing.start()
    body = b'{"positions": [{"product_id": "BIP-20DEC30-CDE", "side": "LONG", "number_of_contracts": "x"}]}'
    assert type(listing.on_page(POSITIONS, page(200, body))) is Failed
