"""Click-to-call and campaign calls started by our server (``AmiLink.originate`` as the
least-privileged ``callcenter`` AMI user) into the shipped ``outbound`` / ``campaign``
contexts, on the real PBX.

The kit's customers behave by their number's last two digits: ``01`` answers after 3 s and
stays, ``02`` is busy, ``03`` never answers, ``04`` is congestion, ``05`` answers after 3 s
and hangs up 3 s later. The truth here is what the lab's own AMI session sees.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.pbx.conftest import Server, ServerFactory
from tests.pbx.expect import CLOCK_SLACK_S, TALK_SLACK_S, assert_recorded
from tests.pbx.kit import Event, Kit, Lab, epoch, wait_event

pytestmark = pytest.mark.pbx

AGENT = "2004"


def _is_agent_hangup(event: Event, ext: str = AGENT) -> bool:
    return event.get("Event") == "Hangup" and event.get("Channel", "").startswith(f"PJSIP/{ext}-")


async def _click_to_call(srv: Server, number: str, **variables: str) -> tuple[str, float]:
    action_id = await srv.link.originate(
        f"PJSIP/{AGENT}",
        context="outbound",
        exten=number,
        caller_id=f'"Callcenter" <{AGENT}>',
        timeout_s=15,
        variables=variables,
    )
    return action_id, time.time()


def _call_of(rows: list[dict[str, Any]], number: str) -> dict[str, Any]:
    [row] = [r for r in rows if r["called_number"] == number]
    return row


@pytest.mark.parametrize(
    ("number", "outcome"),
    [
        ("+4930100005", "answered"),
        ("+4930100002", "busy"),
        ("+4930100003", "no_answer"),
        ("+4930100004", "congestion"),
    ],
)
async def test_click_to_call_outcomes(
    lab: Lab, server: ServerFactory, number: str, outcome: str
) -> None:
    srv = await server()
    await lab.phone(AGENT, "answer", 1)
    with lab.center.listen() as events:
        # the kit's customers answer after 3 s: 4 s of ringing is "no answer" for ...03
        action_id, started = await _click_to_call(srv, number, DIAL_TIMEOUT="4")
        response = await wait_event(
            events,
            lambda e: e.get("Event") == "OriginateResponse" and e.get("ActionID") == action_id,
        )
        assert response["Response"] == "Success"  # the agent answered
        await wait_event(events, _is_agent_hangup, within=20)
        ended = time.time()
    row = _call_of(await srv.records(1), number)
    assert row["call_id"] == response["Uniqueid"]
    expected = {
        "direction": "outbound",
        "caller_number": AGENT,
        "caller_name": "Callcenter",
        "queue": None,
        "agents_offered": [],
        "agent": f"PJSIP/{AGENT}",
        "outcome": outcome,
        "hangup_by": "caller" if outcome == "answered" else None,
        "transfers": [],
        "recording": None,
    }
    assert {k: row[k] for k in expected} == expected
    assert abs(epoch(row["started_at"]) - started) <= CLOCK_SLACK_S
    assert abs(epoch(row["ended_at"]) - ended) <= CLOCK_SLACK_S
    if outcome == "answered":
        assert abs(row["talk_s"] - 3.0) <= TALK_SLACK_S  # ...05 hangs up 3 s after answering
    else:
        assert row["answered_at"] is None
    assert srv.submissions() == {row["call_id"]: 1}


async def test_click_to_call_caller_id_and_variables_reach_the_customer(
    lab: Lab, server: ServerFactory
) -> None:
    """The customer sees our number (CC_OUTBOUND_CALLERID, or OUTBOUND_CALLERID per call);
    a ``__`` variable of the Originate is inherited by the customer's channel."""
    srv = await server()
    await lab.phone(AGENT, "answer", 0.5)
    number = "+4930100001"
    await _click_to_call(srv, number, OUTBOUND_CALLERID="+4930555199", __CRM_CUSTOMER="c-42")

    async def customer_channel() -> Event | None:
        return await lab.channel(lab.world, lambda c: c.get("Context") == "customer")

    customer = await _poll(customer_channel)
    assert customer["CallerIDNum"] == "+4930555199"

    async def answered_customer() -> Event | None:
        return await lab.channel(
            lab.center,
            lambda c: c["Channel"].startswith("PJSIP/carrier-") and c["ChannelState"] == "6",
        )

    carrier = await _poll(answered_customer)
    value = await lab.center.send("Getvar", Channel=carrier["Channel"], Variable="CRM_CUSTOMER")
    assert value.get("Value") == "c-42"
    await lab.center.send("Hangup", Channel=carrier["Channel"])
    [row] = await srv.records(1)
    assert row["called_number"] == number
    assert row["outcome"] == "answered"


async def _poll(probe: Any, within: float = 10) -> Any:
    async with asyncio.timeout(within):
        while (found := await probe()) is None:  # noqa: ASYNC110 - polling the PBX
            await asyncio.sleep(0.1)
    return found


# --- campaigns ----------------------------------------------------------------------------


