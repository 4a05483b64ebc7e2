"""Coinbase's wire, as the bot reads it: the one rule for a wire decimal (`decimals`) and the
frame timestamp parser (`timestamps`), imported by streaming and venue alike. Must never import a
subsystem: it sits below them.
"""
