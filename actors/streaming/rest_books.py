"""The REST fallback: books for subscribed products from the public `product_book` endpoint.

Owns one poller thread (blocking HTTP must not run in an actor handler), started while the stream
is unhealthy and stopped when it is healthy again. Requests are paced so that all products
together stay inside the public limit (10 req/s); an HTTP 429 backs off until `x-ratelimit-reset`
(or one interval). Each book is told back to the streaming actor as a RestBook, its prices and
sizes checked as the stream's are (`actors.wire.decimals`): an answer with one bad number, nested
too deeply or unreadable is one failed request, counted, never a crash of the poller. Must never
keep state about books or decide when it is needed.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

import msgspec
from loguru import logger

from actors.wire.decimals import describe, why_not
from actors.wire.rate_limit import reset_delay

PUBLIC_REQUESTS_PER_S = 8.0  # under Coinbase's 10/s per IP, leaving headroom
BOOK_LIMIT = 100


class RestBook(msgspec.Struct, frozen=True, tag=True):
    """A full book read over REST, as wire strings (price, size), best first."""

    product_id: str
    bids: tuple[tuple[str, str], ...]
    asks: tuple[tuple[str, str], ...]


class _Level(msgspec.Struct):
    price: str
    size: str


class _PriceBook(msgspec.Struct):
    product_id: str = ""
    bids: list[_Level] = []
    asks: list[_Level] = []


class _BookResponse(msgspec.Struct):
    pricebook: _PriceBook


_decoder = msgspec.json.Decoder(_BookResponse)


def rest_base_for(ws_url: str) -> str:
    """The REST origin that belongs with a websocket URL: the built-in exchange serves both on one
    port; Coinbase's market-data socket pairs with api.coinbase.com."""
    parts = urllib.parse.urlsplit(ws_url)
    if parts.hostname and parts.hostname.endswith("coinbase.com"):
        return "https://api.coinbase.com"
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc}"


def parse_book(product_id: str, body: bytes) -> RestBook:
    """The book of one `product_book` answer. Raises msgspec.DecodeError (unreadable),
    RecursionError (nested too deeply) or ValueError (a price or size that is not a sane,
    non-negative wire decimal)."""
    book = _decoder.decode(body).pricebook
    for side in (book.bids, book.asks):
        for lv in side:
            for field, text in (("price", lv.price), ("size", lv.size)):
                reason = why_not(text, nonneg=True)
                if reason is not None:
                    raise ValueError(f"bad {field} {describe(text)}: {reason}")
    return RestBook(product_id or book.product_id,
                    tuple((lv.price, lv.size) for lv in book.bids),
                    tuple((lv.price, lv.size) for lv in book.asks))


class RestBookPoller:
    def __init__(self, base_url: str, products: tuple[str, ...], interval_s: float,
                 deliver: Callable[[object], None], timeout_s: float = 2.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.products = products
        # Pace: each product every interval_s, but never faster than the public budget overall.
        self.pause_s = max(interval_s / max(len(products), 1), 1.0 / PUBLIC_REQUESTS_PER_S)
        self.deliver = deliver
        self.timeout_s = timeout_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.requests = 0
        self.errors = 0
        self.throttled = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def start(self) -> None:
        if self.running:
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stop,), name="rest-books", daemon=True)
        self._thread.start()

    def stop(self, join: bool = False) -> None:
        """Ask the thread to end (it does within one request timeout); join only at shutdown."""
        self._stop.set()
        if join and self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 1)

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            for product_id in self.products:
                if stop.is_set():
                    return
                wait = self._fetch(product_id)
                stop.wait(max(wait, self.pause_s))

    def _fetch(self, product_id: str) -> float:
        """One request; returns extra seconds to wait (429 back-off)."""
        query = urllib.parse.urlencode({"product_id": product_id, "limit": BOOK_LIMIT})
        url = f"{self.base_url}/api/v3/brokerage/market/product_book?{query}"
        self.requests += 1
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
                self.deliver(parse_book(product_id, response.read()))
            return 0.0
        except urllib.error.HTTPError as exc:
            if exc.code == 429:
                self.throttled += 1
                # the reset is the venue's UNIX time: compared with our wall clock, not the injected one
                pause = reset_delay(dict(exc.headers.items()), time.time())
                return 1.0 if pause is None else min(pause, 10.0)
            self.errors += 1
            logger.debug("product_book {}: HTTP {}", product_id, exc.code)
        except (OSError, msgspec.DecodeError, RecursionError, ValueError) as exc:  # ValidationError: a DecodeError
            self.errors += 1
            logger.debug("product_book {}: {}", product_id, exc)
        return 0.0
