"""The supervisors' live feed: the wallboard pushed over the hub, no polling.

A change to the board (any queue or agent event, a finished call) bumps the pump's
``board_version``; this task pushes a fresh snapshot to the ``supervisors`` topic at most
every ``interval_s``, and only while someone is watching. Wait times tick in the browser
from ``at`` (the snapshot's clock) between pushes.

Bounded whatever the PBX sends (a flood of channels that never hang up): at most
``max_calls`` live calls are listed (the longest-running ones; ``calls_total`` says how many
there are and ``calls_truncated`` that some were left out), and a snapshot whose JSON would
exceed ``max_bytes`` goes out without its call list. Both are logged (rate-limited).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from callcenter.live.hub import Hub
from callcenter.live.pump import Pump
from callcenter.log_budget import LogBudget

log = logging.getLogger(__name__)
MAX_CALLS = 500
MAX_BYTES = 1 << 20

SUPERVISORS = "supervisors"


class WallboardFeed:
    def __init__(
        self,
        hub: Hub,
        pump: Pump,
        clock: Callable[[], float],
        interval_s: float = 0.25,
        *,
        max_calls: int = MAX_CALLS,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self._hub = hub
        self._pump = pump
        self._clock = clock
        self._interval_s = interval_s
        self._max_calls = max_calls
        self._max_bytes = max_bytes
        self._warnings = LogBudget(log, per_window=1)
        self.pushes = 0

    def snapshot(self) -> dict[str, Any]:
        now = self._clock()
        calls = self._pump.tracker.live_calls(now)
        total = len(calls)
        if total > self._max_calls:
            longest = sorted(calls, key=lambda c: -float(str(c["duration_s"])))
            calls = sorted(longest[: self._max_calls], key=lambda c: str(c["call_id"]))
            self._warnings.warning(
                "wallboard calls",
                "wallboard lists %d of %d live calls (max_calls); the %d newest left out",
                self._max_calls,
                total,
                total - self._max_calls,
            )
        snapshot: dict[str, Any] = {
            "type": "board",
            **self._pump.board.snapshot(now),
            "calls": calls,
            "calls_total": total,
            "calls_truncated": total > len(calls),
        }
        size = len(json.dumps(snapshot, ensure_ascii=False, separators=(",", ":")))
        if size > self._max_bytes:
            self._warnings.warning(
                "wallboard size",
                "wallboard snapshot of %d bytes exceeds %d: sent without its %d calls",
                size,
                self._max_bytes,
                len(calls),
            )
            snapshot["calls"] = []
            snapshot["calls_truncated"] = total > 0
        return snapshot

    async def run(self) -> None:
        pushed = -1
        while True:
            await asyncio.sleep(self._interval_s)
            version = self._pump.board_version
            if version != pushed and self._hub.subscribers_of(SUPERVISORS):
                self._hub.publish(SUPERVISORS, self.snapshot())
                pushed = version
                self.pushes += 1
