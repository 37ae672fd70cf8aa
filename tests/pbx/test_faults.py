"""Faults on the real PBX while calls are up: Asterisk restarted (``core restart now``) and
killed (SIGKILL, then started again), our server stopped and started again on the same
database, and a wrong AMI secret.

Afterwards every call is logged exactly once (counted where the pump hands finished calls to
the call-log writer, before the database's primary key could hide a duplicate), a call still
up is back in the model after the resync, and ``/health`` showed the outage while it lasted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.pbx.conftest import Server, ServerFactory
from tests.pbx.expect import CLOCK_SLACK_S, assert_inbound_record
from tests.pbx.kit import Kit, Lab, epoch, run_scenario, start_scenario, wait_event

pytestmark = pytest.mark.pbx


@contextlib.asynccontextmanager
async def watching_health(srv: Server) -> AsyncIterator[list[dict[str, Any]]]:
    """Poll ``/health`` every 50 ms meanwhile, as a monitoring system would."""
    seen: list[dict[str, Any]] = []

    async def poll() -> None:
        while True:
            body = await srv.health()
            seen.append({"t": time.time(), "status": body["status"], **body["ami"]})
            await asyncio.sleep(0.05)

    task = asyncio.create_task(poll(), name="health-poller")
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def outage(seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in seen if s["state"] != "up"]


def assert_outage_reported(seen: list[dict[str, Any]]) -> None:
    down = outage(seen)
    assert down, "GET /health never showed the AMI link down"
    assert {s["status"] for s in down} == {"degraded"}
    assert all(s["last_error"] for s in down)
    assert seen[-1]["state"] == "up"
    assert seen[-1]["reconnects"] >= 1


async def test_pbx_restart_while_a_call_is_up(
    pbx_kit: Kit, lab: Lab, server: ServerFactory
) -> None:
    """``scenarios.py restart``: a call is up on 2001 when the center runs ``core restart
    now``; after the restart a new call is answered."""
    srv = await server()
    async with watching_health(srv) as seen:
        interrupted, after = await run_scenario(
            pbx_kit, "restart", "--agent", "2001", "--ring", "1", "--talk", "2",
            "--from", "+493044455566", "--name", "Vor Neustart",
        )  # fmt: skip
        await srv.record(after["linkedid"], within=20)
    assert_outage_reported(seen)
    assert seen[-1]["reconnects"] == 1
    row = await srv.record(interrupted["linkedid"])
    for key in ("caller_number", "caller_name", "queue", "agent", "outcome"):
        assert row[key] == interrupted[key], key
    assert abs(epoch(row["ended_at"]) - epoch(interrupted["restart_at"])) <= CLOCK_SLACK_S
    assert_inbound_record(await srv.record(after["linkedid"]), after, pbx_kit.recordings)
    assert srv.submissions() == {interrupted["linkedid"]: 1, after["linkedid"]: 1}


async def test_pbx_killed_while_a_call_is_up(pbx_kit: Kit, lab: Lab, server: ServerFactory) -> None:
    """SIGKILL leaves no Shutdown event and no hangups: the link notices the dropped socket,
    and the resync after ``pbx up`` finds the call gone and logs it, once."""
    srv = await server()
    call = await start_scenario(
        pbx_kit, "inbound", "--agent", "2002", "--ring", "1", "--talk", "60",
        "--from", "+493077788899", "--name", "Kill Neun",
    )  # fmt: skip
    try:
        with lab.center.listen() as events:
            connect = await wait_event(events, lambda e: e.get("Event") == "AgentConnect")
        await asyncio.sleep(1)
        async with watching_health(srv) as seen:
            killed_at = time.time()
            await pbx_kit.apbx("kill", str(pbx_kit.directory), "center")
            await srv.wait_until(
                lambda: _state_is(srv, "down"), within=10, what="/health to show the outage"
            )
            await pbx_kit.apbx("up", str(pbx_kit.directory), "center")
            await srv.link_up(reconnects=1)
            up_at = time.time()
        row = await srv.record(connect["Linkedid"])
    finally:
        await call.kill()
    assert_outage_reported(seen)
    expected = {
        "caller_number": "+493077788899",
        "caller_name": "Kill Neun",
        "called_number": "4930555100",
        "queue": "support",
        "agent": "PJSIP/2002",
        "agents_offered": ["PJSIP/2002"],
        "outcome": "answered",
    }
    assert {k: row[k] for k in expected} == expected
    # Nobody saw the end: the call is closed when the resync finds it gone.
    assert killed_at - CLOCK_SLACK_S <= epoch(row["ended_at"]) <= up_at + CLOCK_SLACK_S
    await lab.reopen_center()
    await lab.quiet()
    [truth] = await run_scenario(
        pbx_kit, "inbound", "--agent", "2002", "--ring", "1", "--talk", "1",
        "--from", "+493077788800", "--name", "Nach Kill",
    )  # fmt: skip
    assert_inbound_record(await srv.record(truth["linkedid"]), truth, pbx_kit.recordings)
    assert srv.submissions() == {connect["Linkedid"]: 1, truth["linkedid"]: 1}


async def _state_is(srv: Server, state: str) -> bool:
    return bool((await srv.health())["ami"]["state"] == state)


async def test_server_restart_while_a_call_is_up(
    pbx_kit: Kit, lab: Lab, server: ServerFactory, tmp_path: Any
) -> None:
    """The server is stopped (the aiohttp app closed) in the middle of a call and a new one
    starts on the same database: its resync finds the call still up, and when the call ends
    it is logged once, with the agent and queue it had."""
    db_path = tmp_path / "restart.db"
    submitted: list[Any] = []
    first = await server(db_path=db_path, submitted=submitted)
    call = await start_scenario(
        pbx_kit, "inbound", "--agent", "2003", "--ring", "1", "--talk", "5",
        "--from", "+493066677788", "--name", "Server Neustart",
    )  # fmt: skip
    with lab.center.listen() as events:
        await wait_event(events, lambda e: e.get("Event") == "AgentConnect")
    assert first.tracker.active_calls == 1
    await first.client.close()
    await asyncio.sleep(1)
    second = await server(db_path=db_path, submitted=submitted)
    assert second.tracker.active_calls == 1  # back after the resync
    [truth] = await call.result()
    row = await second.record(truth["linkedid"])
    # The new server never saw the MIXMONITOR_FILENAME VarSet: CoreShowChannels does not
    # carry channel variables, so the recording of a resynced call is unknown.
    assert row["recording"] is None
    assert_inbound_record(row, truth)
    assert second.submissions() == {truth["linkedid"]: 1}
    assert len(await second.calls()) == 1


async def test_wrong_secret_is_reported_and_not_hammered(
    pbx_kit: Kit, lab: Lab, server: ServerFactory
) -> None:
    """With the production backoff (0.5 s doubling): a handful of attempts in 8 s, each a
    NOTICE in the PBX's log, and /health says why the link is down."""
    log = pbx_kit.center_log
    before = log.read_text(errors="replace").count("failed to authenticate as 'callcenter'")
    srv = await server(
        wait_up=False,
        CALLCENTER_AMI_SECRET="wrong",
        CALLCENTER_AMI_RECONNECT_MIN_S="0.5",
        CALLCENTER_AMI_RECONNECT_MAX_S="30",
    )
    await asyncio.sleep(8)
    body = await srv.health()
    attempts = (
        log.read_text(errors="replace").count("failed to authenticate as 'callcenter'") - before
    )
    assert body["status"] == "degraded"
    assert body["ami"]["state"] in {"down", "connected"}
    assert body["ami"]["authenticated"] is False
    assert body["ami"]["last_error"] == "Authentication failed"
    # Asterisk answers a bad login after ~1 s; then 0.5 + 1 + 2 + 4 s of backoff.
    assert 2 <= attempts <= 5, attempts
