"""The built-in exchange's port mux: WebSockets and plain HTTP on one listening port.

Every request that is not a WebSocket upgrade (told apart by its head, peeked when the connection
is accepted, without consuming anything) is plain HTTP, served by a small HTTP handler on the same
connection thread: websockets' parser refuses a request with a body, and Coinbase's SDK sends `{}`
on every GET. One request per connection (`Connection: close`). A held answer (chaos
rest_timeout) waits on its own connection's thread until the client hangs up, `rest_hold_s`
passes or the server stops, so other connections are served meanwhile.

Owns the first-bytes peek, the connections being read before websockets has them (so `stop()` can
shut them down), the plain HTTP handler, the REST answer to a GET that reached websockets anyway,
and answer holding. Must never decide a REST answer (`answer_rest` does) and never read a
WebSocket's frames: an upgrade goes to websockets untouched.
"""

from __future__ import annotations

import email.utils
import http.server
import select
import socket
import threading
import time
from http import HTTPStatus
from typing import Any, Callable

from loguru import logger
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection

from exchange import rest

AnswerRest = Callable[[str, str, str | None, bytes, str], tuple[rest.RestResponse, bool]]

_FIRST_BYTES_TIMEOUT_S = 10.0  # a new connection must send its request line within this (as websockets)
_HTTP_READ_TIMEOUT_S = 10.0  # the plain HTTP handler's socket timeout while reading a request
_MAX_BODY = 1 << 20
_MAX_HEAD = 16 << 10  # a request head longer than this is not waited for (it goes to plain HTTP)
_HOLD_POLL_S = 0.02  # how often a held answer looks whether its client hung up


class PortMux:
    """Sees each accepted connection's first bytes and hands it to websockets or to plain HTTP."""

    def __init__(self, lock: threading.Lock, stop_event: threading.Event, answer_rest: AnswerRest,
                 rest_hold_s: float) -> None:
        """`answer_rest(method, target, authorization, body, client)` answers one request and says
        whether to hold the answer; it takes the lock itself."""
        self.answer_rest = answer_rest
        self._lock = lock
        self._stop_event = stop_event
        self._rest_hold_s = rest_hold_s
        self._raw_sockets: set[socket.socket] = set()  # connections being read before websockets has them
        self._ws_server: Server | None = None
        self._ws_handler: Callable[[socket.socket, Any], None] | None = None

    def install(self, ws_server: Server) -> None:
        """Put the mux in front of websockets' per-connection lifecycle."""
        self._ws_server = ws_server
        self._ws_handler = ws_server.handler  # websockets' per-connection lifecycle
        ws_server.handler = self.dispatch  # sees each connection's first bytes before websockets

    def shut_down_raw(self) -> None:
        """Shut down every connection still to send its request, or held by rest_timeout."""
        with self._lock:
            raw = list(self._raw_sockets)
        for sock in raw:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def dispatch(self, sock: socket.socket, addr: Any) -> None:
        """Runs on the thread websockets starts per accepted connection: a WebSocket upgrade goes to
        websockets; every other request is plain HTTP, served here, since websockets refuses a
        request with a body and Coinbase's SDK sends `{}` on every GET."""
        with self._lock:
            self._raw_sockets.add(sock)
        try:
            method, upgrade = request_head(sock, self._stop_event)
        except OSError:
            method, upgrade = b"", False
        finally:
            with self._lock:
                self._raw_sockets.discard(sock)
        if upgrade or not method:  # a WebSocket upgrade; a silent client is websockets' to time out
            assert self._ws_handler is not None
            self._ws_handler(sock, addr)
            return
        with self._lock:
            self._raw_sockets.add(sock)
        try:
            _HttpHandler(sock, addr, self)  # type: ignore[arg-type]  # the handler only keeps its server; the mux stands in
        except Exception:  # a broken client must not take the accept loop's bookkeeping with it
            logger.opt(exception=True).debug("exchange: plain HTTP request failed")
        finally:
            with self._lock:
                self._raw_sockets.discard(sock)
            try:
                sock.close()
            finally:
                assert self._ws_server is not None
                with self._ws_server.lock:
                    self._ws_server.handler_threads.discard(threading.current_thread())

    def hold(self, sock: socket.socket) -> None:
        """Keep an answer back until the client hangs up, `rest_hold_s` passes or the server stops."""
        deadline = time.monotonic() + self._rest_hold_s
        while not self._stop_event.wait(_HOLD_POLL_S):
            if time.monotonic() >= deadline or peer_closed(sock):
                return


