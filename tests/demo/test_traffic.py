"""The demo's simulated traffic, read by the real call tracker.

Every event the fake PBX sends is tapped with the time it was sent and fed through
``parse_event`` + ``CallTracker`` as the server would; the resulting call records must be what
each scenario means. Durations are scaled down (``time_scale``) so a call takes milliseconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from callcenter.demo.fake_pbx import FakeAmiServer, decode_frame, encode_frame
from callcenter.demo.traffic import (
    DEFAULT_CALLERS,
    HOSTILE_NAME,
    Caller,
    CallPlan,
    DemoTraffic,
    Scenario,
    TrafficConfig,
    plan_call,
)
from callcenter.model import events as ev
from callcenter.model.calls import CallTracker, finished_records
from callcenter.model.records import CallRecord, Direction, HangupBy, Outcome, Transfer

FAST = TrafficConfig(time_scale=0.002, seed=7, calls_per_minute=0)
SUPPORT_DID = "4930555100"


class TappedPbx(FakeAmiServer):
    """A fake PBX that also keeps every event it broadcast, with the time it was sent."""

    def __init__(self) -> None:
        super().__init__(username="demo", secret="pw")
        self.sent: list[tuple[float, dict[str, str]]] = []

    def broadcast_event(self, headers: Mapping[str, str | list[str]]) -> None:
        flat = {k: v if isinstance(v, str) else v[-1] for k, v in headers.items()}
        self.sent.append((time.time(), flat))
        super().broadcast_event(headers)

    def named(self, event: str) -> list[dict[str, str]]:
        return [h for _, h in self.sent if h["Event"] == event]


def records(pbx: TappedPbx, tracker: CallTracker | None = None, start: int = 0) -> list[CallRecord]:
    tracker = tracker or CallTracker()
    out: list[CallRecord] = []
    for now, headers in pbx.sent[start:]:
        event = ev.parse_event(headers)
        if event is not None:
            out.extend(finished_records(tracker.apply(event, now)))
    return out


@pytest.fixture
async def pbx() -> AsyncIterator[TappedPbx]:
    server = TappedPbx()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def traffic(pbx: TappedPbx) -> AsyncIterator[DemoTraffic]:
    generator = DemoTraffic(pbx, FAST)
    generator.install()
    yield generator
    await generator.stop()


def plan(
    traffic: DemoTraffic, scenario: Scenario, queue: str = "support", **changes: Any
) -> CallPlan:
    base = traffic.plan(scenario)
    fields: dict[str, Any] = {
        "queue": queue,
        "caller": Caller("+493012345678", "Jürgen Müller"),
        "ring_s": 3.0,
        "hangup_by": "caller",
        "recorded": True,
    }
    return dataclasses.replace(base, **(fields | changes))


async def one_call(traffic: DemoTraffic, pbx: TappedPbx, call_plan: CallPlan) -> CallRecord:
    start = len(pbx.sent)
    await traffic.place_call(call_plan)
    found = records(pbx, start=start)
    assert len(found) == 1, found
    assert pbx.channels == {} and pbx.entries == []
    return found[0]


def pause(pbx: FakeAmiServer, interface: str, paused: bool = True) -> None:
    """What QueuePause does to the fake PBX's members (the action itself: see the e2e test)."""
    for member in pbx.members:
        if member["Interface"] == interface:
            member["Paused"] = "1" if paused else "0"


async def test_members_are_logged_in_at_install(pbx: TappedPbx, traffic: DemoTraffic) -> None:
    added = pbx.named("QueueMemberAdded")
    assert {(m["Queue"], m["Interface"]) for m in added} == {
        (m["Queue"], m["Interface"]) for m in pbx.members
    }
    interfaces = {m["Interface"] for m in pbx.members}
    assert interfaces == {f"PJSIP/20{n:02d}" for n in range(1, 11)}
    assert set(pbx.queues) == {"support", "sales", "retention"}


