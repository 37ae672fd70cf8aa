"""Browser phones going away: pause the agent in their queues, resume when it is back.

Asterisk reports a browser phone's registration with AMI ``ContactStatus`` (``Removed`` the
moment its WebSocket closes: a tab closed, the network gone; ``Unreachable`` when qualify
times out). A queue would otherwise keep offering callers to a member whose phone cannot
ring (it shows as unavailable only while no contact exists, and a dead contact lingers until
qualify notices). So when an agent's browser phone goes offline and the agent is a member
not already paused, we pause them in all their queues (``QueuePause`` without ``Queue``) with
the reason :data:`REASON`; when the phone registers again, we resume them, but only if that
pause was ours and is still in force (an agent or supervisor who paused meanwhile for another
reason stays paused).

The pump calls :meth:`PhoneWatch.on_event` synchronously: it only decides and enqueues; a
named task sends the AMI actions (a failure is logged, the next change tries again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from callcenter.errors import AmiError
from callcenter.model import events as ev
from callcenter.model.board import Board

log = logging.getLogger(__name__)

REASON = "phone offline"

QueuePause = Callable[[str, bool, str | None], Awaitable[None]]


class PhoneWatch:
    def __init__(self, board: Board, queue_pause: QueuePause) -> None:
        self._board = board
        self._queue_pause = queue_pause
        self._actions: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()
        #: Interfaces we paused because their phone went offline.
        self.paused_by_us: set[str] = set()

    def on_event(self, event: ev.Event, now: float) -> None:
        if not isinstance(event, ev.ContactStatus) or not event.endpoint:
            return
        interface = f"PJSIP/{event.endpoint}"
        agent = self._board.agents.get(interface)
        if not event.online and event.status in ("Removed", "Unreachable"):
            if agent is not None and agent.queues and not agent.paused:
                self.paused_by_us.add(interface)
                self._actions.put_nowait((interface, True))
        elif event.online and interface in self.paused_by_us:
            self.paused_by_us.discard(interface)
            if agent is not None and agent.paused and agent.pause_reason == REASON:
                self._actions.put_nowait((interface, False))

    async def run(self) -> None:
        while True:
            interface, paused = await self._actions.get()
            try:
                await self._queue_pause(interface, paused, REASON if paused else None)
                log.info(
                    "%s %s: browser phone %s",
                    "paused" if paused else "resumed",
                    interface,
                    "offline" if paused else "back",
                )
            except AmiError as exc:
                log.warning("could not %s %s: %s", "pause" if paused else "resume", interface, exc)
