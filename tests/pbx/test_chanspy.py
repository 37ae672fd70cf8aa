"""Supervisors listen, whisper and barge (ChanSpy) on the real PBX.

The server starts it like the wallboard will: ``Originate Channel PJSIP/2099 Context chanspy
Exten listen-<ext>`` (whisper-/barge-) as the ``callcenter`` AMI user; the supervisor's phone
rings, answers and spies. The spied call's log row must not change (same agent, no
transfer), and a spy session is not a customer call.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.pbx.conftest import ServerFactory
from tests.pbx.expect import assert_inbound_record
from tests.pbx.kit import Kit, Lab, start_scenario, wait_event

pytestmark = pytest.mark.pbx

SUPERVISOR = "2099"
AGENT = "2005"
#: ChanSpy options the chanspy context must use for each mode (w: whisper, B: barge).
MODES = {"listen": "qS", "whisper": "qwS", "barge": "qBS"}


async def test_listen_whisper_barge_from_the_server(
    pbx_kit: Kit, lab: Lab, server: ServerFactory
) -> None:
    srv = await server()
    await lab.phone(SUPERVISOR, "answer", 0.5)
    scenario = await start_scenario(
        pbx_kit, "inbound", "--agent", AGENT, "--from", "+4930999888", "--name", "Spied On",
        "--ring", "1", "--talk", "9",
    )  # fmt: skip
    with lab.center.listen() as events:
        await wait_event(events, lambda e: e.get("Event") == "AgentConnect")
        for mode, options in MODES.items():
            await srv.link.originate(
                f"PJSIP/{SUPERVISOR}",
                context="chanspy",
                exten=f"{mode}-{AGENT}",
                caller_id=f'"Wallboard {mode}" <{SUPERVISOR}>',
                timeout_s=10,
            )
            start = await wait_event(events, lambda e: e.get("Event") == "ChanSpyStart")
            assert start["SpyerChannel"].startswith(f"PJSIP/{SUPERVISOR}-")
            assert start["SpyeeChannel"].startswith(f"PJSIP/{AGENT}-")
            spyer = start["SpyerChannel"]
            app = await lab.center.send("Getvar", Channel=spyer, Variable="CHANNEL(appname)")
            assert app.get("Value") == "ChanSpy"
            data = await lab.center.send("Getvar", Channel=spyer, Variable="CHANNEL(appdata)")
            assert data.get("Value", "").endswith(f",{options}"), data
            await asyncio.sleep(0.5)
            await lab.center.send("Hangup", Channel=spyer)
            await wait_event(
                events,
                lambda e, spyer=spyer: e.get("Event") == "Hangup" and e.get("Channel") == spyer,
            )
    [truth] = await scenario.result()
    row = await srv.record(truth["linkedid"])
    assert_inbound_record(row, truth, pbx_kit.recordings)
    assert srv.submissions()[truth["linkedid"]] == 1
    spy_sessions = [r for r in await srv.calls() if r["call_id"] != truth["linkedid"]]
    assert spy_sessions == []  # a supervisor's ChanSpy session is not a call
