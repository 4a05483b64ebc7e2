"""Typed decoding of Advanced Trade websocket frames, and the frame timestamp parser.

Owns: the msgspec types of the frames this project reads, one reusable decoder over a union tagged
on `channel`, and the cheap classification of frames it cannot type (malformed JSON, error frames,
unknown channels, known channels with bad fields).
Must never: raise on bad input, convert prices or sizes out of their wire strings, forbid unknown
fields (Coinbase adds fields at any time), or keep state between frames.
"""

from __future__ import annotations

import datetime
from typing import Any, Union

import msgspec

# ---------------------------------------------------------------- frame types


class _Frame(msgspec.Struct, frozen=True, tag_field="channel", kw_only=True):
    """Fields every data frame carries; `sequence_num` is one counter per connection."""

    sequence_num: int
    timestamp: str
    client_id: str = ""  # production may omit it


class HeartbeatEvent(msgspec.Struct, frozen=True):
    current_time: str = ""  # Go-style string: opaque
    heartbeat_counter: int = -1  # documented as a string, sent as an int: strict=False takes both


class HeartbeatsFrame(_Frame, tag="heartbeats"):
    events: tuple[HeartbeatEvent, ...] = ()


# The hot frame types are gc=False: frozen, holding only strings, numbers and tuples of the same,
# they cannot be part of a reference cycle, and the collector need not track thousands per second.


class L2Level(msgspec.Struct, frozen=True, gc=False):
    side: str  # "bid" or "offer"
    price_level: str
    new_quantity: str  # absolute size, not a delta
    # `event_time` is not decoded: nothing reads it, and skipping it saves a string per level


class L2Event(msgspec.Struct, frozen=True, gc=False):
    type: str  # "snapshot" or "update"
    product_id: str
    updates: tuple[L2Level, ...] = ()


class L2DataFrame(_Frame, tag="l2_data", gc=False):
    events: tuple[L2Event, ...]


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


class MarketTradesFrame(_Frame, tag="market_trades", gc=False):
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


class TickerFrame(_Frame, tag="ticker"):
    events: tuple[TickerEvent, ...] = ()


class TickerBatchFrame(_Frame, tag="ticker_batch"):
    events: tuple[TickerEvent, ...] = ()


class SubscriptionsEvent(msgspec.Struct, frozen=True):
    subscriptions: dict[str, tuple[str, ...]] = {}


class SubscriptionsFrame(_Frame, tag="subscriptions"):
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


class CandlesFrame(_Frame, tag="candles"):
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


class StatusFrame(_Frame, tag="status"):
    events: tuple[StatusEvent, ...] = ()


# Known channels this module does not read: only the header is decoded (events are skipped),
# so their sequence numbers still count and their content costs nothing.
class UserFrame(_Frame, tag="user"):
    pass


class FuturesBalanceSummaryFrame(_Frame, tag="futures_balance_summary"):
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

FRAME_TYPES: tuple[type[_Frame], ...] = Frame.__args__  # type: ignore[attr-defined]
CHANNEL_OF: dict[type, str] = {t: t.__struct_config__.tag for t in FRAME_TYPES}
KNOWN_CHANNELS: frozenset[str] = frozenset(CHANNEL_OF.values())


class Rejected(msgspec.Struct, frozen=True):
    """A frame that could not be typed.

    kind: "malformed" (not JSON, not an object, or a known channel with bad fields),
    "error_frame" ({"type": "error"}), or "unknown" (a channel this module does not know).
    `channel` and `sequence_num` are filled when the frame carried them, so the caller can keep
    counting the connection's sequence across frames it skips.
    """

    kind: str
    detail: str
    channel: str | None = None
    sequence_num: int | None = None


MALFORMED = "malformed"
ERROR_FRAME = "error_frame"
UNKNOWN = "unknown"


class FrameDecoder:
    """Decodes one frame into a typed `Frame`, or a `Rejected` saying why not. Never raises.

    `decode_or_raise` is the bare typed decode, for a hot loop that catches msgspec.DecodeError
    itself and hands it to `classify`: the same result without a Python call per frame.
    """

    __slots__ = ("_decoder", "decode_or_raise")

    def __init__(self) -> None:
        self._decoder = msgspec.json.Decoder(Frame, strict=False)
        self.decode_or_raise = self._decoder.decode

    def decode(self, text: str | bytes) -> Frame | Rejected:
        try:
            return self._decoder.decode(text)
        except msgspec.DecodeError as exc:  # ValidationError is a subclass
            return classify(text, exc)


