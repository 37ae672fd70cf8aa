"""``/sip``: the browser phone's SIP WebSocket proxy, against a fake Asterisk WebSocket.

Who may open it (a logged-in agent with a browser phone, same Origin), what passes (their own
phone's REGISTER, in-dialog requests, responses both ways) and what is refused with a SIP 403
without ever reaching the PBX (another agent's phone). Also the credentials endpoint: the SIP
password goes to its agent only and is in no listing.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from callcenter.settings import PhoneSettings, Settings
from callcenter.store import Role
from callcenter.web.keys import ACCOUNTS_KEY, SIP_PROXY_KEY
from callcenter.web.sip_proxy import parse_request, refusal
from tests.web.conftest import ClientFactory
from tests.web.webclient import add_user, login, origin

SIP_PASSWORD = "w2001-secret"


def register(user: str, *, to_user: str | None = None, auth_user: str | None = None) -> str:
    lines = [
        "REGISTER sip:127.0.0.1 SIP/2.0",
        "Via: SIP/2.0/WSS abc.invalid;branch=z9hG4bK1",
        "Max-Forwards: 69",
        f"To: <sip:{to_user or user}@127.0.0.1>",
        f'From: "Agent" <sip:{user}@127.0.0.1>;tag=t1',
        "Call-ID: c1",
        "CSeq: 1 REGISTER",
        "Contact: <sip:x@abc.invalid;transport=ws>",
        "Expires: 600",
    ]
    if auth_user:
        lines.append(
            f'Authorization: Digest algorithm=MD5, username="{auth_user}", realm="asterisk",'
            ' nonce="n", uri="sip:127.0.0.1", response="r"'
        )
    return "\r\n".join([*lines, "Content-Length: 0", "", ""])


class FakeAsterisk:
    """A SIP WebSocket that records what it gets and answers every request with 200 OK."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.sockets: list[web.WebSocketResponse] = []
        self.protocols: list[str | None] = []

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("sip",))
        await ws.prepare(request)
        self.protocols.append(ws.ws_protocol)
        self.sockets.append(ws)
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                self.received.append(message.data)
                if not message.data.startswith("SIP/2.0"):
                    call_id = next(
                        line for line in message.data.split("\r\n") if line.startswith("Call-ID")
                    )
                    await ws.send_str(f"SIP/2.0 200 OK\r\n{call_id}\r\nContent-Length: 0\r\n\r\n")
        return ws


@pytest.fixture
async def asterisk() -> AsyncIterator[tuple[FakeAsterisk, str]]:
    fake = FakeAsterisk()
    app = web.Application()
    app.router.add_get("/ws", fake.handle)
    server = TestServer(app)
    await server.start_server()
    try:
        yield fake, str(server.make_url("/ws")).replace("http://", "ws://")
    finally:
        await server.close()


def with_phone(settings: Settings, url: str) -> Settings:
    return dataclasses.replace(settings, phone=PhoneSettings(webrtc_ws=url, sip_domain="127.0.0.1"))


@pytest.fixture
async def phone_client(
    make_client: ClientFactory, settings: Settings, asterisk: tuple[FakeAsterisk, str]
) -> TestClient[Any, Any]:
    client = await make_client(settings=with_phone(settings, asterisk[1]))
    for name, ext in (("ann", "w2001"), ("bob", "w2002")):
        user = await add_user(client, name, Role.AGENT, extension=f"PJSIP/{ext}")
        await client.app[ACCOUNTS_KEY].set_sip_password(user.id, f"{ext}-secret", now=0.0)
    await add_user(client, "dora", Role.AGENT, extension="PJSIP/2003")
    return client


async def open_sip(client: TestClient[Any, Any], **headers: str) -> Any:
    sent = {"Origin": origin(client), **headers}
    return await client.ws_connect("/sip", protocols=("sip",), headers=sent)


async def receive_text(ws: Any) -> str:
    message = await asyncio.wait_for(ws.receive(), 5)
    assert message.type is WSMsgType.TEXT, message
    text: str = message.data
    return text


async def test_anonymous_socket_is_refused(phone_client: TestClient[Any, Any]) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await open_sip(phone_client)
    assert refused.value.status == 401


async def test_cross_origin_socket_is_refused(phone_client: TestClient[Any, Any]) -> None:
    assert (await login(phone_client, "ann")).status == 200
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await open_sip(phone_client, Origin="http://evil.example")
    assert refused.value.status == 403


async def test_agent_without_a_browser_phone_is_refused(
    phone_client: TestClient[Any, Any],
) -> None:
    assert (await login(phone_client, "dora")).status == 200
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await open_sip(phone_client)
    assert refused.value.status == 403


