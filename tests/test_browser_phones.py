"""Browser phones' registration (AMI ContactStatus): the wallboard's "phone offline" and the
pause in the agent's queues while it is gone (per queue), resumed only where the pause was ours."""

from __future__ import annotations

import asyncio
from typing import Any

from callcenter.live.browser_phones import REASON, PhoneWatch
from callcenter.model import events as ev
from callcenter.model.board import Board


def contact(endpoint: str, status: str) -> ev.ContactStatus:
    event = ev.parse_event(
        {
            "Event": "ContactStatus",
            "URI": "sip:x@abc.invalid;transport=ws",
            "ContactStatus": status,
            "AOR": endpoint,
            "EndpointName": endpoint,
        }
    )
    assert isinstance(event, ev.ContactStatus)
    return event


def member(
    kind: str,
    interface: str,
    *,
    paused: bool = False,
    reason: str = "",
    status: int = 1,
    queue: str = "support",
) -> ev.QueueMemberChanged:
    return ev.QueueMemberChanged(
        kind=kind,
        queue=queue,
        interface=interface,
        member_name="Agent",
        state_interface=interface,
        status=status,
        paused=paused,
        paused_reason=reason,
        in_call=False,
        penalty=0,
        calls_taken=0,
    )


def test_wallboard_shows_phone_offline() -> None:
    board = Board()
    board.apply(member("added", "PJSIP/w2001"), 1.0)
    assert board.snapshot(1.0)["agents"][0]["phone"] is None  # type: ignore[index]
    board.apply(contact("w2001", "Created"), 2.0)
    assert board.agents["PJSIP/w2001"].phone == "online"
    board.apply(contact("w2001", "Removed"), 3.0)
    assert board.agents["PJSIP/w2001"].to_dict()["phone"] == "offline"
    # After a reconnect the QueueStatus snapshot's device state stands in for ContactStatus.
    board.resync([member("snapshot", "PJSIP/w2001", status=1)], 4.0)
    assert board.agents["PJSIP/w2001"].phone == "online"
    board.resync([member("snapshot", "PJSIP/w2001", status=5)], 5.0)
    assert board.agents["PJSIP/w2001"].phone == "offline"


Sent = list[tuple[str, bool, str | None, str | None]]


def pauser(board: Board, sent: Sent) -> Any:
    """A QueuePause that Asterisk answers with its QueueMemberPause event."""

    async def queue_pause(interface: str, paused: bool, reason: str | None, queue: str | None):
        sent.append((interface, paused, reason, queue))
        assert queue is not None
        board.apply(member("pause", interface, paused=paused, reason=reason or "", queue=queue), 0)

    return queue_pause


async def test_offline_phone_pauses_and_registering_resumes() -> None:
    board = Board()
    sent: Sent = []
    watch = PhoneWatch(board, pauser(board, sent))
    task = asyncio.create_task(watch.run())
    try:
        board.apply(member("added", "PJSIP/w2001"), 1.0)
        for event in (contact("w2001", "Removed"), contact("w2002", "Removed")):
            board.apply(event, 2.0)
            watch.on_event(event, 2.0)
        await asyncio.sleep(0.01)
        assert sent == [("PJSIP/w2001", True, REASON, "support")]  # w2002 is in no queue
        assert board.agents["PJSIP/w2001"].pause_reason == REASON
        watch.on_event(contact("w2001", "Created"), 3.0)
        await asyncio.sleep(0.01)
        assert sent[-1] == ("PJSIP/w2001", False, None, "support")
        # Someone paused for another reason: the phone dropping and coming back leaves it so.
        board.apply(member("pause", "PJSIP/w2001", paused=True, reason="lunch"), 4.0)
        watch.on_event(contact("w2001", "Removed"), 5.0)
        watch.on_event(contact("w2001", "Reachable"), 6.0)
        await asyncio.sleep(0.01)
        assert len(sent) == 2
        assert board.agents["PJSIP/w2001"].pause_reason == "lunch"
    finally:
        task.cancel()


async def test_pauses_are_per_queue() -> None:
    """Paused in one queue (or left paused 'phone offline' there by an earlier run of the
    server) the agent still takes the other queue's calls: going offline pauses them there,
    coming back lifts every 'phone offline' pause and leaves the others."""
    board = Board()
    sent: Sent = []
    watch = PhoneWatch(board, pauser(board, sent))
    task = asyncio.create_task(watch.run())
    try:
        board.apply(member("added", "PJSIP/w2001", queue="support"), 1.0)
        board.apply(member("added", "PJSIP/w2001", queue="sales", paused=True, reason="lunch"), 1)
        board.apply(
            member("snapshot", "PJSIP/w2001", queue="retention", paused=True, reason=REASON), 1
        )
        board.apply(
            member("status", "PJSIP/w2001", queue="retention", paused=True, reason=REASON), 1
        )
        watch.on_event(contact("w2001", "Removed"), 2.0)
        await asyncio.sleep(0.01)
        assert sent == [("PJSIP/w2001", True, REASON, "support")]
        watch.on_event(contact("w2001", "Reachable"), 3.0)
        await asyncio.sleep(0.01)
        assert sorted(sent[1:]) == [
            ("PJSIP/w2001", False, None, "retention"),
            ("PJSIP/w2001", False, None, "support"),
        ]
        assert board.agents["PJSIP/w2001"].paused_in == {"sales": "lunch"}
        board.apply(member("removed", "PJSIP/w2001", queue="sales"), 4.0)
        assert board.agents["PJSIP/w2001"].paused_in == {}
    finally:
        task.cancel()
