"""The built-in Coinbase-compatible exchange: a seeded synthetic market served over Advanced
Trade's WebSocket channels and REST endpoints, with one paper client's orders, fills, account and
positions, and chaos to rehearse failures against.

It stands beside the bot as the oracle the bot's tests trust, so it must never import the bot
(`actors`, `config`, `runtime`): only the neutral `domain` (products, matching, the fee of a fill).
"""
