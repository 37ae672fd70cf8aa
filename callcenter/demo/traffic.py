"""Simulated contact-center traffic for ``callcenter demo``, played through :class:`FakeAmiServer`.

:class:`DemoTraffic` makes the fake PBX behave like the call center's Asterisk 22 in the recorded
SIP captures (``tests/fixtures/ami/sip_*``): customers ring in over the carrier trunk
(``PJSIP/carrier-0000000a``), are answered, recorded and queued, and the agents' desk phones
(``PJSIP/2001-0000000b``, queue member ``Interface: PJSIP/2001``) ring, answer and hang up. Every
event carries fresh ids in Asterisk's shape: ``Uniqueid`` is ``<epoch of the channel's
creation>.<sequence>``, ``Linkedid`` is the Uniqueid of the call's first channel.

What the simulated Asterisk does, event by event as in the captures:

- **Inbound** (``Scenario``): Newchannel (``from-carrier``, ``Exten`` = the queue's DID),
  Newstate Up, ``VarSet MIXMONITOR_FILENAME`` when recorded, QueueCallerJoin. Free members are
  offered the call following the queue's strategy (``rrmemory``, ``linear``, ``ringall``):
  Newchannel of the phone, AgentCalled, DialBegin, Newstate Ringing, QueueMemberStatus 6. An
  answer gives DialEnd ANSWER, QueueCallerLeave, AgentConnect, QueueMemberStatus 2, two
  BridgeEnter; after the talk AgentComplete, BridgeLeave and Hangup, the side hanging up
  first. No answer within the queue's ring timeout (8 s, as ``queues.conf``) gives
  AgentRingNoAnswer (RingTime in ms), DialEnd NOANSWER + CANCEL, the phone's Hangup, and the
  next member is tried after 1 s. A caller who gives up gets QueueCallerAbandon and
  QueueCallerLeave; ringing phones are cancelled.
- **Paused members** (``Paused: 1`` in :attr:`FakeAmiServer.members`, which QueuePause
  changes) and busy phones (one call per phone, ``ringinuse = no``) are never offered calls;
  QueueAdd/QueueRemove change who is offered calls at once.
- **Transfers**: a blind transfer emits ``BlindTransfer`` (as the AMI action or a phone's SIP
  REFER does), the caller leaves the bridge, AgentComplete ``Reason: transfer``, the first
  agent hangs up and the caller's channel dials the target (``DialString: 2002``). A
  ``Redirect`` moves the caller the same way but emits no transfer event, and AgentComplete
  comes at the very end.
- **Click-to-call**: ``Originate Channel: PJSIP/<ext>`` (any context, ``Exten`` = the number)
  rings the agent's phone first (DialBegin without a caller, as Asterisk dials an originated
  channel itself), then ``OriginateResponse`` with the action's ActionID, then DialBegin from
  the phone to the carrier. The customer behaves by the number's last two digits like the
  customers of the lab PBX kit: ``02`` busy, ``03`` never answers (DialEnd NOANSWER after the
  dial timeout), ``04`` congestion, ``05`` answers after 3 s and hangs up after 3 s, anything
  else answers after 3 s. An extension as ``Exten`` rings that desk phone instead. A phone
  that is already in a call gets no channel: ``OriginateResponse`` Failure, Reason 5.
- **Actions from the server**: ``Hangup`` of a channel of a simulated call ends that call the
  way Asterisk would (the other party is hung up, a ringing phone counts as declined, a
  waiting caller as abandoned); ``BlindTransfer`` and ``Redirect`` transfer it to the target
  extension (one of the phones, or a number dialled over the carrier). ``Atxfer`` is answered
  by the fake PBX but not simulated.

The live state of the fake PBX (``channels``, queue ``entries`` and ``members``) follows every
event, so a server that reconnects in the middle of calls finds them with ``CoreShowChannels``
and ``QueueStatus``, as it would on a real Asterisk.

Time: every duration in :class:`TrafficConfig` is in *call seconds*; they are slept as
``seconds * time_scale`` (tests run whole calls in a few milliseconds). Header values such as
``HoldTime`` report the time that really passed, so they agree with the server's clock.
Randomness: one seeded :class:`random.Random` draws every :class:`CallPlan` (scenario, queue,
caller, durations), so the same seed gives the same sequence of calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import random
import re
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from callcenter.demo.fake_pbx import ActionFields, FakeAmiServer

log = logging.getLogger(__name__)

#: A caller-ID name that is an XSS probe: it must reach every page as text, never as markup.
HOSTILE_NAME = "<img src=x onerror=alert(1)>"

_STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
_CAUSE_TEXT = {
    0: "Unknown",
    16: "Normal Clearing",
    17: "User busy",
    26: "Answered elsewhere",
    34: "Circuit/channel congestion",
}
_PHONE_INTERFACE = re.compile(r"^PJSIP/(\w+)$")
_CALLER_ID = re.compile(r'\s*"?([^"<]*)"?\s*<([^>]*)>')
#: Asterisk's ``retry`` (queues.conf): the pause before the next member is rung.
_RETRY_S = 1.0
#: Device states Asterisk reports in QueueMemberStatus.
_NOT_IN_USE, _IN_USE, _RINGING = 1, 2, 6


@dataclass(frozen=True, slots=True)
class Caller:
    """A customer as the carrier presents them: ``number`` in whatever format the carrier
    sends (``+4930…``, national ``030…``, ``004930…``), empty when withheld; ``name`` may be
    empty (no CNAM)."""

    number: str
    name: str = ""


#: Who rings in. The named ones are meant to be the demo's sample customers; the rest are
#: numbers the CRM does not know. The hostile name shows up now and then on purpose.
DEFAULT_CALLERS: tuple[Caller, ...] = (
    Caller("+493012345678", "Jürgen Müller"),
    Caller("03098765432", "Anna Schmidt"),
    Caller("004930555123", "Zoë Weiß"),
    Caller("+4940123456", "Hamburg Logistik GmbH"),
    Caller("+491701234567", "Lukas Becker"),
    Caller("+493077788899", "Emre Yılmaz"),
    Caller("0301112233", "Schulz, Petra"),
    Caller("+4930666000666", HOSTILE_NAME),
    Caller("03044556677"),
    Caller("+4915112345678"),
    Caller(""),
)


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """One queue of the simulated PBX: its DID, strategy (``rrmemory``, ``linear``,
    ``ringall``), members (phone extensions, in member order), ring timeout and its share of
    inbound calls (``weight``)."""

    name: str
    did: str
    strategy: str
    members: tuple[str, ...]
    ring_timeout_s: float = 8.0
    weight: float = 1.0


AGENT_EXTENSIONS: tuple[str, ...] = tuple(f"20{n:02d}" for n in range(1, 11))

#: The lab PBX's queues, DIDs and strategies. 2001 is in every queue (rung by every sales call
#: while free), so whoever logs in as ``agent1`` sees screen pops within seconds.
DEFAULT_QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec(
        "support", "4930555100", "rrmemory", ("2001", "2002", "2003", "2004", "2005"), 8.0, 3
    ),
    QueueSpec("sales", "4930555101", "ringall", ("2001", "2005", "2006", "2007"), 8.0, 2),
    QueueSpec("retention", "4930555102", "linear", ("2008", "2009", "2010", "2001"), 8.0, 1),
)


class Scenario(enum.Enum):
    """How an inbound call goes (when enough agents are free; otherwise the caller waits)."""

    ANSWERED = "answered"
    RING_NO_ANSWER = "ring_no_answer"  # the first member rung does not answer, the next does
    ABANDONED = "abandoned"  # nobody answers before the caller gives up
    BLIND_TRANSFER = "blind_transfer"  # BlindTransfer event to another agent
    REDIRECT_TRANSFER = "redirect_transfer"  # AMI Redirect to another agent, no event


DEFAULT_MIX: tuple[tuple[Scenario, float], ...] = (
    (Scenario.ANSWERED, 0.55),
    (Scenario.RING_NO_ANSWER, 0.15),
    (Scenario.ABANDONED, 0.12),
    (Scenario.BLIND_TRANSFER, 0.09),
    (Scenario.REDIRECT_TRANSFER, 0.09),
)


class CustomerBehaviour(enum.Enum):
    """How a dialled customer reacts, by the number's last two digits (lab PBX kit rules)."""

    ANSWERS = "answers"
    BUSY = "busy"
    NEVER_ANSWERS = "never_answers"
    CONGESTION = "congestion"
    ANSWERS_AND_HANGS_UP = "answers_and_hangs_up"


