"""Typed decoding of Advanced Trade websocket frames.

Owns: the msgspec types of the frames this project reads, one reusable decoder over a union tagged
on `channel`, the cheap classification of frames it cannot type (malformed JSON, error frames,
unknown channels, known channels with bad fields), the frame size limit, and the check of every
wire decimal the bot reads from a typed frame (level2 prices and sizes, trade prices and sizes,
status increments) against `actors.wire.decimals`: a frame holding one bad number is malformed.
Values of channels nothing reads (ticker, candles) stay unchecked: they are never converted.
Must never: raise on bad input (RecursionError included: that is the nesting limit), convert
prices or sizes out of their wire strings, forbid unknown fields (Coinbase adds fields at any
time), or keep state between frames.
"""

from __future__ import annotations

from typing import Any, Union, cast

import msgspec

from actors.wire.decimals import describe, plain, why_not
from actors.wire.user import UserEvent
from domain.market import L2Level

# ---------------------------------------------------------------- frame types


class _Frame(msgspec.Struct, frozen=True, tag_field="channel", kw_only=True):
    """Fields every data frame carries; `sequence_num` is one counter per connection."""

    sequence_num: int
    timestamp: str
    client_id: str = ""  # production may omit it


class HeartbeatEvent(msgspec.Struct, frozen=True):
    current_time: str = ""  # Go-style string: opaque
    heartbeat_counter: int = -1  # documented as a string, sent as an int: strict=False takes both


class HeartbeatsFrame(_Frame, frozen=True, tag="heartbeats"):
    events: tuple[HeartbeatEvent, ...] = ()


# The hot frame types are gc=False: frozen, holding only strings, numbers and tuples of the same,
# they cannot be part of a reference cycle, and the collector need not track thousands per second.


class L2Event(msgspec.Struct, frozen=True, gc=False):
    type: str  # "snapshot" or "update"
    product_id: str
    # the domain's level struct, decoded straight from the wire (its field names are the wire's;
    # `event_time` is not decoded: nothing reads it). Streaming hands the tuple on uncopied.
    updates: tuple[L2Level, ...] = ()


class L2DataFrame(_Frame, frozen=True, tag="l2_data", gc=False):
    events: tuple[L2Event, ...]


# The same frame with any text as a level's side: decoded only when the strict decode refused a
# frame, and turned into an L2DataFrame (a Struct's constructor does not check types). It is also
# the level2 frame as it was decoded before sides were literals (bench's old path decodes it).
class _AnySideLevel(msgspec.Struct, frozen=True, gc=False):
    side: str
    price_level: str
    new_quantity: str


class _AnySideEvent(msgspec.Struct, frozen=True, gc=False):
    type: str
    product_id: str
    updates: tuple[_AnySideLevel, ...] = ()


class AnySideL2DataFrame(_Frame, frozen=True, tag="l2_data", gc=False):
    events: tuple[_AnySideEvent, ...]

    def usual(self) -> L2DataFrame:
        events = tuple(
            L2Event(e.type, e.product_id, tuple(L2Level(lv.side, lv.price_level, lv.new_quantity)  # type: ignore[arg-type]
                                                for lv in e.updates))
            for e in self.events
        )
        return L2DataFrame(sequence_num=self.sequence_num, timestamp=self.timestamp, client_id=self.client_id,
                           events=events)


class Trade(msgspec.Struct, frozen=True, gc=False):
    product_id: str
    price: str
    size: str
    trade_id: str = ""
    side: str = ""  # aggressor, "BUY" or "SELL"
    time: str = ""


class TradesEvent(msgspec.Struct, frozen=True, gc=False):
    type: str = ""
    trades: tuple[Trade, ...] = ()


class MarketTradesFrame(_Frame, frozen=True, tag="market_trades", gc=False):
    events: tuple[TradesEvent, ...]


class Ticker(msgspec.Struct, frozen=True):
    product_id: str
    type: str = ""
    price: str = ""
    volume_24_h: str = ""
    low_24_h: str = ""
    high_24_h: str = ""
    low_52_w: str = ""
    high_52_w: str = ""
    price_percent_chg_24_h: str = ""
    best_bid: str = ""  # ticker_batch omits the best bid/ask
    best_bid_quantity: str = ""
    best_ask: str = ""
    best_ask_quantity: str = ""


class TickerEvent(msgspec.Struct, frozen=True):
    type: str = ""
    tickers: tuple[Ticker, ...] = ()


class TickerFrame(_Frame, frozen=True, tag="ticker"):
    events: tuple[TickerEvent, ...] = ()


class TickerBatchFrame(_Frame, frozen=True, tag="ticker_batch"):
    events: tuple[TickerEvent, ...] = ()


class SubscriptionsEvent(msgspec.Struct, frozen=True):
    subscriptions: dict[str, tuple[str, ...]] = {}


