"""``/sip``: the browser phone's SIP WebSocket, proxied to Asterisk's (``[phone] webrtc_ws``).

The agent panel's JsSIP never talks to Asterisk directly: it opens ``ws(s)://<our host>/sip``
with the sub-protocol ``sip`` (RFC 7118), so the panel and the phone share one origin, one
certificate and one login. The route is authenticated like every other (the session cookie;
the Origin check applies to the handshake, a GET browsers send cross-site with cookies), and
the socket is only opened for a user whose extension is a PJSIP endpoint with stored browser
phone credentials (``callcenter user add … --extension PJSIP/w2001 --sip-password``).

What an agent may send through it (each SIP message is one text frame, RFC 7118):

- ``REGISTER``: the ``From`` and ``To`` user must be the agent's own endpoint (``w2001``), so
  an agent cannot register (take over, with ``remove_existing``) another agent's phone;
- an initial request (``INVITE``, ``OPTIONS``… without a To tag): its ``From`` user must be
  the agent's endpoint. In-dialog requests are not checked by ``From``: when the browser was
  called, Asterisk addressed it by its Contact (``To: <sip:random@random.invalid>``), and the
  browser's BYE or hold re-INVITE carries that URI as its ``From``;
- any ``Authorization``/``Proxy-Authorization`` must name the agent's endpoint as username.

A refused request is answered by the proxy itself with ``403 Forbidden`` and never reaches
Asterisk. Responses pass unchanged, both ways. Either side closing closes the other: Asterisk
then drops the contact (AMI ``ContactStatus: Removed``) as when the tab is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass, field

import aiohttp
from aiohttp import WSMsgType, web

from callcenter.store.accounts import sip_user
from callcenter.web.errors import PermissionDenied
from callcenter.web.keys import (
    ACCOUNTS_KEY,
    AUDIT_KEY,
    PRINCIPAL_KEY,
    SIP_PROXY_KEY,
    SOCKET_GUARD_KEY,
)
from callcenter.web.socket_guard import Credential

log = logging.getLogger(__name__)

SUBPROTOCOL = "sip"
MAX_MESSAGE = 64 * 1024
HEARTBEAT_S = 25.0
CONNECT_TIMEOUT_S = 5.0

_COMPACT = {"f": "from", "t": "to", "i": "call-id", "v": "via"}
_URI_USER = re.compile(r"<?\s*sips?:([^@;>\s]+)@", re.IGNORECASE)
_AUTH_USER = re.compile(r'username\s*=\s*"([^"]*)"', re.IGNORECASE)
_TAG = re.compile(r";\s*tag=", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SipRequest:
    """The few parts of a SIP request the proxy checks (or None for a response)."""

    method: str
    headers: dict[str, list[str]] = field(default_factory=dict)

    def first(self, name: str) -> str:
        values = self.headers.get(name, [])
        return values[0] if values else ""


def parse_request(text: str) -> SipRequest | None:
    """The method and headers of a SIP request; None for a response (``SIP/2.0 …``) or for
    text that is not SIP at all (the caller refuses that)."""
    head = text.split("\r\n\r\n", 1)[0]
    lines = head.replace("\r\n", "\n").split("\n")
    start = lines[0].split(" ")
    if start[0].upper().startswith("SIP/"):
        return None
    if len(start) != 3 or not start[2].upper().startswith("SIP/"):
        raise ValueError("not a SIP message")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.strip().lower()
        headers.setdefault(_COMPACT.get(key, key), []).append(value.strip())
    return SipRequest(start[0].upper(), headers)


def uri_user(header_value: str) -> str | None:
    match = _URI_USER.search(header_value)
    return match.group(1) if match else None


def refusal(request: SipRequest, own: str) -> str | None:
    """Why the agent whose endpoint is ``own`` may not send this request, or None."""
    if request.method == "REGISTER":
        for name in ("from", "to"):
            if uri_user(request.first(name)) != own:
                return f"REGISTER {name.title()} is not your phone"
    elif not _TAG.search(request.first("to")) and uri_user(request.first("from")) != own:
        return f"{request.method} From is not your phone"
    for name in ("authorization", "proxy-authorization"):
        for value in request.headers.get(name, []):
            match = _AUTH_USER.search(value)
            if match is None or match.group(1) != own:
                return "credentials of another phone"
    return None


def forbidden_response(request: SipRequest, reason: str) -> str:
    """A ``403 Forbidden`` answer to ``request``, as a UAS would send it (RFC 3261 8.2.6)."""
    lines = ["SIP/2.0 403 Forbidden"]
    lines += [f"Via: {via}" for via in request.headers.get("via", [])]
    to = request.first("to")
    if not _TAG.search(to):
        to += ";tag=ccproxy"
    lines += [
        f"From: {request.first('from')}",
        f"To: {to}",
        f"Call-ID: {request.first('call-id')}",
        f"CSeq: {request.first('cseq')}",
        f"Warning: 399 callcenter {_quoted(reason)}",
        "Content-Length: 0",
    ]
    return "\r\n".join(lines) + "\r\n\r\n"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "").replace('"', "'") + '"'


class SipProxy:
    """The upstream side: one client session, and every proxied socket (closed on
    shutdown, or all at once with :meth:`close_all`)."""

    def __init__(self, upstream_url: str) -> None:
        self.upstream_url = upstream_url
        self._session: aiohttp.ClientSession | None = None
        self.sockets: set[web.WebSocketResponse] = set()
        self.refused = 0

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        await self.close_all()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def close_all(self, code: int = aiohttp.WSCloseCode.GOING_AWAY) -> None:
        """Close every browser phone's socket (shutdown; tests cut the phones' link)."""
        for ws in list(self.sockets):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.close(code=code, message=b"server closed the SIP link")

    async def connect(self) -> aiohttp.ClientWebSocketResponse:
        if self._session is None:
            raise web.HTTPServiceUnavailable(reason="the SIP proxy is not running")
        try:
            return await self._session.ws_connect(
                self.upstream_url,
                protocols=(SUBPROTOCOL,),
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
                max_msg_size=MAX_MESSAGE,
                autoping=True,
                compress=0,
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("SIP WebSocket %s unreachable: %s", self.upstream_url, exc)
            raise web.HTTPBadGateway(reason="the PBX's SIP WebSocket is unreachable") from exc


async def sip_socket(request: web.Request) -> web.StreamResponse:
    """The handshake: the logged-in agent's own browser phone only, sub-protocol ``sip``."""
    user = request[PRINCIPAL_KEY].user
    own = sip_user(user.extension)
    if own is None:
        raise PermissionDenied("no browser phone (PJSIP endpoint) is assigned to this user")
    if await request.app[ACCOUNTS_KEY].browser_phone(user.id) is None:
        raise PermissionDenied("this user's browser phone has no SIP credentials")
    proxy = request.app.get(SIP_PROXY_KEY)
    if proxy is None:
        raise web.HTTPServiceUnavailable(reason="browser phones are not configured")
    ws = web.WebSocketResponse(
        protocols=(SUBPROTOCOL,),
        heartbeat=HEARTBEAT_S,
        max_msg_size=MAX_MESSAGE,
        compress=False,
    )
    ready = ws.can_prepare(request)
    if not ready.ok or ready.protocol != SUBPROTOCOL:
        raise web.HTTPBadRequest(reason="a WebSocket with the sub-protocol 'sip' is required")
    async with asyncio.timeout(CONNECT_TIMEOUT_S):
        upstream = await proxy.connect()
    await ws.prepare(request)
    proxy.sockets.add(ws)
    guard = request.app[SOCKET_GUARD_KEY]
    principal = request[PRINCIPAL_KEY]
    guard.add(ws, Credential(principal.via, principal.secret))
    log.info("browser phone %s of %s connected", own, user.username)
    to_browser = asyncio.create_task(_downstream(upstream, ws), name=f"sip-down {own}")
    try:
        await _upstream(request, ws, upstream, own, proxy)
    finally:
        guard.discard(ws)
        proxy.sockets.discard(ws)
        to_browser.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await to_browser
        await upstream.close()
        await ws.close()
        log.info("browser phone %s of %s disconnected", own, user.username)
    return ws


