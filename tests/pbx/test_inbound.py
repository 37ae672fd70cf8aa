"""Inbound queue calls on the real PBX: the call log row is exactly what really happened.

Each test runs one ``scenarios.py`` call (real SIP and RTP through the kit's carrier and desk
phones) while our server listens on the AMI, then compares the row of ``GET /api/calls``
field by field with the driver's truth, and checks that MixMonitor wrote the mix and both
legs that the row names.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.pbx.conftest import ServerFactory
from tests.pbx.expect import assert_inbound_record, assert_recorded
from tests.pbx.kit import Event, Kit, Lab, run_scenario, wait_event

pytestmark = pytest.mark.pbx


async def test_answered_call_is_logged_exactly(
    pbx_kit: Kit, lab: Lab, server: ServerFactory
) -> None:
    srv = await server()
    [truth] = await run_scenario(
        pbx_kit, "inbound", "--from", "+493012345678", "--name", "Jürgen Müller",
        "--agent", "2001", "--ring", "1", "--talk", "2",
    )  # fmt: skip
    row = await srv.record(truth["linkedid"])
    assert_inbound_record(row, truth, pbx_kit.recordings)
    assert_recorded(pbx_kit.recordings, truth["recording"])
    assert srv.submissions() == {truth["linkedid"]: 1}


async def test_abandoned_call(pbx_kit: Kit, lab: Lab, server: ServerFactory) -> None:
    srv = await server()
    [truth] = await run_scenario(
        pbx_kit, "abandon", "--queue", "sales", "--from", "0301234567", "--name", "",
        "--wait", "2",
    )  # fmt: skip
    row = await srv.record(truth["linkedid"])
    assert_inbound_record(row, truth, pbx_kit.recordings)
    assert row["answered_at"] is None
    assert 1.0 <= row["wait_s"] <= 3.5
    assert srv.submissions() == {truth["linkedid"]: 1}


async def test_ring_no_answer_then_another_agent(
    pbx_kit: Kit, lab: Lab, server: ServerFactory
) -> None:
    """``retention`` rings agents in order (linear): 2003 rings the whole 8 s ring timeout
    without answering, then 2002 answers."""
    srv = await server()
    [truth] = await run_scenario(
        pbx_kit, "inbound", "--queue", "retention", "--from", "+441632960001",
        "--name", "Zoë Brien", "--rna", "2003", "--agent", "2002", "--ring", "1",
        "--talk", "1",
    )  # fmt: skip
    row = await srv.record(truth["linkedid"])
    assert_inbound_record(row, truth, pbx_kit.recordings)
    assert row["wait_s"] >= 8.0  # the ring timeout passed before 2002 was tried
    assert srv.submissions() == {truth["linkedid"]: 1}


async def test_agent_hangs_up_first(pbx_kit: Kit, lab: Lab, server: ServerFactory) -> None:
    srv = await server()
    [truth] = await run_scenario(
        pbx_kit, "inbound", "--from", "+4915112345678", "--name", "Agent Ends",
        "--agent", "2004", "--ring", "1", "--talk", "2", "--hangup-by", "agent",
    )  # fmt: skip
    row = await srv.record(truth["linkedid"])
    assert_inbound_record(row, truth, pbx_kit.recordings)
    assert_recorded(pbx_kit.recordings, truth["recording"])
    assert srv.submissions() == {truth["linkedid"]: 1}


async def test_caller_name_is_logged_as_the_caller_sent_it(
    pbx_kit: Kit, lab: Lab, server: ServerFactory
) -> None:
    srv = await server()
    [truth] = await run_scenario(
        pbx_kit, "abandon", "--from", "+353861234567", "--name", "Zoë O'Brien", "--wait", "1",
    )  # fmt: skip
    row = await srv.record(truth["linkedid"])
    assert row["caller_name"] == "Zoë O'Brien"


# --- calls the desk phones make themselves (from-phones) ----------------------------------


async def test_agent_dials_a_customer_from_the_desk_phone(lab: Lab, server: ServerFactory) -> None:
    """2010 is logged in to no queue and dials +4930100005 by hand (the customer answers
    after 3 s and hangs up 3 s later)."""
    srv = await server()
    await lab.logout_all("support", "sales", "retention")
    await lab.dial_from_phone("2010", "+4930100005")
    [row] = await srv.records(1, within=20)
    expected = {
        "direction": "outbound",
        "caller_number": "2010",
        "called_number": "+4930100005",
        "queue": None,
        "agent": "PJSIP/2010",
        "outcome": "answered",
        "hangup_by": "caller",
    }
    assert {k: row[k] for k in expected} == expected


async def test_agent_calls_another_agent(lab: Lab, server: ServerFactory) -> None:
    srv = await server()
    await lab.phone("2012", "answer", 0.5)
    with lab.center.listen() as events:
        await lab.dial_from_phone("2011", "2012", seconds=2)
        await wait_event(events, _hangup_of("2011"), within=15)
    await asyncio.sleep(0.5)
    [row] = await srv.records(1)
    expected = {"direction": "internal", "caller_number": "2011", "called_number": "2012"}
    assert {k: row[k] for k in expected} == expected
    assert row["outcome"] == "answered"


def _hangup_of(ext: str) -> Callable[[Event], bool]:
    def match(event: Event) -> bool:
        return event.get("Event") == "Hangup" and event.get("Channel", "").startswith(
            f"PJSIP/{ext}-"
        )

    return match
