"""The built-in Coinbase-compatible exchange: a seeded synthetic market served over Advanced Trade WS."""
