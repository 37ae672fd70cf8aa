"""The live sockets: ``/ws/agent`` (screen pops) and ``/ws/supervisor`` (the wallboard).

Both are authenticated by the session like every route (the middleware, with the Origin
check applied to the handshake), keep the connection alive with WebSocket pings
(``heartbeat``), and send through the hub's bounded per-socket queue: a browser that cannot
keep up is closed with 1013 and reconnects; after any reconnect the page re-fetches its state
over HTTP. Nothing the browser sends is needed; text frames are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import WSMsgType, web

from callcenter.live.screenpops import agent_topic
from callcenter.live.wallboard import SUPERVISORS
from callcenter.web.keys import HUB_KEY, PRINCIPAL_KEY, SOCKET_GUARD_KEY, WALLBOARD_KEY
from callcenter.web.socket_guard import Credential

log = logging.getLogger(__name__)

HEARTBEAT_S = 20.0


async def _serve(
    request: web.Request, topics: list[str], hello: dict[str, Any]
) -> web.StreamResponse:
    # No permessage-deflate: pops are small, and zlib state costs ~90 KiB per socket.
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=64 * 1024, compress=False)
    await ws.prepare(request)
    hub = request.app[HUB_KEY]
    sub = hub.subscribe(ws, topics)
    guard = request.app[SOCKET_GUARD_KEY]
    principal = request[PRINCIPAL_KEY]
    guard.add(ws, Credential(principal.via, principal.secret))
    sender = asyncio.create_task(hub.pump(sub), name=f"ws-sender {topics[0]}")
    try:
        await ws.send_json(hello)
        async for message in ws:
            if message.type is WSMsgType.ERROR:
                break
    finally:
        guard.discard(ws)
        hub.unsubscribe(sub)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sender
        await ws.close()
    return ws


async def agent_socket(request: web.Request) -> web.StreamResponse:
    """Screen pops for the logged-in agent's own phone (their extension, e.g. PJSIP/2001)."""
    user = request[PRINCIPAL_KEY].user
    if not user.extension:
        raise web.HTTPForbidden(reason="no phone extension is assigned to this user")
    topic = agent_topic(user.extension)
    return await _serve(request, [topic], {"type": "hello", "extension": user.extension})


async def supervisor_socket(request: web.Request) -> web.StreamResponse:
    """The wallboard: a full snapshot at once, then one on every change."""
    snapshot = request.app[WALLBOARD_KEY].snapshot()
    return await _serve(request, [SUPERVISORS], snapshot)
