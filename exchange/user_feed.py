"""The built-in exchange's user feed: what the private channels send, and when.

Owns the `user` channel (a snapshot of the API client's open orders and positions on subscribe,
then an update whenever an order changes, each subscriber getting its products' orders only), the
`futures_balance_summary` channel (a snapshot of the account on subscribe, re-sent as an update
every `balance_interval_s` and after every fill or funding), and the last updates kept for chaos
user_replay (re-sent once, oldest first, as they were then: older states).

Every method runs with the server lock held. Must never trade or change the client's orders (it
only reads the API client and drains its change lists), send on a socket (it only queues onto
sessions), or decide chaos (the caller says how many copies of an update to send).
"""

from __future__ import annotations

from collections import deque

from domain.products import ProductSpec
from exchange import client_json, frames
from exchange.account import PaperAccount
from exchange.client_orders import ClientOrders
from exchange.frames import PendingFrame
from exchange.orders import OrderView, PerpPosition
from exchange.ws_session import FUTURES_BALANCE_SUMMARY, USER, Session

USER_REPLAY_EVENTS = 10  # user updates kept for user_replay


class UserFeed:
    """The private channels' frames, queued onto the subscribed sessions (lock held throughout)."""

    def __init__(self, client: ClientOrders, account: PaperAccount, products: dict[str, ProductSpec],
                 sessions: dict[int, Session], counts: dict[str, int], balance_interval_s: float) -> None:
        """`counts` is the server's rest_counts() dict: this feed adds `user_duplicated` and
        `user_replayed` to it."""
        self._client = client
        self._account = account
        self._products = products
        self._sessions = sessions
        self._counts = counts
        self._balance_interval_s = balance_interval_s
        self._next_balance = 0.0  # monotonic, set by start()
        self._recent_user: deque[tuple[float, list[OrderView], list[PerpPosition]]] = deque(
            maxlen=USER_REPLAY_EVENTS)

    def start(self, started_at: float) -> None:
        """Count the balance summary's period from `started_at` (monotonic)."""
        self._next_balance = started_at + self._balance_interval_s

    def send_periodic(self, now: float, ts: float) -> None:
        """The balance summary every few seconds (lock held)."""
        if now >= self._next_balance:
            self._next_balance = max(self._next_balance + self._balance_interval_s, now)
            self._send_balance(ts)

    def _send_balance(self, ts: float) -> None:
        """A futures_balance_summary update to its subscribers (lock held)."""
        subscribers = [s for s in self._sessions.values() if FUTURES_BALANCE_SUMMARY in s.subscriptions]
        if subscribers:
            frame = frames.futures_balance_summary(ts, frames.UPDATE, self._account, self._client.summary(ts))
            for session in subscribers:
                session.enqueue(frame)

    def publish_changes(self, ts: float, duplicate_until: float) -> None:
        """Send the orders that changed as a `user` update (twice before `duplicate_until`, chaos
        user_duplicate's end), and the balance after a fill or funding (lock held)."""
        changed = self._client.drain_changes()
        if changed:
            positions = self._client.perp_positions(ts)
            self._recent_user.append((ts, changed, positions))
            copies = 2 if ts < duplicate_until else 1
            sent = self._send_user_update(ts, changed, positions, copies)
            if copies == 2 and sent:
                self._count("user_duplicated", sent)
        if self._client.drain_account_changed():
            self._send_balance(ts)

    def _send_user_update(self, ts: float, orders: list[OrderView], positions: list[PerpPosition],
                          copies: int = 1) -> int:
        """Queue one `user` update per subscriber (its products' orders only); returns how many
        subscribers got one (lock held)."""
        built: dict[tuple[str, ...], PendingFrame | None] = {}
        sent = 0
        for session in self._sessions.values():
            wanted = session.subscriptions.get(USER)
            if wanted is None:
                continue
            key = tuple(wanted)
            if key not in built:
                rows = [o for o in orders if not wanted or o.product_id in wanted]
                built[key] = self._user_frame(ts, frames.UPDATE, rows, positions, wanted) if rows else None
            frame = built[key]
            if frame is None:
                continue
            for _ in range(copies):
                session.enqueue(frame)
            sent += 1
        return sent

    def _user_frame(self, ts: float, kind: str, orders: list[OrderView], positions: list[PerpPosition],
                    wanted: list[str]) -> PendingFrame:
        portfolio = self._client.portfolio_id
        mine = [p for p in positions if not wanted or p.product_id in wanted]
        return frames.user(
            ts, kind,
            [client_json.user_order(o, self._products[o.product_id], portfolio) for o in orders],
            (),  # INTX perpetuals only; every future listed here is a CDE contract (COINBASE.md)
            [client_json.expiring_position(p, self._products[p.product_id]) for p in mine],
        )

    def replay(self) -> None:
        """Chaos user_replay: the last updates again, oldest first, as they were then (lock held)."""
        for ts, orders, positions in list(self._recent_user):
            if self._send_user_update(ts, orders, positions):
                self._count("user_replayed")

    def send_snapshot(self, session: Session, channel: str, ts: float) -> None:
        """Queue a private channel's initial data after a subscribe (lock held)."""
        if channel == USER:  # the open orders and positions of the subscribed products (all when none)
            wanted = session.subscriptions[USER]
            orders = self._client.open_orders(wanted)
            positions = self._client.perp_positions(ts)
            session.enqueue(self._user_frame(ts, frames.SNAPSHOT, orders, positions, wanted))
        elif channel == FUTURES_BALANCE_SUMMARY:
            summary = self._client.summary(ts)
            session.enqueue(frames.futures_balance_summary(ts, frames.SNAPSHOT, self._account, summary))

    def _count(self, what: str, n: int = 1) -> None:
        self._counts[what] = self._counts.get(what, 0) + n
