"""The frame timestamp parser: RFC 3339 text to epoch seconds, cheaply, on the hot path.

Owns the caches of whole minutes and seconds already parsed (bounded, cleared when full) and of
the last timestamp parsed.
Must never accept a malformed timestamp (it raises ValueError) or read a clock.
"""

from __future__ import annotations

import datetime

_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_MINUTE_BASE: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM" -> epoch seconds of that minute
_MINUTE_CACHE_MAX = 4096
_SECOND_BASE: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM:SS" -> epoch seconds of that second
_SECOND_CACHE_MAX = 4096
# The second of the last timestamp parsed: frames arrive many to a second. One tuple, replaced whole.
_LAST_SECOND: tuple[str, int] = ("1970-01-01T00:00:00", 0)
# The last timestamp parsed and its value: frames sent in one burst carry one stamp. Replaced whole.
# None at first: no text equals it (an empty stamp must still be refused).
_LAST_STAMP: tuple[str | None, float] = (None, 0.0)


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
    global _LAST_SECOND, _LAST_STAMP
    last = _LAST_STAMP
    if text == last[0]:
        return last[1]
    prefix, seconds = _LAST_SECOND
    if not text.startswith(prefix):  # a new second (startswith copies nothing; a slice would)
        prefix = text[:19]
        cached = _SECOND_BASE.get(prefix)
        seconds = cached if cached is not None else _second_base(prefix)
        _LAST_SECOND = (prefix, seconds)
    if len(text) > 21 and text[19] == "." and text[-1] == "Z":  # the usual form: fraction, Zulu
        digits = text[20:-1]
        if digits.isdigit() and digits.isascii():  # float() would take other scripts' digits too
            value = seconds + float(text[19:-1])
            _LAST_STAMP = (text, value)
            return value
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
