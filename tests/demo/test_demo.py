"""``callcenter demo`` end to end: the fake PBX with its traffic, the real server over HTTP
and its AMI link, the demo users; and the command itself, stopped with Ctrl-C."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from callcenter.demo.runner import DEMO_PASSWORD, Demo, DemoOptions, demo_users, ensure_demo_users
from callcenter.demo.sample_data import SAMPLE_CUSTOMERS, seed_sample_data
from callcenter.demo.traffic import DEFAULT_CALLERS, HOSTILE_NAME, Caller, Scenario, TrafficConfig
from callcenter.settings import Settings
from callcenter.store import Role
from callcenter.web.keys import AMI_LINK_KEY, CUSTOMERS_KEY
from tests.conftest import closed_port

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
async def demo(settings: Settings, tmp_path: Path, cheap_passwords: Any) -> AsyncIterator[Demo]:
    traffic = TrafficConfig(time_scale=0.02, calls_per_minute=6, seed=3)
    options = DemoOptions(http_port=0, db_path=str(tmp_path / "demo.db"), traffic=traffic)
    running = Demo(settings, options, passwords=cheap_passwords)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def supervisor(demo: Demo) -> AsyncIterator[aiohttp.ClientSession]:
    base = demo.url.rstrip("/")
    jar = aiohttp.CookieJar(unsafe=True)  # the demo serves on an IP address
    async with aiohttp.ClientSession(base, cookie_jar=jar, headers={"Origin": base}) as session:
        login = {"username": "supervisor", "password": DEMO_PASSWORD}
        async with session.post("/api/login", json=login) as response:
            assert response.status == 200, await response.text()
        yield session


async def get_json(session: aiohttp.ClientSession, path: str) -> Any:
    async with session.get(path) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def until(probe: Callable[[], Awaitable[Any]], timeout_s: float = 5.0) -> Any:
    async with asyncio.timeout(timeout_s):
        while not (result := await probe()):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    return result


async def logged_call(session: aiohttp.ClientSession, number: str) -> dict[str, Any]:
    async def find() -> dict[str, Any] | None:
        calls = (await get_json(session, "/api/calls?limit=500"))["items"]
        return next((c for c in calls if c["caller_number"] == number), None)

    found: dict[str, Any] = await until(find)
    return found


async def test_calls_flow_into_the_call_log(demo: Demo, supervisor: aiohttp.ClientSession) -> None:
    health = await until(lambda: _health_up(supervisor))
    assert health["ami"]["state"] == "up" and health["status"] == "ok"
    calls = await until(lambda: _some_calls(supervisor))
    assert {c["direction"] for c in calls} == {"inbound"}
    assert all(c["queue"] in {"support", "sales", "retention"} for c in calls)
    users = {u.username for u in demo.users}
    assert users == {"admin", "supervisor", *(f"agent{n}" for n in range(1, 11))}
    assert demo.traffic.calls_started >= len(calls)


async def _health_up(session: aiohttp.ClientSession) -> dict[str, Any] | None:
    body: dict[str, Any] = await get_json(session, "/health")
    return body if body["ami"]["state"] == "up" else None


async def _some_calls(session: aiohttp.ClientSession) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await get_json(session, "/api/calls?limit=500"))["items"]
    return items


async def test_paused_agent_is_not_offered_calls(
    demo: Demo, supervisor: aiohttp.ClientSession
) -> None:
    await until(lambda: _health_up(supervisor))
    await demo.app[AMI_LINK_KEY].queue_pause("PJSIP/2001", True, "lunch")
    assert all(m["Paused"] == "1" for m in demo.pbx.members if m["Interface"] == "PJSIP/2001")
    traffic = demo.traffic
    # Every sales call rings all free members at once (ringall), 2001 among them.
    for number in ("+4930100201", "+4930100202"):
        plan = dataclasses.replace(
            traffic.plan(Scenario.ANSWERED), queue="sales", caller=Caller(number), talk_s=1.0
        )
        await traffic.place_call(plan)
        record = await logged_call(supervisor, number)
        assert record["agents_offered"], record
        assert "PJSIP/2001" not in record["agents_offered"]
        assert record["outcome"] == "answered"


async def test_hostile_caller_name_arrives_as_text(
    demo: Demo, supervisor: aiohttp.ClientSession
) -> None:
    await until(lambda: _health_up(supervisor))
    plan = dataclasses.replace(
        demo.traffic.plan(Scenario.ANSWERED),
        caller=Caller("+4930666000111", HOSTILE_NAME),
        talk_s=1.0,
    )
    await demo.traffic.place_call(plan)
    record = await logged_call(supervisor, "+4930666000111")
    assert record["caller_name"] == "<img src=x onerror=alert(1)>"


def test_demo_users_and_banner() -> None:
    users = demo_users()
    assert [(u.username, u.role) for u in users[:2]] == [
        ("admin", Role.ADMIN),
        ("supervisor", Role.SUPERVISOR),
    ]
    assert [(u.username, u.extension) for u in users[2:]] == [
        (f"agent{n}", f"PJSIP/20{n:02d}") for n in range(1, 11)
    ]


async def test_banner_names_url_and_logins(demo: Demo) -> None:
    text = demo.banner()
    assert demo.url in text and demo.url.startswith("http://127.0.0.1:")
    for name in ("admin", "supervisor", "agent1", "agent10", DEMO_PASSWORD, "PJSIP/2010"):
        assert name in text
    assert "WARNING" not in text


async def test_users_are_created_once(demo: Demo) -> None:
    assert len(demo.created_users) == 12
    assert await ensure_demo_users(demo.app, demo.users, DEMO_PASSWORD) == []


async def test_command_runs_until_ctrl_c(tmp_path: Path) -> None:
    """The real command in a subprocess: banner, a working server, a clean exit on SIGINT."""
    port = closed_port()
    config = tmp_path / "callcenter.toml"
    config.write_text('[http]\nhost = "127.0.0.1"\n[ami]\nport = 1\n', encoding="utf-8")
    db = tmp_path / "var" / "demo.db"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callcenter",
        "--log-level",
        "WARNING",
        "demo",
        "--config",
        str(config),
        "--port",
        str(port),
        "--db",
        str(db),
        "--seed",
        "1",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        banner: list[str] = []
        async with asyncio.timeout(10):
            while not banner or banner[-1] != "Press Ctrl-C to stop.":
                line = await process.stdout.readline()
                assert line, (await process.communicate())[1].decode()
                banner.append(line.decode().rstrip("\n"))
        assert banner[0] == f"callcenter demo: open http://127.0.0.1:{port}/"
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/health") as response,
        ):
            assert response.status == 200
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(10):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    assert out.decode().strip().endswith("callcenter demo stopped")
    assert db.exists()


async def test_sample_customers_pop_with_history_and_a_campaign_waits(
    demo: Demo, supervisor: aiohttp.ClientSession
) -> None:
    """The demo's named callers are customers (found whatever form the carrier sends their
    number in), some with history and a churn risk, and the retention list is a preview
    campaign in draft. Seeding twice adds nothing."""
    customers = (await get_json(supervisor, "/api/customers?limit=50&stub=false"))["items"]
    assert len(customers) == len(SAMPLE_CUSTOMERS)
    for caller in DEFAULT_CALLERS:
        if caller.name and caller.name != HOSTILE_NAME:
            found = await demo.app[CUSTOMERS_KEY].lookup(caller.number)
            assert [c["name"] for c in found.customers] == [
                "Petra Schulz" if caller.name == "Schulz, Petra" else caller.name
            ]
    [campaign] = (await get_json(supervisor, "/api/campaigns"))["items"]
    assert (campaign["name"], campaign["state"], campaign["mode"]) == (
        "Demo win-back",
        "draft",
        "preview",
    )
    zoe = (await demo.app[CUSTOMERS_KEY].lookup("+4930555123")).customers[0]
    churn = await get_json(supervisor, f"/api/customers/{zoe['id']}/churn")
    assert {r["factor"] for r in churn["reasons"]} >= {"open_complaints", "contract_end"}
    await seed_sample_data(demo.app)
    again = (await get_json(supervisor, "/api/customers?limit=50&stub=false"))["items"]
    assert len(again) == len(SAMPLE_CUSTOMERS)