async def _campaign_call(srv: Server, number: str, queue: str, attempt: str) -> str:
    action_id: str = await srv.link.originate(
        f"Local/{number}@campaign-dial",
        context="campaign",
        exten=queue,
        timeout_s=15,
        variables={"CAMPAIGN_ID": "spring-retention", "ATTEMPT_ID": attempt},
    )
    return action_id


async def test_campaign_call_answered_by_an_agent(
    pbx_kit: Kit, lab: Lab, server: ServerFactory
) -> None:
    """The customer is dialled first, then waits in the queue; the agent's channel carries
    CAMPAIGN_ID and ATTEMPT_ID (for the screen pop), and the call is recorded."""
    srv = await server()
    await lab.logout_all("retention")
    await lab.phone("2006", "answer", 0.5)
    await lab.login("retention", "2006")
    number = "+4930100001"
    with lab.center.listen() as events:
        await _campaign_call(srv, number, "retention", "a-1")
        connect = await wait_event(events, lambda e: e.get("Event") == "AgentConnect")
        agent_channel = connect["DestChannel"]
        for name, value in (("CAMPAIGN_ID", "spring-retention"), ("ATTEMPT_ID", "a-1")):
            got = await lab.center.send("Getvar", Channel=agent_channel, Variable=name)
            assert got.get("Value") == value, name
        await asyncio.sleep(1)
        await lab.center.send("Hangup", Channel=agent_channel)
    [row] = await srv.records(1)
    expected = {
        "direction": "outbound",
        "called_number": number,
        "queue": "retention",
        "agents_offered": ["PJSIP/2006"],
        "agent": "PJSIP/2006",
        "outcome": "answered",
        "hangup_by": "agent",
        "transfers": [],
    }
    assert {k: row[k] for k in expected} == expected
    assert row["recording"] is not None
    assert row["recording"] == str(pbx_kit.recordings / connect["Uniqueid"]) + ".wav"
    assert_recorded(pbx_kit.recordings, connect["Uniqueid"] + ".wav")
    assert srv.submissions() == {row["call_id"]: 1}


async def test_campaign_safe_harbour_when_no_agent_takes_the_call(
    pbx_kit: Kit, lab: Lab, server: ServerFactory
) -> None:
    """Nobody free in ``sales``: after 2 s in the queue the customer hears the safe-harbour
    message (a Playback), then the PBX hangs up."""
    srv = await server()
    await lab.logout_all("sales")
    number = "+4930100001"
    with lab.center.listen() as events:
        await _campaign_call(srv, number, "sales", "a-2")
        join = await wait_event(events, lambda e: e.get("Event") == "QueueCallerJoin")
        leave = await wait_event(events, lambda e: e.get("Event") == "QueueCallerLeave")
        playback = await wait_event(
            events,
            lambda e: (
                e.get("Event") == "Newexten"
                and e.get("Application") == "Playback"
                and e.get("Uniqueid") == join["Uniqueid"]
            ),
        )
        assert playback["AppData"] == "please-try-call-later"
    [row] = await srv.records(1, within=20)
    assert row["called_number"] == number
    assert row["queue"] == "sales"
    assert row["agent"] is None
    assert row["direction"] == "outbound"
    assert 1.5 <= row["wait_s"] <= 3.0, row
    assert leave["Uniqueid"] == join["Uniqueid"]
    assert srv.submissions() == {row["call_id"]: 1}
    assert row["outcome"] == "abandoned"  # dropped with the safe-harbour message
    assert row["hangup_by"] is None


async def test_campaign_busy_customer_never_reaches_a_queue(
    pbx_kit: Kit, lab: Lab, server: ServerFactory
) -> None:
    """A failed campaign originate runs the ``failed`` extension on Asterisk's
    ``OutgoingSpoolFailed`` stand-in channel: it must hang up, not join a queue."""
    srv = await server()
    number = "+4930100002"
    seen: list[Event] = []

    def done() -> bool:  # the two arrive in either order
        response = [e for e in seen if e.get("Event") == "OriginateResponse"]
        failed = [e for e in seen if e.get("Channel") == "OutgoingSpoolFailed"]
        return bool(response) and any(e.get("Event") == "Hangup" for e in failed)

    with lab.center.listen() as events:
        action_id = await _campaign_call(srv, number, "support", "a-3")
        async with asyncio.timeout(15):
            while not done():
                seen.append(await events.get())
    [response] = [e for e in seen if e.get("Event") == "OriginateResponse"]
    assert response["ActionID"] == action_id
    assert response["Response"] == "Failure"
    ran = [e["Application"] for e in seen if e.get("Event") == "Newexten"
           and e.get("Channel") == "OutgoingSpoolFailed"]  # fmt: skip
    assert ran == ["NoOp", "Hangup"]
    assert not [e for e in seen if e.get("Event") == "QueueCallerJoin"]
    [row] = await srv.records(1)
    assert row["called_number"] == number
    assert row["outcome"] == "busy"
    assert row["direction"] == "outbound"
    assert srv.submissions() == {row["call_id"]: 1}
