"""WebSocket fan-out: live messages to the browsers that asked for them.

``publish(topic, message)`` encodes the message once and puts it, without waiting, into the
bounded queue of every socket subscribed to ``topic``; it never awaits a socket, so one slow
browser can never slow the pump or anybody else. A socket whose queue is full has fallen
behind: it is closed (code 1013, "try again later") and the page reconnects and re-fetches
its state over HTTP. Each socket's own sender task drains its queue.

Topics are plain strings: ``agent:<device>`` (an agent's screen pops, e.g.
``agent:PJSIP/2001``), ``supervisors`` (the wallboard).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 256
#: WebSocket close code 1013 "Try Again Later": the client fell behind and must resync.
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_GOING_AWAY = 1001


class Socket(Protocol):
    """What the hub needs of a WebSocket (aiohttp's WebSocketResponse fits)."""

    async def send_str(self, data: str) -> None: ...

    async def close(self, *, code: int = ..., message: bytes = ...) -> bool: ...


@dataclass(eq=False)
class Subscription:
    socket: Socket
    topics: frozenset[str]
    queue: asyncio.Queue[str]
    overflowed: bool = False
    sent: int = field(default=0)


class Hub:
    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self._queue_size = queue_size
        self._by_topic: defaultdict[str, set[Subscription]] = defaultdict(set)
        self.dropped_sockets = 0

    @property
    def subscribers(self) -> int:
        return len({s for subs in self._by_topic.values() for s in subs})

    def subscribers_of(self, topic: str) -> int:
        return len(self._by_topic.get(topic, ()))

    def subscribe(self, socket: Socket, topics: Iterable[str]) -> Subscription:
        sub = Subscription(socket, frozenset(topics), asyncio.Queue(self._queue_size))
        for topic in sub.topics:
            self._by_topic[topic].add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        for topic in sub.topics:
            subs = self._by_topic.get(topic)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._by_topic[topic]

    def publish(self, topic: str, message: dict[str, Any]) -> int:
        """Queue ``message`` for every subscriber of ``topic``; returns how many got it."""
        subs = self._by_topic.get(topic)
        if not subs:
            return 0
        data = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        delivered = 0
        for sub in list(subs):
            if sub.overflowed:
                continue
            try:
                sub.queue.put_nowait(data)
                delivered += 1
            except asyncio.QueueFull:
                sub.overflowed = True
                self.dropped_sockets += 1
                log.warning(
                    "a %s socket fell %d messages behind: closing it", topic, sub.queue.qsize()
                )
                # Wake the sender so it notices and closes the socket.
                sub.queue.get_nowait()
                sub.queue.put_nowait("")
        return delivered

    async def close_all(self) -> None:
        """Server shutdown: close every socket ("going away"); browsers reconnect later."""
        subs = {s for subs in self._by_topic.values() for s in subs}
        for sub in subs:
            await sub.socket.close(code=CLOSE_GOING_AWAY, message=b"server shutdown")

    async def pump(self, sub: Subscription) -> None:
        """Send ``sub``'s queued messages until the socket closes or overflows. Run it as the
        socket's own task; the caller unsubscribes in ``finally``."""
        while True:
            data = await sub.queue.get()
            if sub.overflowed:
                await sub.socket.close(code=CLOSE_TRY_AGAIN_LATER, message=b"fell behind")
                return
            await sub.socket.send_str(data)
            sub.sent += 1
