"""A book's fingerprint: SHA-256 over its levels, so two books can be compared by one string.

Owns the canonical text of a book (side, price, size with trailing zeros removed, best first).
Must never depend on how a book is stored: it takes (price, size) pairs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from decimal import Decimal


def _canonical(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def book_digest(bids: Iterable[tuple[Decimal, Decimal]], asks: Iterable[tuple[Decimal, Decimal]]) -> str:
    digest = hashlib.sha256()
    for side, levels in (("bid", bids), ("ask", asks)):
        for price, size in levels:
            digest.update(f"{side}|{_canonical(Decimal(price))}|{_canonical(Decimal(size))}\n".encode())
    return digest.hexdigest()