def rest_over_websockets(ws: ServerConnection, request: Request, answer_rest: AnswerRest) -> Response:
    """A REST request without a body (GET), arrived through websockets (a head the peek could not
    read whole)."""
    try:
        client = str(ws.remote_address[0])
    except (OSError, IndexError, TypeError):
        client = ""
    answer, _ = answer_rest(request.method, request.path, request.headers.get("Authorization"), b"", client)
    headers = Headers([
        ("Date", email.utils.formatdate(usegmt=True)),
        ("Connection", "close"),
        ("Content-Length", str(len(answer.body))),
        *answer.headers,
    ])
    return Response(answer.status, HTTPStatus(answer.status).phrase, headers, answer.body)


def request_head(sock: socket.socket, stop: threading.Event) -> tuple[bytes, bool]:
    """The request's method (b"GET", b"POST", ...) and whether it asks for a WebSocket upgrade,
    read without consuming anything; (b"", False) if the client closed or sent no whole head in
    time. Leaves the socket blocking, as websockets expects it."""
    deadline = time.monotonic() + _FIRST_BYTES_TIMEOUT_S
    try:
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return b"", False
            readable, _, _ = select.select([sock], [], [], min(remaining, 0.5))
            if not readable:
                continue
            head = sock.recv(_MAX_HEAD, socket.MSG_PEEK)
            if not head:
                return b"", False
            end = head.find(b"\r\n\r\n")
            if end >= 0 or len(head) >= _MAX_HEAD:
                lines = head[:end if end >= 0 else len(head)].split(b"\r\n")
                upgrade = any(name.strip().lower() == b"upgrade" and b"websocket" in value.lower()
                              for name, _, value in (line.partition(b":") for line in lines[1:]))
                return lines[0].partition(b" ")[0].upper(), upgrade
            stop.wait(0.005)  # only part of the head has come: let the rest arrive
        return b"", False
    finally:
        sock.settimeout(None)


def peer_closed(sock: socket.socket) -> bool:
    """True when the client has hung up (its socket reads as end of file)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class _HttpHandler(http.server.BaseHTTPRequestHandler):
    """One plain HTTP request (with a body) on a connection websockets was not given."""

    protocol_version = "HTTP/1.1"
    timeout = _HTTP_READ_TIMEOUT_S
    server: PortMux  # type: ignore[assignment]  # the mux, not a socketserver

    def do_POST(self) -> None:
        self._answer()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_POST

    def _answer(self) -> None:
        self.close_connection = True
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= _MAX_BODY:
            self._send(rest.error(400, "INVALID_ARGUMENT", "bad Content-Length"))
            return
        body = self.rfile.read(length) if length else b""
        try:
            answer, hold = self.server.answer_rest(self.command, self.path, self.headers.get("Authorization"),
                                                   body, str(self.client_address[0]))
        except Exception:  # a bug here must still answer: a dropped socket reads as an unknown outcome
            logger.opt(exception=True).error("exchange: {} {} failed", self.command, self.path.split("?", 1)[0])
            answer, hold = rest.error(500, "INTERNAL", "internal error"), False
        if hold:
            self.server.hold(self.connection)
        self._send(answer)

    def _send(self, answer: rest.RestResponse) -> None:
        try:
            self.send_response(answer.status)
            self.send_header("Connection", "close")
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)
        except OSError:
            pass  # the client hung up (a held answer usually finds it gone)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # no access log: the counters in rest_counts() say what happened
