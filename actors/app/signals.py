"""Clean stops on SIGINT and SIGTERM for the long-running commands (run, paper, replay, record, exchange).

Owns the process's SIGINT/SIGTERM handlers while a command runs: `with StopSignals() as stop:`
installs them (on the main thread only; elsewhere it is a plain event nobody signals) and puts the
previous ones back on exit. The first signal asks for a clean stop (`stop` is set, one WARNING
line); a second one while stopping writes one line to stderr and leaves at once with
`os._exit(EXIT_FORCED)` (130: no report, no clean-up, the operator asked for it). Must never take
a lock the main thread may hold inside a handler (it runs between two bytecodes of the main
thread, which may be inside an Event's or a log sink's lock): it sets a flag and writes a line.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from types import FrameType
from typing import Any

from loguru import logger

EXIT_FORCED = 130  # a second signal during a clean stop: the process ends at once, no report
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_POLL_S = 0.05  # how late `wait` may notice a signal (the handler takes no lock to wake it)


class StopSignals:
    """A stop request: set by the first SIGINT/SIGTERM (while installed) or by `set()`."""

    def __init__(self, signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> None:
        self._signals = signals
        self._requested = False  # written by the handler: a plain attribute, no lock
        self._wake = threading.Event()  # wakes `wait` at once when another thread calls `set`
        self._previous: dict[int, Any] = {}
        self.signal_name: str | None = None

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self._signals:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        previous, self._previous = self._previous, {}
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    @property
    def installed(self) -> bool:
        return bool(self._previous)

    def set(self) -> None:
        """Ask for the stop from code (a duration ended, a test); not counted as a signal."""
        self._requested = True
        self._wake.set()

    def is_set(self) -> bool:
        return self._requested

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the stop is requested or `timeout` seconds pass; True if requested."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._requested:
            if deadline is None:
                slice_s = _POLL_S
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                slice_s = min(_POLL_S, remaining)
            self._wake.wait(slice_s)
        return True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.signal_name is not None:
            os.write(2, f"perpsbot: {name} while stopping: forced exit ({EXIT_FORCED}), no report\n".encode())
            os._exit(EXIT_FORCED)
            return  # only reached when a test replaces os._exit
        self.signal_name = name
        self._requested = True
        line = f"{name}: stopping cleanly (a second signal forces it)"
        try:
            logger.warning(line)
        except RuntimeError:  # the main thread was inside the log sink: loguru refuses to re-enter
            os.write(2, f"{line}\n".encode())