def customer_behaviour(number: str) -> CustomerBehaviour:
    """``…02`` busy, ``…03`` never answers, ``…04`` congestion, ``…05`` answers and hangs up
    after 3 s, anything else answers after 3 s."""
    return {
        "02": CustomerBehaviour.BUSY,
        "03": CustomerBehaviour.NEVER_ANSWERS,
        "04": CustomerBehaviour.CONGESTION,
        "05": CustomerBehaviour.ANSWERS_AND_HANGS_UP,
    }.get(number[-2:], CustomerBehaviour.ANSWERS)


@dataclass(frozen=True)
class TrafficConfig:
    """Durations are call seconds (see the module docstring); ranges are ``(low, high)``."""

    calls_per_minute: float = 8.0
    time_scale: float = 1.0
    seed: int | None = None
    queues: tuple[QueueSpec, ...] = DEFAULT_QUEUES
    callers: tuple[Caller, ...] = DEFAULT_CALLERS
    mix: tuple[tuple[Scenario, float], ...] = DEFAULT_MIX
    #: How long the answering agent's phone rings.
    ring_s: tuple[float, float] = (2.0, 6.0)
    talk_s: tuple[float, float] = (10.0, 60.0)
    #: How long callers of the ABANDONED scenario wait before giving up.
    patience_s: tuple[float, float] = (4.0, 20.0)
    #: Every other caller gives up after this long in the queue too.
    max_wait_s: float = 180.0
    #: Share of calls the agent (not the caller) hangs up.
    agent_hangup_ratio: float = 0.3
    #: Share of inbound calls recorded with MixMonitor.
    recording_ratio: float = 0.8
    recording_dir: str = "/var/spool/asterisk/monitor/"
    #: Click-to-call: the agent's phone answers after this long; the customer after
    #: ``customer_answer_s``; an unanswered dial gives up after ``dial_timeout_s``.
    agent_answer_s: float = 1.0
    customer_answer_s: float = 3.0
    dial_timeout_s: float = 30.0
    #: No new inbound calls while this many simulated calls are up.
    max_active_calls: int = 40

    def __post_init__(self) -> None:
        if self.calls_per_minute < 0:
            raise ValueError("calls_per_minute must be 0 or more")
        if self.time_scale <= 0:
            raise ValueError("time_scale must be positive")
        if not self.queues or not self.callers:
            raise ValueError("at least one queue and one caller are needed")
        if not self.mix or any(weight < 0 for _, weight in self.mix):
            raise ValueError("mix needs scenarios with non-negative weights")
        for low, high in (self.ring_s, self.talk_s, self.patience_s):
            if not 0 <= low <= high:
                raise ValueError(f"bad duration range ({low}, {high})")
        for spec in self.queues:
            if spec.strategy not in {"rrmemory", "linear", "ringall"}:
                raise ValueError(f"queue {spec.name}: unknown strategy {spec.strategy!r}")


@dataclass(frozen=True, slots=True)
class CallPlan:
    """Everything random about one inbound call, drawn up front (see :func:`plan_call`)."""

    scenario: Scenario
    queue: str
    caller: Caller
    ring_s: float
    talk_s: float
    hangup_by: str  # "caller" or "agent"
    patience_s: float
    recorded: bool
    transfer_talk_s: float
    seed: int


def plan_call(
    rng: random.Random, config: TrafficConfig, scenario: Scenario | None = None
) -> CallPlan:
    """Draw one call. Always consumes the same draws, so a seeded ``rng`` gives the same
    sequence of plans whatever scenarios are forced."""
    scenarios = [s for s, _ in config.mix]
    drawn = rng.choices(scenarios, [w for _, w in config.mix])[0]
    queue = rng.choices([q.name for q in config.queues], [q.weight for q in config.queues])[0]
    return CallPlan(
        scenario=scenario or drawn,
        queue=queue,
        caller=rng.choice(config.callers),
        ring_s=rng.uniform(*config.ring_s),
        talk_s=rng.uniform(*config.talk_s),
        hangup_by="agent" if rng.random() < config.agent_hangup_ratio else "caller",
        patience_s=rng.uniform(*config.patience_s),
        recorded=rng.random() < config.recording_ratio,
        transfer_talk_s=rng.uniform(*config.talk_s),
        seed=rng.getrandbits(64),
    )


