"""The backup actor's messages: a request for a snapshot now, and its reply.

Owns only the shapes. Must never import an actor (any layer may send these).
"""

from __future__ import annotations

import msgspec


class BackupNow(msgspec.Struct, frozen=True, tag=True):
    """Take a snapshot labelled `tier` now ("shutdown", "escalation", or any tier of
    actors.backup.plan.TIERS). Asked directly (not through an envelope), the actor answers with
    a BackupDone; told through `services.send`, the answer is dropped."""

    tier: str
    reason: str = ""


class BackupDone(msgspec.Struct, frozen=True, tag=True):
    ok: bool
    tier: str
    backup_id: str | None = None
    path: str | None = None
    detail: str = ""
