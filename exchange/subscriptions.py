"""The built-in exchange's answer to a WebSocket client's messages: subscribe and unsubscribe.

Speaks the protocol of COINBASE.md: one channel per subscribe/unsubscribe, a `subscriptions` ack
after each, then the channel's initial data (from the market or the user feed), and error frames
(never a disconnect) for bad requests. A private channel's subscribe needs a JWT the
`Authenticator` accepts (signed by the configured API key, or any well-formed unexpired ES256 JWT
when none is configured) or it gets `authentication failure`. The user-data endpoint (`/user`)
serves only `heartbeats`, `user` and `futures_balance_summary`; the market-data endpoint serves
every channel, the private ones included (it is the user-data endpoint's failover). During chaos
ignore_subscribe a subscribe gets no answer at all.

Runs on a connection's handler thread. Must never send on a socket (it queues onto the session)
and never hold the server lock while checking a JWT; a subscribe records, acks and queues its
snapshot under the lock in one go, so the snapshot is followed by exactly the updates after it.
"""

from __future__ import annotations

import threading
from typing import Callable

import msgspec
from loguru import logger

from domain.products import ProductSpec
from exchange import frames
from exchange.auth import AUTH_FAILURE, Authenticator
from exchange.chaos_effects import ChaosEffects
from exchange.market_feed import MarketFeed
from exchange.user_feed import UserFeed
from exchange.ws_session import (
    CHANNELS,
    FUTURES_BALANCE_SUMMARY,
    HEARTBEATS,
    PRIVATE_CHANNELS,
    STATUS,
    USER,
    USER_ENDPOINT_CHANNELS,
    Session,
)


class Subscriptions:
    """Checks each client message and carries out the subscribe or unsubscribe it asks for."""

    def __init__(self, lock: threading.Lock, clock: Callable[[], float], products: dict[str, ProductSpec],
                 auth: Authenticator, chaos: ChaosEffects, market_feed: MarketFeed, user_feed: UserFeed) -> None:
        self._lock = lock
        self._clock = clock
        self._products = products
        self._auth = auth
        self._chaos = chaos
        self._market_feed = market_feed
        self._user_feed = user_feed

    def on_message(self, session: Session, message: str | bytes) -> None:
        try:
            request = msgspec.json.decode(message)
        except msgspec.DecodeError:
            self._reject(session, "malformed JSON")
            return
        if not isinstance(request, dict):
            self._reject(session, "a message must be a JSON object")
            return
        kind = request.get("type")
        if kind not in ("subscribe", "unsubscribe"):
            self._reject(session, f"unknown message type {kind!r}")
            return
        if kind == "subscribe":
            with self._lock:
                ignoring = self._clock() < self._chaos.ignore_subscribe_until
            if ignoring:
                logger.debug("chaos: ignoring a subscribe on connection {}", session.number)
                return
        if "channels" in request:
            self._reject(session, "one channel per message: send 'channel' (a string), not 'channels'")
            return
        channel = request.get("channel")
        if channel not in CHANNELS:
            self._reject(session, f"unsupported channel {channel!r}")
            return
        if session.user_endpoint and channel not in USER_ENDPOINT_CHANNELS:
            self._reject(session, f"channel {channel!r} is not served on the user data endpoint: "
                                  "use the market data endpoint")
            return
        if kind == "subscribe" and channel in PRIVATE_CHANNELS:
            with self._lock:
                now = self._clock()
            if self._auth.token_refusal(request.get("jwt"), now):
                self._reject(session, AUTH_FAILURE)
                return
        product_ids = request.get("product_ids") or []
        if not isinstance(product_ids, list) or not all(isinstance(p, str) for p in product_ids):
            self._reject(session, "product_ids must be a list of strings")
            return
        unknown = [p for p in product_ids if p not in self._products]
        if unknown:
            self._reject(session, f"unknown product ids {unknown}")
            return
        if channel in (HEARTBEATS, FUTURES_BALANCE_SUMMARY):
            product_ids = []
        elif channel == USER:
            pass  # with product ids: those products; without: all of them
        elif channel == STATUS and kind == "subscribe" and not product_ids:
            product_ids = list(self._products)
        elif kind == "subscribe" and not product_ids:
            self._reject(session, f"channel {channel!r} needs product_ids")
            return
        with self._lock:
            if kind == "subscribe":
                self._subscribe(session, channel, product_ids)
            else:
                self._unsubscribe(session, channel, product_ids)

    def _reject(self, session: Session, message: str) -> None:
        with self._lock:
            session.enqueue(frames.error(message))

    def _subscribe(self, session: Session, channel: str, product_ids: list[str]) -> None:
        """Record, ack, then queue the initial data of each product (lock held)."""
        ts = self._clock()
        if channel == HEARTBEATS and HEARTBEATS not in session.subscriptions:
            self._market_feed.start_heartbeats(session)
        subscribed = session.subscriptions.setdefault(channel, [])
        subscribed.extend(p for p in product_ids if p not in subscribed)
        session.has_subscribed = True
        session.enqueue(frames.subscriptions(ts, session.subscriptions))
        if channel in PRIVATE_CHANNELS:
            self._user_feed.send_snapshot(session, channel, ts)
        else:
            self._market_feed.send_snapshots(session, channel, product_ids, ts, self._chaos.defer_snapshot)

    def _unsubscribe(self, session: Session, channel: str, product_ids: list[str]) -> None:
        """Drop the products (all of the channel when none are named), then ack (lock held)."""
        subscribed = session.subscriptions.get(channel)
        if subscribed is not None:
            remaining = [p for p in subscribed if product_ids and p not in product_ids]
            if remaining:
                session.subscriptions[channel] = remaining
            else:
                del session.subscriptions[channel]
        session.enqueue(frames.subscriptions(self._clock(), session.subscriptions))
