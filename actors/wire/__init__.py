"""Coinbase's wire, as the bot reads it: the one rule for a wire decimal (`decimals`), the frame
timestamp parser (`timestamps`), Coinbase's request budgets (`rate_limit`) and the `user`
channel's schema (`user`: streaming decodes the private stream once, the venue gateway reads it),
imported by streaming and venue alike. Must never import a subsystem: it sits below them.
"""