async def _upstream(
    request: web.Request,
    ws: web.WebSocketResponse,
    upstream: aiohttp.ClientWebSocketResponse,
    own: str,
    proxy: SipProxy,
) -> None:
    """Browser -> Asterisk, every request checked against the agent's own endpoint."""
    async for message in ws:
        if message.type is WSMsgType.TEXT:
            text: str = message.data
            try:
                sip = parse_request(text)
            except ValueError:
                await ws.close(code=aiohttp.WSCloseCode.UNSUPPORTED_DATA, message=b"not SIP")
                return
            reason = refusal(sip, own) if sip is not None else None
            if sip is not None and reason is not None:
                proxy.refused += 1
                user = request[PRINCIPAL_KEY].user
                log.warning("browser phone %s of %s refused: %s", own, user.username, reason)
                await request.app[AUDIT_KEY].audit(
                    user.username,
                    "phone.refused",
                    own,
                    {"method": sip.method, "reason": reason, "address": request.remote},
                )
                await ws.send_str(forbidden_response(sip, reason))
                continue
            await upstream.send_str(text)
        elif message.type is WSMsgType.BINARY:
            await upstream.send_bytes(message.data)
        elif message.type is WSMsgType.ERROR:
            return
        if upstream.closed:
            return


async def _downstream(upstream: aiohttp.ClientWebSocketResponse, ws: web.WebSocketResponse) -> None:
    """Asterisk -> browser, unchanged; Asterisk closing closes the browser's socket."""
    try:
        async for message in upstream:
            if message.type is WSMsgType.TEXT:
                await ws.send_str(message.data)
            elif message.type is WSMsgType.BINARY:
                await ws.send_bytes(message.data)
            elif message.type is WSMsgType.ERROR:
                break
    except ConnectionError:
        pass
    finally:
        if not ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"PBX closed")