class SubscriptionsFrame(_Frame, frozen=True, tag="subscriptions"):
    events: tuple[SubscriptionsEvent, ...] = ()


class Candle(msgspec.Struct, frozen=True):
    product_id: str
    start: str = ""  # UNIX seconds as a string
    open: str = ""
    high: str = ""
    low: str = ""
    close: str = ""
    volume: str = ""


class CandlesEvent(msgspec.Struct, frozen=True):
    type: str = ""
    candles: tuple[Candle, ...] = ()


class CandlesFrame(_Frame, frozen=True, tag="candles"):
    events: tuple[CandlesEvent, ...] = ()


class StatusProduct(msgspec.Struct, frozen=True):
    """One product of a `status` event: its trading status and increments (wire strings)."""

    id: str = ""
    product_type: str = ""
    base_currency: str = ""
    quote_currency: str = ""
    base_increment: str = ""
    quote_increment: str = ""
    display_name: str = ""
    status: str = ""  # "online", "offline", "internal", "delisted", ...
    status_message: str = ""
    min_market_funds: str = ""


class StatusEvent(msgspec.Struct, frozen=True):
    type: str = ""  # "snapshot" (on subscribe) or "update"
    products: tuple[StatusProduct, ...] = ()


class StatusFrame(_Frame, frozen=True, tag="status"):
    events: tuple[StatusEvent, ...] = ()


class UserFrame(_Frame, frozen=True, tag="user"):
    """Decoded whole, once: the venue gateway gets its events from streaming (UserStreamFrame)."""

    events: tuple[UserEvent, ...] = ()


# A known channel this module does not read: only the header is decoded (events are skipped),
# so its sequence numbers still count and its content costs nothing.
class FuturesBalanceSummaryFrame(_Frame, frozen=True, tag="futures_balance_summary"):
    pass


Frame = Union[
    HeartbeatsFrame,
    L2DataFrame,
    MarketTradesFrame,
    TickerFrame,
    TickerBatchFrame,
    SubscriptionsFrame,
    CandlesFrame,
    StatusFrame,
    UserFrame,
    FuturesBalanceSummaryFrame,
]

# The same union with the any-side level2 frame in place of the strict one.
LenientFrame = Union[tuple(AnySideL2DataFrame if t is L2DataFrame else t for t in Frame.__args__)]  # type: ignore

FRAME_TYPES: tuple[type[_Frame], ...] = Frame.__args__  # type: ignore[attr-defined]
CHANNEL_OF: dict[type, str] = {t: cast(str, t.__struct_config__.tag) for t in FRAME_TYPES}  # every frame has a str tag
KNOWN_CHANNELS: frozenset[str] = frozenset(CHANNEL_OF.values())


class Rejected(msgspec.Struct, frozen=True):
    """A frame that could not be typed, or was typed and holds a bad value.

    kind: "malformed" (not JSON, not an object, too large, too deep, or a known channel with bad
    fields, a bad timestamp or a bad number), "error_frame" ({"type": "error"}), or "unknown" (a
    channel this module does not know). `reason` names a malformed frame's kind in a fixed word
    (the constants below; counted and logged once per reason). `channel` and `sequence_num` are
    filled when the frame carried them, so the caller can keep counting the connection's sequence
    across frames it skips.
    """

    kind: str
    detail: str
    channel: str | None = None
    sequence_num: int | None = None
    reason: str = ""


MALFORMED = "malformed"
ERROR_FRAME = "error_frame"
UNKNOWN = "unknown"

# Reasons of a malformed frame.
TOO_BIG = "too_big"
TOO_DEEP = "too_deep"
NOT_UTF8 = "not_utf8"
NOT_JSON = "not_json"
NOT_OBJECT = "not_object"
NO_CHANNEL = "no_channel"
BAD_FIELDS = "bad_fields"
BAD_TIMESTAMP = "bad_timestamp"
BAD_DECIMAL = "bad_decimal"

# A frame longer than this (characters, or bytes from a socket) is malformed unread. Coinbase's
# largest frames, level2 snapshots, are hundreds of KB. JSON nested deeper than msgspec decodes
# (the interpreter's recursion limit, about 1,000 levels) is malformed too (TOO_DEEP).
MAX_FRAME_CHARS = 8 * 1024 * 1024


def too_big(text: str | bytes) -> Rejected:
    return Rejected(MALFORMED, f"{len(text):,} characters, over the {MAX_FRAME_CHARS:,} limit", reason=TOO_BIG)