async def test_answered_caller_hangs_up(pbx: TappedPbx, traffic: DemoTraffic) -> None:
    record = await one_call(traffic, pbx, plan(traffic, Scenario.ANSWERED))
    assert record.direction is Direction.INBOUND
    assert (record.caller_number, record.caller_name) == ("+493012345678", "Jürgen Müller")
    assert record.called_number == SUPPORT_DID
    assert record.queue == "support"
    assert record.agents_offered == (record.agent,)
    assert record.agent is not None and record.agent.startswith("PJSIP/20")
    assert record.outcome is Outcome.ANSWERED
    assert record.hangup_by is HangupBy.CALLER
    assert record.transfers == ()
    assert record.recording == f"/var/spool/asterisk/monitor/{record.call_id}.wav"
    # Shapes as in the SIP captures.
    channels = {h["Channel"] for _, h in pbx.sent if "Channel" in h}
    assert any(c.startswith("PJSIP/carrier-") for c in channels)
    assert all(len(c.rsplit("-", 1)[1]) == 8 for c in channels)
    epoch, _, seq = record.call_id.partition(".")
    assert abs(int(epoch) - time.time()) < 60 and seq.isdigit()


async def test_answered_agent_hangs_up_without_recording(
    pbx: TappedPbx, traffic: DemoTraffic
) -> None:
    record = await one_call(
        traffic, pbx, plan(traffic, Scenario.ANSWERED, hangup_by="agent", recorded=False)
    )
    assert record.outcome is Outcome.ANSWERED
    assert record.hangup_by is HangupBy.AGENT
    assert record.recording is None
    complete = pbx.named("AgentComplete")[-1]
    assert complete["Reason"] == "agent"


async def test_ring_no_answer_then_next_member(pbx: TappedPbx, traffic: DemoTraffic) -> None:
    record = await one_call(traffic, pbx, plan(traffic, Scenario.RING_NO_ANSWER, "retention"))
    # retention is linear: 2008 first, then 2009
    assert record.agents_offered == ("PJSIP/2008", "PJSIP/2009")
    assert record.agent == "PJSIP/2009"
    assert record.outcome is Outcome.ANSWERED
    rna = pbx.named("AgentRingNoAnswer")
    assert [h["Interface"] for h in rna] == ["PJSIP/2008"]
    assert int(rna[0]["RingTime"]) >= 0


async def test_abandoned_while_a_member_rings(pbx: TappedPbx, traffic: DemoTraffic) -> None:
    record = await one_call(traffic, pbx, plan(traffic, Scenario.ABANDONED, patience_s=5.0))
    assert record.outcome is Outcome.ABANDONED
    assert record.hangup_by is HangupBy.CALLER
    assert record.agent is None and len(record.agents_offered) == 1
    assert pbx.named("QueueCallerAbandon")
    assert [h["DialStatus"] for h in pbx.named("DialEnd")] == ["CANCEL"]


async def test_nobody_free_means_waiting_then_abandon(pbx: TappedPbx, traffic: DemoTraffic) -> None:
    for member in pbx.members:
        member["Paused"] = "1"
    record = await one_call(traffic, pbx, plan(traffic, Scenario.ANSWERED, "sales"))
    assert record.outcome is Outcome.ABANDONED
    assert record.agents_offered == ()
    assert not pbx.named("AgentCalled")


async def test_ringall_offers_every_free_member(pbx: TappedPbx, traffic: DemoTraffic) -> None:
    pause(pbx, "PJSIP/2006")
    record = await one_call(traffic, pbx, plan(traffic, Scenario.ANSWERED, "sales"))
    assert set(record.agents_offered) == {"PJSIP/2001", "PJSIP/2005", "PJSIP/2007"}
    assert record.agent in record.agents_offered
    losers = [h for h in pbx.named("Hangup") if h.get("Cause") == "26"]
    assert len(losers) == 2


async def test_paused_member_is_not_offered(pbx: TappedPbx, traffic: DemoTraffic) -> None:
    pause(pbx, "PJSIP/2008")
    offered: list[str] = []
    for _ in range(3):
        record = await one_call(traffic, pbx, plan(traffic, Scenario.ANSWERED, "retention"))
        offered.extend(record.agents_offered)
    assert "PJSIP/2008" not in offered and offered
    pause(pbx, "PJSIP/2008", paused=False)
    record = await one_call(traffic, pbx, plan(traffic, Scenario.ANSWERED, "retention"))
    assert record.agents_offered == ("PJSIP/2008",)


@pytest.mark.parametrize("scenario", [Scenario.BLIND_TRANSFER, Scenario.REDIRECT_TRANSFER])
async def test_transfers(pbx: TappedPbx, traffic: DemoTraffic, scenario: Scenario) -> None:
    record = await one_call(traffic, pbx, plan(traffic, scenario, "retention"))
    assert record.outcome is Outcome.ANSWERED
    assert record.agent is not None and record.agent != "PJSIP/2008"
    # Every device that rang was offered the call: the queue's agent, then the target.
    assert record.agents_offered == ("PJSIP/2008", record.agent)
    # The tracker logs a Redirect as a blind transfer too (it is one, without an event).
    assert record.transfers == (Transfer("blind", "PJSIP/2008", record.agent),)
    blind_events = pbx.named("BlindTransfer")
    reasons = [h["Reason"] for h in pbx.named("AgentComplete")]
    if scenario is Scenario.BLIND_TRANSFER:
        assert blind_events[0]["Extension"] == record.agent.removeprefix("PJSIP/")
        assert reasons == ["transfer"]
    else:
        assert blind_events == []
        assert reasons == ["caller"]


