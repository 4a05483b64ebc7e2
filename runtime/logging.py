"""Logging set-up: loguru for our code, with the stdlib loggers of pykka and websocket-client
routed into it, and a redaction filter so registered secrets never reach a sink.

Owns the process's log sinks. Must never log a secret: anything that holds one registers it here.
"""

from __future__ import annotations

import logging
import sys

from loguru import logger

_secrets: set[str] = set()


def register_secret(value: str) -> None:
    if value:
        _secrets.add(value)


def _redact(record: dict) -> bool:
    message = record["message"]
    for secret in _secrets:
        if secret in message:
            record["message"] = message.replace(secret, "***")
    return True


class _InterceptHandler(logging.Handler):
    """Forwards stdlib log records (pykka, websocket) to loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, "[{}] {}", record.name, record.getMessage())


def setup_logging(level: str = "INFO", log_file: str | None = None) -> None:
    logger.remove()
    fmt = "<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> {message}"
    logger.add(sys.stderr, level=level, format=fmt, filter=_redact, backtrace=False, diagnose=False)
    if log_file:
        logger.add(log_file, level="DEBUG", filter=_redact, backtrace=False, diagnose=False, enqueue=False)
    handler = _InterceptHandler()
    for name in ("pykka", "websocket", "websockets"):
        stdlib_logger = logging.getLogger(name)
        stdlib_logger.handlers = [handler]
        stdlib_logger.propagate = False
        stdlib_logger.setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