class FrameDecoder:
    """Decodes one frame into a typed `Frame`, or a `Rejected` saying why not. Never raises.

    `decode_or_raise` is the bare typed decode, for a hot loop that catches msgspec.DecodeError
    and RecursionError itself: the same result without a Python call per frame. A
    msgspec.ValidationError from it may only be a level2 side spelled otherwise than "bid" or
    "offer": such a loop then asks `decode_any_side`, and hands what that raises to `classify`.
    Neither checks the size or the wire decimals: `decode` does both; a hot loop checks them itself
    (`too_big`, the `*_fault` functions, or its own inlined test).
    """

    __slots__ = ("_decoder", "_any_side", "decode_or_raise")

    def __init__(self) -> None:
        self._decoder = msgspec.json.Decoder(Frame, strict=False)
        self._any_side = msgspec.json.Decoder(LenientFrame, strict=False)
        self.decode_or_raise = self._decoder.decode

    def decode_any_side(self, text: str | bytes) -> Frame:
        """The lenient decode: a level2 level's side may be any text. Raises as decode_or_raise."""
        frame = self._any_side.decode(text)
        return frame.usual() if type(frame) is AnySideL2DataFrame else frame

    def decode(self, text: str | bytes) -> Frame | Rejected:
        if len(text) > MAX_FRAME_CHARS:
            return too_big(text)
        try:
            try:
                frame = self._decoder.decode(text)
            except msgspec.ValidationError:
                frame = self.decode_any_side(text)
        except (msgspec.DecodeError, RecursionError) as exc:  # ValidationError is a DecodeError
            return classify(text, exc)
        fault = decimal_fault(frame)
        if fault is None:
            return frame
        return Rejected(MALFORMED, fault, CHANNEL_OF[type(frame)], frame.sequence_num, BAD_DECIMAL)


def classify(text: str | bytes, exc: BaseException) -> Rejected:
    """The slow path, only for frames the typed decoder refused: find out why."""
    if isinstance(exc, RecursionError):
        return Rejected(MALFORMED, "nested too deeply", reason=TOO_DEEP)
    try:
        obj: Any = msgspec.json.decode(text)
    except msgspec.DecodeError:
        if isinstance(text, (bytes, bytearray)) and not _utf8(text):
            return Rejected(MALFORMED, "not UTF-8", reason=NOT_UTF8)
        return Rejected(MALFORMED, "not JSON", reason=NOT_JSON)
    except RecursionError:
        return Rejected(MALFORMED, "nested too deeply", reason=TOO_DEEP)
    if not isinstance(obj, dict):
        return Rejected(MALFORMED, f"not an object: {type(obj).__name__}", reason=NOT_OBJECT)
    seq = obj.get("sequence_num")
    if type(seq) is not int:
        seq = None
    channel = obj.get("channel")
    if obj.get("type") == "error":
        message = obj.get("message")
        return Rejected(ERROR_FRAME, (message if isinstance(message, str) else repr(message))[:200])
    if not isinstance(channel, str):
        detail = "no channel" if channel is None else "channel is not a string"
        return Rejected(MALFORMED, detail, reason=NO_CHANNEL)
    if channel in KNOWN_CHANNELS:
        return Rejected(MALFORMED, str(exc)[:200], channel, seq, BAD_FIELDS)
    return Rejected(UNKNOWN, channel[:100], channel, seq)


def _utf8(data: bytes | bytearray) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# ---------------------------------------------------------------- wire decimals

def _fault(values: tuple[tuple[str, str], ...], nonneg: bool = True, optional: bool = False) -> str | None:
    """The first bad one of (field, text), described; None when all are sane."""
    for field, text in values:
        if plain(text) or (optional and text == ""):
            continue
        reason = why_not(text, nonneg)
        if reason is not None:
            return f"{field} {describe(text)}: {reason}"
    return None


def l2_fault(frame: L2DataFrame) -> str | None:
    """The first bad price or size of a level2 frame, described; None when all are sane."""
    for event in frame.events:
        for level in event.updates:
            fault = _fault((("price_level", level.price_level), ("new_quantity", level.new_quantity)))
            if fault is not None:
                return f"{event.product_id[:40]}: {fault}"
    return None


def trades_fault(frame: MarketTradesFrame) -> str | None:
    for event in frame.events:
        for t in event.trades:
            fault = _fault((("price", t.price), ("size", t.size)))
            if fault is not None:
                return f"{t.product_id[:40]}: {fault}"
    return None


def status_fault(frame: StatusFrame) -> str | None:
    """Increments and minimum funds, where given ("" is absent: the status alone is news)."""
    for event in frame.events:
        for p in event.products:
            fault = _fault((("base_increment", p.base_increment), ("quote_increment", p.quote_increment),
                            ("min_market_funds", p.min_market_funds)), optional=True)
            if fault is not None:
                return f"{p.id[:40]}: {fault}"
    return None


def decimal_fault(frame: Frame) -> str | None:
    """What is wrong with the wire decimals of a typed frame the bot reads; None when nothing."""
    cls = type(frame)
    if cls is L2DataFrame:
        return l2_fault(frame)  # type: ignore[arg-type]
    if cls is MarketTradesFrame:
        return trades_fault(frame)  # type: ignore[arg-type]
    if cls is StatusFrame:
        return status_fault(frame)  # type: ignore[arg-type]
    return None
