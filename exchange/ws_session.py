"""One WebSocket connection of the built-in exchange: its session state, the thread that reads from
it and the thread that writes to it.

Owns the channel names both endpoints serve, `Session` (subscriptions, outgoing queue, heartbeat
counter, stall state), the bound on a session's queue (a client that falls that far behind is
closed as a slow consumer), the read loop (hands each client message on; closes a connection that
does not subscribe within the deadline), and the writer: the only thread that sends on its socket,
so it numbers data frames in the order they go out (`sequence_num` from 0 per connection) and obeys
the chaos markers queued among them (skip a number, send one twice, swap two).

Must never decide what a client is sent (the feeds and the subscription handler queue frames; the
writer only sends them) and never send on a socket while holding the server lock.
"""

from __future__ import annotations

import itertools
import queue
import socket
import threading
import time
from typing import Callable, cast

from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.sync.server import ServerConnection

from exchange.frames import PendingFrame

HEARTBEATS = "heartbeats"
LEVEL2 = "level2"
TICKER = "ticker"
TICKER_BATCH = "ticker_batch"
MARKET_TRADES = "market_trades"
CANDLES = "candles"
STATUS = "status"
PRODUCT_CHANNELS = (LEVEL2, TICKER, TICKER_BATCH, MARKET_TRADES, CANDLES, STATUS)
USER = "user"
FUTURES_BALANCE_SUMMARY = "futures_balance_summary"
PRIVATE_CHANNELS = (USER, FUTURES_BALANCE_SUMMARY)  # a subscribe needs a JWT
CHANNELS = (HEARTBEATS, *PRODUCT_CHANNELS, *PRIVATE_CHANNELS)
USER_PATH = "/user"  # the user-data endpoint; any other path is the market-data endpoint
USER_ENDPOINT_CHANNELS = (HEARTBEATS, *PRIVATE_CHANNELS)

_REORDER_WAIT_S = 1.0  # a frame held back for a reorder goes out alone if no second one comes
_STOP = object()  # writer: flush what is queued, then exit
_SLOW = object()  # writer: the client fell too far behind; close the socket and exit
SKIP_SEQUENCE = object()  # writer: skip one sequence number
DUPLICATE_NEXT = object()  # writer: send the next data frame twice, same sequence_num
REORDER_NEXT = object()  # writer: send the next two data frames in swapped order


class Session:
    """One client connection. Fields are guarded by the server lock, except `outbox` (a queue)."""

    def __init__(self, number: int, ws: ServerConnection, max_queued_frames: int,
                 user_endpoint: bool = False) -> None:
        self.number = number
        self.ws = ws
        self.max_queued_frames = max_queued_frames
        self.user_endpoint = user_endpoint  # connected to USER_PATH: private channels only
        self.outbox: queue.Queue[object] = queue.Queue()
        self.subscriptions: dict[str, list[str]] = {}
        self.has_subscribed = False
        self.heartbeat_counter = 0
        self.next_heartbeat = 0.0  # monotonic time
        self.closing = False
        self.held: list[object] | None = None  # while stalled: what would have been queued
        self.stalled_until = 0.0  # clock time

    def enqueue(self, item: object) -> None:
        """Queue a frame, a text or a chaos marker for the writer (lock held); withhold it while
        stalled. Past the bound, the session closes as a slow consumer."""
        if self.closing:
            return
        if self.outbox.qsize() + len(self.held or ()) >= self.max_queued_frames:
            self.closing = True
            self.held = None
            self.outbox.put(_SLOW)
            return
        if self.held is not None:
            self.held.append(item)
        else:
            self.outbox.put(item)


class SessionTable:
    """The live sessions by number (`live`, guarded by the server lock), and each one's lifetime."""

    def __init__(self, lock: threading.Lock, max_queued_frames: int, subscribe_timeout_s: float) -> None:
        self.live: dict[int, Session] = {}
        self._lock = lock
        self._max_queued_frames = max_queued_frames
        self._subscribe_timeout_s = subscribe_timeout_s
        self._numbers = itertools.count(1)

    def serve(self, ws: ServerConnection, on_message: Callable[[Session, str | bytes], None]) -> None:
        """Runs on websockets' handler thread: read client messages until the socket closes."""
        path = ws.request.path.split("?", 1)[0].rstrip("/") if ws.request is not None else ""
        with self._lock:
            session = Session(next(self._numbers), ws, self._max_queued_frames, user_endpoint=path == USER_PATH)
            self.live[session.number] = session
        writer = threading.Thread(
            target=write_frames,
            args=(session,),
            name=f"exchange-ws-writer-{session.number}",
            daemon=True,
        )
        writer.start()
        close_reason = ""
        try:
            deadline = time.monotonic() + self._subscribe_timeout_s
            while True:
                timeout = None if session.has_subscribed else deadline - time.monotonic()
                try:
                    if timeout is not None and timeout <= 0:
                        raise TimeoutError
                    message = ws.recv(timeout=timeout)
                except TimeoutError:
                    close_reason = "no subscribe received in time"
                    break
                except ConnectionClosed:
                    break
                on_message(session, message)
        finally:
            with self._lock:
                self.live.pop(session.number, None)
                session.closing = True
                session.held = None
            session.outbox.put(_STOP)
            writer.join()
        if close_reason:
            ws.close(CloseCode.POLICY_VIOLATION, close_reason)


def write_frames(session: Session) -> None:
    """The only sender on this socket: numbers data frames in the order they go out, and
    obeys the chaos markers (skip a number, send one twice, swap two)."""
    sequence_num = 0
    duplicate_next = reorder_next = False
    held_back: str | None = None  # a rendered frame waiting for its reorder partner

    def send(text: str) -> bool:
        try:
            session.ws.send(text)
            return True
        except (ConnectionClosed, OSError, RuntimeError):
            return False

    while True:
        try:
            item = session.outbox.get(timeout=_REORDER_WAIT_S if held_back is not None else None)
        except queue.Empty:
            item = None
        if held_back is not None and (item is None or item is _STOP or item is _SLOW):
            if not send(held_back):
                return
            held_back = None
        if item is None:
            continue
        if item is _STOP:
            return
        if item is _SLOW:
            session.ws.close(CloseCode.POLICY_VIOLATION, "slow consumer")
            return
        if item is SKIP_SEQUENCE:
            sequence_num += 1
        elif item is DUPLICATE_NEXT:
            duplicate_next = True
        elif item is REORDER_NEXT:
            reorder_next = True
        elif isinstance(item, PendingFrame):
            text = item.render(sequence_num)
            sequence_num += 1
            if reorder_next and held_back is None:
                reorder_next, held_back = False, text
                continue
            if not send(text) or (duplicate_next and not send(text)):
                return
            duplicate_next = False
            if held_back is not None:
                if not send(held_back):
                    return
                held_back = None
        elif not send(cast(str, item)):  # an error frame or malformed text: no sequence number
            return


def abort(ws: ServerConnection) -> None:
    """Cut the TCP connection without a WebSocket close frame, as a network failure would."""
    try:
        ws.socket.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed
