"""Browser phones going away: pause the agent in their queues, resume when it is back.

Asterisk reports a browser phone's registration with AMI ``ContactStatus`` (``Removed`` the
moment its WebSocket closes: a tab closed, the network gone; ``Unreachable`` when qualify
times out). A queue would otherwise keep offering callers to a member whose phone cannot
ring (it shows as unavailable only while no contact exists, and a dead contact lingers until
qualify notices). So when an agent's browser phone goes offline we pause them, with the
reason :data:`REASON`, in each of their queues where they are not paused already (Asterisk
pauses per queue: an agent paused in one queue still takes the calls of the others); when
the phone registers again, we resume them in the queues paused with that reason, and only
those (an agent or supervisor who paused meanwhile for another reason stays paused). The
reason is the mark of our pause: one left by an earlier run of the server (a restart while
the phone was gone) is lifted too.

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

#: ``(interface, paused, reason, queue)``: AMI QueuePause in one queue.
QueuePause = Callable[[str, bool, str | None, str | None], Awaitable[None]]


class PhoneWatch:
    def __init__(self, board: Board, queue_pause: QueuePause) -> None:
        self._board = board
        self._queue_pause = queue_pause
        self._actions: asyncio.Queue[tuple[str, bool, str]] = asyncio.Queue()

    def on_event(self, event: ev.Event, now: float) -> None:
        if not isinstance(event, ev.ContactStatus) or not event.endpoint:
            return
        interface = f"PJSIP/{event.endpoint}"
        agent = self._board.agents.get(interface)
        if agent is None:
            return
        if not event.online and event.status in ("Removed", "Unreachable"):
            for queue in sorted(agent.queues - agent.paused_in.keys()):
                self._actions.put_nowait((interface, True, queue))
        elif event.online:
            for queue, reason in sorted(agent.paused_in.items()):
                if reason == REASON:
                    self._actions.put_nowait((interface, False, queue))

    async def run(self) -> None:
        while True:
            interface, paused, queue = await self._actions.get()
            try:
                await self._queue_pause(interface, paused, REASON if paused else None, queue)
                log.info(
                    "%s %s in %s: browser phone %s",
                    "paused" if paused else "resumed",
                    interface,
                    queue,
                    "offline" if paused else "back",
                )
            except AmiError as exc:
                log.warning(
                    "could not %s %s in %s: %s",
                    "pause" if paused else "resume",
                    interface,
                    queue,
                    exc,
                )