# --- internal call state ----------------------------------------------------------------------


@dataclass(eq=False)
class _Leg:
    """One channel of a simulated call, with the fields Asterisk puts in channel events."""

    call: _Call
    name: str
    uniqueid: str
    linkedid: str
    created: float
    phone: str  # the extension for a desk phone, "" for the carrier trunk
    caller_num: str
    caller_name: str
    context: str
    exten: str
    state: int = 0
    priority: int = 1
    connected_num: str = ""
    connected_name: str = ""
    application: str = ""
    application_data: str = ""
    bridge: str = ""
    alive: bool = True
    holds_phone: bool = False  # this leg made its phone busy (and frees it at the end)

    def headers(self, prefix: str = "") -> dict[str, str]:
        values = {
            "Channel": self.name,
            "ChannelState": str(self.state),
            "ChannelStateDesc": _STATE_DESC.get(self.state, "Unknown"),
            "CallerIDNum": self.caller_num or "<unknown>",
            "CallerIDName": self.caller_name or "<unknown>",
            "ConnectedLineNum": self.connected_num or "<unknown>",
            "ConnectedLineName": self.connected_name or "<unknown>",
            "Language": "en",
            "AccountCode": "",
            "Context": self.context,
            "Exten": self.exten,
            "Priority": str(self.priority),
            "Uniqueid": self.uniqueid,
            "Linkedid": self.linkedid,
        }
        return {prefix + key: value for key, value in values.items()}


@dataclass(frozen=True, slots=True)
class _QueueAgent:
    """The queue member a call was connected to: AgentComplete is still owed for it."""

    queue: str
    interface: str
    member_name: str
    leg: _Leg | None


@dataclass(frozen=True, slots=True)
class _HungUp:
    leg: _Leg


@dataclass(frozen=True, slots=True)
class _Transfer:
    leg: _Leg  # the channel the action named
    exten: str
    kind: str  # "blind" or "redirect"


class _Wake:
    """Something changed for waiting callers (a member freed, paused, added)."""


_WAKE = _Wake()
_Interrupt = _HungUp | _Transfer | _Wake


@dataclass(eq=False)
class _Call:
    rng: random.Random
    call_id: str = ""
    legs: list[_Leg] = field(default_factory=list)
    interrupts: asyncio.Queue[_Interrupt] = field(default_factory=asyncio.Queue)
    customer: _Leg | None = None
    agent_leg: _Leg | None = None
    ringing: dict[str, _Leg] = field(default_factory=dict)
    queue: str | None = None
    entry: dict[str, str] | None = None
    joined_at: float = 0.0
    answered_at: float | None = None
    queue_agent: _QueueAgent | None = None
    waiting: bool = False