async def test_hostile_caller_name_is_passed_on_unchanged(
    pbx: TappedPbx, traffic: DemoTraffic
) -> None:
    hostile = Caller("+4930666000666", HOSTILE_NAME)
    record = await one_call(traffic, pbx, plan(traffic, Scenario.ANSWERED, caller=hostile))
    assert record.caller_name == HOSTILE_NAME
    assert any(c.name == HOSTILE_NAME for c in DEFAULT_CALLERS)


@pytest.mark.parametrize(
    ("number", "outcome"),
    [
        ("+4930100001", Outcome.ANSWERED),
        ("+4930100002", Outcome.BUSY),
        ("+4930100003", Outcome.NO_ANSWER),
        ("+4930100004", Outcome.CONGESTION),
        ("+4930100005", Outcome.ANSWERED),
        ("03012345678", Outcome.ANSWERED),
    ],
)
async def test_click_to_call_outcomes(
    pbx: TappedPbx, traffic: DemoTraffic, number: str, outcome: Outcome
) -> None:
    traffic.handle_originate(
        pbx,
        {
            "Action": "Originate",
            "ActionID": "c2c-1",
            "Channel": "PJSIP/2004",
            "Context": "outbound",
            "Exten": number,
            "CallerID": '"Callcenter" <2004>',
            "Async": "true",
        },
    )
    await traffic.wait_idle()
    [record] = records(pbx)
    assert record.direction is Direction.OUTBOUND
    assert record.called_number == number
    if outcome is Outcome.ANSWERED:
        assert record.agent == "PJSIP/2004"
    assert record.outcome is outcome
    assert record.queue is None
    [response] = pbx.named("OriginateResponse")
    assert (response["ActionID"], response["Response"], response["Reason"]) == (
        "c2c-1",
        "Success",
        "4",
    )
    dial = [h for h in pbx.named("DialBegin") if "Channel" not in h]
    assert dial[0]["DestChannel"].startswith("PJSIP/2004-")  # Asterisk dials the phone itself
    assert pbx.channels == {}
    if number.endswith("05"):
        assert record.hangup_by is HangupBy.CALLER


async def test_failed_click_to_call_names_the_agent(pbx: TappedPbx, traffic: DemoTraffic) -> None:
    traffic.handle_originate(pbx, {"Channel": "PJSIP/2004", "Exten": "+4930100002"})
    await traffic.wait_idle()
    [record] = records(pbx)
    assert record.outcome is Outcome.BUSY
    assert record.agent == "PJSIP/2004"


async def test_click_to_call_from_a_busy_phone_or_unknown_channel(
    pbx: TappedPbx, traffic: DemoTraffic
) -> None:
    traffic.handle_originate(pbx, {"Channel": "Local/1@x", "Exten": "1", "ActionID": "a"})
    [failed] = pbx.named("OriginateResponse")
    assert (failed["Response"], failed["Reason"]) == ("Failure", "0")
    talking = asyncio.create_task(
        traffic.place_call(plan(traffic, Scenario.ANSWERED, "retention", talk_s=1000.0))
    )
    async with asyncio.timeout(2):
        while not pbx.named("AgentConnect"):  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    traffic.handle_originate(pbx, {"Channel": "PJSIP/2008", "Exten": "030123", "ActionID": "b"})
    await asyncio.sleep(0.05)
    busy = pbx.named("OriginateResponse")[-1]
    assert (busy["ActionID"], busy["Response"], busy["Reason"]) == ("b", "Failure", "5")
    assert len(pbx.channels) == 2  # no channel was created for the busy phone
    talking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await talking
    assert pbx.channels == {}


