"""The questions actors are asked (`ask`, answered, never told), one type each, so a handler
routes a question by its type like any message and a typo cannot pass for one.

Owns the query types and their shared instances. Must never hold state or import anything of ours:
the replies are still each actor's own report values (dicts, tuples, orders).
"""

from __future__ import annotations

import msgspec


class ReportQuery(msgspec.Struct, frozen=True, tag=True):
    """An actor's report: its counters and state (actors.app.report stitches them together)."""


class FillsQuery(msgspec.Struct, frozen=True, tag=True):
    """The venue's fills of this session, in the order they happened."""


class OpenOrdersQuery(msgspec.Struct, frozen=True, tag=True):
    """The venue's open orders."""


class CountsQuery(msgspec.Struct, frozen=True, tag=True):
    """The journal's rows per table."""


class OrderQuery(msgspec.Struct, frozen=True, tag=True):
    """One order as the paper venue holds it, or None."""

    client_order_id: str


class BookQuery(msgspec.Struct, frozen=True, tag=True):
    """market_data: one product's levels, (bids best first, asks best first)."""

    product_id: str


REPORT = ReportQuery()
FILLS = FillsQuery()
OPEN_ORDERS = OpenOrdersQuery()
COUNTS = CountsQuery()
