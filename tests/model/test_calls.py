"""The call tracker on hand-built event sequences: resync, shutdown, late and unknown events."""

from __future__ import annotations

from typing import Any

from callcenter.model import events as ev
from callcenter.model.calls import (
    MAX_CHANNELS,
    MAX_CHANNELS_PER_CALL,
    CallTracker,
    device_of,
    finished_records,
    interface_key,
)
from callcenter.model.records import AgentRinging, CallAnswered, Direction, HangupBy, Outcome

T0 = 1_795_372_111.0


def chan(
    name: str, uniqueid: str, linkedid: str = "1.0", num: str = "", cid: str = ""
) -> ev.Channel:
    # Asterisk creates the carrier's channels in its endpoint context, phones' in theirs.
    context = "from-carrier" if name.startswith("PJSIP/carrier") else "from-phones"
    return ev.Channel(name, uniqueid, linkedid, 6, num, cid, context, "4930555100")


CUSTOMER = chan("PJSIP/carrier-00000001", "1.0", num="+493012345678", cid="Jürgen Müller")
AGENT = chan("PJSIP/2001-00000002", "1.1")


def answered_call(tracker: CallTracker) -> None:
    steps: list[tuple[float, ev.Event]] = [
        (0, ev.Newchannel(CUSTOMER)),
        (0, ev.QueueCallerJoin("support", CUSTOMER, 1)),
        (0, ev.Newchannel(AGENT)),
        (0, ev.AgentCalled("support", CUSTOMER, AGENT, "PJSIP/2001", "Agent 2001")),
        (3, ev.AgentConnect("support", CUSTOMER, AGENT, "PJSIP/2001", "Agent 2001", 3, 3)),
        (3, ev.BridgeEnter("b1", AGENT)),
        (3, ev.BridgeEnter("b1", CUSTOMER)),
    ]
    for offset, event in steps:
        tracker.apply(event, T0 + offset)


def test_device_and_interface_names() -> None:
    assert device_of("PJSIP/2001-0000000a") == "PJSIP/2001"
    assert device_of("Local/1001@agents-00000001;1") == "Local/1001@agents"
    assert interface_key("Local/1001@agents/n") == "Local/1001@agents"
    assert interface_key("PJSIP/2001") == "PJSIP/2001"


def test_ring_answer_hangup_emits_live_changes_and_one_record() -> None:
    tracker = CallTracker()
    tracker.apply(ev.Newchannel(CUSTOMER), T0)
    tracker.apply(ev.QueueCallerJoin("support", CUSTOMER, 1), T0)
    tracker.apply(ev.Newchannel(AGENT), T0)
    ringing = tracker.apply(ev.AgentCalled("support", CUSTOMER, AGENT, "PJSIP/2001", "A"), T0 + 1)
    assert ringing == [
        AgentRinging("1.0", "PJSIP/2001", "+493012345678", "Jürgen Müller", "support")
    ]
    connect = ev.AgentConnect("support", CUSTOMER, AGENT, "PJSIP/2001", "A", 3, 2)
    assert tracker.apply(connect, T0 + 3) == [CallAnswered("1.0", "PJSIP/2001")]
    tracker.apply(ev.BridgeEnter("b1", AGENT), T0 + 3)
    tracker.apply(ev.BridgeEnter("b1", CUSTOMER), T0 + 3)
    tracker.apply(ev.BridgeLeave("b1", AGENT), T0 + 10)
    assert tracker.apply(ev.Hangup(AGENT, 16, ""), T0 + 10) == []
    [record] = finished_records(tracker.apply(ev.Hangup(CUSTOMER, 16, ""), T0 + 10))
    assert record.outcome is Outcome.ANSWERED
    assert record.hangup_by is HangupBy.AGENT
    assert (record.wait_s, record.talk_s) == (3.0, 7.0)
    assert record.direction is Direction.INBOUND
    assert tracker.active_calls == 0


