"""End to end: the real server (create_app) against our fake AMI server over TCP.

A recorded capture played by the fake PBX must come out of ``GET /api/calls`` exactly once,
through login failures, dropped sockets, PBX restarts and resyncs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from callcenter.ami.replay import read_capture
from callcenter.demo.fake_pbx import FakeAmiServer, strip_login_preamble
from callcenter.settings import Settings
from callcenter.store import Role
from tests.web.conftest import PBX_SECRET, ClientFactory, on_fake_pbx
from tests.web.webclient import logged_in

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# Fields that do not depend on the clock (live mode stamps events on arrival).
STABLE = (
    "call_id",
    "direction",
    "caller_number",
    "caller_name",
    "called_number",
    "queue",
    "agents_offered",
    "agent",
    "outcome",
    "hangup_by",
    "transfers",
    "recording",
)

Server = Callable[..., Awaitable[TestClient[Any, Any]]]


def golden(stem: str) -> list[dict[str, Any]]:
    text = (FIXTURES / "golden" / f"{stem}.jsonl").read_text(encoding="utf-8")
    return [
        {k: v for k, v in json.loads(line).items() if k in STABLE} for line in text.splitlines()
    ]


def frames(name: str) -> list[bytes]:
    data = strip_login_preamble(read_capture(FIXTURES / "ami" / name))
    return [frame + b"\r\n\r\n" for frame in data.split(b"\r\n\r\n") if frame]


@pytest.fixture
def server(make_client: ClientFactory, settings: Settings, fake_pbx: FakeAmiServer) -> Server:
    async def start(secret: str = PBX_SECRET) -> TestClient[Any, Any]:
        quick = on_fake_pbx(
            settings,
            fake_pbx,
            secret=secret,
            reconnect_min_s=0.05,
            reconnect_max_s=0.4,
            ping_interval_s=0.5,
            ping_timeout_s=0.5,
        )
        client = await make_client(settings=quick)
        await logged_in(client, "sup", Role.SUPERVISOR)
        return client

    return start


async def health(client: TestClient[Any, Any]) -> dict[str, Any]:
    response = await client.get("/health")
    body: dict[str, Any] = await response.json()
    return body


async def until(probe: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    """Poll an HTTP endpoint until ``probe`` holds (the server offers nothing to wait on)."""
    async with asyncio.timeout(timeout_s):
        while not await probe():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def calls(client: TestClient[Any, Any]) -> list[dict[str, Any]]:
    response = await client.get("/api/calls", params={"limit": "500"})
    assert response.status == 200, await response.text()
    items: list[dict[str, Any]] = (await response.json())["items"]
    return items


async def logged_calls(client: TestClient[Any, Any], count: int) -> list[dict[str, Any]]:
    async def enough() -> bool:
        return len(await calls(client)) >= count

    await until(enough)
    await asyncio.sleep(0.1)  # anything more would be a duplicate: give it time to show
    return await calls(client)


async def link_up(client: TestClient[Any, Any], reconnects: int = 0) -> None:
    async def up() -> bool:
        ami = (await health(client))["ami"]
        return bool(ami["authenticated"]) and ami["reconnects"] >= reconnects

    await until(up)


def stable(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: r[k] for k in STABLE} for r in records]


async def test_a_played_capture_is_logged_once(server: Server, fake_pbx: FakeAmiServer) -> None:
    client = await server()
    await link_up(client)
    await fake_pbx.play(b"".join(frames("sip_transfer_blind.ami.gz")), chunk_size=1000)
    assert stable(await logged_calls(client, 1)) == golden("sip_transfer_blind")
    assert (await health(client))["status"] == "ok"


async def test_login_failure_is_reported_and_retried_with_backoff(
    server: Server, fake_pbx: FakeAmiServer
) -> None:
    client = await server(secret="wrong")

    async def reported() -> bool:
        ami = (await health(client))["ami"]
        return "Authentication failed" in str(ami["last_error"])

    await until(reported)
    body = await health(client)
    assert body["status"] == "degraded"
    assert body["ami"]["authenticated"] is False
    start = fake_pbx.connections
    await asyncio.sleep(1.0)
    # backoff 0.05 s doubling to 0.4 s: a hammering client would connect dozens of times
    assert 1 <= fake_pbx.connections - start <= 5


async def test_call_in_progress_survives_a_dropped_socket(
    server: Server, fake_pbx: FakeAmiServer
) -> None:
    client = await server()
    await link_up(client)
    stream = frames("sip_inbound_answered.ami")
    split = next(i for i, f in enumerate(stream) if f.startswith(b"Event: AgentComplete"))
    await fake_pbx.play(b"".join(stream[:split]))
    # While we are away the PBX still has the call up: CoreShowChannels will say so.
    fake_pbx.add_channel(
        "PJSIP/carrier-00000002",
        "1795372111.2",
        state=6,
        caller_num="+493012345678",
        caller_name="Jürgen Müller",
        application="Queue",
        application_data="support",
        bridge_id="96f5d5c8-f435-4c58-8f9c-6231c9adaf02",
    )
    fake_pbx.add_channel(
        "PJSIP/2001-00000003",
        "1795372111.3",
        "1795372111.2",
        application="AppQueue",
        bridge_id="96f5d5c8-f435-4c58-8f9c-6231c9adaf02",
    )
    await fake_pbx.drop_clients()
    await link_up(client, reconnects=1)
    await asyncio.sleep(0.2)  # a call the resync did not find would be logged by now
    assert await calls(client) == []
    await fake_pbx.play(b"".join(stream[split:]))
    assert stable(await logged_calls(client, 1)) == golden("sip_inbound_answered")


async def test_pbx_restart_logs_the_interrupted_call_once(
    server: Server, fake_pbx: FakeAmiServer
) -> None:
    client = await server()
    await link_up(client)
    before = frames("sip_restart.ami")
    shutdown = next(i for i, f in enumerate(before) if f.startswith(b"Event: Shutdown"))
    answered = next(i for i, f in enumerate(before) if f.startswith(b"Event: BridgeEnter"))
    await fake_pbx.play(b"".join(before[: answered + 2]))
    await fake_pbx.shutdown_event(restart=True)  # the call was up: Asterisk took it down
    [interrupted] = await logged_calls(client, 1)
    assert interrupted["call_id"] == "1795372086.2"
    assert interrupted["outcome"] == "answered"
    assert interrupted["agent"] == "PJSIP/2001"
    await link_up(client, reconnects=1)
    assert (await health(client))["ami"]["reconnects"] == 1
    # Late copies of the old call's hangups, then the first call after the restart.
    await fake_pbx.play(b"".join(before[answered + 2 : shutdown]))
    await fake_pbx.play(b"".join(frames("sip_restart.2.ami")))
    records = await logged_calls(client, 2)
    assert sorted(r["call_id"] for r in records) == ["1795372086.2", "1795372095.0"]


async def test_server_serves_while_the_pbx_is_down(server: Server, fake_pbx: FakeAmiServer) -> None:
    await fake_pbx.stop()
    client = await server()
    body = await health(client)
    assert body["ami"]["connected"] is False
    assert body["status"] == "degraded"
    assert await calls(client) == []
