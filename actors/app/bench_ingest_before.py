"""The ingest path as it was when issue 12's ingest work began (commit 0b801fa), frozen for the
bench's same-run comparison (`ingest.vs_before`): the level2 frame types of then (a level's side
decoded as any text), streaming's frame routing and level loop (each level re-tupled into (price,
size) pairs per side), the timestamp parser of then (its second cached, no last-stamp cache), and
market data's apply over the old book (actors.app.bench_ingest_before_book).

Owns nothing the runtime uses: only `bin/perpsbot bench` imports it. Must never be "improved": it
is the measuring stick, and a faster copy would flatter the current path. What it shares with
today's cores through subclassing (the bars, the book status, the other frame types, the sequence
rule's slow paths) is unchanged since, or faster, which only makes the comparison stricter.
"""

from __future__ import annotations

from typing import Any, cast

import msgspec

from actors.app.bench_ingest_before_book import L2BookBefore
from actors.market_data.book import BookCorrupt
from actors.market_data.core import MarketDataCore
from actors.streaming.codec import (
    BAD_TIMESTAMP,
    CHANNEL_OF,
    MALFORMED,
    MAX_FRAME_CHARS,
    AnySideL2DataFrame,
    HeartbeatsFrame,
    LenientFrame,
    MarketTradesFrame,
    Rejected,
    StatusFrame,
    SubscriptionsFrame,
    classify,
    l2_fault,
    status_fault,
    too_big,
    trades_fault,
)
from actors.streaming.core import FrameResult, StreamingCore
from actors.wire.decimals import FAST_CHARS, why_not
from actors.wire.timestamps import parse_timestamp
from domain.market import BookStatus, RawFrame
from domain.products import ProductSpec

# ---------------------------------------------------------------- the timestamp parser of then

# The second of the last timestamp parsed, as then: no cache of the last whole stamp.
_LAST_SECOND: tuple[str, int] = ("1970-01-01T00:00:00", 0)
_DIGITS = "0123456789"


def parse_timestamp_before(text: str) -> float:
    """The parser's hot path as it was: the second cached, the fraction checked by one strip. A
    new second's base and every other form are read by today's parser (the same rules then)."""
    global _LAST_SECOND
    prefix, seconds = _LAST_SECOND
    if not text.startswith(prefix):
        prefix = text[:19]
        seconds = int(parse_timestamp(prefix + "Z"))
        _LAST_SECOND = (prefix, seconds)
    if len(text) > 21 and text[19] == "." and text[-1] == "Z":
        fraction = text[19:-1]
        if fraction.strip(_DIGITS) == ".":
            return seconds + float(fraction)
    return parse_timestamp(text)


# ---------------------------------------------------------------- the level2 frame types of then

# The level2 frame with a side of any text (codec.AnySideL2DataFrame) in today's union.
CHANNEL_OF_BEFORE: dict[type, str] = {**CHANNEL_OF, AnySideL2DataFrame: "l2_data"}


# ---------------------------------------------------------------- the cores around the old book


class L2UpdateBefore(msgspec.Struct, frozen=True, tag=True):
    """The old level2 message: each side re-tupled as (price_level, new_quantity) pairs."""

    product_id: str
    is_snapshot: bool
    bids: tuple[tuple[str, str], ...]
    offers: tuple[tuple[str, str], ...]
    ts: float
    conn: int
    recv_ns: int


