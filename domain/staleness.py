"""The one definition of a stale book, read by everyone who must not act on old data.

A book is unfit for risk-increasing orders when it is invalid (no snapshot yet, a gap, a crossed
book) or when it has not changed for more than the configured threshold. Must never read a clock:
callers pass the time.
"""

from __future__ import annotations

from domain.market import BookStatus


def book_age(status: BookStatus | None, now: float) -> float | None:
    return None if status is None else now - status.updated_at


def stale(valid: bool, updated_at: float | None, now: float, max_age_s: float) -> bool:
    """The rule itself: an invalid book, a book never updated, or a last change too old."""
    return not valid or updated_at is None or now - updated_at > max_age_s


def is_stale(status: BookStatus | None, now: float, max_age_s: float) -> bool:
    """`stale` for a published BookStatus (no status yet counts as stale)."""
    return status is None or stale(status.valid, status.updated_at, now, max_age_s)
