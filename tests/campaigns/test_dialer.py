"""The dialer against our fake AMI server: the exact Originate actions, retries, DNC added
mid-campaign, callbacks first, and a restart with an attempt left in ``dialing``."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from callcenter.ami.link import AmiLink
from callcenter.campaigns.dialer import Dialer
from callcenter.demo.fake_pbx import ActionFields, FakeAmiServer
from callcenter.errors import ConflictError
from callcenter.model import events as ev
from callcenter.model.attempts import AttemptState, Dial, DialOutcome, RetryPolicy, advance
from callcenter.model.board import Agent, Board
from callcenter.model.records import CallFinished, CallRecord, Direction, Outcome
from callcenter.settings import AmiSettings, CampaignSettings
from callcenter.store import Customers
from callcenter.store.campaigns import Campaigns, CampaignSpec, ListEntry
from callcenter.store.customers import CustomerInput, CustomerPatch, Phone
from tests.campaigns.conftest import START, Clock, eventually

SECRET = "s3cret"
NUMBERS = ("+4930100001", "+4930100002", "+4930100003")
SETTINGS = CampaignSettings(record_grace_s=5.0)


@pytest.fixture
async def server() -> AsyncIterator[FakeAmiServer]:
    srv = FakeAmiServer(secret=SECRET, originate_handler=lambda s, a: None)
    await srv.start()
    yield srv
    await srv.stop()


class Rig:
    def __init__(
        self, server: FakeAmiServer, store: Campaigns, customers: Customers, clock: Clock
    ) -> None:
        self.server = server
        self.store = store
        self.customers = customers
        self.clock = clock
        self.board = Board()
        self.ids: list[int] = []
        self.link: AmiLink | None = None
        self.dialer = self.new_dialer()

    def new_dialer(self) -> Dialer:
        async def originate(channel: str, **kw: object) -> str:
            assert self.link is not None
            return await self.link.originate(channel, **kw)  # type: ignore[arg-type]

        async def getvar(channel: str, variable: str) -> str | None:
            assert self.link is not None
            return await self.link.getvar(channel, variable)

        self.dialer = Dialer(
            self.store, originate, self.board, SETTINGS, getvar=getvar, clock=self.clock
        )
        return self.dialer

    def agents(self, n: int) -> None:
        self.board.agents.clear()
        for i in range(n):
            name = f"PJSIP/20{i:02d}"
            self.board.agents[name] = Agent(name, name, queues={"retention"})

    def originates(self) -> list[ActionFields]:
        return self.server.actions_named("Originate")

    async def campaign(self, **changes: object) -> int:
        for n, number in enumerate(NUMBERS):
            made = await self.customers.create(
                CustomerInput(name=f"C{n}", phones=(Phone(number, number),))
            )
            self.ids.append(int(made["id"]))
        spec = dataclasses.replace(
            CampaignSpec(name="winback", queue="retention", callee_start="00:00"),
            callee_end="23:59",
            **changes,  # type: ignore[arg-type]
        )
        entries = [ListEntry(num, cid) for num, cid in zip(NUMBERS, self.ids, strict=True)]
        campaign = await self.store.create(spec, entries, created_by="boss")
        await self.store.set_state(campaign.id, "running")
        return campaign.id

    def respond(self, dial_id: str, success: bool, reason: int) -> None:
        self.dialer.on_event(
            ev.OriginateResponse(dial_id, success, "Local/x", "1.1", reason, "campaign", "r"),
            self.clock.now,
        )

    def record(
        self, number: str, outcome: Outcome, talk_s: float = 0.0, dial_id: str | None = None
    ) -> None:
        now = self.clock.now
        record = dataclasses.replace(
            _record(number, outcome),
            call_id=f"{now}.{number}",
            agent="PJSIP/2000" if outcome is Outcome.ANSWERED else None,
            started_at=now,
            ended_at=now + talk_s,
            talk_s=talk_s,
            dial_id=dial_id,
        )
        self.dialer.on_change(CallFinished(record))


@pytest.fixture
async def rig(
    server: FakeAmiServer, store: Campaigns, customers: Customers, clock: Clock
) -> AsyncIterator[Rig]:
    r = Rig(server, store, customers, clock)
    settings = AmiSettings(host="127.0.0.1", port=server.port, secret=SECRET)
    r.link = AmiLink(
        settings, lambda e, t: r.dialer.on_event(e, t), lambda s, t: r.dialer.on_resync(s, t)
    )
    r.link.start()
    await eventually(lambda: r.link is not None and r.link.status.authenticated)
    yield r
    await r.link.stop()


async def test_progressive_places_one_call_per_ready_agent_with_exact_fields(rig: Rig) -> None:
    cid = await rig.campaign()
    rig.agents(2)
    await rig.dialer.tick()
    await eventually(lambda: len(rig.originates()) == 2)
    first = rig.originates()[0]
    assert {k: v for k, v in first.items() if k != "ActionID"} | {
        "ActionID": first["ActionID"]
    } == {
        "Action": "Originate",
        "ActionID": f"c{cid}-1.1",
        "Channel": "Local/+4930100001@campaign-dial",
        "Context": "campaign",
        "Exten": "retention",
        "Priority": "1",
        "Timeout": "30000",
        "Async": "true",
        "Variable": [f"CAMPAIGN_ID={cid}", f"ATTEMPT_ID=c{cid}-1.1", "AMD=1"],
    }
    assert rig.originates()[1]["ActionID"] == f"c{cid}-2.1"
    states = {a.attempt_id: a.state for a in await rig.store.attempts(cid)}
    assert states[f"c{cid}-1"] is AttemptState.DIALING
    assert states[f"c{cid}-3"] is AttemptState.PENDING
    # Both agents are owed a ringing call already: nothing more is placed.
    await rig.dialer.tick()
    assert len(rig.originates()) == 2


async def test_busy_is_retried_after_its_delay_under_a_new_dial_id(rig: Rig) -> None:
    cid = await rig.campaign()
    rig.agents(1)
    await rig.dialer.tick()
    await eventually(lambda: len(rig.originates()) == 1)
    rig.respond(f"c{cid}-1.1", False, 0)  # a Local channel does not say why
    rig.record(NUMBERS[0], Outcome.BUSY)
    rig.agents(0)
    await rig.dialer.tick()
    attempt, _ = await rig.store.attempt(f"c{cid}-1")
    assert attempt.state is AttemptState.RETRY_SCHEDULED
    assert attempt.last_outcome is DialOutcome.BUSY
    assert attempt.due_at == datetime.fromtimestamp(rig.clock.now, UTC) + timedelta(minutes=10)
    # The agent is back: the next in line is dialed, the busy number waits for its delay.
    rig.agents(1)
    await rig.dialer.tick()
    await eventually(lambda: len(rig.originates()) == 2)
    assert rig.originates()[1]["ActionID"] == f"c{cid}-2.1"
    rig.respond(f"c{cid}-2.1", True, 4)
    rig.record(NUMBERS[1], Outcome.ANSWERED, talk_s=60)
    rig.clock.now += 11 * 60
    await rig.dialer.tick()
    await eventually(lambda: len(rig.originates()) == 3)
    assert rig.originates()[2]["ActionID"] == f"c{cid}-1.2"
    done, _ = await rig.store.attempt(f"c{cid}-2")
    assert done.state is AttemptState.DONE
    progress = await rig.store.progress(cid)
    assert progress["outcomes"] == {"busy": 1, "completed": 1, "in_flight": 1}
    assert progress["contact_rate"] == 0.5


async def test_failed_response_without_a_record_settles_from_its_reason(rig: Rig) -> None:
    cid = await rig.campaign()
    rig.agents(1)
    await rig.dialer.tick()
    await eventually(lambda: len(rig.originates()) == 1)
    rig.respond(f"c{cid}-1.1", False, 5)
    rig.agents(0)
    await rig.dialer.tick()
    waiting, _ = await rig.store.attempt(f"c{cid}-1")
    assert waiting.state is AttemptState.DIALING  # waiting for the call record
    rig.clock.now += SETTINGS.record_grace_s
    await rig.dialer.tick()
    attempt, _ = await rig.store.attempt(f"c{cid}-1")
    assert (attempt.state, attempt.last_outcome) == (
        AttemptState.RETRY_SCHEDULED,
        DialOutcome.BUSY,
    )


async def test_dnc_added_mid_campaign_blocks_the_retry(rig: Rig) -> None:
    cid = await rig.campaign(retry={"no_answer": 1})
    rig.agents(1)
    await rig.dialer.tick()
    await eventually(lambda: len(rig.originates()) == 1)
    rig.respond(f"c{cid}-1.1", False, 0)
    rig.record(NUMBERS[0], Outcome.NO_ANSWER)
    await rig.dialer.drain()
    await rig.customers.update(rig.ids[0], CustomerPatch({"do_not_call": True}))
    rig.clock.now += 120
    rig.agents(3)
    await rig.dialer.tick()
    await eventually(lambda: len(rig.originates()) == 3)
    dialed = {a["ActionID"] for a in rig.originates()}
    assert dialed == {f"c{cid}-1.1", f"c{cid}-2.1", f"c{cid}-3.1"}
    blocked, _ = await rig.store.attempt(f"c{cid}-1")
    assert blocked.state is AttemptState.DNC_BLOCKED


async def test_callbacks_come_first(rig: Rig) -> None:
    cid = await rig.campaign()
    now = datetime.fromtimestamp(rig.clock.now, UTC)
    await rig.dialer.schedule_callback(f"c{cid}-3", now - timedelta(minutes=1))
    rig.agents(1)
    await rig.dialer.tick()
    await eventually(lambda: len(rig.originates()) == 1)
    assert rig.originates()[0]["ActionID"] == f"c{cid}-3.1"


async def test_restart_with_an_attempt_in_dialing_never_dials_it_twice(rig: Rig) -> None:
    cid = await rig.campaign(retry={"failed": 30})
    attempt, _ = await rig.store.attempt(f"c{cid}-1")
    now = datetime.fromtimestamp(rig.clock.now, UTC)
    # The crash: dialing was committed, the Originate may or may not have left.
    await rig.store.save_dialing(advance(attempt, Dial(now), RetryPolicy()))
    rig.new_dialer()
    await rig.dialer.recover()
    settled, _ = await rig.store.attempt(f"c{cid}-1")
    assert settled.state is AttemptState.RETRY_SCHEDULED
    assert settled.last_outcome is DialOutcome.UNKNOWN
    rig.agents(3)
    await rig.dialer.tick()
    await eventually(lambda: len(rig.originates()) == 2)
    assert [a["ActionID"] for a in rig.originates()] == [f"c{cid}-2.1", f"c{cid}-3.1"]
    rig.clock.now += 61 * 60  # the "unknown" retry delay (60 min by default)
    rig.agents(4)
    await rig.dialer.tick()
    await eventually(lambda: len(rig.originates()) == 3)
    assert rig.originates()[2]["ActionID"] == f"c{cid}-1.2"


async def test_paused_campaign_dials_nothing_and_resumes(rig: Rig) -> None:
    cid = await rig.campaign()
    await rig.store.set_state(cid, "paused")
    rig.agents(2)
    await rig.dialer.tick()
    assert rig.originates() == []
    await rig.store.set_state(cid, "running")
    await rig.dialer.tick()
    await eventually(lambda: len(rig.originates()) == 2)


async def test_scheduled_campaign_starts_and_stops_by_itself(rig: Rig) -> None:
    cid = await rig.campaign(first_day="2026-03-03", last_day="2026-03-03")
    rig.agents(1)
    await rig.dialer.tick()
    assert rig.originates() == []
    rig.clock.now += 86400  # 2026-03-03 10:00
    await rig.dialer.tick()
    await eventually(lambda: len(rig.originates()) == 1)
    rig.clock.now += 86400
    await rig.dialer.tick()
    assert (await rig.store.get(cid)).state == "finished"


async def _run_until(rig: Rig, predicate: Callable[[], Awaitable[bool]]) -> asyncio.Task[None]:
    """Start the dialer's task and wait until ``predicate`` holds (the task keeps running)."""
    task = asyncio.create_task(rig.dialer.run())
    deadline = asyncio.get_running_loop().time() + 5
    while not await predicate():
        assert not task.done(), task
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)
    return task


