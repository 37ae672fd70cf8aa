"""Transfers on the real PBX: 2001 answers a support call, then it goes to 2002 by

- ``blind``: the AMI ``BlindTransfer`` action (emits ``BlindTransfer``),
- ``redirect``: the AMI ``Redirect`` of the caller's channel (emits no transfer event at all),
- ``refer``: 2001's desk phone sends a SIP REFER itself (emits ``BlindTransfer``),
- ``attended``: the AMI ``Atxfer`` (Asterisk consults 2002 through a Local channel), then 2001
  hangs up and the transfer completes (``AttendedTransfer``).

Each targets ``from-phones`` in the shipped dialplan; the call log row must name both agents.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.pbx.conftest import ServerFactory
from tests.pbx.expect import assert_inbound_record, assert_recorded
from tests.pbx.kit import Kit, Lab, run_scenario, wait_event

pytestmark = pytest.mark.pbx


@pytest.mark.parametrize("kind", ["blind", "redirect", "refer", "attended"])
async def test_transfer(pbx_kit: Kit, lab: Lab, server: ServerFactory, kind: str) -> None:
    srv = await server()
    [truth] = await run_scenario(
        pbx_kit, "transfer", "--kind", kind, "--agent", "2001", "--to-agent", "2002",
        "--from", "+493055512345", "--name", f"Transfer {kind}", "--ring", "1", "--talk", "1.5",
    )  # fmt: skip
    assert truth["transfer_response"] == "Success"
    row = await srv.record(truth["linkedid"])
    assert_inbound_record(row, truth, pbx_kit.recordings)
    assert_recorded(pbx_kit.recordings, truth["recording"])
    assert srv.submissions() == {truth["linkedid"]: 1}


async def test_server_transfers_and_hangs_up_with_its_own_actions(
    lab: Lab, server: ServerFactory
) -> None:
    """The server's own ``BlindTransfer`` and ``Hangup`` (as the least-privileged
    ``callcenter`` user), as the agent panel will send them."""
    srv = await server()
    await lab.logout_all("support")
    for ext in ("2001", "2002"):
        await lab.phone(ext, "answer", 0.5)
    await lab.login("support", "2001")
    with lab.center.listen() as events:
        await lab.call_in("4930555100", "+4930123123", "Panel Transfer")
        connect = await wait_event(events, lambda e: e.get("Event") == "AgentConnect")
        await asyncio.sleep(0.5)
        await srv.link.blind_transfer(connect["DestChannel"], context="from-phones", exten="2002")
        await wait_event(
            events,
            lambda e: (
                e.get("Event") == "BridgeEnter" and e.get("Channel", "").startswith("PJSIP/2002-")
            ),
        )
        await asyncio.sleep(0.5)
        await srv.link.hangup(connect["Channel"])
    row = await srv.record(connect["Linkedid"])
    expected = {
        "caller_number": "+4930123123",
        "caller_name": "Panel Transfer",
        "queue": "support",
        "agents_offered": ["PJSIP/2001", "PJSIP/2002"],  # every device that rang
        "agent": "PJSIP/2002",
        "outcome": "answered",
        "hangup_by": "caller",
        "transfers": [{"kind": "blind", "from_agent": "PJSIP/2001", "to": "PJSIP/2002"}],
    }
    assert {k: row[k] for k in expected} == expected
    assert srv.submissions() == {connect["Linkedid"]: 1}
