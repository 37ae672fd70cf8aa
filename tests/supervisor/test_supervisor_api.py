"""Supervisor actions over HTTP against the fake PBX: role checks, the AMI actions sent,
the audit trail, and reports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from callcenter.demo.fake_pbx import FakeAmiServer
from callcenter.settings import Settings
from callcenter.store import Role
from callcenter.web.keys import AUDIT_KEY
from tests.e2e.test_ami_to_call_log import frames, link_up, logged_calls
from tests.web.conftest import PBX_SECRET, ClientFactory, on_fake_pbx
from tests.web.webclient import add_user, login, origin


@pytest.fixture
async def fake_pbx() -> AsyncIterator[FakeAmiServer]:
    server = FakeAmiServer(username="callcenter", secret=PBX_SECRET)
    server.add_queue("support")
    server.add_queue("sales")
    server.add_member("support", "PJSIP/2001", "Agent 2001")
    server.add_member("sales", "PJSIP/2001", "Agent 2001")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client(
    make_client: ClientFactory, settings: Settings, fake_pbx: FakeAmiServer
) -> TestClient[Any, Any]:
    return await make_client(settings=on_fake_pbx(settings, fake_pbx))


async def as_user(client: TestClient[Any, Any], role: Role, ext: str | None = None) -> None:
    name = role.value + (ext or "").replace("/", "")
    await add_user(client, name, role, extension=ext)
    assert (await login(client, name)).status == 200


async def board_knows(client: TestClient[Any, Any], interface: str) -> None:
    """After login the link resyncs (QueueStatus): wait until the wallboard has the agent."""
    async with asyncio.timeout(5):
        while True:
            board = await (await client.get("/api/wallboard")).json()
            if any(a["interface"] == interface for a in board["agents"]):
                return
            await asyncio.sleep(0.02)


async def post(client: TestClient[Any, Any], path: str, body: dict[str, Any]) -> Any:
    return await client.post(path, json=body, headers={"Origin": origin(client)})


async def test_agents_may_not_spy_or_see_the_wallboard(client: TestClient[Any, Any]) -> None:
    await as_user(client, Role.AGENT, "PJSIP/2002")
    for path in ("/api/wallboard", "/api/reports", "/api/reports.csv"):
        assert (await client.get(path)).status == 403, path
    body = {"agent": "PJSIP/2001", "mode": "listen"}
    assert (await post(client, "/api/supervisor/spy", body)).status == 403
    pause = {"agent": "PJSIP/2001", "paused": True}
    assert (await post(client, "/api/supervisor/agents/pause", pause)).status == 403


async def test_listen_whisper_barge_ring_the_supervisors_phone(
    client: TestClient[Any, Any], fake_pbx: FakeAmiServer
) -> None:
    await as_user(client, Role.SUPERVISOR, "PJSIP/2099")
    await link_up(client)
    await board_knows(client, "PJSIP/2001")
    for mode, options in (("listen", "qS"), ("whisper", "qwS"), ("barge", "qBS")):
        response = await post(client, "/api/supervisor/spy", {"agent": "PJSIP/2001", "mode": mode})
        assert response.status == 202, await response.text()
        action = fake_pbx.actions_named("Originate")[-1]
        assert action["Channel"] == "PJSIP/2099"
        assert (action["Application"], action["Data"]) == ("ChanSpy", f"PJSIP/2001-,{options}")
    bad = await post(client, "/api/supervisor/spy", {"agent": "PJSIP/2001", "mode": "steal"})
    assert bad.status == 400
    unknown = await post(client, "/api/supervisor/spy", {"agent": "PJSIP/2050", "mode": "listen"})
    assert unknown.status == 400
    audited = await client.app[AUDIT_KEY].recent(limit=10, actor=None, action="agent.whisper")
    assert [(e.actor, e.target) for e in audited] == [("supervisorpjsip2099", "PJSIP/2001")]


async def test_pause_and_remove_an_agent(
    client: TestClient[Any, Any], fake_pbx: FakeAmiServer
) -> None:
    await as_user(client, Role.SUPERVISOR, "PJSIP/2099")
    await link_up(client)
    await board_knows(client, "PJSIP/2001")
    body = {"agent": "PJSIP/2001", "paused": True, "reason": "coaching"}
    assert (await post(client, "/api/supervisor/agents/pause", body)).status == 200
    action = fake_pbx.actions_named("QueuePause")[-1]
    assert (action["Interface"], action["Paused"], action["Reason"]) == (
        "PJSIP/2001",
        "true",
        "coaching",
    )
    async with asyncio.timeout(5):  # the PBX's QueueMemberPause reaches the wallboard
        while True:
            board = await (await client.get("/api/wallboard")).json()
            agent = next(a for a in board["agents"] if a["interface"] == "PJSIP/2001")
            if agent["state"] == "paused":
                break
            await asyncio.sleep(0.05)
    assert agent["pause_reason"] == "coaching"
    removed = await post(
        client, "/api/supervisor/agents/remove", {"agent": "PJSIP/2001", "queue": "sales"}
    )
    assert removed.status == 200
    action = fake_pbx.actions_named("QueueRemove")[-1]
    assert (action["Queue"], action["Interface"]) == ("sales", "PJSIP/2001")


@pytest.mark.parametrize("reason", ["a\r\nAction: Hangup", "tab\there", "nul\x00"])
async def test_a_pause_reason_with_control_characters_is_400_and_never_sent(
    client: TestClient[Any, Any], fake_pbx: FakeAmiServer, reason: str
) -> None:
    await as_user(client, Role.SUPERVISOR, "PJSIP/2099")
    await link_up(client)
    await board_knows(client, "PJSIP/2001")
    body = {"agent": "PJSIP/2001", "paused": True, "reason": reason}
    response = await post(client, "/api/supervisor/agents/pause", body)
    assert response.status == 400
    assert (await response.json())["error"]["details"]["field"] == "reason"
    assert fake_pbx.actions_named("QueuePause") == []


async def test_reports_refuse_days_beyond_the_calendar(client: TestClient[Any, Any]) -> None:
    await as_user(client, Role.SUPERVISOR)
    for params in ({"to": "9999-12-31"}, {"from": "0001-01-01"}):
        for path in ("/api/reports", "/api/reports.csv"):
            response = await client.get(path, params=params)
            assert response.status == 400
            assert (await response.json())["error"]["id"] == "invalid_input"


async def test_reports_from_the_live_call_log(
    client: TestClient[Any, Any], fake_pbx: FakeAmiServer
) -> None:
    await as_user(client, Role.SUPERVISOR)
    await link_up(client)
    await fake_pbx.play(b"".join(frames("sip_inbound_abandoned.ami")))
    await fake_pbx.play(b"".join(frames("sip_inbound_answered.ami")))
    await logged_calls(client, 2)
    report = await (await client.get("/api/reports", params={"by": "queue"})).json()
    [support, total] = report["rows"]
    assert (support["key"], support["answered"], support["abandoned"]) == ("support", 1, 1)
    assert total["offered"] == 2
    csv = await client.get("/api/reports.csv", params={"by": "agent"})
    assert csv.status == 200
    assert csv.headers["Content-Type"].startswith("text/csv")
    assert (await csv.text()).splitlines()[0].startswith("key,offered,answered")
    bad = await client.get("/api/reports", params={"by": "week"})
    assert bad.status == 400
