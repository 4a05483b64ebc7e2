from decimal import Decimal

from domain.market import BookStatus
from domain.staleness import book_age, is_stale


def status(valid: bool = True, updated_at: float = 100.0) -> BookStatus:
    return BookStatus("BTC-USD", valid, Decimal(1), Decimal(2), Decimal("1.5"), updated_at, 0)


def test_fresh_valid_book_is_not_stale():
    assert not is_stale(status(), now=104.9, max_age_s=5.0)
    assert book_age(status(), 104.0) == 4.0


def test_old_invalid_or_missing_book_is_stale():
    assert is_stale(status(), now=105.1, max_age_s=5.0)
    assert is_stale(status(valid=False), now=100.0, max_age_s=5.0)
    assert is_stale(None, now=100.0, max_age_s=5.0) and book_age(None, 1.0) is None
