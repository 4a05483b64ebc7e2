"""The REST worker: the few threads where the gateway's blocking HTTP requests run.

Owns its threads, their request queue and one transport per thread (a keep-alive connection is
not shared between threads). Takes `Http(request_id, request)` effects, performs each with
`transport.send` and hands back `RestResult(request_id, response)` through `deliver` (the gateway
actor's tell-to-self), so no actor handler ever waits on the network. Started and stopped with its
actor: `stop` cuts short any request in progress (shutting its socket down) and joins every thread
with a deadline.
Must never decide anything about a request: no retries, no reading of the response, no ordering
promise between requests (two threads may answer in either order; request ids tell them apart).
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import msgspec
from loguru import logger

from actors.venue.coinbase_rest import Request, Response, RestTransport
from actors.venue.gateway_state import Http

_STOP = object()


class RestResult(msgspec.Struct, frozen=True):
    """The answer to one Http effect, told back to the gateway actor."""

    request_id: int
    response: Response


class Transport(Protocol):
    def send(self, request: Request) -> Response: ...

    def close(self) -> None: ...


class AbortableTransport(RestTransport):
    """A RestTransport that another thread can interrupt: closing a socket does not wake a thread
    blocked reading it, shutting it down does. Reads the parent's connection attribute (`_conn`)."""

    def abort(self) -> None:
        conn = getattr(self, "_conn", None)
        sock = getattr(conn, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # not connected, or already gone


class RestWorker:
    def __init__(self, make_transport: Callable[[], Transport], deliver: Callable[[RestResult], Any],
                 threads: int = 2, name: str = "rest") -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self._make_transport = make_transport
        self._deliver = deliver
        self._count = threads
        self._name = name
        self._queue: queue.Queue[Any] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._transports: list[Transport] = []
        self._lock = threading.Lock()  # guards _transports (appended by workers, read by stop)
        self._stopping = threading.Event()

    def start(self) -> None:
        if self._threads:
            return
        for n in range(self._count):
            thread = threading.Thread(target=self._run, name=f"{self._name}-{n + 1}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def submit(self, http: Http) -> None:
        """Queue one request; never blocks."""
        if not self._stopping.is_set():
            self._queue.put(http)

    def pending(self) -> int:
        return self._queue.qsize()

    def stop(self, timeout_s: float = 2.0) -> bool:
        """Stop taking requests, cut short those in progress, join the threads. True if all ended
        within `timeout_s`."""
        self._stopping.set()
        for _ in self._threads:
            self._queue.put(_STOP)
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            while thread.is_alive() and time.monotonic() < deadline:
                self._abort_all()  # a thread may have connected after the previous abort
                thread.join(timeout=0.05)
        return not any(t.is_alive() for t in self._threads)

    def _abort_all(self) -> None:
        with self._lock:
            transports = list(self._transports)
        for transport in transports:
            abort = getattr(transport, "abort", None)
            if abort is not None:
                abort()

    def _run(self) -> None:
        transport = self._make_transport()
        with self._lock:
            self._transports.append(transport)
        try:
            while True:
                item = self._queue.get()
                if item is _STOP or self._stopping.is_set():
                    return
                try:
                    response = transport.send(item.request)
                except Exception as exc:  # e.g. a key that cannot sign: answer, or the order waits forever
                    logger.opt(exception=True).error("REST request {} failed before any response", item.request.path)
                    response = Response(None, error=f"{type(exc).__name__}: {exc}"[:200])
                if self._stopping.is_set():
                    return
                self._deliver(RestResult(item.request_id, response))
        finally:
            transport.close()