def classify(text: str | bytes, exc: Exception) -> Rejected:
    """The slow path, only for frames the typed decoder refused: find out why."""
    try:
        obj: Any = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return Rejected(MALFORMED, "not JSON")
    if not isinstance(obj, dict):
        return Rejected(MALFORMED, f"not an object: {type(obj).__name__}")
    seq = obj.get("sequence_num")
    if type(seq) is not int:
        seq = None
    channel = obj.get("channel")
    if obj.get("type") == "error":
        message = obj.get("message")
        return Rejected(ERROR_FRAME, message if isinstance(message, str) else repr(message))
    if not isinstance(channel, str):
        return Rejected(MALFORMED, "no channel" if channel is None else "channel is not a string")
    if channel in KNOWN_CHANNELS:
        return Rejected(MALFORMED, str(exc), channel, seq)
    return Rejected(UNKNOWN, channel, channel, seq)


# ---------------------------------------------------------------- timestamps

_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_MINUTE_BASE: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM" -> epoch seconds of that minute
_MINUTE_CACHE_MAX = 4096
_SECOND_BASE: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM:SS" -> epoch seconds of that second
_SECOND_CACHE_MAX = 4096
# The second of the last timestamp parsed: frames arrive many to a second. One tuple, replaced whole.
_LAST_SECOND: tuple[str, int] = ("1970-01-01T00:00:00", 0)
_DIGITS = "0123456789"


def _minute_base(prefix: str) -> int:
    """Epoch seconds of "YYYY-MM-DDTHH:MM", validated, cached."""
    if (
        len(prefix) != 16
        or prefix[4] != "-"
        or prefix[7] != "-"
        or prefix[10] not in "Tt"
        or prefix[13] != ":"
        or not prefix.isascii()
    ):
        raise ValueError(f"bad timestamp: {prefix!r}")
    parts = (prefix[0:4], prefix[5:7], prefix[8:10], prefix[11:13], prefix[14:16])
    if not all(p.isdigit() for p in parts):
        raise ValueError(f"bad timestamp: {prefix!r}")
    year, month, day, hour, minute = (int(p) for p in parts)
    if hour > 23 or minute > 59:
        raise ValueError(f"bad timestamp: {prefix!r}")
    days = datetime.date(year, month, day).toordinal() - _EPOCH_ORDINAL  # validates the date
    base = days * 86400 + hour * 3600 + minute * 60
    if len(_MINUTE_BASE) >= _MINUTE_CACHE_MAX:
        _MINUTE_BASE.clear()
    _MINUTE_BASE[prefix] = base
    return base


def _second_base(prefix: str) -> int:
    """Epoch seconds of "YYYY-MM-DDTHH:MM:SS", validated, cached."""
    if len(prefix) != 19 or prefix[16] != ":" or not prefix.isascii():
        raise ValueError(f"bad timestamp: {prefix!r}")
    base = _MINUTE_BASE.get(prefix[:16])
    if base is None:
        base = _minute_base(prefix[:16])
    ss = prefix[17:19]
    if not ss.isdigit() or ss > "60":
        raise ValueError(f"bad timestamp: {prefix!r}")
    seconds = base + int(ss)
    if len(_SECOND_BASE) >= _SECOND_CACHE_MAX:
        _SECOND_BASE.clear()
    _SECOND_BASE[prefix] = seconds
    return seconds


def parse_timestamp(text: str) -> float:
    """RFC 3339 (`2026-11-23T21:40:01.000412345Z`: any number of fractional digits, `Z` or
    `+HH:MM`) to epoch seconds. Raises ValueError on anything else.

    datetime.fromisoformat in 3.11 refuses 9 fractional digits, and this is on the hot path: the
    whole second is cached, the fraction is one slice.
    """
    global _LAST_SECOND
    prefix, seconds = _LAST_SECOND
    if not text.startswith(prefix):  # a new second (startswith copies nothing; a slice would)
        prefix = text[:19]
        seconds = _SECOND_BASE.get(prefix)
        if seconds is None:
            seconds = _second_base(prefix)
        _LAST_SECOND = (prefix, seconds)
    if len(text) > 21 and text[19] == "." and text[-1] == "Z":  # the usual form: fraction, Zulu
        fraction = text[19:-1]
        if fraction.strip(_DIGITS) == ".":  # "." and ASCII digits only
            return seconds + float(fraction)
    rest = text[19:]
    if not rest or not rest.isascii():
        raise ValueError(f"bad timestamp: {text!r}")
    if rest[-1] in "Zz":
        zone = 0
        body = rest[:-1]
    elif len(rest) >= 6 and rest[-6] in "+-" and rest[-3] == ":" and rest[-5:-3].isdigit() and rest[-2:].isdigit():
        zone = int(rest[-5:-3]) * 3600 + int(rest[-2:]) * 60
        if rest[-6] == "-":
            zone = -zone
        body = rest[:-6]
    else:
        raise ValueError(f"bad timestamp zone: {text!r}")
    if not body:
        return float(seconds - zone)
    if body[0] != "." or not body[1:].isdigit():
        raise ValueError(f"bad timestamp fraction: {text!r}")
    return (seconds - zone) + float(body)  # body is "." and ASCII digits only
