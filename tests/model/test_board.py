"""Wallboard numbers from the recorded captures, checked against what the README says
happened in each scenario."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from pathlib import Path

from callcenter.ami.replay import REPLAY_EVENTS, StreamClock, read_capture, replay_records
from callcenter.ami.stream import AmiStreamParser
from callcenter.model import events as ev
from callcenter.model.board import AgentState, Board
from callcenter.model.calls import CallTracker
from callcenter.model.records import CallFinished

CAPTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"

Probe = Callable[[ev.Event, Board, float], None]


def play(name: str, probe: Probe | None = None, board: Board | None = None) -> Board:
    """Replay a capture through the tracker and the board, as the server's pump does."""
    board = board or Board(service_level_s=20, tz=UTC)
    tracker = CallTracker()
    clock = StreamClock()

    def on_event(event: ev.Event) -> None:
        now = clock.observe(event)
        board.apply(event, now)
        for change in tracker.apply(event, now):
            if isinstance(change, CallFinished):
                board.record(change.record)
        if probe is not None:
            probe(event, board, now)

    AmiStreamParser(on_event, REPLAY_EVENTS).feed(read_capture(CAPTURES / name))
    return board


def test_inbound_abandoned_with_both_agents_paused() -> None:
    seen: dict[str, object] = {}

    def probe(event: ev.Event, board: Board, now: float) -> None:
        if isinstance(event, ev.Hangup) and "waiting" not in seen:  # the caller gives up
            seen["waiting"] = len(board.queue_view("support", now)["waiting"])  # type: ignore[arg-type]
        if isinstance(event, ev.QueueCallerAbandon):
            support = board.queue_view("support", now)
            seen["agents"] = {a.interface: (a.state, a.pause_reason) for a in board.agents.values()}
            seen["paused"] = support["agents_paused"]

    board = play("inbound_abandoned.ami", probe)
    assert seen["agents"] == {
        "Local/1001@agents/n": (AgentState.PAUSED, "lunch"),
        "Local/1002@agents/n": (AgentState.PAUSED, "meeting"),
    }
    assert seen["paused"] == 2
    assert seen["waiting"] == 1
    view = board.queue_view("support", board_time(board))
    assert (view["answered"], view["abandoned"], view["service_level"]) == (0, 1, 0.0)
    assert view["waiting"] == []


def board_time(board: Board) -> float:
    return 1_795_400_000.0


def test_inbound_answered_ring_talk_ready() -> None:
    states: list[tuple[str, AgentState, str]] = []

    def probe(event: ev.Event, board: Board, now: float) -> None:
        if isinstance(event, ev.AgentCalled | ev.AgentConnect | ev.AgentComplete):
            agent = board.agents[event.interface]
            states.append((type(event).__name__, agent.state, agent.caller_name))

    board = play("inbound_answered.ami.gz", probe)
    assert states == [
        ("AgentCalled", AgentState.RINGING, "Jürgen Müller"),
        ("AgentConnect", AgentState.ON_CALL, "Jürgen Müller"),
        ("AgentComplete", AgentState.READY, ""),
    ]
    view = board.queue_view("support", board_time(board))
    # one call, answered after Asterisk's HoldTime of 2 s, 5 s of talk (README + capture)
    assert (view["answered"], view["abandoned"]) == (1, 0)
    assert (view["avg_wait_s"], view["service_level"]) == (2.0, 1.0)
    assert view["avg_talk_s"] == 5.0


def test_ring_no_answer_then_another_agent() -> None:
    timeline: list[tuple[str, str, AgentState]] = []

    def probe(event: ev.Event, board: Board, now: float) -> None:
        if isinstance(event, ev.AgentCalled | ev.AgentRingNoAnswer | ev.AgentConnect):
            timeline.append(
                (type(event).__name__, event.interface, board.agents[event.interface].state)
            )

    play("inbound_ringnoanswer.ami.gz", probe)
    assert timeline[0] == ("AgentCalled", "Local/1999@agents/n", AgentState.RINGING)
    assert ("AgentRingNoAnswer", "Local/1999@agents/n", AgentState.READY) in timeline
    assert timeline[-1] == ("AgentConnect", "Local/1002@agents/n", AgentState.ON_CALL)


