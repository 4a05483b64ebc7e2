"""Orchestrator: the root supervisor of the actor tree and the owner of TradingState."""
