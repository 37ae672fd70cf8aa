"""Screen pops and the wallboard over real WebSockets, driven by a capture played by the fake
PBX: the right agent (and only that agent) gets the caller's card before answering."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from callcenter.demo.fake_pbx import FakeAmiServer
from callcenter.store import Role
from tests.e2e.test_ami_to_call_log import frames, link_up
from tests.web.webclient import add_user, login, origin


async def session(client: TestClient[Any, Any], name: str, role: Role, ext: str | None) -> Any:
    """A second client sharing the server, logged in as ``name`` (its own cookie jar)."""
    await add_user(client, name, role, extension=ext)
    other = TestClient(client.server)
    await other.start_server()
    response = await login(other, name)
    assert response.status == 200
    return other


async def received(ws: Any, count: int, timeout_s: float = 5.0) -> list[dict[str, Any]]:
    messages = []
    async with asyncio.timeout(timeout_s):
        while len(messages) < count:
            message = await ws.receive()
            assert message.type is WSMsgType.TEXT, message
            messages.append(message.json())
    return messages


async def test_the_ringing_agent_gets_the_pop_and_only_them(
    pbx_client: TestClient[Any, Any], fake_pbx: FakeAmiServer
) -> None:
    await link_up_as_admin(pbx_client)
    agent1 = await session(pbx_client, "agent1", Role.AGENT, "PJSIP/2001")
    agent2 = await session(pbx_client, "agent2", Role.AGENT, "PJSIP/2002")
    ws1 = await agent1.ws_connect("/ws/agent", headers={"Origin": origin(agent1)})
    ws2 = await agent2.ws_connect("/ws/agent", headers={"Origin": origin(agent2)})
    assert (await received(ws1, 1))[0] == {"type": "hello", "extension": "PJSIP/2001"}
    await received(ws2, 1)

    await fake_pbx.play(b"".join(frames("sip_inbound_answered.ami")))
    messages = await received(ws1, 4)
    # An unknown caller pops at once; the card with the stub customer follows when written.
    assert [m["type"] for m in messages if m["type"] != "card"] == ["ring", "answered", "ended"]
    ring, answered, ended = (m for m in messages if m["type"] != "card")
    [card] = [m for m in messages if m["type"] == "card"]
    assert messages.index(card) > messages.index(ring)
    assert (ring["caller_number"], ring["caller_name"]) == ("+493012345678", "Jürgen Müller")
    assert ring["customers"] == []
    [customer] = card["customers"]  # a stub to fill in
    assert card["call_id"] == ring["call_id"]
    assert customer["phones"][0]["e164"] == "+493012345678"
    assert answered == {"type": "answered", "call_id": ring["call_id"], "agent": "PJSIP/2001"}
    assert (ended["type"], ended["outcome"]) == ("ended", "answered")
    with pytest.raises(TimeoutError):
        await received(ws2, 1, timeout_s=0.3)
    for sock in (ws1, ws2):
        await sock.close()
    for client in (agent1, agent2):
        await client.close()


async def link_up_as_admin(client: TestClient[Any, Any]) -> None:
    await add_user(client, "boss", Role.ADMIN)
    assert (await login(client, "boss")).status == 200
    await link_up(client)


async def test_agents_without_a_phone_and_foreign_origins_are_refused(
    pbx_client: TestClient[Any, Any],
) -> None:
    nophone = await session(pbx_client, "nophone", Role.AGENT, None)
    response = await nophone.get("/ws/agent", headers={"Origin": origin(nophone)})
    assert response.status == 403
    agent = await session(pbx_client, "agent7", Role.AGENT, "PJSIP/2007")
    response = await agent.get("/ws/agent", headers={"Origin": "https://evil.example"})
    assert response.status == 403
    anonymous = await pbx_client.get("/ws/agent")
    assert anonymous.status == 401
    response = await agent.get("/ws/supervisor", headers={"Origin": origin(agent)})
    assert response.status == 403  # agents cannot open the wallboard
    for client in (nophone, agent):
        await client.close()


async def test_the_wallboard_updates_live(
    pbx_client: TestClient[Any, Any], fake_pbx: FakeAmiServer
) -> None:
    await link_up_as_admin(pbx_client)
    boss = await session(pbx_client, "sup", Role.SUPERVISOR, None)
    ws = await boss.ws_connect("/ws/supervisor", headers={"Origin": origin(boss)})
    [first] = await received(ws, 1)
    assert first["type"] == "board"
    await fake_pbx.play(b"".join(frames("sip_inbound_abandoned.ami")))
    async with asyncio.timeout(5):
        while True:
            [board] = await received(ws, 1)
            support = [q for q in board["queues"] if q["queue"] == "support"]
            if support and support[0]["abandoned"] == 1:
                break
    assert support[0]["waiting"] == []
    await ws.close()
    await boss.close()