async def test_own_phone_registers_through_the_proxy(
    phone_client: TestClient[Any, Any], asterisk: tuple[FakeAsterisk, str]
) -> None:
    fake, _ = asterisk
    assert (await login(phone_client, "ann")).status == 200
    ws = await open_sip(phone_client)
    assert ws.protocol == "sip"
    await ws.send_str(register("w2001", auth_user="w2001"))
    answer = await receive_text(ws)
    assert answer.startswith("SIP/2.0 200 OK")
    assert fake.received == [register("w2001", auth_user="w2001")]
    assert fake.protocols == ["sip"]
    # In-dialog requests pass whatever their From (Asterisk called the browser's Contact).
    bye = (
        "BYE sip:asterisk@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WSS x;branch=z9hG4bK2\r\n"
        "From: <sip:random@abc.invalid>;tag=b1\r\nTo: <sip:2001@127.0.0.1>;tag=a1\r\n"
        "Call-ID: c2\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    )
    await ws.send_str(bye)
    assert (await receive_text(ws)).startswith("SIP/2.0 200 OK")
    # Asterisk's requests reach the browser unchanged.
    invite = "INVITE sip:x@abc.invalid SIP/2.0\r\nCall-ID: c3\r\n\r\n"
    await fake.sockets[0].send_str(invite)
    assert await receive_text(ws) == invite
    await ws.close()


@pytest.mark.parametrize(
    "message",
    [
        register("w2002"),
        register("w2001", to_user="w2002"),
        register("w2001", auth_user="w2002"),
        "INVITE sip:2002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WSS x;branch=z9hG4bK3\r\n"
        "From: <sip:w2002@127.0.0.1>;tag=f\r\nTo: <sip:2002@127.0.0.1>\r\n"
        "Call-ID: c4\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    ],
    ids=["from-other", "to-other", "credentials-other", "invite-as-other"],
)
async def test_another_agents_phone_is_refused(
    phone_client: TestClient[Any, Any], asterisk: tuple[FakeAsterisk, str], message: str
) -> None:
    fake, _ = asterisk
    assert (await login(phone_client, "ann")).status == 200
    ws = await open_sip(phone_client)
    await ws.send_str(message)
    answer = await receive_text(ws)
    assert answer.startswith("SIP/2.0 403 Forbidden\r\n")
    assert "Via: SIP/2.0/WSS" in answer and ";tag=" in answer.split("To:")[1].split("\r\n")[0]
    assert fake.received == []
    assert phone_client.app[SIP_PROXY_KEY].refused == 1
    # The socket stays usable for the agent's own phone.
    await ws.send_str(register("w2001"))
    assert (await receive_text(ws)).startswith("SIP/2.0 200 OK")
    await ws.close()


async def test_closing_the_proxy_closes_the_phones(
    phone_client: TestClient[Any, Any], asterisk: tuple[FakeAsterisk, str]
) -> None:
    fake, _ = asterisk
    assert (await login(phone_client, "ann")).status == 200
    ws = await open_sip(phone_client)
    await ws.send_str(register("w2001"))
    await receive_text(ws)
    await phone_client.app[SIP_PROXY_KEY].close_all()
    message = await asyncio.wait_for(ws.receive(), 5)
    assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
    for _ in range(100):  # the PBX side is closed too (Asterisk then drops the contact)
        if fake.sockets[0].closed:
            break
        await asyncio.sleep(0.02)
    assert fake.sockets[0].closed


async def test_pbx_unreachable_is_a_bad_gateway(
    make_client: ClientFactory, settings: Settings
) -> None:
    from tests.conftest import closed_port

    client = await make_client(settings=with_phone(settings, f"ws://127.0.0.1:{closed_port()}/ws"))
    user = await add_user(client, "ann", Role.AGENT, extension="PJSIP/w2001")
    await client.app[ACCOUNTS_KEY].set_sip_password(user.id, SIP_PASSWORD, now=0.0)
    assert (await login(client, "ann")).status == 200
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await open_sip(client)
    assert refused.value.status == 502


async def test_credentials_only_to_their_agent(phone_client: TestClient[Any, Any]) -> None:
    assert (await login(phone_client, "ann")).status == 200
    response = await phone_client.get("/api/agent/phone")
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    phone = await response.json()
    assert phone["mode"] == "webrtc"
    assert phone["uri"] == "sip:w2001@127.0.0.1"
    assert phone["username"] == "w2001" and phone["password"] == "w2001-secret"
    assert phone["ws_path"] == "/sip" and phone["auto_answer"] is False
    patched = await phone_client.patch(
        "/api/agent/phone", json={"auto_answer": True}, headers={"Origin": origin(phone_client)}
    )
    assert patched.status == 200
    assert (await (await phone_client.get("/api/agent/phone")).json())["auto_answer"] is True
    # A desk-phone agent gets no credentials at all.
    assert (await login(phone_client, "dora")).status == 200
    desk = await (await phone_client.get("/api/agent/phone")).json()
    assert desk == {"mode": "desk", "extension": "PJSIP/2003"}


async def test_sip_passwords_are_never_listed(phone_client: TestClient[Any, Any]) -> None:
    await add_user(phone_client, "root", Role.ADMIN)
    assert (await login(phone_client, "root")).status == 200
    response = await phone_client.get("/api/users")
    assert response.status == 200
    text = await response.text()
    assert "secret" not in text and "sip_password" not in text
    audit = await (await phone_client.get("/api/audit")).text()
    assert "w2001-secret" not in audit
    phone = await phone_client.app[ACCOUNTS_KEY].browser_phone(1)
    assert "secret" not in repr(phone)


def test_refusal_rules() -> None:
    parsed = parse_request(register("w2001"))
    assert parsed is not None and refusal(parsed, "w2001") is None
    assert refusal(parsed, "w2002") == "REGISTER From is not your phone"
    assert parse_request("SIP/2.0 200 OK\r\n\r\n") is None
    with pytest.raises(ValueError):
        parse_request("hello")
    compact = "REGISTER sip:h SIP/2.0\r\nf: <sip:w2001@h>;tag=1\r\nt: <sip:w2001@h>\r\n\r\n"
    parsed = parse_request(compact)
    assert parsed is not None and refusal(parsed, "w2001") is None
