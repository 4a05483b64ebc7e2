"""Product rules come from the products endpoint, faithful to the built-in exchange's catalog."""

from actors.products_rest import fetch_products
from domain.products import CATALOG
from exchange.server import ExchangeServer


def test_products_endpoint_gives_the_catalog_rules():
    server = ExchangeServer(seed=2)
    server.start()
    try:
        specs = fetch_products(server.rest_url, tuple(CATALOG))
    finally:
        server.stop()
    for product_id, expected in CATALOG.items():
        got = specs[product_id]
        for field in ("product_type", "base_increment", "price_increment", "quote_increment", "base_min_size",
                      "contract_size", "is_perpetual", "funding_interval_s"):
            assert getattr(got, field) == getattr(expected, field), (product_id, field)
    assert specs["BIP-20DEC30-CDE"].price_increment == 5 and specs["BIP-20DEC30-CDE"].quote_increment != 5