def test_sip_burst_counters_and_a_quiet_board_at_the_end() -> None:
    board = play("sip_burst.ami.gz")
    view = board.queue_view("support", board_time(board))
    # 120 driver calls (6 callers gave up at once) + one more call after the burst
    assert view["answered"] + view["abandoned"] == 121
    assert view["abandoned"] == 6
    assert view["waiting"] == []
    assert {a.state for a in board.agents.values()} <= {AgentState.READY}
    handled = sum(board.handled_today(f"PJSIP/{n}") for n in range(2001, 2021))
    assert handled == view["answered"]


def test_burst_load_300_answered_by_20_agents() -> None:
    busiest = {"logged_in": 0, "on_call": 0}

    def probe(event: ev.Event, board: Board, now: float) -> None:
        if isinstance(event, ev.AgentConnect):
            view = board.queue_view("support", now)
            busiest["logged_in"] = max(busiest["logged_in"], view["agents_logged_in"])  # type: ignore[type-var]
            busiest["on_call"] = max(busiest["on_call"], view["agents_on_call"])  # type: ignore[type-var]

    board = play("burst_load.ami.gz", probe)
    view = board.queue_view("support", board_time(board))
    assert (view["answered"], view["abandoned"]) == (300, 0)
    assert busiest["logged_in"] == 20  # 3001-3020, removed again at the end of the capture
    assert 1 < busiest["on_call"] <= 20


def test_counters_survive_a_restart_from_the_call_log() -> None:
    live = play("sip_burst.ami.gz")
    # A restarted server rebuilds today's numbers from the calls already in the call log.
    restarted = Board(service_level_s=20, tz=UTC)
    restarted.record_all(replay_records([[read_capture(CAPTURES / "sip_burst.ami.gz")]]))
    now = board_time(live)
    for key in ("answered", "abandoned", "service_level", "avg_wait_s", "avg_talk_s"):
        assert restarted.queue_view("support", now)[key] == live.queue_view("support", now)[key]


def test_resync_rebuilds_members_and_waiting_callers() -> None:
    board = Board()
    caller = ev.Channel("PJSIP/carrier-1", "9.0", "9.0", 6, "+4930", "Anna", "inbound", "s")
    snapshot: list[ev.Event] = [
        ev.QueueParams("support", "rrmemory", 1, 10, 2, 20),
        ev.QueueMemberChanged(
            "snapshot", "support", "PJSIP/2001", "Ann", "", 1, True, "Coffee", False, 0, 3
        ),
        ev.QueueEntry("support", 1, caller.name, "9.0", "+4930", "Anna", 42),
    ]
    board.resync(snapshot, 1000.0)
    assert board.agents["PJSIP/2001"].state is AgentState.PAUSED
    assert board.agents["PJSIP/2001"].pause_reason == "Coffee"
    view = board.queue_view("support", 1000.0)
    assert view["longest_wait_s"] == 42.0
    board.apply(ev.QueueCallerLeave("support", caller), 1001.0)
    assert board.queue_view("support", 1001.0)["waiting"] == []


def test_pause_intervals_with_their_reasons() -> None:
    pauses = []

    def probe(event: ev.Event, board: Board, now: float) -> None:
        pauses.extend(board.take_pauses())

    play("inbound_abandoned.ami", probe)
    assert sorted((p.interface, p.reason) for p in pauses) == [
        ("Local/1001@agents/n", "lunch"),
        ("Local/1002@agents/n", "meeting"),
    ]
    assert all(p.ended_at >= p.started_at for p in pauses)


def test_a_pause_across_a_reconnect_keeps_its_start() -> None:
    board = Board()
    member = ev.QueueMemberChanged(
        "pause", "support", "PJSIP/2001", "A", "", 1, True, "Lunch", False, 0, 0
    )
    board.apply(member, 100.0)
    board.resync([member], 500.0)
    assert board.agents["PJSIP/2001"].paused_since == 100.0
    unpaused = ev.QueueMemberChanged(
        "pause", "support", "PJSIP/2001", "A", "", 1, False, "", False, 0, 0
    )
    board.apply(unpaused, 900.0)
    [pause] = board.take_pauses()
    assert (pause.reason, pause.started_at, pause.ended_at) == ("Lunch", 100.0, 900.0)
