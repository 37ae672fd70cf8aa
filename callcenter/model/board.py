"""The wallboard model: what every queue and every agent is doing right now, and today's
counters per queue. Pure: fed the same typed events as the call tracker, plus the finished
call records (today's counters come from the call log, so they survive a server restart).

Asterisk facts used here:

- Queue membership and pause state arrive as ``QueueMemberAdded/Removed/Pause/Status``
  events and, after every (re)connect, as ``QueueMember`` items of the ``QueueStatus``
  snapshot. ``Status`` is the member's device state: 1 not in use, 2 in use, 3 busy,
  4 invalid, 5 unavailable, 6 ringing, 7 ringing while in use, 8 on hold.
- A member rings for a caller with ``AgentCalled``, stops ringing with ``AgentRingNoAnswer``
  (or ``AgentConnect`` for the one who answers; the others just get a status change), talks
  from ``AgentConnect`` until ``AgentComplete``.
- Waiting callers join with ``QueueCallerJoin`` and leave with ``QueueCallerLeave`` (answered
  or gone) — ``QueueCallerAbandon`` comes first when they gave up. After a reconnect the
  ``QueueEntry`` items of ``QueueStatus`` carry how long each caller has waited.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from callcenter.model import events as ev
from callcenter.model.records import CallRecord, Outcome


class AgentState(enum.Enum):
    READY = "ready"
    RINGING = "ringing"
    ON_CALL = "on_call"
    PAUSED = "paused"
    UNAVAILABLE = "unavailable"


_UNAVAILABLE_STATUS = frozenset({4, 5})


@dataclass(frozen=True, slots=True)
class PauseInterval:
    """An agent was paused (for ``reason``) from ``started_at`` to ``ended_at``."""

    interface: str
    reason: str
    started_at: float
    ended_at: float


@dataclass(slots=True)
class Agent:
    interface: str
    name: str
    queues: set[str] = field(default_factory=set)
    paused: bool = False
    pause_reason: str = ""
    paused_since: float | None = None
    device_status: int = 1
    ringing_call: str | None = None
    call_id: str | None = None
    caller_number: str = ""
    caller_name: str = ""
    state: AgentState = AgentState.READY
    since: float = 0.0
    calls_today: int = 0
    #: A browser phone's registration (AMI ContactStatus): "online", "offline", or None for
    #: a phone the PBX has said nothing about (desk phones).
    phone: str | None = None
    #: Asterisk pauses per queue: the queues this member is paused in, with each reason
    #: (``paused``/``pause_reason`` above sum them up for the wallboard).
    paused_in: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "interface": self.interface,
            "name": self.name,
            "queues": sorted(self.queues),
            "state": self.state.value,
            "since": self.since,
            "paused": self.paused,
            "pause_reason": self.pause_reason,
            "call_id": self.call_id or self.ringing_call,
            "caller_number": self.caller_number,
            "caller_name": self.caller_name,
            "calls_today": self.calls_today,
            "phone": self.phone,
        }


@dataclass(slots=True)
class Waiting:
    call_id: str
    caller_number: str
    caller_name: str
    since: float


@dataclass(slots=True)
class QueueToday:
    """Counters of the calls that finished today (the board's local day)."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    answered_within_sl: int = 0
    wait_s_answered: float = 0.0
    talk_s: float = 0.0


@dataclass(slots=True)
class Queue:
    name: str
    waiting: dict[str, Waiting] = field(default_factory=dict)  # caller Uniqueid -> caller
    today: QueueToday = field(default_factory=QueueToday)


class Board:
    """Live queues and agents. ``service_level_s``: a call answered within this many seconds
    counts towards the service level; ``tz``: the day boundary for today's counters."""

    def __init__(self, service_level_s: float = 20.0, tz: tzinfo | None = None) -> None:
        self.service_level_s = service_level_s
        self.tz = tz
        self.queues: dict[str, Queue] = {}
        self.agents: dict[str, Agent] = {}
        self._handled_today: dict[str, int] = {}  # interface -> answered calls, logged in or not
        self._pauses: list[PauseInterval] = []
        self._day: str | None = None
        #: Browser phones by queue interface (PJSIP/w2001): registered or not.
        self.phones: dict[str, bool] = {}

    # --- live events -----------------------------------------------------------------------

    def apply(self, event: ev.Event, now: float) -> bool:
        """Apply one event; True when the board changed (worth a wallboard push)."""
        handler = _HANDLERS.get(type(event))
        if handler is None:
            return False
        handler(self, event, now)
        return True

    def resync(self, snapshot: Sequence[ev.Event], now: float) -> None:
        """Rebuild membership and waiting callers from a ``QueueStatus`` snapshot; today's
        counters are kept (they come from the call log)."""
        members = [e for e in snapshot if isinstance(e, ev.QueueMemberChanged)]
        if not members and not any(isinstance(e, ev.QueueParams) for e in snapshot):
            return
        before = {a.interface: a for a in self.agents.values()}
        self.agents.clear()
        for queue in self.queues.values():
            queue.waiting.clear()
        for item in snapshot:
            if isinstance(item, ev.QueueParams):
                self._queue(item.queue)
            elif isinstance(item, ev.QueueMemberChanged):
                self._member(item, now)
            elif isinstance(item, ev.QueueEntry):
                self._queue(item.queue).waiting[item.uniqueid] = Waiting(
                    item.uniqueid, item.caller_num, item.caller_name, now - item.wait_s
                )
        for old in before.values():  # a pause that went on across the reconnect keeps its start
            if old.paused_since is None:
                continue
            agent = self.agents.get(old.interface)
            if agent is not None and agent.paused:
                agent.paused_since = old.paused_since
            else:
                self._pauses.append(
                    PauseInterval(old.interface, old.pause_reason, old.paused_since, now)
                )
        for snap in snapshot:
            if isinstance(snap, ev.ChannelSnapshot) and snap.application == "AppQueue":
                self._attach_talking_agent(snap, now)

    def _attach_talking_agent(self, snap: ev.ChannelSnapshot, now: float) -> None:
        for agent in self.agents.values():
            if agent.device_status in (2, 3) and snap.channel.name.startswith(agent.interface):
                agent.call_id = snap.channel.linkedid
                agent.caller_number = snap.channel.caller_num
                agent.caller_name = snap.channel.caller_name
                self._restate(agent, now - snap.duration_s)

    # --- today's counters ------------------------------------------------------------------

    def record(self, call: CallRecord) -> None:
        """Count a finished call in today's numbers (called for every CallFinished, and at
        start-up for the calls already in today's call log)."""
        day = self._day_of(call.ended_at)
        if self._day is None or day > self._day:
            self._new_day(day)
        elif day < self._day:
            return
        if call.agent is not None and call.outcome is Outcome.ANSWERED:
            self._handled_today[call.agent] = self._handled_today.get(call.agent, 0) + 1
            agent = self.agents.get(call.agent)
            if agent is not None:
                agent.calls_today = self._handled_today[call.agent]
        if call.queue is None:
            return
        today = self._queue(call.queue).today
        today.offered += 1
        if call.outcome is Outcome.ANSWERED:
            today.answered += 1
            today.wait_s_answered += call.wait_s
            today.talk_s += call.talk_s
            if call.wait_s <= self.service_level_s:
                today.answered_within_sl += 1
        elif call.outcome is Outcome.ABANDONED:
            today.abandoned += 1

    def take_pauses(self) -> list[PauseInterval]:
        """The pause intervals that ended since the last call (for the pause-time report)."""
        pauses, self._pauses = self._pauses, []
        return pauses

    def _set_paused(self, agent: Agent, paused: bool, reason: str, now: float) -> None:
        """Asterisk pauses per queue (one event per queue); the agent is paused while any
        event says so, and one interval is recorded per pause, with its reason."""
        if paused and agent.paused_since is None:
            agent.paused_since = now
        elif not paused and agent.paused_since is not None:
            self._pauses.append(
                PauseInterval(agent.interface, agent.pause_reason, agent.paused_since, now)
            )
            agent.paused_since = None
        agent.paused = paused
        agent.pause_reason = reason if paused else ""

    def handled_today(self, interface: str) -> int:
        return self._handled_today.get(interface, 0)

    def record_all(self, calls: Iterable[CallRecord]) -> None:
        for call in calls:
            self.record(call)

    def _day_of(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, self.tz).date().isoformat()

    def _new_day(self, day: str) -> None:
        self._day = day
        for queue in self.queues.values():
            queue.today = QueueToday()
        self._handled_today.clear()
        for agent in self.agents.values():
            agent.calls_today = 0

    # --- the wallboard view ----------------------------------------------------------------

    def snapshot(self, now: float) -> dict[str, object]:
        return {
            "at": now,
            "service_level_s": self.service_level_s,
            "queues": [self.queue_view(q, now) for q in sorted(self.queues)],
            "agents": [a.to_dict() for _, a in sorted(self.agents.items())],
        }

    def queue_view(self, name: str, now: float) -> dict[str, object]:
        queue = self.queues[name]
        today = queue.today
        members = [a for a in self.agents.values() if name in a.queues]
        waits = [now - w.since for w in queue.waiting.values()]
        closed = today.answered + today.abandoned
        return {
            "queue": name,
            "waiting": [
                {
                    "call_id": w.call_id,
                    "caller_number": w.caller_number,
                    "caller_name": w.caller_name,
                    "wait_s": round(now - w.since, 1),
                }
                for w in sorted(queue.waiting.values(), key=lambda w: w.since)
            ],
            "longest_wait_s": round(max(waits), 1) if waits else 0.0,
            "answered": today.answered,
            "abandoned": today.abandoned,
            "service_level": round(today.answered_within_sl / closed, 4) if closed else None,
            "avg_wait_s": round(today.wait_s_answered / today.answered, 1)
            if today.answered
            else None,
            "avg_talk_s": round(today.talk_s / today.answered, 1) if today.answered else None,
            "agents_logged_in": len(members),
            "agents_ready": sum(a.state is AgentState.READY for a in members),
            "agents_paused": sum(a.state is AgentState.PAUSED for a in members),
            "agents_on_call": sum(a.state is AgentState.ON_CALL for a in members),
        }

    # --- internals -------------------------------------------------------------------------

    def _queue(self, name: str) -> Queue:
        queue = self.queues.get(name)
        if queue is None:
            queue = self.queues[name] = Queue(name)
        return queue

    def _agent(self, interface: str, name: str, now: float) -> Agent:
        agent = self.agents.get(interface)
        if agent is None:
            agent = self.agents[interface] = Agent(
                interface,
                name or interface,
                since=now,
                calls_today=self._handled_today.get(interface, 0),
            )
            if interface in self.phones:
                agent.phone = "online" if self.phones[interface] else "offline"
        elif name:
            agent.name = name
        return agent

    def _restate(self, agent: Agent, now: float) -> None:
        if agent.call_id is not None:
            state = AgentState.ON_CALL
        elif agent.ringing_call is not None:
            state = AgentState.RINGING
        elif agent.paused:
            state = AgentState.PAUSED
        elif agent.device_status in _UNAVAILABLE_STATUS:
            state = AgentState.UNAVAILABLE
        else:
            state = AgentState.READY
        if state is not agent.state:
            agent.state = state
            agent.since = now

    def _member(self, e: ev.QueueMemberChanged, now: float) -> None:
        self._queue(e.queue)
        if e.kind == "removed":
            agent = self.agents.get(e.interface)
            if agent is not None:
                agent.queues.discard(e.queue)
                agent.paused_in.pop(e.queue, None)
                if not agent.queues:
                    self._set_paused(agent, False, "", now)
                    del self.agents[e.interface]
            return
        agent = self._agent(e.interface, e.member_name, now)
        agent.queues.add(e.queue)
        if e.paused:
            agent.paused_in[e.queue] = e.paused_reason
        else:
            agent.paused_in.pop(e.queue, None)
        self._set_paused(agent, e.paused, e.paused_reason, now)
        agent.device_status = e.status
        if e.kind == "snapshot" and e.interface in self.phones:
            # After a reconnect no ContactStatus is repeated: an unregistered browser phone
            # shows as an unavailable member.
            self._phone(e.interface, e.status not in _UNAVAILABLE_STATUS)
        if e.status == 1 and not e.in_call:
            # Not in use: whatever call we thought it had is over (a missed AgentComplete).
            agent.call_id = None
            agent.ringing_call = None
            agent.caller_number = agent.caller_name = ""
        self._restate(agent, now)

    def _caller_join(self, e: ev.QueueCallerJoin, now: float) -> None:
        c = e.channel
        self._queue(e.queue).waiting[c.uniqueid] = Waiting(
            c.linkedid, c.caller_num, c.caller_name, now
        )

    def _caller_leave(self, e: ev.QueueCallerLeave, now: float) -> None:
        self._queue(e.queue).waiting.pop(e.channel.uniqueid, None)

    def _caller_abandon(self, e: ev.QueueCallerAbandon, now: float) -> None:
        self._queue(e.queue).waiting.pop(e.channel.uniqueid, None)

    def _agent_called(self, e: ev.AgentCalled, now: float) -> None:
        agent = self._agent(e.interface, e.member_name, now)
        agent.queues.add(e.queue)
        agent.ringing_call = e.channel.linkedid
        agent.caller_number = e.channel.caller_num
        agent.caller_name = e.channel.caller_name
        self._restate(agent, now)

    def _agent_rna(self, e: ev.AgentRingNoAnswer, now: float) -> None:
        agent = self.agents.get(e.interface)
        if agent is not None and agent.call_id is None:
            agent.ringing_call = None
            agent.caller_number = agent.caller_name = ""
            self._restate(agent, now)

    def _agent_connect(self, e: ev.AgentConnect, now: float) -> None:
        agent = self._agent(e.interface, e.member_name, now)
        agent.ringing_call = None
        agent.call_id = e.channel.linkedid
        agent.caller_number = e.channel.caller_num
        agent.caller_name = e.channel.caller_name
        self._restate(agent, now)
        # The other members rung for this caller stop ringing.
        for other in self.agents.values():
            if other is not agent and other.ringing_call == e.channel.linkedid:
                other.ringing_call = None
                other.caller_number = other.caller_name = ""
                self._restate(other, now)

    def _agent_complete(self, e: ev.AgentComplete, now: float) -> None:
        agent = self.agents.get(e.interface)
        if agent is None:
            return
        agent.call_id = None
        agent.caller_number = agent.caller_name = ""
        self._restate(agent, now)

    def _contact(self, e: ev.ContactStatus, now: float) -> None:
        if e.endpoint:
            self._phone(f"PJSIP/{e.endpoint}", e.online)

    def _phone(self, interface: str, online: bool) -> None:
        self.phones[interface] = online
        agent = self.agents.get(interface)
        if agent is not None:
            agent.phone = "online" if online else "offline"

    def _caller_gone(self, e: ev.Hangup, now: float) -> None:
        """A caller hanging up while agents ring for them: stop their ringing. (The caller's
        channel is the call's first one: its Uniqueid is the Linkedid.)"""
        if e.channel.uniqueid != e.channel.linkedid:
            return
        for agent in self.agents.values():
            if agent.ringing_call == e.channel.linkedid and agent.call_id is None:
                agent.ringing_call = None
                agent.caller_number = agent.caller_name = ""
                self._restate(agent, now)
        for queue in self.queues.values():
            queue.waiting.pop(e.channel.uniqueid, None)


_Handler = Callable[[Board, Any, float], None]

_HANDLERS: dict[type, _Handler] = {
    ev.QueueMemberChanged: Board._member,
    ev.QueueCallerJoin: Board._caller_join,
    ev.QueueCallerLeave: Board._caller_leave,
    ev.QueueCallerAbandon: Board._caller_abandon,
    ev.AgentCalled: Board._agent_called,
    ev.AgentRingNoAnswer: Board._agent_rna,
    ev.AgentConnect: Board._agent_connect,
    ev.AgentComplete: Board._agent_complete,
    ev.Hangup: Board._caller_gone,
    ev.ContactStatus: Board._contact,
}
