"""The `user` channel's wire schema, as the bot reads it: one order's cumulative state
(`UserOrder`), an event of them, the whole frame (`UserFrameBody`, for a reader of raw text), and
`UserStreamFrame`, the private stream's frame as streaming hands it to the venue gateway, decoded
once.

Owns the field names and their types only. Must never convert a wire number (the reader checks
each with actors.wire.decimals), forbid unknown fields (Coinbase adds fields at any time), or
import a subsystem.
"""

from __future__ import annotations

from typing import Union

import msgspec


class UserOrder(msgspec.Struct, frozen=True):
    order_id: str
    client_order_id: str = ""
    status: str = ""
    product_id: str = ""
    order_side: str = ""
    order_type: str = ""  # "Limit" on the socket, "LIMIT" over REST: compare upper-cased
    avg_price: str = "0"
    cumulative_quantity: str = "0"
    leaves_quantity: str = "0"
    total_fees: str = "0"
    cancel_reason: str = ""
    reject_reason: str = ""
    post_only: Union[bool, str] = False  # the SDK types booleans as strings


class UserEvent(msgspec.Struct, frozen=True):
    type: str = ""  # "snapshot" first, then "update"
    orders: tuple[UserOrder, ...] = ()


class UserFrameBody(msgspec.Struct, frozen=True):
    channel: str
    timestamp: str = ""
    sequence_num: int = 0
    events: tuple[UserEvent, ...] = ()


user_frame_decoder = msgspec.json.Decoder(UserFrameBody, strict=False)


class UserStreamFrame(msgspec.Struct, frozen=True, tag=True):
    """A frame of the private stream, for the venue gateway: `channel` "user" (its events decoded)
    or "heartbeats" (the stream lives); `unreadable`: a `user` frame streaming could not read
    (counted and skipped, but the stream spoke)."""

    channel: str
    conn: int
    events: tuple[UserEvent, ...] = ()
    unreadable: bool = False