def test_late_and_duplicated_events_never_resurrect_a_finished_call() -> None:
    tracker = CallTracker()
    answered_call(tracker)
    tracker.apply(ev.Hangup(CUSTOMER, 16, ""), T0 + 9)
    assert len(finished_records(tracker.apply(ev.Hangup(AGENT, 16, ""), T0 + 9))) == 1
    late = [
        ev.Hangup(AGENT, 16, ""),
        ev.AgentComplete("support", CUSTOMER, "PJSIP/2001", 3, 6, "caller"),
        ev.BridgeLeave("b1", CUSTOMER),
        ev.Newstate(CUSTOMER),
    ]
    for event in late:
        assert tracker.apply(event, T0 + 10) == []
    assert tracker.active_calls == 0


def test_unknown_event_types_and_broken_handlers_are_dropped() -> None:
    tracker = CallTracker()
    assert tracker.apply(ev.FullyBooted(), T0) == []
    broken = ev.BridgeEnter("b1", ev.Channel("", "", "", 0, "", "", "", ""))
    assert tracker.apply(broken, T0) == []  # logged, not raised


def test_resync_finishes_calls_that_ended_while_disconnected() -> None:
    tracker = CallTracker()
    answered_call(tracker)
    [record] = finished_records(tracker.resync([], T0 + 60))
    assert record.call_id == "1.0"
    assert record.ended_at == T0 + 60
    assert record.outcome is Outcome.ANSWERED


def test_resync_keeps_calls_still_up_and_logs_them_once() -> None:
    tracker = CallTracker()
    answered_call(tracker)
    snapshot: list[ev.Event] = [
        ev.ChannelSnapshot(CUSTOMER, "Queue", "support", 20, "b1"),
        ev.ChannelSnapshot(AGENT, "AppQueue", "(Outgoing Line)", 17, "b1"),
    ]
    assert tracker.resync(snapshot, T0 + 20) == []
    assert tracker.active_calls == 1
    tracker.apply(ev.Hangup(CUSTOMER, 16, ""), T0 + 30)
    [record] = finished_records(tracker.apply(ev.Hangup(AGENT, 16, ""), T0 + 30))
    assert record.agent == "PJSIP/2001"
    assert record.talk_s == 27.0


def test_resync_attaches_to_calls_in_progress() -> None:
    tracker = CallTracker()
    member = ev.QueueMemberChanged(
        "snapshot", "support", "PJSIP/2001", "Agent 2001", "PJSIP/2001", 2, False, "", True, 0, 1
    )
    waiting = chan("PJSIP/carrier-00000009", "5.0", "5.0", num="+4930777")
    talking = chan("PJSIP/carrier-00000003", "2.0", "2.0", num="+4930555")
    agent = chan("PJSIP/2001-00000004", "2.1", "2.0")
    snapshot: list[ev.Event] = [
        member,
        ev.ChannelSnapshot(talking, "Queue", "support", 40, "b7"),
        ev.ChannelSnapshot(agent, "AppQueue", "(Outgoing Line)", 30, "b7"),
        ev.ChannelSnapshot(waiting, "Queue", "support", 12, ""),
        ev.QueueEntry("support", 1, waiting.name, "5.0", "+4930777", "", 12),
    ]
    tracker.resync(snapshot, T0)
    assert tracker.active_calls == 2
    tracker.apply(ev.QueueCallerAbandon("support", waiting, 15), T0 + 3)
    [abandoned] = finished_records(tracker.apply(ev.Hangup(waiting, 16, ""), T0 + 3))
    assert (abandoned.outcome, abandoned.queue, abandoned.wait_s) == (
        Outcome.ABANDONED,
        "support",
        15.0,
    )
    tracker.apply(ev.Hangup(agent, 16, ""), T0 + 5)
    [answered] = finished_records(tracker.apply(ev.Hangup(talking, 16, ""), T0 + 5))
    assert (answered.outcome, answered.agent, answered.queue) == (
        Outcome.ANSWERED,
        "PJSIP/2001",
        "support",
    )
    assert answered.caller_number == "+4930555"


