"""What the live layer hears from the model on real captures: who rang, who took the call."""

from __future__ import annotations

from pathlib import Path

from callcenter.ami.filters import EventFilter
from callcenter.ami.replay import REPLAY_EVENTS, StreamClock, read_capture
from callcenter.ami.stream import AmiStreamParser
from callcenter.model import events as ev
from callcenter.model.calls import CallTracker
from callcenter.model.records import AgentRinging, CallAnswered, Change

FREEPBX = Path(__file__).resolve().parent.parent / "fixtures" / "ami" / "freepbx"


def changes_of(name: str) -> list[Change]:
    tracker, clock, changes = CallTracker(), StreamClock(), []

    def on_event(event: ev.Event) -> None:
        changes.extend(tracker.apply(event, clock.observe(event)))

    parser = AmiStreamParser(on_event, keep=EventFilter.from_spec(REPLAY_EVENTS))
    parser.feed(read_capture(FREEPBX / f"{name}.ami"))
    return changes


def live(changes: list[Change]) -> list[tuple[str, str | None]]:
    return [
        ("ring" if isinstance(c, AgentRinging) else "answered", c.agent)
        for c in changes
        if isinstance(c, AgentRinging | CallAnswered)
    ]


def test_a_ring_group_pops_every_member_and_says_who_answered() -> None:
    assert live(changes_of("ringgroup_local_n")) == [
        ("ring", "PJSIP/2001"),
        ("ring", "PJSIP/2002"),
        ("answered", "PJSIP/2001"),
    ]


def test_the_phone_that_picks_up_gets_the_card_as_it_connects() -> None:
    # 2011 rang; 2012 dialled *8 and took the call without ever ringing.
    assert live(changes_of("pickup_group")) == [
        ("ring", "PJSIP/2011"),
        ("ring", "PJSIP/2012"),
        ("answered", "PJSIP/2012"),
    ]


def test_a_transfer_target_hears_that_it_now_has_the_call() -> None:
    events = live(changes_of("ringgroup_blonde_transfer"))
    assert events[-1] == ("answered", "PJSIP/2006")
    assert ("ring", "PJSIP/2006") in events
    assert events.index(("ring", "PJSIP/2006")) < len(events) - 1