def _text(value: str | list[str] | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else (value[-1] if value else "")


def _hms(seconds: float) -> str:
    whole = max(int(seconds), 0)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


# --- the generator ----------------------------------------------------------------------------


class DemoTraffic:
    """Drives ``server`` (see the module docstring). :meth:`install` puts the queues and
    members in place and hooks into the server's actions; :meth:`start` also starts the
    stream of inbound calls (Poisson arrivals at ``calls_per_minute``, the first at once);
    :meth:`stop` cancels everything and waits for it. :meth:`place_call` runs one planned
    call to its end (tests use it directly)."""

    def __init__(
        self,
        server: FakeAmiServer,
        config: TrafficConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.server = server
        self.config = config or TrafficConfig()
        self._clock = clock
        self._rng = random.Random(self.config.seed)
        self._ids = itertools.count(1)
        self._channel_ids = itertools.count(1)
        self._legs: dict[str, _Leg] = {}  # live channel name -> leg
        self._busy: dict[str, _Call] = {}  # phone extension -> the call ringing or using it
        self._calls: dict[_Call, None] = {}  # active calls, oldest first
        self._rr_last: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._call_tasks: set[asyncio.Task[None]] = set()
        self._installed = False
        #: Inbound calls placed and click-to-calls started so far.
        self.calls_started = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def install(self) -> None:
        """Create the queues and log the members in (QueueMemberAdded each), take over
        Originate and listen to the server's actions. Idempotent."""
        if self._installed:
            return
        self._installed = True
        for spec in self.config.queues:
            if spec.name not in self.server.queues:
                self.server.add_queue(spec.name, spec.strategy)
            for ext in spec.members:
                interface = f"PJSIP/{ext}"
                if self._member(spec.name, ext) is not None:
                    continue
                member = self.server.add_member(spec.name, interface, member_name=f"Agent {ext}")
                self._emit("QueueMemberAdded", "agent", member)
        self.server.originate_handler = self.handle_originate
        self.server.action_listeners.append(self._on_action)

    def start(self) -> None:
        """:meth:`install`, then start the inbound call stream (needs a running loop)."""
        self.install()
        self._spawn(self._arrivals(), "demo-traffic arrivals", call=False)
        self._spawn(self._refresh_live_state(), "demo-traffic live state", call=False)

    async def stop(self) -> None:
        """Cancel the call stream and every call in progress (silently: the fake PBX's live
        state is cleaned up, no events are sent) and wait for them."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._installed:
            self._installed = False
            with contextlib.suppress(ValueError):
                self.server.action_listeners.remove(self._on_action)
            if self.server.originate_handler == self.handle_originate:
                self.server.originate_handler = None

    async def wait_idle(self) -> None:
        """Wait until no simulated call is up (the call stream itself keeps running)."""
        while self._call_tasks:
            await asyncio.gather(*self._call_tasks, return_exceptions=True)

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    def plan(self, scenario: Scenario | None = None) -> CallPlan:
        """The next call from the seeded generator (``scenario`` forces how it goes)."""
        return plan_call(self._rng, self.config, scenario)

    async def place_call(self, plan: CallPlan) -> None:
        """Run one inbound call from the carrier to its end."""
        call = self._new_call(plan.seed)
        self.calls_started += 1
        try:
            await self._inbound(call, plan)
        finally:
            self._finish(call)

    def handle_originate(self, server: FakeAmiServer, action: ActionFields) -> None:
        """The fake PBX's originate handler: ``Channel: PJSIP/<ext>`` + ``Exten: <number or
        extension>`` runs a click-to-call; anything else fails like an Originate of a channel
        Asterisk cannot create (``OriginateResponse`` Failure, Reason 0)."""
        channel = _text(action.get("Channel"))
        match = _PHONE_INTERFACE.match(channel)
        exten = _text(action.get("Exten"))
        if match is None or not exten:
            log.info("demo PBX: Originate of %r to %r is not simulated", channel, exten)
            self._originate_response(action, None, success=False, reason=0)
            return
        call = self._new_call(self._rng.getrandbits(64))
        self.calls_started += 1

        async def run() -> None:
            try:
                await self._click_to_call(call, match.group(1), exten, action)
            finally:
                self._finish(call)

        self._spawn(run(), f"demo-traffic originate {channel} {exten}")

    # -- tasks -------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str, *, call: bool = True) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        if call:
            self._call_tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._call_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("demo traffic: %s failed", task.get_name(), exc_info=task.exception())

    async def _arrivals(self) -> None:
        rate_per_s = self.config.calls_per_minute / 60.0
        if rate_per_s <= 0:
            return
        while True:
            if len(self._calls) < self.config.max_active_calls:
                plan = self.plan()
                self._spawn(self.place_call(plan), f"demo-traffic call {self.calls_started + 1}")
            await asyncio.sleep(self._rng.expovariate(rate_per_s) * self.config.time_scale)

    async def _refresh_live_state(self) -> None:
        """Keep ``Duration`` of CoreShowChannels and ``Wait`` of QueueStatus current."""
        while True:
            now = self._clock()
            for leg in self._legs.values():
                channel = self.server.channels.get(leg.name)
                if channel is not None:
                    channel["Duration"] = _hms(now - leg.created)
            for call in self._calls:
                if call.entry is not None:
                    call.entry["Wait"] = str(int(now - call.joined_at))
            await asyncio.sleep(1.0)

    async def _wait(
        self, call: _Call, seconds: float, *, wake: bool = False, transfers: bool = False
    ) -> _Interrupt | None:
        """Sleep ``seconds`` (call time) unless something happens to the call first: a
        hang-up always ends the wait; transfer requests and wake-ups only when asked for
        (otherwise they are dropped: Asterisk ignores them in that phase too)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(seconds, 0.0) * self.config.time_scale
        while True:
            try:
                if call.interrupts.empty():
                    async with asyncio.timeout_at(deadline):
                        item = await call.interrupts.get()
                else:
                    item = call.interrupts.get_nowait()
            except TimeoutError:
                return None
            if isinstance(item, _HungUp):
                return item
            if isinstance(item, _Transfer) and transfers:
                return item
            if isinstance(item, _Wake) and wake:
                return item
            if isinstance(item, _Transfer):
                log.info(
                    "demo PBX: transfer of %s ignored, the call is not connected", item.leg.name
                )

    # -- reacting to actions -------------------------------------------------------------------

    def _on_action(self, server: FakeAmiServer, action: ActionFields) -> None:
        name = _text(action.get("Action")).lower()
        if name in {"queuepause", "queueadd", "queueremove"}:
            if name == "queueadd":
                self._sync_added_member(_text(action.get("Queue")), _text(action.get("Interface")))
            self._wake_waiting()
            return
        leg = self._legs.get(_text(action.get("Channel")))
        if leg is None:
            return
        if name == "hangup" and leg.name not in server.channels:
            # The fake PBX removed the channel and sent its Hangup; the rest is ours.
            self._forget(leg)
            leg.call.interrupts.put_nowait(_HungUp(leg))
        elif name in {"blindtransfer", "redirect"}:
            kind = "blind" if name == "blindtransfer" else "redirect"
            leg.call.interrupts.put_nowait(_Transfer(leg, _text(action.get("Exten")), kind))
        elif name == "atxfer":
            log.info("demo PBX: attended transfer of %s is not simulated", leg.name)

    def _sync_added_member(self, queue: str, interface: str) -> None:
        match = _PHONE_INTERFACE.match(interface)
        member = self._member(queue, match.group(1)) if match else None
        if member is not None and match is not None and match.group(1) in self._busy:
            member["Status"] = str(_IN_USE)

    def _wake_waiting(self) -> None:
        for call in self._calls:
            if call.waiting:
                call.interrupts.put_nowait(_WAKE)

    # -- events and live state -------------------------------------------------------------------

    def _emit(self, event: str, privilege: str, *parts: Mapping[str, str]) -> None:
        headers: dict[str, str] = {"Event": event, "Privilege": f"{privilege},all"}
        for part in parts:
            headers.update(part)
        self.server.broadcast_event(headers)

    def _new_call(self, seed: int) -> _Call:
        call = _Call(rng=random.Random(seed))
        self._calls[call] = None
        return call

    def _new_leg(
        self,
        call: _Call,
        phone: str,
        caller_num: str,
        caller_name: str,
        *,
        context: str,
        exten: str,
        state: int,
    ) -> _Leg:
        now = self._clock()
        uniqueid = f"{int(now)}.{next(self._ids)}"
        if not call.call_id:
            call.call_id = uniqueid
        device = phone or "carrier"
        leg = _Leg(
            call=call,
            name=f"PJSIP/{device}-{next(self._channel_ids):08x}",
            uniqueid=uniqueid,
            linkedid=call.call_id,
            created=now,
            phone=phone,
            caller_num=caller_num,
            caller_name=caller_name,
            context=context,
            exten=exten,
            state=state,
        )
        call.legs.append(leg)
        self._legs[leg.name] = leg
        self._show(leg)
        self._emit("Newchannel", "call", leg.headers())
        return leg

    def _show(self, leg: _Leg) -> None:
        """Mirror the leg into the fake PBX's channel table (what CoreShowChannels lists)."""
        if not leg.alive:
            return
        self.server.channels[leg.name] = {
            **leg.headers(),
            "Application": leg.application,
            "ApplicationData": leg.application_data,
            "Duration": _hms(self._clock() - leg.created),
            "BridgeId": leg.bridge,
        }

    def _forget(self, leg: _Leg) -> None:
        leg.alive = False
        self._legs.pop(leg.name, None)
        self.server.channels.pop(leg.name, None)

    def _newstate(self, leg: _Leg, state: int) -> None:
        leg.state = state
        self._show(leg)
        self._emit("Newstate", "call", leg.headers())

    def _hangup(self, leg: _Leg, cause: int = 16) -> None:
        if not leg.alive:
            return
        self._forget(leg)
        text = _CAUSE_TEXT.get(cause, "Unknown")
        self._emit("Hangup", "call", leg.headers(), {"Cause": str(cause), "Cause-txt": text})

    def _dial_begin(self, src: _Leg | None, dest: _Leg, dial_string: str) -> None:
        caller = [src.headers()] if src is not None else []
        self._emit("DialBegin", "call", *caller, dest.headers("Dest"), {"DialString": dial_string})

    def _dial_end(self, src: _Leg | None, dest: _Leg, status: str) -> None:
        caller = [src.headers()] if src is not None else []
        self._emit("DialEnd", "call", *caller, dest.headers("Dest"), {"DialStatus": status})

    def _bridge(self, call: _Call, first: _Leg, second: _Leg) -> None:
        bridge = str(uuid.UUID(int=call.rng.getrandbits(128), version=4))
        for count, leg in enumerate((first, second), start=1):
            leg.bridge = bridge
            self._show(leg)
            self._emit("BridgeEnter", "call", self._bridge_headers(bridge, count), leg.headers())

    def _bridge_leave(self, leg: _Leg) -> None:
        bridge = leg.bridge
        if not bridge or not leg.alive:
            return
        leg.bridge = ""
        self._show(leg)
        left = sum(1 for other in self._legs.values() if other.bridge == bridge)
        self._emit("BridgeLeave", "call", self._bridge_headers(bridge, left), leg.headers())

    @staticmethod
    def _bridge_headers(bridge: str, count: int) -> dict[str, str]:
        return {
            "BridgeUniqueid": bridge,
            "BridgeType": "basic",
            "BridgeTechnology": "simple_bridge",
            "BridgeCreator": "<unknown>",
            "BridgeName": "<unknown>",
            "BridgeNumChannels": str(count),
            "BridgeVideoSourceMode": "none",
        }

    def _member(self, queue: str, ext: str) -> dict[str, str] | None:
        interface = f"PJSIP/{ext}"
        return next(
            (m for m in self.server.members if m["Queue"] == queue and m["Interface"] == interface),
            None,
        )

    def _member_name(self, ext: str) -> str:
        interface = f"PJSIP/{ext}"
        names = (m["MemberName"] for m in self.server.members if m["Interface"] == interface)
        return next(names, f"Agent {ext}")

    def _device_state(
        self, ext: str, status: int, *, queue: str | None = None, completed: bool = False
    ) -> None:
        """The phone's device state changed: QueueMemberStatus for each of its memberships
        (``InCall`` only in the queue whose call it is)."""
        interface = f"PJSIP/{ext}"
        for member in self.server.members:
            if member["Interface"] != interface:
                continue
            member["Status"] = str(status)
            if member["Queue"] == queue:
                member["InCall"] = "1" if status == _IN_USE and not completed else "0"
                if completed:
                    member["CallsTaken"] = str(int(member["CallsTaken"]) + 1)
                    member["LastCall"] = str(int(self._clock()))
            self._emit("QueueMemberStatus", "agent", member)

    def _take_phone(self, call: _Call, leg: _Leg) -> None:
        self._busy[leg.phone] = call
        leg.holds_phone = True

    def _release_phone(self, leg: _Leg, *, queue: str | None = None) -> None:
        if not leg.holds_phone:
            return
        leg.holds_phone = False
        if self._busy.get(leg.phone) is leg.call:
            del self._busy[leg.phone]
        self._device_state(leg.phone, _NOT_IN_USE, queue=queue, completed=queue is not None)
        self._wake_waiting()

    def _finish(self, call: _Call) -> None:
        """The call is over (or cancelled): nothing of it may stay in the live state."""
        for leg in call.legs:
            if leg.alive:
                self._forget(leg)
            if leg.holds_phone and self._busy.get(leg.phone) is call:
                del self._busy[leg.phone]
            leg.holds_phone = False
        if call.entry is not None:
            self._drop_entry(call)
        self._calls.pop(call, None)
        self._wake_waiting()

    # -- queues ----------------------------------------------------------------------------------

    def _queue_spec(self, name: str) -> QueueSpec:
        return next(q for q in self.config.queues if q.name == name)

    def _join_queue(self, call: _Call, queue: str) -> None:
        customer = call.customer
        assert customer is not None
        call.queue = queue
        call.joined_at = self._clock()
        self.server.add_entry(queue, self.server.channels[customer.name])
        call.entry = self.server.entries[-1]
        count = sum(1 for e in self.server.entries if e["Queue"] == queue)
        self._emit(
            "QueueCallerJoin",
            "agent",
            customer.headers(),
            {"Queue": queue, "Position": call.entry["Position"], "Count": str(count)},
        )

    def _drop_entry(self, call: _Call) -> str:
        entry, call.entry = call.entry, None
        if entry is None:
            return "1"
        self.server.entries = [e for e in self.server.entries if e is not entry]
        waiting = [e for e in self.server.entries if e["Queue"] == entry["Queue"]]
        for position, other in enumerate(waiting, start=1):
            other["Position"] = str(position)
        return entry["Position"]

    def _leave_queue(self, call: _Call) -> None:
        customer, queue = call.customer, call.queue
        assert customer is not None and queue is not None
        position = self._drop_entry(call)
        count = sum(1 for e in self.server.entries if e["Queue"] == queue)
        self._emit(
            "QueueCallerLeave",
            "agent",
            customer.headers(),
            {"Queue": queue, "Position": position, "Count": str(count)},
        )

    def _count(self, queue: str, key: str) -> None:
        params = self.server.queues.get(queue)
        if params is not None:
            params[key] = str(int(params.get(key, "0")) + 1)

    def _free_phones(self, queue: str) -> list[str]:
        """Members of ``queue`` that may be offered a call: desk phones, not paused, idle."""
        free = []
        for member in self.server.members:
            match = _PHONE_INTERFACE.match(member["Interface"])
            if member["Queue"] != queue or match is None or member.get("Paused") == "1":
                continue
            if match.group(1) not in self._busy and match.group(1) not in free:
                free.append(match.group(1))
        return free

    def _pick(self, spec: QueueSpec, tried: Iterable[str]) -> list[str]:
        """Whom the queue rings next, by its strategy; members already tried for this caller
        come last (Asterisk moves on to the next member after a ring-no-answer)."""
        free = self._free_phones(spec.name)
        done = set(tried)
        fresh = [ext for ext in free if ext not in done] or free
        if not fresh:
            return []
        if spec.strategy == "ringall":
            return fresh
        if spec.strategy == "linear":
            return fresh[:1]
        order = [
            m["Interface"].removeprefix("PJSIP/")
            for m in self.server.members
            if m["Queue"] == spec.name and _PHONE_INTERFACE.match(m["Interface"])
        ]
        last = self._rr_last.get(spec.name)
        start = order.index(last) + 1 if last in order else 0
        rotated = order[start:] + order[:start]
        chosen = next(ext for ext in rotated if ext in fresh)
        self._rr_last[spec.name] = chosen
        return [chosen]

    # -- inbound calls -------------------------------------------------------------------------

    async def _inbound(self, call: _Call, plan: CallPlan) -> None:
        spec = self._queue_spec(plan.queue)
        caller = plan.caller
        customer = self._new_leg(
            call,
            "",
            caller.number,
            caller.name,
            context="from-carrier",
            exten=spec.did,
            state=4,
        )
        call.customer = customer
        customer.context, customer.exten, customer.priority = "inbound", "enter", 2
        self._newstate(customer, 6)
        if plan.recorded:
            customer.priority = 3
            path = f"{self.config.recording_dir}{customer.uniqueid}.wav"
            self._emit(
                "VarSet",
                "dialplan",
                customer.headers(),
                {"Variable": "MIXMONITOR_FILENAME", "Value": path},
            )
        customer.priority = 4
        customer.application, customer.application_data = "Queue", f"{spec.name},tT,,,600"
        self._show(customer)
        self._join_queue(call, spec.name)
        if await self._offer(call, plan, spec):
            await self._converse(call, plan)

    async def _offer(self, call: _Call, plan: CallPlan, spec: QueueSpec) -> bool:
        """Offer the waiting caller to members until one answers (True) or the caller gives
        up or hangs up (False, the call is over)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        patience = (
            plan.patience_s if plan.scenario is Scenario.ABANDONED else self.config.max_wait_s
        )
        unanswered = 1 if plan.scenario is Scenario.RING_NO_ANSWER else 0
        tried: list[str] = []
        while True:
            remaining = patience - (loop.time() - started) / self.config.time_scale
            if remaining <= 0:
                self._abandon(call)
                return False
            phones = self._pick(spec, tried)
            if not phones:
                call.waiting = True
                interrupt = await self._wait(call, remaining, wake=True)
                call.waiting = False
                if isinstance(interrupt, _HungUp):
                    self._abandon(call)
                    return False
                continue
            answering: str | None = None
            ring_for = spec.ring_timeout_s
            answers = plan.scenario is not Scenario.ABANDONED and unanswered == 0
            if answers and plan.ring_s < spec.ring_timeout_s:
                answering = call.rng.choice(phones)
                ring_for = plan.ring_s
            ring_started = self._clock()
            for ext in phones:
                self._ring_member(call, spec, ext)
            interrupt = await self._wait(call, min(ring_for, remaining))
            if isinstance(interrupt, _HungUp) and interrupt.leg is call.customer:
                self._abandon(call)
                return False
            if interrupt is None and remaining < ring_for:
                self._abandon(call)
                return False
            if interrupt is None and answering is not None:
                self._member_answers(call, spec, answering, ring_started)
                return True
            # Nobody answered in time, or a ringing phone was hung up (declined).
            tried.extend(call.ringing)
            self._ring_no_answer(call, spec, ring_started)
            unanswered = max(unanswered - 1, 0)
            if isinstance(await self._wait(call, _RETRY_S), _HungUp):
                self._abandon(call)
                return False

    def _ring_member(self, call: _Call, spec: QueueSpec, ext: str) -> None:
        customer = call.customer
        assert customer is not None
        name = self._member_name(ext)
        leg = self._new_leg(call, ext, ext, name, context="from-phones", exten="s", state=0)
        self._take_phone(call, leg)
        call.ringing[ext] = leg
        leg.exten, leg.connected_num, leg.connected_name = (
            "enter",
            customer.caller_num,
            customer.caller_name,
        )
        leg.application, leg.application_data = "AppQueue", "(Outgoing Line)"
        member = {"Queue": spec.name, "Interface": f"PJSIP/{ext}", "MemberName": name}
        self._emit("AgentCalled", "agent", customer.headers(), leg.headers("Dest"), member)
        self._dial_begin(customer, leg, f"PJSIP/{ext}")
        self._newstate(leg, 5)
        self._device_state(ext, _RINGING)

    def _member_answers(self, call: _Call, spec: QueueSpec, ext: str, ring_started: float) -> None:
        customer = call.customer
        assert customer is not None
        leg = call.ringing.pop(ext)
        self._newstate(leg, 6)
        customer.connected_num, customer.connected_name = ext, leg.caller_name
        self._dial_end(customer, leg, "ANSWER")
        self._cancel_rings(call, cause=26)
        self._leave_queue(call)
        now = self._clock()
        interface = f"PJSIP/{ext}"
        self._emit(
            "AgentConnect",
            "agent",
            customer.headers(),
            leg.headers("Dest"),
            {
                "Queue": spec.name,
                "Interface": interface,
                "MemberName": leg.caller_name,
                "HoldTime": str(int(now - call.joined_at)),
                "RingTime": str(int(now - ring_started)),
            },
        )
        call.agent_leg, call.answered_at = leg, now
        call.queue_agent = _QueueAgent(spec.name, interface, leg.caller_name, leg)
        self._device_state(ext, _IN_USE, queue=spec.name)
        self._bridge(call, leg, customer)

    def _cancel_rings(self, call: _Call, *, cause: int = 0) -> None:
        """Stop every phone still ringing for the call (answered elsewhere, caller gone)."""
        for leg in list(call.ringing.values()):
            self._dial_end(call.customer, leg, "CANCEL")
            self._hangup(leg, cause)
            self._release_phone(leg)
        call.ringing.clear()

    def _ring_no_answer(self, call: _Call, spec: QueueSpec, ring_started: float) -> None:
        customer = call.customer
        assert customer is not None
        ring_ms = str(int((self._clock() - ring_started) * 1000))
        for ext, leg in list(call.ringing.items()):
            member = {
                "Queue": spec.name,
                "Interface": f"PJSIP/{ext}",
                "MemberName": leg.caller_name,
            }
            self._emit(
                "AgentRingNoAnswer",
                "agent",
                customer.headers(),
                leg.headers("Dest"),
                {**member, "RingTime": ring_ms},
            )
            self._dial_end(customer, leg, "NOANSWER")
            self._dial_end(customer, leg, "CANCEL")
            self._hangup(leg, 0)
            self._release_phone(leg)
        call.ringing.clear()

    def _abandon(self, call: _Call) -> None:
        customer, queue = call.customer, call.queue
        assert customer is not None and queue is not None
        self._cancel_rings(call)
        position = call.entry["Position"] if call.entry is not None else "1"
        self._emit(
            "QueueCallerAbandon",
            "agent",
            customer.headers(),
            {
                "Queue": queue,
                "Position": position,
                "OriginalPosition": position,
                "HoldTime": str(int(self._clock() - call.joined_at)),
            },
        )
        self._leave_queue(call)
        self._count(queue, "Abandoned")
        self._hangup(customer, 0)

    # -- conversations and transfers -------------------------------------------------------------

    async def _converse(self, call: _Call, plan: CallPlan) -> None:
        """The customer talks with ``call.agent_leg`` until one side hangs up; transfers
        (planned or requested by an action) hand the customer to someone else."""
        loop = asyncio.get_running_loop()
        planned = plan.scenario in (Scenario.BLIND_TRANSFER, Scenario.REDIRECT_TRANSFER)
        end = loop.time() + plan.talk_s * self.config.time_scale
        while True:
            remaining = (end - loop.time()) / self.config.time_scale
            interrupt = await self._wait(call, remaining, transfers=True)
            if isinstance(interrupt, _HungUp):
                self._end_conversation(call, interrupt.leg)
                return
            if interrupt is None and planned:
                planned = False
                interrupt = self._planned_transfer(call, plan.scenario)
            if isinstance(interrupt, _Transfer):
                moved = self._transferable(call, interrupt)
                if moved is None:
                    continue
                if not await self._transfer(call, interrupt.exten, interrupt.kind):
                    return
                end = loop.time() + plan.transfer_talk_s * self.config.time_scale
                continue
            if interrupt is None:
                leaver = call.customer if plan.hangup_by == "caller" else call.agent_leg
                assert leaver is not None
                self._end_conversation(call, leaver)
                return

    def _planned_transfer(self, call: _Call, scenario: Scenario) -> _Transfer | None:
        agent, customer = call.agent_leg, call.customer
        assert agent is not None and customer is not None
        targets = sorted(
            {
                ext
                for spec in self.config.queues
                for ext in self._free_phones(spec.name)
                if ext != agent.phone
            }
        )
        if not targets:
            return None
        target = call.rng.choice(targets)
        if scenario is Scenario.REDIRECT_TRANSFER:
            return _Transfer(customer, target, "redirect")
        self._emit(
            "BlindTransfer",
            "call",
            {"Result": "Success"},
            agent.headers("Transferer"),
            customer.headers("Transferee"),
            {
                "BridgeUniqueid": agent.bridge,
                "IsExternal": "Yes",
                "Context": "from-phones",
                "Extension": target,
            },
        )
        return _Transfer(agent, target, "blind")

    def _transferable(self, call: _Call, request: _Transfer) -> _Leg | None:
        """The party a transfer request moves: the customer, for a BlindTransfer of the
        agent's channel or a Redirect of the customer's. Other requests are ignored."""
        if request.kind == "blind" and request.leg is call.agent_leg:
            return call.customer
        if request.kind == "redirect" and request.leg is call.customer:
            return call.customer
        log.info("demo PBX: %s transfer of %s not simulated", request.kind, request.leg.name)
        return None

    async def _transfer(self, call: _Call, target: str, kind: str) -> bool:
        """Move the customer from the current agent to ``target``. False if that ended the
        call (target busy or not answering, somebody hung up)."""
        customer, old = call.customer, call.agent_leg
        assert customer is not None and old is not None
        customer.context, customer.exten, customer.priority = "from-phones", target, 1
        customer.application, customer.application_data = "Dial", f"{target},30,tT"
        self._bridge_leave(customer)
        queue = self._completes(call, old)
        if kind == "blind":
            self._agent_complete(call, "transfer")
        elif call.queue_agent is not None:
            # After a Redirect the queue's AgentComplete only comes when the call ends.
            qa = call.queue_agent
            call.queue_agent = _QueueAgent(qa.queue, qa.interface, qa.member_name, None)
        self._bridge_leave(old)
        self._hangup(old)
        self._release_phone(old, queue=queue)
        call.agent_leg = None
        dial_string = target if self._is_phone(target) else f"{target}@carrier"
        dest, cause = await self._dial(call, customer, target, dial_string)
        if dest is None:
            self._agent_complete(call, "caller")
            self._hangup(customer, cause)
            return False
        call.agent_leg = dest
        self._bridge(call, dest, customer)
        return True

    def _completes(self, call: _Call, leg: _Leg) -> str | None:
        """The queue whose member statistics this agent leg's end completes, if any."""
        qa = call.queue_agent
        if qa is not None and (qa.leg is leg or qa.leg is None) and leg.phone:
            return qa.queue if qa.interface == f"PJSIP/{leg.phone}" else None
        return None

    def _agent_complete(self, call: _Call, reason: str) -> None:
        qa, customer = call.queue_agent, call.customer
        if qa is None or customer is None:
            return
        call.queue_agent = None
        now = self._clock()
        answered = call.answered_at if call.answered_at is not None else now
        dest = qa.leg.headers("Dest") if qa.leg is not None and qa.leg.alive else {}
        self._emit(
            "AgentComplete",
            "agent",
            customer.headers(),
            dest,
            {
                "Queue": qa.queue,
                "Interface": qa.interface,
                "MemberName": qa.member_name,
                "HoldTime": str(int(answered - call.joined_at)),
                "TalkTime": str(int(now - answered)),
                "Reason": reason,
            },
        )
        self._count(qa.queue, "Completed")

    def _end_conversation(self, call: _Call, leaver: _Leg) -> None:
        """``leaver`` hangs up (or already did, through a Hangup action); the other side
        follows, as Asterisk hangs up the rest of a two-party bridge."""
        customer, agent = call.customer, call.agent_leg
        assert customer is not None and agent is not None
        other = agent if leaver is customer else customer
        queue = self._completes(call, agent)
        self._agent_complete(call, "caller" if leaver is customer else "agent")
        self._bridge_leave(leaver)
        self._bridge_leave(other)
        for leg in (leaver, other):
            self._hangup(leg)
            self._release_phone(leg, queue=queue if leg is agent else None)

    # -- dialling and click-to-call --------------------------------------------------------------

    def _is_phone(self, exten: str) -> bool:
        interface = f"PJSIP/{exten}"
        return exten in AGENT_EXTENSIONS or any(
            m["Interface"] == interface for m in self.server.members
        )

    async def _dial(
        self, call: _Call, src: _Leg, target: str, dial_string: str
    ) -> tuple[_Leg | None, int]:
        """``src`` dials a desk phone (``target`` an extension) or a number over the carrier.
        Returns the answered leg, or None and the hang-up cause for ``src``."""
        if self._is_phone(target):
            name = self._member_name(target)
            dest = self._new_leg(
                call, target, target, name, context="from-phones", exten="s", state=0
            )
            busy = target in self._busy
            if not busy:
                self._take_phone(call, dest)
            behaviour = CustomerBehaviour.BUSY if busy else CustomerBehaviour.ANSWERS
            answer_after = call.rng.uniform(*self.config.ring_s)
        else:
            dest = self._new_leg(call, "", "", "", context="from-carrier", exten="s", state=0)
            dest.caller_num, dest.caller_name, dest.exten = target, src.caller_name, target
            self._emit("NewCallerid", "call", dest.headers())
            behaviour = customer_behaviour(target)
            answer_after = self.config.customer_answer_s
        dest.application, dest.application_data = "AppDial", "(Outgoing Line)"
        self._show(dest)
        self._dial_begin(src, dest, dial_string)
        if behaviour in (CustomerBehaviour.BUSY, CustomerBehaviour.CONGESTION):
            status, cause = (
                ("BUSY", 17) if behaviour is CustomerBehaviour.BUSY else ("CONGESTION", 34)
            )
            self._dial_end(src, dest, status)
            self._hangup(dest, cause)
            self._release_phone(dest)
            return None, cause
        self._newstate(dest, 5)
        if dest.phone:
            self._device_state(dest.phone, _RINGING)
        never = behaviour is CustomerBehaviour.NEVER_ANSWERS
        interrupt = await self._wait(call, self.config.dial_timeout_s if never else answer_after)
        if interrupt is not None or never:
            declined = isinstance(interrupt, _HungUp) and interrupt.leg is dest
            status = "NOANSWER" if never or declined else "CANCEL"
            self._dial_end(src, dest, status)
            self._hangup(dest, 0)
            self._release_phone(dest)
            return None, 16
        self._newstate(dest, 6)
        self._dial_end(src, dest, "ANSWER")
        if dest.phone:
            self._device_state(dest.phone, _IN_USE)
        return dest, 16

    def _originate_response(
        self, action: ActionFields, leg: _Leg | None, *, success: bool, reason: int
    ) -> None:
        self._emit(
            "OriginateResponse",
            "call",
            {
                "ActionID": _text(action.get("ActionID")),
                "Response": "Success" if success else "Failure",
                "Channel": leg.name if leg is not None else _text(action.get("Channel")),
                "Context": _text(action.get("Context")),
                "Exten": _text(action.get("Exten")),
                "Reason": str(reason),
                "Uniqueid": leg.uniqueid if leg is not None else "<null>",
                "CallerIDNum": (leg.caller_num if leg is not None else "") or "<unknown>",
                "CallerIDName": (leg.caller_name if leg is not None else "") or "<unknown>",
            },
        )

    async def _click_to_call(
        self, call: _Call, ext: str, number: str, action: ActionFields
    ) -> None:
        """Originate of the agent's phone into the dialplan that dials ``number``. A phone
        already in a call cannot be requested (its endpoint is at ``device_state_busy_at``):
        Asterisk creates no channel and answers Failure, Reason 5 (busy)."""
        if ext in self._busy:
            self._originate_response(action, None, success=False, reason=5)
            return
        leg = self._new_leg(
            call, ext, ext, self._member_name(ext), context="from-phones", exten="s", state=0
        )
        match = _CALLER_ID.match(_text(action.get("CallerID")))
        if match is not None:
            leg.caller_name = match.group(1).strip() or leg.caller_name
            leg.caller_num = match.group(2).strip() or leg.caller_num
            self._show(leg)
            self._emit("NewCallerid", "call", leg.headers())
        self._dial_begin(None, leg, ext)
        self._take_phone(call, leg)
        self._newstate(leg, 5)
        self._device_state(ext, _RINGING)
        if isinstance(await self._wait(call, self.config.agent_answer_s), _HungUp):
            self._dial_end(None, leg, "CANCEL")
            self._release_phone(leg)
            self._originate_response(action, leg, success=False, reason=1)
            return
        self._newstate(leg, 6)
        self._dial_end(None, leg, "ANSWER")
        self._originate_response(action, leg, success=True, reason=4)
        self._device_state(ext, _IN_USE)
        leg.context, leg.exten = _text(action.get("Context")) or "outbound", number
        phone_target = self._is_phone(number)
        dial_string = f"PJSIP/{number}" if phone_target else f"{number}@carrier"
        leg.application, leg.application_data = "Dial", f"{dial_string},30,tT"
        self._show(leg)
        call.agent_leg = leg
        dest, cause = await self._dial(call, leg, number, dial_string)
        if dest is None:
            self._hangup(leg, cause)
            self._release_phone(leg)
            return
        call.customer, call.answered_at = dest, self._clock()
        self._bridge(call, dest, leg)
        if (
            not phone_target
            and customer_behaviour(number) is CustomerBehaviour.ANSWERS_AND_HANGS_UP
        ):
            talk_s, hangup_by = 3.0, "caller"
        else:
            talk_s = call.rng.uniform(*self.config.talk_s)
            agent_first = call.rng.random() < self.config.agent_hangup_ratio
            hangup_by = "agent" if agent_first else "caller"
        plan = CallPlan(
            scenario=Scenario.ANSWERED,
            queue="",
            caller=Caller(number),
            ring_s=0.0,
            talk_s=talk_s,
            hangup_by=hangup_by,
            patience_s=0.0,
            recorded=False,
            transfer_talk_s=call.rng.uniform(*self.config.talk_s),
            seed=0,
        )
        await self._converse(call, plan)
