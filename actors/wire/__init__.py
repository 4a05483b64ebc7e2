"""Coinbase's wire, as the bot reads it: the one rule for a wire decimal (`decimals`), the frame
timestamp parser (`timestamps`) and Coinbase's request budgets (`rate_limit`), imported by
streaming and venue alike. Must never import a
subsystem: it sits below them.
"""