def test_pbx_shutdown_ends_every_call() -> None:
    tracker = CallTracker()
    answered_call(tracker)
    [record] = finished_records(tracker.apply(ev.Shutdown(restart=True), T0 + 8))
    assert record.ended_at == T0 + 8
    assert tracker.active_calls == 0
    # After a restart Asterisk's Uniqueid counters start again: a new call is a new call.
    answered_call(tracker)
    assert tracker.active_calls == 0  # "1.0" is remembered as finished: never logged twice


def test_attended_transfer_straight_to_an_agent_channel() -> None:
    tracker = CallTracker()
    answered_call(tracker)
    target = chan("PJSIP/2002-00000007", "3.0", "3.0")
    tracker.apply(ev.Newchannel(target), T0 + 5)
    tracker.apply(
        ev.QueueMemberChanged("added", "support", "PJSIP/2002", "", "", 1, False, "", False, 0, 0),
        T0,
    )
    tracker.apply(ev.DialBegin(AGENT, target, "PJSIP/2002"), T0 + 5)
    transfer = ev.AttendedTransfer("Success", AGENT, AGENT, CUSTOMER, target)
    tracker.apply(transfer, T0 + 9)
    tracker.apply(ev.Hangup(AGENT, 16, ""), T0 + 9)
    tracker.apply(ev.BridgeEnter("b1", target), T0 + 9)
    tracker.apply(ev.BridgeLeave("b1", CUSTOMER), T0 + 20)
    tracker.apply(ev.Hangup(CUSTOMER, 16, ""), T0 + 20)
    [record] = finished_records(tracker.apply(ev.Hangup(target, 16, ""), T0 + 20))
    assert record.agent == "PJSIP/2002"
    assert [t.to_dict() for t in record.transfers] == [
        {"kind": "attended", "from_agent": "PJSIP/2001", "to": "PJSIP/2002"}
    ]
    assert record.hangup_by is HangupBy.CALLER


def test_channels_of_device_names_the_agents_live_channels_and_their_call() -> None:
    tracker = CallTracker()
    assert tracker.channels_of_device("PJSIP/2001") == []
    answered_call(tracker)
    assert tracker.channels_of_device("PJSIP/2001") == [("PJSIP/2001-00000002", "1.0")]
    assert tracker.channels_of_device("PJSIP/2002") == []
    tracker.apply(ev.Hangup(AGENT, 16, ""), T0 + 9)
    assert tracker.channels_of_device("PJSIP/2001") == []
    local = chan("Local/1001@agents-00000003;1", "2.0", "2.0")
    tracker.apply(ev.Newchannel(local), T0 + 10)
    assert tracker.channels_of_device("Local/1001@agents/n") == [
        ("Local/1001@agents-00000003;1", "2.0")
    ]


def test_a_flood_of_channels_is_bounded_and_reported(caplog: Any) -> None:
    """50k Newchannel without Hangup (a hostile peer) must not grow without bound."""
    tracker = CallTracker()
    for n in range(MAX_CHANNELS + 5_000):
        flood = chan(f"PJSIP/x-{n:08x}", f"9.{n}", f"9.{n}")
        tracker.apply(ev.Newchannel(flood), T0 + n / 1000)
    assert tracker.active_calls == MAX_CHANNELS
    assert tracker.channels_refused == 5_000
    warnings = [r for r in caplog.records if "AMI flood" in r.getMessage()]
    assert 1 <= len(warnings) <= 6  # one a minute of stream time, with the count


def test_one_call_cannot_hold_more_than_its_share_of_channels() -> None:
    tracker = CallTracker()
    for n in range(MAX_CHANNELS_PER_CALL + 50):
        tracker.apply(ev.Newchannel(chan(f"Local/x@y-{n:08x};1", f"1.{n}", "1.0")), T0)
    assert tracker.channels_refused == 50
    assert len(tracker.channels_of_device("Local/x@y")) == MAX_CHANNELS_PER_CALL