async def test_restart_follows_a_dial_still_up_and_settles_it_by_its_own_record(
    rig: Rig,
) -> None:
    cid = await rig.campaign()
    first, second = f"c{cid}-1", f"c{cid}-2"
    now = datetime.fromtimestamp(rig.clock.now, UTC)
    for attempt_id in (first, second):
        attempt, _ = await rig.store.attempt(attempt_id)
        await rig.store.save_dialing(advance(attempt, Dial(now), RetryPolicy()))
    # While the server was down the first customer answered and an agent took the call;
    # the second dial is gone. Asterisk lists the live channels at the resync.
    one = "Local/+4930100001@campaign-dial-0000000a;1"
    rig.server.add_channel(one, context="campaign-queue", application="Queue", bridge_id="b1")
    rig.server.channel_variables[one] = {"ATTEMPT_ID": f"{first}.1"}
    rig.server.add_channel("PJSIP/2001-00000001", bridge_id="b1", context="from-phones")
    rig.new_dialer()
    rig.agents(0)
    await rig.server.drop_clients()  # the restart: the link logs in again and resyncs

    async def reconciled() -> bool:
        second_attempt, _ = await rig.store.attempt(second)
        return second_attempt.state is AttemptState.RETRY_SCHEDULED

    task = await _run_until(rig, reconciled)
    try:
        connected, _ = await rig.store.attempt(first)
        assert connected.state is AttemptState.CONNECTED
        assert rig.dialer.in_flight == [f"{first}.1"]
        lost, _ = await rig.store.attempt(second)
        assert lost.last_outcome is DialOutcome.UNKNOWN
        # Only the campaign channel was asked for its dial id; nothing was dialed again.
        asked = [a["Channel"] for a in rig.server.actions_named("Getvar")]
        assert asked == [one]
        assert rig.originates() == []
        # The call ends: its record names the dial (ATTEMPT_ID).
        rig.dialer.on_change(
            CallFinished(
                dataclasses.replace(_record(NUMBERS[0], Outcome.ANSWERED), dial_id=f"{first}.1")
            )
        )

        async def settled() -> bool:
            done, _ = await rig.store.attempt(first)
            return done.state is AttemptState.DONE

        await _run_until(rig, settled)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert rig.dialer.in_flight == []