class StreamingCoreBefore(StreamingCore):
    """The frame routing and the level loop of then: check each level, then copy it into a
    per-side list of pairs, then into tuples."""

    def __init__(self, products: tuple[str, ...], channels: tuple[str, ...]) -> None:
        super().__init__(products, channels)
        self._decode = msgspec.json.Decoder(LenientFrame, strict=False).decode

    def on_frame(self, raw: RawFrame, now: float) -> FrameResult:  # as at 0b801fa
        self.frames += 1
        self.last_frame_at = now
        result = FrameResult()
        state = self._current
        if state is None or state.conn != raw.conn:
            state = self._connection(raw.conn)
            if state is None:
                self.stale_conn_frames += 1
                return result
        text = raw.text
        if len(text) > MAX_FRAME_CHARS:
            self._on_rejected(too_big(text), state, result)
            return result
        try:
            frame = self._decode(text)
        except (msgspec.DecodeError, RecursionError) as exc:  # ValidationError is a DecodeError
            self._on_rejected(classify(text, exc), state, result)
            return result

        cls = type(frame)
        channel = CHANNEL_OF_BEFORE[cls]
        per_channel = self.per_channel
        per_channel[channel] = per_channel.get(channel, 0) + 1
        result.channel = channel

        ts = 0.0
        if cls is AnySideL2DataFrame or cls is MarketTradesFrame:
            try:
                ts = parse_timestamp_before(frame.timestamp)
            except ValueError as exc:
                # Content lost: leave the sequence where it was, so the next frame shows a gap.
                self._count_malformed(BAD_TIMESTAMP, result)
                result.rejected = Rejected(MALFORMED, str(exc)[:200], channel, frame.sequence_num, BAD_TIMESTAMP)
                return result
            if cls is MarketTradesFrame and (fault := trades_fault(cast(MarketTradesFrame, frame))) is not None:
                return self._bad_decimal(fault, frame, channel, state, result)
        elif cls is StatusFrame and (fault := status_fault(cast(StatusFrame, frame))) is not None:
            return self._bad_decimal(fault, frame, channel, state, result)

        seq = frame.sequence_num
        last = state.last_seq
        if last is not None and seq == last + 1:  # in order: the sequence rule has nothing to say
            state.last_seq = seq
        elif not self._check_sequence(state, seq, result):
            return result

        # mypy does not narrow `frame` through `cls is ...`; the casts say what the dispatch guarantees
        if cls is AnySideL2DataFrame:
            l2 = cast(AnySideL2DataFrame, frame)
            if not self._on_l2(l2, state, ts, raw, result.outputs):
                # A bad number: content lost, as with a bad timestamp. Its updates were taken back;
                # its number is given back too, so the next frame shows the gap.
                state.last_seq = seq - 1
                return self._bad_decimal(l2_fault(l2), frame, channel, state, result)  # type: ignore[arg-type]
        elif cls is MarketTradesFrame:
            self._on_trades(cast(MarketTradesFrame, frame), ts, raw.recv_ns, result.outputs)
        elif cls is HeartbeatsFrame:
            self._on_heartbeats(cast(HeartbeatsFrame, frame), state, now)
        elif cls is SubscriptionsFrame:
            for event in cast(SubscriptionsFrame, frame).events:
                self.subscriptions = dict(event.subscriptions)
        elif cls is StatusFrame:
            self._on_status(cast(StatusFrame, frame), result.outputs)
        return result

    def _on_l2(self, frame: Any, state: Any, ts: float, raw: RawFrame, out: list[Any]) -> bool:
        synced = state.synced
        conn = raw.conn
        recv_ns = raw.recv_ns
        start = len(out)
        before: set[str] | None = None
        dropped = 0
        for event in frame.events:
            bids = []
            offers = []
            for level in event.updates:
                price = level.price_level
                size = level.new_quantity
                if not (len(price) <= FAST_CHARS >= len(size) and price.isascii() and size.isascii()
                        and price.replace(".", "", 1).isdigit() and size.replace(".", "", 1).isdigit()):
                    if why_not(price, True) is not None or why_not(size, True) is not None:
                        del out[start:]
                        if before is not None:
                            synced.intersection_update(before)
                        return False
                if level.side == "bid":
                    bids.append((price, size))
                else:
                    offers.append((price, size))
            product_id = event.product_id
            is_snapshot = event.type == "snapshot"
            if is_snapshot:
                if before is None:
                    before = set(synced)
                synced.add(product_id)
            elif product_id not in synced:
                dropped += 1
                continue
            out.append(L2UpdateBefore(product_id, is_snapshot, tuple(bids), tuple(offers), ts, conn, recv_ns))
        if dropped:
            self.dropped_updates += dropped
        return True


class MarketDataCoreBefore(MarketDataCore):
    """Today's market-data core over the old book, applying the old message."""

    def __init__(self, products: dict[str, ProductSpec], bar_interval_s: float, stale_after_s: float) -> None:
        super().__init__(products, bar_interval_s, stale_after_s)
        for p in self._products.values():
            p.book = L2BookBefore(p.book.product_id, p.book.base_factor)  # type: ignore[assignment]

    def on_l2(self, msg: Any) -> list[Any]:
        p = self._products.get(msg.product_id)
        if p is None:
            self.unknown_products += 1
            return []
        book: Any = p.book
        bars: Any = p.bars
        ts = msg.ts
        recv_ns = msg.recv_ns
        try:
            if msg.is_snapshot:
                book.apply_snapshot(msg.bids, msg.offers)
                p.snapshots += 1
                if p.snapshots > 1:
                    p.resyncs += 1
            elif not book.apply_update(msg.bids, msg.offers):
                p.dropped_before_snapshot += 1
                return bars.advance(ts, recv_ns)
            else:
                p.updates_applied += 1
        except BookCorrupt:
            pass
        p.updated_at = ts
        if not book.valid:
            p.corruptions += 1
            out = bars.advance(ts, recv_ns)
            out.append(self._status(p, recv_ns))
            return out
        best_bid, best_ask, mark = book.top()
        out = bars.advance(ts, recv_ns) if mark is None else bars.on_mid(mark, ts, recv_ns)
        out.append(BookStatus(p.spec.product_id, True, best_bid, best_ask, mark, ts or 0.0, recv_ns))
        return out
