"""Coinbase's production endpoints, and telling them from any other (the built-in exchange).

Owns the production URLs and the one rule for "this is real money": a host under coinbase.com,
except the sandbox, which serves canned answers. Imports nothing: the command line reads it
before anything heavy is loaded. Must never open a connection.
"""

from __future__ import annotations

import urllib.parse

COINBASE_REST = "https://api.coinbase.com"
COINBASE_WS = "wss://advanced-trade-ws.coinbase.com"
COINBASE_USER_WS = "wss://advanced-trade-ws-user.coinbase.com"
_SANDBOX_HOSTS = frozenset({"api-sandbox.coinbase.com"})


def is_production(url: str) -> bool:
    """True for Coinbase's own hosts (anything under coinbase.com but the canned sandbox)."""
    host = (urllib.parse.urlsplit(url).hostname or "").lower().rstrip(".")  # "api.coinbase.com." is the same host
    return (host == "coinbase.com" or host.endswith(".coinbase.com")) and host not in _SANDBOX_HOSTS
