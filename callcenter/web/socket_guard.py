"""Open WebSockets whose credentials were revoked are closed.

A WebSocket is authenticated once, at its handshake. Each live socket (``/ws/agent``,
``/ws/supervisor``, ``/sip``) is registered here with the credential that opened it (a
session cookie or an API token); :meth:`SocketGuard.recheck` looks every distinct credential
up again and closes the sockets of those that no longer authenticate (user disabled, session
ended by logout or a password change, token revoked or expired) with code 4401. The account
API calls it right after a change; :meth:`run` calls it every ``interval_s`` for changes made
by another process (``callcenter user disable``) and for expiries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

log = logging.getLogger(__name__)

#: Private-use WebSocket close code (4000-4999): "your login ended".
CLOSE_UNAUTHENTICATED = 4401
CHECK_INTERVAL_S = 5.0


class ClosableSocket(Protocol):
    async def close(self, *, code: int = ..., message: bytes = ...) -> bool: ...


@dataclass(frozen=True, slots=True)
class Credential:
    via: Literal["session", "token"]
    secret: str = field(repr=False)


Resolver = Callable[[Credential], Awaitable[bool]]


class SocketGuard:
    def __init__(self, still_valid: Resolver, *, interval_s: float = CHECK_INTERVAL_S) -> None:
        self._still_valid = still_valid
        self._interval_s = interval_s
        self._sockets: dict[ClosableSocket, Credential] = {}
        self.closed = 0

    def add(self, socket: ClosableSocket, credential: Credential) -> None:
        self._sockets[socket] = credential

    def discard(self, socket: ClosableSocket) -> None:
        self._sockets.pop(socket, None)

    def __len__(self) -> int:
        return len(self._sockets)

    async def recheck(self) -> int:
        """Close the sockets whose credential no longer authenticates; returns how many."""
        verdicts: dict[Credential, bool] = {}
        for credential in set(self._sockets.values()):
            verdicts[credential] = await self._still_valid(credential)
        dead = [s for s, c in list(self._sockets.items()) if not verdicts.get(c, True)]
        for socket in dead:
            self._sockets.pop(socket, None)
            await socket.close(code=CLOSE_UNAUTHENTICATED, message=b"login ended")
        if dead:
            self.closed += len(dead)
            log.info("closed %d live socket(s) whose login ended", len(dead))
        return len(dead)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.recheck()
            except Exception:
                log.exception("re-checking live sockets failed")


__all__ = ["CLOSE_UNAUTHENTICATED", "Credential", "SocketGuard"]
