"""The neutral bottom layer the bot (`actors/`) and the built-in exchange (`exchange/`) both
import: products and their rules, the matching mechanics of a price-time order book, and the fee
of a fill. Must never import `actors`, `exchange`, `runtime` or `config`: it is below all of them.
"""
