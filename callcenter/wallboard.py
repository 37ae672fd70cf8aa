"""The supervisors' live feed: the wallboard pushed over the hub, no polling.

A change to the board (any queue or agent event, a finished call) bumps the pump's
``board_version``; this task pushes a fresh snapshot to the ``supervisors`` topic at most
every ``interval_s``, and only while someone is watching. Wait times tick in the browser
from ``at`` (the snapshot's clock) between pushes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from callcenter.hub import Hub
from callcenter.pump import Pump

SUPERVISORS = "supervisors"


class WallboardFeed:
    def __init__(
        self, hub: Hub, pump: Pump, clock: Callable[[], float], interval_s: float = 0.25
    ) -> None:
        self._hub = hub
        self._pump = pump
        self._clock = clock
        self._interval_s = interval_s
        self.pushes = 0

    def snapshot(self) -> dict[str, Any]:
        now = self._clock()
        return {
            "type": "board",
            **self._pump.board.snapshot(now),
            "calls": self._pump.tracker.live_calls(now),
        }

    async def run(self) -> None:
        pushed = -1
        while True:
            await asyncio.sleep(self._interval_s)
            version = self._pump.board_version
            if version != pushed and self._hub.subscribers_of(SUPERVISORS):
                self._hub.publish(SUPERVISORS, self.snapshot())
                pushed = version
                self.pushes += 1
