"""Logging set-up: loguru for our code, with the stdlib loggers of pykka, websocket-client and
websockets routed into it, and a redaction filter so registered secrets never reach a sink.

Owns the process's log sinks and their line format (UTC date and time first, then the level).
The websocket libraries' per-frame traces (websocket-client's `enableTrace` dumps, websockets'
`< TEXT ...` / `> TEXT ...` debug lines) are off at every level: their loggers pass nothing below
INFO, even to a handler `enableTrace` adds, and what they pass below WARNING shows as DEBUG.
Must never log a secret: anything that holds one registers it here.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

from loguru import logger

if TYPE_CHECKING:
    from loguru import Record  # only in loguru's stubs

_secrets: set[str] = set()


def register_secret(value: str) -> None:
    if value:
        _secrets.add(value)


def _redact(record: Record) -> bool:
    message = record["message"]
    for secret in _secrets:
        if secret in message:
            record["message"] = message.replace(secret, "***")
    return True


LINE_FORMAT = "<green>{time:YYYY-MM-DD HH:mm:ss.SSS!UTC}</green> <level>{level: <7}</level> {message}"
FILE_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS!UTC} {level: <7} {message}"
SOCKET_LIBRARIES = ("websocket", "websockets")  # websocket-client, websockets (and its children)


class _InterceptHandler(logging.Handler):
    """Forwards stdlib log records (pykka, websocket) to loguru. `quiet_below`: records under this
    stdlib level arrive as DEBUG (a library's INFO chatter is not what the bot does)."""

    def __init__(self, quiet_below: int = 0) -> None:
        super().__init__()
        self.quiet_below = quiet_below

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < self.quiet_below:
            level: str | int = "DEBUG"
        else:
            try:
                level = logger.level(record.levelname).name
            except ValueError:
                level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, "[{}] {}", record.name, record.getMessage())


class _NoFrames(logging.Filter):
    """On a socket library's logger and our handler: drops its DEBUG records (the per-frame
    traces) before any handler sees them, ours or one `websocket.enableTrace` adds."""

    def __init__(self, minimum: int) -> None:
        super().__init__()
        self.minimum = minimum

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.minimum


def setup_logging(level: str = "INFO", log_file: str | None = None) -> None:
    logger.remove()
    logger.add(sys.stderr, level=level, format=LINE_FORMAT, filter=_redact, backtrace=False, diagnose=False)
    if log_file:
        logger.add(log_file, level="DEBUG", format=FILE_FORMAT, filter=_redact, backtrace=False, diagnose=False,
                   enqueue=False)
    debug = level == "DEBUG"
    pykka_logger = logging.getLogger("pykka")
    pykka_logger.handlers = [_InterceptHandler()]
    pykka_logger.propagate = False
    pykka_logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    minimum = logging.INFO if debug else logging.WARNING
    for name in SOCKET_LIBRARIES:
        handler = _InterceptHandler(quiet_below=logging.WARNING)
        handler.addFilter(_NoFrames(minimum))  # records of child loggers ("websockets.server") skip ours
        stdlib_logger = logging.getLogger(name)
        stdlib_logger.handlers = [handler]
        stdlib_logger.propagate = False
        stdlib_logger.setLevel(minimum)
        stdlib_logger.filters = [_NoFrames(minimum)]
