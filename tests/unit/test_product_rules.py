"""Product rules read from the products endpoint's JSON."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from actors.products_rest import ProductsError, spec_from_json

PERP_JSON = b"""{"product_id": "BIP-20DEC30-CDE", "base_increment": "1", "quote_increment": "0.01",
 "price_increment": "5", "base_min_size": "1", "quote_min_size": "0", "product_type": "FUTURE",
 "display_name": "BTC PERP", "base_currency_id": "BTC", "quote_currency_id": "USD",
 "trading_disabled": false, "cancel_only": "true", "limit_only": true, "post_only": false,
 "future_product_details": {"contract_size": "0.01", "funding_rate": "0.000012",
   "funding_interval": "3600s", "contract_expiry_type": "EXPIRING"}, "new_field": 1}"""


def test_a_perp_with_its_trading_mode_and_funding():
    spec = spec_from_json(PERP_JSON)
    assert (spec.price_increment, spec.quote_increment, spec.contract_size) == (D("5"), D("0.01"), D("0.01"))
    assert spec.is_perpetual and spec.funding_interval_s == 3600 and spec.funding_rate == D("0.000012")
    # booleans as JSON booleans or as strings, as the SDK types them
    assert (spec.trading_disabled, spec.cancel_only, spec.limit_only, spec.post_only) == (False, True, True, False)


def test_missing_mode_flags_mean_open_for_trading():
    spec = spec_from_json(b'{"product_id": "BTC-USD", "base_increment": "0.00000001", "quote_increment": "0.01"}')
    assert not (spec.trading_disabled or spec.cancel_only or spec.limit_only or spec.post_only)
    assert spec.price_increment == D("0.01")  # no price_increment: the quote increment


def test_an_unreadable_product_is_a_products_error():
    with pytest.raises(ProductsError):
        spec_from_json(b'{"product_id": "X", "base_increment": "abc", "quote_increment": "0.01"}')
