"""Warnings a hostile or broken peer can provoke, bounded: at most ``per_window`` lines per
kind and window; what was held back is counted and reported in one line when the next
window opens (so 50,000 malformed events write a dozen lines, not 50,000)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Window:
    started: float
    written: int = 0
    suppressed: int = 0


class LogBudget:
    def __init__(
        self,
        logger: logging.Logger,
        *,
        per_window: int = 10,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._per_window = per_window
        self._window_s = window_s
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self.suppressed = 0

    def warning(self, kind: str, message: str, *args: object) -> None:
        """``logger.warning(message, *args)`` unless ``kind`` used up its window."""
        now = self._clock()
        window = self._windows.get(kind)
        if window is None or now - window.started >= self._window_s:
            if window is not None and window.suppressed:
                self._log.warning(
                    "%d more %s warnings were not logged in the last %.0f s",
                    window.suppressed,
                    kind,
                    self._window_s,
                )
            window = self._windows[kind] = _Window(now)
        if window.written < self._per_window:
            window.written += 1
            self._log.warning(message, *args)
            if window.written == self._per_window:
                self._log.warning(
                    "further %s warnings are counted, not logged, for %.0f s",
                    kind,
                    self._window_s,
                )
        else:
            window.suppressed += 1
            self.suppressed += 1


__all__ = ["LogBudget"]