def _record(number: str, outcome: Outcome) -> CallRecord:
    return CallRecord(
        call_id=f"x.{number}",
        direction=Direction.OUTBOUND,
        caller_number="",
        caller_name="",
        called_number=number,
        queue="retention",
        agents_offered=(),
        agent=None,
        started_at=START,
        answered_at=None,
        ended_at=START,
        wait_s=0.0,
        talk_s=0.0,
        outcome=outcome,
        hangup_by=None,
    )


async def test_nothing_is_dialed_before_the_first_resync(rig: Rig) -> None:
    await rig.campaign()
    rig.agents(2)
    rig.new_dialer()  # its link's first resync is long over
    task = asyncio.create_task(rig.dialer.run())
    try:
        await asyncio.sleep(0.2)
        assert rig.originates() == []
        await rig.server.drop_clients()
        await eventually(lambda: len(rig.originates()) == 2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_answering_machine_is_retried_with_its_delay_and_amd_reported(rig: Rig) -> None:
    cid = await rig.campaign(retry={"machine": 240})
    rig.agents(1)
    await rig.dialer.tick()
    await eventually(lambda: len(rig.originates()) == 1)
    assert rig.dialer.amd == "unknown"
    channel = ev.Channel(
        "Local/+4930100001@campaign-dial-00000001;1", "1.1", "1.1", 6, "", "", "campaign-queue", "s"
    )
    rig.dialer.on_event(ev.MachineDetected(channel, "MACHINE"), rig.clock.now)
    assert rig.dialer.amd == "available"
    rig.respond(f"c{cid}-1.1", True, 4)
    rig.record(NUMBERS[0], Outcome.MACHINE, dial_id=f"c{cid}-1.1")
    await rig.dialer.drain()
    attempt, _ = await rig.store.attempt(f"c{cid}-1")
    assert (attempt.state, attempt.last_outcome) == (
        AttemptState.RETRY_SCHEDULED,
        DialOutcome.MACHINE,
    )
    assert attempt.due_at == datetime.fromtimestamp(rig.clock.now, UTC) + timedelta(hours=4)
    rig.dialer.on_event(ev.MachineDetected(channel, "UNAVAILABLE"), rig.clock.now)
    assert rig.dialer.amd == "not loaded"


async def test_preview_holds_a_number_for_one_agent_and_dials_from_their_phone(
    rig: Rig,
) -> None:
    cid = await rig.campaign(mode="preview")
    rig.agents(2)
    await rig.dialer.tick()
    assert rig.originates() == []  # preview campaigns are never paced
    mine = await rig.dialer.next_preview("PJSIP/2000")
    theirs = await rig.dialer.next_preview("PJSIP/2001")
    assert mine is not None and theirs is not None
    assert (mine.attempt.attempt_id, theirs.attempt.attempt_id) == (f"c{cid}-1", f"c{cid}-2")
    again = await rig.dialer.next_preview("PJSIP/2000")
    assert again is not None and again.attempt.attempt_id == f"c{cid}-1"
    with pytest.raises(ConflictError):
        await rig.dialer.dial_preview(f"c{cid}-1", "PJSIP/2001")  # not theirs
    dial_id = await rig.dialer.dial_preview(f"c{cid}-1", "PJSIP/2000")
    action = await rig.server.wait_for_action("Originate")
    assert {k: action[k] for k in ("Channel", "Context", "Exten", "ActionID", "Variable")} == {
        "Channel": "PJSIP/2000",
        "Context": "outbound",
        "Exten": NUMBERS[0],
        "ActionID": dial_id,
        "Variable": [f"CAMPAIGN_ID={cid}", f"ATTEMPT_ID={dial_id}"],
    }
    # The agent's phone answered: that is not the customer answering.
    rig.respond(dial_id, True, 4)
    await rig.dialer.drain()
    dialing, _ = await rig.store.attempt(f"c{cid}-1")
    assert dialing.state is AttemptState.DIALING and dialing.agent == "PJSIP/2000"
    rig.record(NUMBERS[0], Outcome.NO_ANSWER, dial_id=dial_id)
    await rig.dialer.drain()
    retry, _ = await rig.store.attempt(f"c{cid}-1")
    assert (retry.state, retry.last_outcome) == (
        AttemptState.RETRY_SCHEDULED,
        DialOutcome.NO_ANSWER,
    )


async def test_preview_checks_do_not_call_again_when_the_agent_dials(rig: Rig) -> None:
    cid = await rig.campaign(mode="preview")
    held = await rig.dialer.next_preview("PJSIP/2000")
    assert held is not None and held.attempt.attempt_id == f"c{cid}-1"
    await rig.customers.update(rig.ids[0], CustomerPatch({"do_not_call": True}))
    with pytest.raises(ConflictError):
        await rig.dialer.dial_preview(f"c{cid}-1", "PJSIP/2000")
    blocked, _ = await rig.store.attempt(f"c{cid}-1")
    assert blocked.state is AttemptState.DNC_BLOCKED
    assert rig.originates() == []
    # A skipped number goes back to the pool.
    nxt = await rig.dialer.next_preview("PJSIP/2000")
    assert nxt is not None and nxt.attempt.attempt_id == f"c{cid}-2"
    rig.dialer.skip_preview(f"c{cid}-2", "PJSIP/2000")
    after_skip = await rig.dialer.next_preview("PJSIP/2000")
    assert after_skip is not None and after_skip.attempt.attempt_id == f"c{cid}-3"
    other = await rig.dialer.next_preview("PJSIP/2001")
    assert other is not None and other.attempt.attempt_id == f"c{cid}-2"


async def test_callee_window_follows_the_time_zone_of_the_number(rig: Rig) -> None:
    """Numbers without a customer record: the callee's clock comes from the number's
    country and area code. 10:00 UTC is 11:00 in Berlin (open) and 05:00 in New York."""
    berlin, new_york = "+4930100009", "+12125550100"
    spec = CampaignSpec(name="zones", queue="retention")  # callee window 08:00-21:00
    campaign = await rig.store.create(
        spec, [ListEntry(new_york), ListEntry(berlin)], created_by="boss"
    )
    await rig.store.set_state(campaign.id, "running")
    rig.agents(2)
    await rig.dialer.tick()
    await eventually(lambda: len(rig.originates()) == 1)
    assert rig.originates()[0]["Channel"] == f"Local/{berlin}@campaign-dial"
    deferred, _ = await rig.store.attempt(f"c{campaign.id}-1")
    assert deferred.state is AttemptState.PENDING
    assert deferred.due_at == datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # 08:00 in New York
    rig.clock.now += 3 * 3600  # 13:00 UTC
    await rig.dialer.tick()
    await eventually(lambda: len(rig.originates()) == 2)
    assert rig.originates()[1]["Channel"] == f"Local/{new_york}@campaign-dial"


async def test_a_campaign_the_dialer_cannot_work_is_paused_and_the_others_go_on(
    rig: Rig,
) -> None:
    """A stored campaign with an unknown time zone (from before input validation) once made
    every tick fail for every campaign."""
    spec = CampaignSpec(name="broken", queue="retention", time_zone="Mars/Olympus")
    broken = (await rig.store.create(spec, [ListEntry("+4930100009")], created_by="boss")).id
    await rig.store.set_state(broken, "running")
    good = await rig.campaign()  # ticked after the broken one
    rig.agents(1)
    await rig.dialer.tick()
    await eventually(lambda: len(rig.originates()) == 1)
    assert rig.originates()[0]["ActionID"].startswith(f"c{good}-")
    paused = await rig.store.get(broken)
    assert paused.state == "paused"
    assert paused.error is not None and "Mars/Olympus" in paused.error
    assert (await rig.store.get(good)).state == "running"
    resumed = await rig.store.set_state(broken, "running")
    assert resumed.error is None
