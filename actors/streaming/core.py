"""The pure core of the streaming actor: subscriptions, frame routing, sequence and gap tracking.

Owns: the subscribe messages, the per-connection sequence state (`sequence_num` is one counter per
connection across all channels), which products' level2 streams are in sync on the current
connection, the heartbeat counter check, and the frame counters.
Must never: do I/O, read a clock (time comes in as `now`), convert wire prices/sizes, or raise on
bad input (malformed, error and unknown frames are counted and skipped; a malformed frame's
content is never forwarded, not even the good part of it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

import msgspec

from actors.streaming.codec import (
    BAD_DECIMAL,
    BAD_TIMESTAMP,
    CHANNEL_OF,
    ERROR_FRAME,
    MALFORMED,
    MAX_FRAME_CHARS,
    FrameDecoder,
    HeartbeatsFrame,
    L2DataFrame,
    MarketTradesFrame,
    Rejected,
    StatusFrame,
    SubscriptionsFrame,
    UserFrame,
    classify,
    l2_fault,
    status_fault,
    too_big,
    trades_fault,
)
from actors.wire.decimals import FAST_CHARS, why_not
from actors.wire.timestamps import parse_timestamp
from actors.wire.user import UserEvent
from domain.market import L2Update, ProductStatus, RawFrame, StreamGap, TradePrint

LEVEL2 = "level2"  # the subscribe name; frames of this channel say "l2_data"
HEARTBEATS = "heartbeats"
_NO_PRODUCT_CHANNELS = frozenset({HEARTBEATS, "futures_balance_summary"})

Output = Union[L2Update, TradePrint, StreamGap, ProductStatus]


class FrameResult(msgspec.Struct):
    """What one frame produced: messages to forward in order, and messages to send on the socket."""

    outputs: list[Output] = msgspec.field(default_factory=list)
    resubscribe: list[str] = msgspec.field(default_factory=list)
    rejected: Rejected | None = None  # set when the frame was skipped as malformed/error/unknown
    first_of_kind: bool = False  # the first malformed frame of its reason: worth a log line
    channel: str | None = None  # the channel of a frame that decoded (counted in per_channel)
    user_events: tuple[UserEvent, ...] = ()  # a `user` frame's, decoded once, for the venue gateway


class _Connection:
    """Sequence state of one websocket connection."""

    __slots__ = ("conn", "last_seq", "last_heartbeat", "synced")

    def __init__(self, conn: int) -> None:
        self.conn = conn
        self.last_seq: int | None = None
        self.last_heartbeat: int | None = None
        self.synced: set[str] = set()  # level2 products with a snapshot since the last gap


class StreamingCore:
    """Turns raw frames into L2Update / TradePrint / StreamGap / ProductStatus messages and
    resubscribe requests.

    `channels` are subscribe names ("level2", "market_trades", ...); `heartbeats` is always added.
    `jwt_factory`, when given, is called once per outgoing message (a JWT lives 120 s).
    """

    def __init__(
        self,
        products: tuple[str, ...],
        channels: tuple[str, ...],
        jwt_factory: Callable[[], str] | None = None,
    ) -> None:
        if "l2_data" in channels:
            raise ValueError("channels: 'l2_data' is the frame name; subscribe to 'level2'")
        self.products = tuple(products)
        ordered = [HEARTBEATS] + [c for c in channels if c != HEARTBEATS]
        self.channels = tuple(dict.fromkeys(ordered))
        self.level2_products: tuple[str, ...] = self.products if LEVEL2 in self.channels else ()
        self._jwt_factory = jwt_factory
        decoder = FrameDecoder()
        self._decode = decoder.decode_or_raise
        self._decode_any_side = decoder.decode_any_side
        self._current: _Connection | None = None

        self.frames = 0
        self.malformed = 0
        self.error_frames = 0
        self.unknown = 0
        self.gaps = 0
        self.heartbeat_gaps = 0
        self.duplicates = 0
        self.sequence_resets = 0
        self.stale_conn_frames = 0  # frames from a connection older than the current one
        self.dropped_updates = 0  # level2 updates for a product not in sync on this connection
        self.snapshot_trades_skipped = 0
        self.per_channel: dict[str, int] = {}
        self.malformed_kinds: dict[str, int] = {}  # malformed frames by reason (codec's words)
        self.last_frame_at: float | None = None
        self.last_heartbeat_at: float | None = None
        self.last_error: str | None = None
        self.subscriptions: dict[str, tuple[str, ...]] = {}

    # ------------------------------------------------------------ subscriptions

    def subscribe_messages(self) -> list[str]:
        """One subscribe message per channel, heartbeats first."""
        return [self._channel_message("subscribe", c, self.products) for c in self.channels]

    def _channel_message(self, kind: str, channel: str, products: tuple[str, ...]) -> str:
        msg: dict[str, object] = {"type": kind}
        if channel not in _NO_PRODUCT_CHANNELS:
            msg["product_ids"] = list(products)
        msg["channel"] = channel
        if self._jwt_factory is not None:
            msg["jwt"] = self._jwt_factory()
        return msgspec.json.encode(msg).decode()

    def resync_messages(self) -> list[str]:
        if not self.level2_products:
            return []
        return [
            self._channel_message("unsubscribe", LEVEL2, self.level2_products),
            self._channel_message("subscribe", LEVEL2, self.level2_products),
        ]

    # ------------------------------------------------------------ connections

    def on_connected(self, conn: int) -> None:
        """A new connection: its sequence starts afresh and no product is in sync on it yet."""
        self._current = _Connection(conn)

    def on_disconnected(self, conn: int) -> list[StreamGap]:
        """The connection closed: the books it fed are invalid until a snapshot on a new one."""
        cur = self._current
        if cur is None or cur.conn != conn:
            return []
        self._current = None
        expected = -1 if cur.last_seq is None else cur.last_seq + 1
        return [StreamGap(conn, self.level2_products, expected, -1)]

    def _connection(self, conn: int) -> _Connection | None:
        cur = self._current
        if cur is not None and cur.conn == conn:
            return cur
        if cur is None or conn > cur.conn:  # e.g. a capture replayed without on_connected calls
            self._current = cur = _Connection(conn)
            return cur
        return None

    # ------------------------------------------------------------ frames

    def on_frame(self, raw: RawFrame, now: float) -> FrameResult:
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
        # Typed as Any: mypy cannot narrow through `cls is ...`, and typing.cast would be a call per
        # frame on the hot path; the dispatch below is what guarantees each branch's type.
        frame: Any
        try:
            try:
                frame = self._decode(text)
            except msgspec.ValidationError:  # a level2 side spelled otherwise, or a bad frame
                frame = self._decode_any_side(text)
        except (msgspec.DecodeError, RecursionError) as exc:  # ValidationError is a DecodeError
            self._on_rejected(classify(text, exc), state, result)
            return result

        cls = type(frame)
        channel = CHANNEL_OF[cls]
        per_channel = self.per_channel
        per_channel[channel] = per_channel.get(channel, 0) + 1
        result.channel = channel

        ts = 0.0
        if cls is L2DataFrame or cls is MarketTradesFrame:
            try:
                ts = parse_timestamp(frame.timestamp)
            except ValueError as exc:
                # Content lost: leave the sequence where it was, so the next frame shows a gap.
                self._count_malformed(BAD_TIMESTAMP, result)
                result.rejected = Rejected(MALFORMED, str(exc)[:200], channel, frame.sequence_num, BAD_TIMESTAMP)
                return result
            if cls is MarketTradesFrame and (fault := trades_fault(frame)) is not None:
                return self._bad_decimal(fault, frame, channel, state, result)
        elif cls is StatusFrame and (fault := status_fault(frame)) is not None:
            return self._bad_decimal(fault, frame, channel, state, result)

        seq = frame.sequence_num
        last = state.last_seq
        if last is not None and seq == last + 1:  # in order: the sequence rule has nothing to say
            state.last_seq = seq
        elif not self._check_sequence(state, seq, result):
            return result

        if cls is L2DataFrame:
            if not self._on_l2(frame, state, ts, raw, result.outputs):
                # A bad number: content lost, as with a bad timestamp. Its updates were taken back;
                # its number is given back too, so the next frame shows the gap.
                state.last_seq = seq - 1
                return self._bad_decimal(l2_fault(frame), frame, channel, state, result)
        elif cls is MarketTradesFrame:
            self._on_trades(frame, ts, raw.recv_ns, result.outputs)
        elif cls is HeartbeatsFrame:
            self._on_heartbeats(frame, state, now)
        elif cls is SubscriptionsFrame:
            for event in frame.events:
                self.subscriptions = dict(event.subscriptions)
        elif cls is StatusFrame:
            self._on_status(frame, result.outputs)
        elif cls is UserFrame:
            result.user_events = frame.events
        return result

    def _bad_decimal(self, fault: str | None, frame: object, channel: str, state: _Connection,
                     result: FrameResult) -> FrameResult:
        """A typed frame holding a bad number: malformed, its sequence treated as `_on_rejected`
        treats any skipped frame's (a level2 frame's loss shows as a gap on the next one)."""
        seq = frame.sequence_num  # type: ignore[attr-defined]
        self._on_rejected(Rejected(MALFORMED, fault or "bad number", channel, seq, BAD_DECIMAL), state, result)
        return result

    def _count_malformed(self, reason: str, result: FrameResult) -> None:
        self.malformed += 1
        kinds = self.malformed_kinds
        seen = kinds.get(reason, 0)
        kinds[reason] = seen + 1
        result.first_of_kind = seen == 0

    def _on_rejected(self, frame: Rejected, state: _Connection, result: FrameResult) -> None:
        result.rejected = frame
        kind = frame.kind
        if kind == MALFORMED:
            self._count_malformed(frame.reason or MALFORMED, result)
        elif kind == ERROR_FRAME:
            self.error_frames += 1
            self.last_error = frame.detail
        else:
            self.unknown += 1
        # A skipped frame still used a sequence number; count it unless it was level2 data, whose
        # loss must surface as a gap on the next frame.
        if frame.sequence_num is not None and frame.channel != "l2_data":
            self._check_sequence(state, frame.sequence_num, result)

    def _check_sequence(self, state: _Connection, seq: int, result: FrameResult) -> bool:
        """Apply the sequence rule; False when the frame is a duplicate to skip."""
        last = state.last_seq
        if last is None or seq == last + 1:
            state.last_seq = seq
            return True
        if seq == last:
            self.duplicates += 1
            return False
        state.last_seq = seq
        if seq < last:  # the server restarted the stream: a new stream, not a loss
            self.sequence_resets += 1
            return True
        self.gaps += 1
        state.synced.clear()
        result.outputs.append(StreamGap(state.conn, self.level2_products, last + 1, seq))
        result.resubscribe.extend(self.resync_messages())
        return True

    def _on_l2(self, frame: L2DataFrame, state: _Connection, ts: float, raw: RawFrame, out: list[Output]) -> bool:
        """Forward the frame's events, their decoded levels uncopied; False, with nothing forwarded
        or marked in sync, when a price or size is not a sane non-negative wire decimal. The usual
        spelling is tested inline (`decimals.plain`, for both strings at once: this is the hot
        loop); any other goes through the full rule, and its event is forwarded as not `plain`."""
        synced = state.synced
        conn = raw.conn
        recv_ns = raw.recv_ns
        start = len(out)  # a StreamGap before this frame's updates stays
        before: set[str] | None = None  # the products in sync before this frame's first snapshot
        dropped = 0
        for event in frame.events:
            levels = event.updates
            usual = True
            for level in levels:
                price = level.price_level
                size = level.new_quantity
                # a size of "0" (a level removed: four levels in ten) needs no scan
                if not (len(price) <= FAST_CHARS and price.isascii() and price.replace(".", "", 1).isdigit()
                        and (size == "0" or (len(size) <= FAST_CHARS and size.isascii()
                                             and size.replace(".", "", 1).isdigit()))):
                    if why_not(price, True) is not None or why_not(size, True) is not None:
                        del out[start:]
                        if before is not None:
                            synced.intersection_update(before)
                        return False
                    usual = False
            product_id = event.product_id
            is_snapshot = event.type == "snapshot"
            if is_snapshot:
                if before is None:
                    before = set(synced)
                synced.add(product_id)
            elif product_id not in synced:
                dropped += 1
                continue
            out.append(L2Update(product_id, is_snapshot, levels, ts, conn, recv_ns, usual))
        if dropped:
            self.dropped_updates += dropped
        return True

    def _on_trades(self, frame: MarketTradesFrame, ts: float, recv_ns: int, out: list[Output]) -> None:
        for event in frame.events:
            if event.type == "snapshot":
                # Recent history, already seen before a reconnect: counting it again would
                # double volume in the bars.
                self.snapshot_trades_skipped += len(event.trades)
                continue
            for t in event.trades:
                out.append(TradePrint(t.product_id, t.trade_id, t.price, t.size, t.side, ts, recv_ns))

    def _on_status(self, frame: StatusFrame, out: list[Output]) -> None:
        """One ProductStatus per listed product this core subscribed to; others are ignored."""
        try:
            ts = parse_timestamp(frame.timestamp)
        except ValueError:
            ts = 0.0  # the status itself is still good news to pass on
        products = self.products
        for event in frame.events:
            for p in event.products:
                if p.id in products:
                    out.append(ProductStatus(p.id, p.status, p.status_message, p.base_increment,
                                             p.quote_increment, p.min_market_funds, ts))

    def _on_heartbeats(self, frame: HeartbeatsFrame, state: _Connection, now: float) -> None:
        self.last_heartbeat_at = now
        for event in frame.events:
            counter = event.heartbeat_counter
            if counter < 0:  # absent
                continue
            last = state.last_heartbeat
            if last is not None and counter > last + 1:
                self.heartbeat_gaps += 1
            state.last_heartbeat = counter

    # ------------------------------------------------------------ reporting

    def counters(self) -> dict[str, object]:
        return {
            "frames": self.frames,
            "malformed": self.malformed,
            "malformed_kinds": dict(self.malformed_kinds),
            "error_frames": self.error_frames,
            "unknown": self.unknown,
            "gaps": self.gaps,
            "heartbeat_gaps": self.heartbeat_gaps,
            "duplicates": self.duplicates,
            "sequence_resets": self.sequence_resets,
            "stale_conn_frames": self.stale_conn_frames,
            "dropped_updates": self.dropped_updates,
            "snapshot_trades_skipped": self.snapshot_trades_skipped,
            "per_channel": dict(self.per_channel),
        }