async def test_resync_mid_call_finds_the_call(pbx: TappedPbx, traffic: DemoTraffic) -> None:
    """A server attaching in the middle of the conversation (CoreShowChannels/QueueStatus
    answered from the live state) still logs the call when it ends."""
    task = asyncio.create_task(
        traffic.place_call(plan(traffic, Scenario.ANSWERED, talk_s=200.0, hangup_by="agent"))
    )
    async with asyncio.timeout(2):
        while not pbx.named("BridgeEnter"):  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    await asyncio.sleep(0.01)
    cut = len(pbx.sent)
    snapshot: list[ev.Event] = []
    for channel in pbx.channels.values():
        item = ev.parse_event({"Event": "CoreShowChannel", **channel})
        assert item is not None
        snapshot.append(item)
    for member in pbx.members:
        fields = {"Event": "QueueMember", "Location": member["Interface"], **member}
        item = ev.parse_event(fields)
        assert item is not None
        snapshot.append(item)
    apps = {c["Application"] for c in pbx.channels.values()}
    assert apps == {"Queue", "AppQueue"}
    assert len({c["BridgeId"] for c in pbx.channels.values()}) == 1
    tracker = CallTracker()
    tracker.resync(snapshot, time.time())
    await task
    [record] = records(pbx, tracker, start=cut)
    assert record.queue == "support"
    assert record.agent is not None and record.outcome is Outcome.ANSWERED
    assert record.hangup_by is HangupBy.AGENT


async def test_waiting_caller_is_in_queue_status(pbx: TappedPbx, traffic: DemoTraffic) -> None:
    for member in pbx.members:
        member["Paused"] = "1"
    task = asyncio.create_task(traffic.place_call(plan(traffic, Scenario.ANSWERED, "sales")))
    async with asyncio.timeout(2):
        while not pbx.entries:  # noqa: ASYNC110
            await asyncio.sleep(0.002)
    [entry] = pbx.entries
    assert entry["Queue"] == "sales" and entry["CallerIDName"] == "Jürgen Müller"
    channel = pbx.channels[entry["Channel"]]
    assert channel["Application"] == "Queue" and channel["ApplicationData"].startswith("sales,")
    pause(pbx, "PJSIP/2007", paused=False)
    traffic._wake_waiting()  # what a QueuePause action does (see test_actions_over_ami)
    await task
    [record] = records(pbx)
    assert record.agent == "PJSIP/2007" and record.outcome is Outcome.ANSWERED


def test_same_seed_same_calls(pbx: TappedPbx) -> None:
    config = TrafficConfig()
    one, two = random.Random(42), random.Random(42)
    assert [plan_call(one, config) for _ in range(30)] == [
        plan_call(two, config) for _ in range(30)
    ]
    seeded = [DemoTraffic(pbx, TrafficConfig(seed=5)) for _ in range(2)]
    assert [seeded[0].plan() for _ in range(5)] == [seeded[1].plan() for _ in range(5)]
    plans = [plan_call(one, config) for _ in range(300)]
    assert {p.scenario for p in plans} == set(Scenario)
    assert {p.queue for p in plans} == {"support", "sales", "retention"}
    numbers = {p.caller.number for p in plans}
    for prefix in ("+4930", "030", "004930"):
        assert any(n.startswith(prefix) for n in numbers), prefix
    assert "" in numbers  # withheld
    assert any(p.caller.name == HOSTILE_NAME for p in plans)


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="time_scale"):
        TrafficConfig(time_scale=0)
    with pytest.raises(ValueError, match="range"):
        TrafficConfig(talk_s=(5.0, 1.0))


async def test_stream_of_calls_has_unique_ids(pbx: TappedPbx) -> None:
    config = dataclasses.replace(FAST, calls_per_minute=60, time_scale=0.005)
    generator = DemoTraffic(pbx, config)
    generator.start()
    try:
        async with asyncio.timeout(5):
            while len(records(pbx)) < 5:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    finally:
        await generator.stop()
    assert pbx.channels == {} and pbx.entries == []  # calls cut short leave nothing behind
    ids = [h["Uniqueid"] for _, h in pbx.sent if h["Event"] == "Newchannel"]
    names = [h["Channel"] for _, h in pbx.sent if h["Event"] == "Newchannel"]
    assert len(ids) == len(set(ids)) and len(names) == len(set(names))
    assert generator.calls_started >= 5


# --- actions over AMI ----------------------------------------------------------------------


class AmiClient:
    """Just enough of an AMI client to send actions to the fake PBX."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, pbx: FakeAmiServer) -> AmiClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", pbx.port)
        await reader.readline()
        client = cls(reader, writer)
        await client.action(Action="Login", Username="demo", Secret="pw", Events="off")
        return client

    async def action(self, **fields: str) -> dict[str, str | list[str]]:
        self.writer.write(encode_frame(fields))
        await self.writer.drain()
        while True:
            frame = decode_frame(await self.reader.readuntil(b"\r\n\r\n"))
            if "Response" in frame:
                return frame

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def talking_call(traffic: DemoTraffic, pbx: TappedPbx, **changes: Any) -> asyncio.Task[None]:
    task = asyncio.create_task(
        traffic.place_call(plan(traffic, Scenario.ANSWERED, "retention", talk_s=1000.0, **changes))
    )
    async with asyncio.timeout(2):
        while len(pbx.named("BridgeEnter")) < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.002)
    return task


def legs(pbx: TappedPbx) -> tuple[str, str]:
    """(customer channel, agent channel) of the one call up."""
    names = sorted(pbx.channels)
    customer = next(n for n in names if n.startswith("PJSIP/carrier-"))
    agent = next(n for n in names if not n.startswith("PJSIP/carrier-"))
    return customer, agent


@pytest.mark.parametrize("who", ["agent", "caller"])
async def test_hangup_action_ends_the_call(pbx: TappedPbx, traffic: DemoTraffic, who: str) -> None:
    client = await AmiClient.connect(pbx)
    task = await talking_call(traffic, pbx)
    customer, agent = legs(pbx)
    reply = await client.action(Action="Hangup", Channel=agent if who == "agent" else customer)
    assert reply["Response"] == "Success"
    async with asyncio.timeout(1):  # the call was planned to talk for 2 s more
        await task
    await client.close()
    [record] = records(pbx)
    assert record.hangup_by is HangupBy(who)
    assert pbx.named("AgentComplete")[-1]["Reason"] == who
    assert pbx.channels == {}


@pytest.mark.parametrize("action", ["BlindTransfer", "Redirect"])
async def test_transfer_actions(pbx: TappedPbx, traffic: DemoTraffic, action: str) -> None:
    client = await AmiClient.connect(pbx)
    task = await talking_call(traffic, pbx, transfer_talk_s=1.0)
    customer, agent = legs(pbx)
    channel = agent if action == "BlindTransfer" else customer
    reply = await client.action(Action=action, Channel=channel, Context="from-phones", Exten="2003")
    assert reply["Response"] == "Success"
    async with asyncio.timeout(1):
        await task
    await client.close()
    [record] = records(pbx)
    assert record.agent == "PJSIP/2003"
    assert record.transfers == (Transfer("blind", "PJSIP/2008", "PJSIP/2003"),)
    assert len(pbx.named("BlindTransfer")) == (1 if action == "BlindTransfer" else 0)


async def test_queue_pause_action_wakes_waiting_callers(
    pbx: TappedPbx, traffic: DemoTraffic
) -> None:
    client = await AmiClient.connect(pbx)
    for member in pbx.members:
        member["Paused"] = "1"
    task = asyncio.create_task(traffic.place_call(plan(traffic, Scenario.ANSWERED, "support")))
    await asyncio.sleep(0.02)
    assert not pbx.named("AgentCalled")
    reply = await client.action(Action="QueuePause", Interface="PJSIP/2003", Paused="false")
    assert reply["Response"] == "Success"
    async with asyncio.timeout(1):
        await task
    await client.close()
    [record] = records(pbx)
    assert record.agents_offered == ("PJSIP/2003",)


@pytest.mark.parametrize(("exten", "answered"), [("+4930100001", True), ("+4930100002", False)])
async def test_blind_transfer_to_a_number(
    pbx: TappedPbx, traffic: DemoTraffic, exten: str, answered: bool
) -> None:
    """The caller is dialled out over the carrier; a busy number ends the call."""
    client = await AmiClient.connect(pbx)
    task = await talking_call(traffic, pbx, transfer_talk_s=1.0)
    _, agent = legs(pbx)
    await client.action(Action="BlindTransfer", Channel=agent, Context="from-phones", Exten=exten)
    async with asyncio.timeout(1):
        await task
    await client.close()
    [record] = records(pbx)
    assert record.outcome is Outcome.ANSWERED
    assert [t.from_agent for t in record.transfers] == ["PJSIP/2008"]
    dial = pbx.named("DialBegin")[-1]
    assert (
        dial["DestChannel"].startswith("PJSIP/carrier-")
        and dial["DialString"] == f"{exten}@carrier"
    )
    assert [h["DialStatus"] for h in pbx.named("DialEnd")][-1] == ("ANSWER" if answered else "BUSY")
    assert pbx.channels == {}
