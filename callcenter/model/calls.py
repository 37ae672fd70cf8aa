"""The call model: AMI channel events in, calls out.

Pure and synchronous: ``CallTracker.apply(event, now)`` returns a list of changes, time is a
parameter, there is no I/O. Unknown, duplicated or out-of-order events are logged and dropped.

How Asterisk shapes a call (Asterisk 12+ channel events, checked against our captures, the
kit's recordings and the cacofonisk recordings of a production PBX):

- Every channel has a ``Uniqueid``; the channels of one call share the ``Linkedid`` (the
  Uniqueid of its oldest channel). Two calls whose channels meet (a pickup retargets a dial to
  the picking phone's own channel, a transfer bridges a consultation with the first call)
  become one: Asterisk then gives them all the oldest Linkedid, and so do we. A call ends when
  its last channel is gone, not when its first one hangs up.
- **Endpoints** are trunk or phone channels (``endpoints.Kind``, from configuration); Local
  channels are pipes between them. Asterisk optimises a Local pair away once the call is up
  (``LocalOptimizationBegin``, then ``BridgeEnter … SwapUniqueid``): the endpoints stay
  connected throughout, so a conversation is the set of endpoints connected through bridges
  and Local pairs, and an optimisation never changes who talks with whom.
- **Roles.** The call's *origin* is its first channel. A trunk origin is a customer calling
  in (``inbound``). A phone origin places the call: what it reaches first decides ``outbound``
  (a trunk) or ``internal`` (a phone). An Originate (click-to-dial, call-me-now, our
  campaigns) starts with a Local or a phone channel that nobody dialled: the first endpoint it
  reaches is the A party, the next one the B party. Each endpoint is on the **customer** side
  (the trunk of an inbound or outbound call; on internal calls the phone that placed it) or the
  **agent** side (every other phone; a trunk dialled for an inbound call: follow-me, a forward
  to a mobile). The agent is the device talking with the customer side; a different one
  later is a transfer (an AMI ``Redirect`` emits no transfer event, so this is how it is seen
  at all); ``BlindTransfer``/``AttendedTransfer`` say which kind.
- Campaign calls (``Originate Local/<number>@campaign-dial``) are recognised only by our own
  channel variable ``CAMPAIGN_ID``: the customer is dialled first, the agent joins through
  the queue.
- Whoever leaves the last conversation first hung up (``hangup_by``).
- Queue calls carry Asterisk's own ``HoldTime`` (wait) in ``AgentConnect`` and
  ``QueueCallerAbandon``; we prefer it to our clock.
- Outcomes of dialled legs come from ``DialEnd DialStatus`` (ANSWER, BUSY, NOANSWER,
  CONGESTION, CHANUNAVAIL, CANCEL); the outcome of a call from :func:`outcome_of`.
"""

from __future__ import annotations

import enum
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from callcenter.model import events as ev
from callcenter.model.endpoints import (
    Kind,
    PbxEndpoints,
    device_of,
    epoch_of,
    interface_key,
    local_pair_key,
    uniqueid_order,
)
from callcenter.model.records import (
    AgentRinging,
    CallAnswered,
    CallFinished,
    CallRecord,
    Change,
    Direction,
    HangupBy,
    Outcome,
    Transfer,
)

__all__ = [
    "CallTracker",
    "Phase",
    "Role",
    "device_of",
    "finished_records",
    "interface_key",
    "outcome_of",
]

log = logging.getLogger(__name__)

# Remember this many finished calls/channels so late events for them (AgentComplete after the
# last Hangup, a duplicated Hangup, an OriginateResponse after everything) cannot resurrect them.
FINISHED_MEMORY = 20_000

# Bounds against a flood (a hostile or broken AMI peer sending Newchannel without Hangup): a
# call centre of a few hundred agents has a few thousand live channels at most.
MAX_CHANNELS = 20_000
MAX_CHANNELS_PER_CALL = 200
_DROP_WARNING_EVERY_S = 60.0

_DIAL_FAILURES = {
    "BUSY": Outcome.BUSY,
    "NOANSWER": Outcome.NO_ANSWER,
    "CONGESTION": Outcome.CONGESTION,
    "CHANUNAVAIL": Outcome.FAILED,
}


class Role(enum.Enum):
    CUSTOMER = "customer"
    AGENT = "agent"


class Phase(enum.Enum):
    """Where a call is. Set by the handlers; never goes back from ``TALKING``."""

    DIALING = "dialing"  # set up, ringing somebody
    QUEUED = "queued"  # a caller waiting in a queue
    TALKING = "talking"  # the customer side has talked with the agent side


@dataclass(slots=True, eq=False)
class _Chan:
    uniqueid: str
    name: str
    kind: Kind
    call: Call
    role: Role | None = None
    partner: _Chan | None = None  # the other half of a Local channel
    bridge: str | None = None
    dialled: bool = False  # created by a dial (or an Originate), not by a caller
    number: str = ""  # the number it was dialled at / its caller's number
    queue_interface: str | None = None  # the queue member interface that rang it
    in_queue: bool = False
    dialled_out: bool = False  # it dialled somebody (DialBegin with it as the caller)

    @property
    def is_endpoint(self) -> bool:
        return self.kind is Kind.TRUNK or self.kind is Kind.PHONE

    @property
    def device(self) -> str:
        return device_of(self.name)


@dataclass(slots=True, eq=False)
class Call:
    """One call as the tracker sees it (internal state; the outside sees records)."""

    call_id: str
    started_at: float
    origin: _Chan | None = None
    aliases: list[str] = field(default_factory=list)  # Linkedids of calls merged into it
    channels: dict[str, _Chan] = field(default_factory=dict)
    phase: Phase = Phase.DIALING
    direction: Direction | None = None
    a_party: _Chan | None = None  # the first endpoint (the origin, or an Originate's first leg)
    caller_number: str = ""
    caller_name: str = ""
    called_number: str = ""
    campaign: bool = False
    dial_id: str | None = None  # ATTEMPT_ID of a campaign call
    machine: bool = False  # app_amd said an answering machine took the campaign call
    customer_answered: bool = False
    queue: str | None = None
    queue_joined_at: float | None = None
    hold_time_s: float | None = None
    abandoned: bool = False
    agents_offered: list[str] = field(default_factory=list)
    ringing: set[str] = field(default_factory=set)  # devices we popped and that still ring
    party: str | None = None  # who the customer side talks with (device, or trunk number)
    agent: str | None = None
    answered_at: float | None = None
    dial_failure: str | None = None  # the last failed DialStatus while nobody answered
    leaver: _Chan | None = None  # left the current conversation first; hanging up decides
    hangup_by: HangupBy | None = None
    first_hangup: Role | None = None  # fallback when no conversation was ever left
    transfers: list[Transfer] = field(default_factory=list)
    transfer_pending: bool = False  # last transfer's destination not seen yet
    inferred_transfer: bool = False  # last transfer seen only as a new agent (so far)
    last_transfer_event: object = None  # a duplicated transfer event must not count twice
    recording: str | None = None


# --- the outcome -------------------------------------------------------------------------

_Rule = Callable[[Call], bool]

#: The outcome of a finished call: the first row whose condition holds.
OUTCOME_RULES: tuple[tuple[str, _Rule, Outcome | None], ...] = (
    ("machine took it", lambda c: c.machine and c.answered_at is None, Outcome.MACHINE),
    ("sides talked", lambda c: c.answered_at is not None, Outcome.ANSWERED),
    # A caller who gave up in a queue, or a campaign call the customer answered and no agent
    # took in time (dropped with the safe-harbour message): abandoned either way.
    (
        "left the queue",
        lambda c: (c.queue is not None or c.abandoned) and (not c.campaign or c.customer_answered),
        Outcome.ABANDONED,
    ),
    (
        "caller hung up while it rang",
        lambda c: c.dial_failure == "CANCEL" and c.direction is Direction.INBOUND,
        Outcome.ABANDONED,
    ),
    # CONTINUE: the callee answered but declined in the call-acceptance prompt (Dial's U()).
    (
        "nobody took it",
        lambda c: c.dial_failure in ("CANCEL", "NOANSWER", "CONTINUE"),
        Outcome.NO_ANSWER,
    ),
    ("dial failed", lambda c: c.dial_failure in _DIAL_FAILURES, None),  # that failure
    ("outbound never got through", lambda c: c.direction is Direction.OUTBOUND, Outcome.FAILED),
    ("inbound nobody took", lambda c: c.direction is Direction.INBOUND, Outcome.ABANDONED),
    ("otherwise", lambda c: True, Outcome.NO_ANSWER),
)


def outcome_of(call: Call) -> Outcome:
    for _, applies, outcome in OUTCOME_RULES:
        if applies(call):
            return outcome or _DIAL_FAILURES[call.dial_failure or ""]
    raise AssertionError("the last rule always applies")  # pragma: no cover


#: Dialplan contexts that the agents' desk phones enter (dialplans/extensions.conf).
PHONE_CONTEXTS = frozenset({"from-phones"})


class CallTracker:
    """Feed it every parsed AMI event in order; collect the changes it returns."""

    def __init__(self, endpoints: PbxEndpoints | None = None) -> None:
        self._endpoints = endpoints or PbxEndpoints()
        self._channels: dict[str, _Chan] = {}
        self._calls: dict[str, Call] = {}  # by call id and by every merged-in Linkedid
        self._locals: dict[str, _Chan] = {}  # a Local half waiting for its other half
        self._bridges: dict[str, set[str]] = {}
        self._agent_interfaces: dict[str, str] = {}  # interface_key -> interface
        self._finished_channels: OrderedDict[str, None] = OrderedDict()
        self._finished_calls: OrderedDict[str, None] = OrderedDict()
        self.channels_refused = 0  # over MAX_CHANNELS / MAX_CHANNELS_PER_CALL, since start
        self._refused_since_warning = 0
        self._warned_at: float | None = None

    # --- public ---------------------------------------------------------------------------

    @property
    def active_calls(self) -> int:
        return len({id(call) for call in self._calls.values()})

    def _live(self) -> list[Call]:
        return [call for key, call in self._calls.items() if key == call.call_id]

    def live_calls(self, now: float) -> list[dict[str, object]]:
        """The calls in progress, for the wallboard: who, where, and since when."""
        calls: list[dict[str, object]] = []
        for call in self._live():
            if call.phase is Phase.TALKING:
                since = call.answered_at or call.started_at
            elif call.phase is Phase.QUEUED:
                since = call.queue_joined_at or call.started_at
            else:
                since = call.started_at
            calls.append(
                {
                    "call_id": call.call_id,
                    "direction": (call.direction or Direction.INBOUND).value,
                    "caller_number": call.caller_number,
                    "caller_name": call.caller_name,
                    "called_number": call.called_number,
                    "queue": call.queue,
                    "agent": call.agent,
                    "state": call.phase.value,
                    "duration_s": round(max(now - since, 0.0), 1),
                }
            )
        return sorted(calls, key=lambda c: str(c["call_id"]))

    def channels_of_device(self, device: str) -> list[tuple[str, str]]:
        """The live channels of a phone or queue member interface (``PJSIP/2001``,
        ``Local/1001@agents/n``) as ``(channel name, call_id)``, oldest first. Call control
        acts on these: Hangup, BlindTransfer and Atxfer name the agent's own channel."""
        key = interface_key(device)
        return [
            (chan.name, chan.call.call_id)
            for chan in self._channels.values()
            if interface_key(chan.device) == key
        ]

    def apply(self, event: ev.Event, now: float) -> list[Change]:
        handler = _HANDLERS.get(type(event))
        if handler is None:
            return []
        changes: list[Change] = []
        try:
            handler(self, event, now, changes)
        except Exception:  # an event we cannot place must never stop the pump
            log.exception("dropped %s: tracker could not apply it", type(event).__name__)
        return changes

    def resync(self, snapshot: Sequence[ev.Event], now: float) -> list[Change]:
        """Reconcile with the PBX's live state after a (re)connect.

        ``snapshot`` holds the list items of ``CoreShowChannels`` (ChannelSnapshot) and
        ``QueueStatus`` (QueueMemberChanged, QueueEntry, QueueParams). Calls we track whose
        channels are all gone ended while we were away; channels we do not know are calls we
        attach to in the middle.
        """
        changes: list[Change] = []
        live = {e.channel.uniqueid: e for e in snapshot if isinstance(e, ev.ChannelSnapshot)}
        for item in snapshot:
            if isinstance(item, ev.QueueMemberChanged):
                self._learn_agent(item.interface)
        for uniqueid in [u for u in self._channels if u not in live]:
            self._hangup(self._channels[uniqueid], now, changes)
        fresh = sorted(
            (snap for snap in live.values() if snap.channel.uniqueid not in self._channels),
            key=lambda snap: uniqueid_order(snap.channel.uniqueid),
        )
        for snap in fresh:
            since = now - snap.duration_s
            chan = self._attach(snap.channel, since)
            if chan is None:
                continue
            if snap.application == "Queue":  # the caller (waiting, or bridged to an agent)
                self._join_queue(chan, snap.application_data.split(",", 1)[0], since)
        for snap in fresh:
            chan = self._channels.get(snap.channel.uniqueid)
            if chan is not None and snap.bridge_id:
                self._enter_bridge(snap.bridge_id, chan, now - snap.duration_s, changes)
        for item in snapshot:
            if isinstance(item, ev.QueueEntry) and item.uniqueid in self._channels:
                self._join_queue(self._channels[item.uniqueid], item.queue, now - item.wait_s)
        return changes

    def shutdown(self, now: float) -> list[Change]:
        """The PBX is going down (``Event: Shutdown``): every channel is gone with it."""
        changes: list[Change] = []
        for chan in list(self._channels.values()):
            self._hangup(chan, now, changes)
        self._bridges.clear()
        self._locals.clear()
        return changes

    # --- channels and calls ---------------------------------------------------------------

    def _attach(self, ch: ev.Channel, now: float) -> _Chan | None:
        """The channel for ``ch``, registering it (and its call) the first time we see it;
        a known channel showing another live call's Linkedid joins the two calls."""
        chan = self._channels.get(ch.uniqueid)
        if chan is not None:
            if ch.name and chan.name != ch.name:
                chan.name = ch.name
            if ch.linkedid != chan.call.call_id and ch.linkedid not in chan.call.aliases:
                other = self._calls.get(ch.linkedid)
                if other is not None and other is not chan.call:
                    self._merge(chan.call, other)
            return chan
        if ch.uniqueid in self._finished_channels or ch.linkedid in self._finished_calls:
            return None
        kind = self._endpoints.kind_of(ch.name, ch.context)
        if kind is Kind.BOOKKEEPING:
            return None
        call = self._calls.get(ch.linkedid)
        if len(self._channels) >= MAX_CHANNELS or (
            call is not None and len(call.channels) >= MAX_CHANNELS_PER_CALL
        ):
            self._refuse(ch, now)
            return None
        if call is None:
            started = now if ch.uniqueid == ch.linkedid else epoch_of(ch.linkedid, now)
            call = Call(call_id=ch.linkedid, started_at=min(started, now))
            self._calls[ch.linkedid] = call
        chan = _Chan(ch.uniqueid, ch.name, kind, call, number=ch.caller_num)
        call.channels[ch.uniqueid] = chan
        self._channels[ch.uniqueid] = chan
        pair = local_pair_key(ch.name)
        if pair is not None:
            other_half = self._locals.pop(pair, None)
            if other_half is None:
                self._locals[pair] = chan
            else:
                chan.partner, other_half.partner = other_half, chan
                chan.dialled = other_half.dialled
        if call.origin is None:
            self._start(call, chan, ch)
        return chan

    def _refuse(self, ch: ev.Channel, now: float) -> None:
        """Over a bound: the channel is not tracked; one warning a minute says how many."""
        self.channels_refused += 1
        self._refused_since_warning += 1
        if self._warned_at is None or now - self._warned_at >= _DROP_WARNING_EVERY_S:
            log.warning(
                "AMI flood: not tracking %d new channels (latest %s of call %s); %d live"
                " channels, at most %d, %d per call",
                self._refused_since_warning,
                ch.name,
                ch.linkedid,
                len(self._channels),
                MAX_CHANNELS,
                MAX_CHANNELS_PER_CALL,
            )
            self._warned_at = now
            self._refused_since_warning = 0

    def _start(self, call: Call, origin: _Chan, ch: ev.Channel) -> None:
        """The first channel of a call: who calls, and what number."""
        call.origin = origin
        call.caller_number = ch.caller_num
        call.caller_name = ch.caller_name
        if origin.is_endpoint:
            call.a_party = origin
            if ch.exten and ch.exten != "s":
                call.called_number = ch.exten  # the DID the carrier sent, the digits dialled
            if origin.kind is Kind.TRUNK:
                call.direction = Direction.INBOUND
                origin.role = Role.CUSTOMER

    def _merge(self, one: Call, two: Call) -> None:
        """Two calls met (a pickup, a transfer): the older one goes on with both."""
        keep, gone = sorted((one, two), key=lambda c: uniqueid_order(c.call_id))
        for chan in list(gone.channels.values()):
            chan.call = keep
            keep.channels[chan.uniqueid] = chan
            if chan.is_endpoint:
                chan.role = self._role_of_newcomer(keep, chan)
        gone.channels.clear()
        for key in (gone.call_id, *gone.aliases):
            self._calls[key] = keep
            keep.aliases.append(key)
        for device in gone.agents_offered:
            if device not in keep.agents_offered:
                keep.agents_offered.append(device)
        keep.ringing |= gone.ringing
        if keep.queue is None and gone.queue is not None:
            keep.queue, keep.queue_joined_at = gone.queue, gone.queue_joined_at
        keep.recording = keep.recording or gone.recording
        keep.dial_id = keep.dial_id or gone.dial_id

    def _role_of_newcomer(self, call: Call, chan: _Chan) -> Role | None:
        """The side of an endpoint that joins a call after its A party."""
        if chan is call.a_party:
            return chan.role
        if chan.kind is Kind.PHONE:
            return Role.AGENT
        # A trunk: the far end of an inbound call forwarded outside, or the second outside
        # party of a call-me-now, is the agent side; otherwise the trunk is the customer.
        a_party = call.a_party
        customer_trunk = call.direction is Direction.INBOUND or (
            a_party is not None
            and a_party is not chan
            and a_party.kind is Kind.TRUNK
            and not call.campaign
        )
        return Role.AGENT if customer_trunk else Role.CUSTOMER

    def _reached(self, call: Call, dest: _Chan, number: str) -> None:
        """A dial reached endpoint ``dest``: the call's parties, direction and numbers."""
        dest.number = number or dest.number
        a_party = call.a_party
        if a_party is None:
            # An Originate's first leg: the A party (a campaign dials the customer first).
            call.a_party = dest
            if dest.kind is Kind.TRUNK:
                dest.role = Role.CUSTOMER
            if call.campaign:
                call.direction = Direction.OUTBOUND
                call.called_number = call.called_number or dest.number
                dest.role = Role.CUSTOMER
            return
        if dest is a_party:
            return
        if call.direction is None:
            outside = Kind.TRUNK in (a_party.kind, dest.kind)
            call.direction = Direction.OUTBOUND if outside else Direction.INTERNAL
            if a_party.kind is Kind.PHONE:
                a_party.role = Role.AGENT if outside else Role.CUSTOMER
                if outside:
                    call.agent = a_party.device
            elif dest.kind is Kind.PHONE:
                # An Originate that rang an outside number first and then connects it to a
                # phone (a dialer without our variables, a callback): a call to that number.
                call.called_number = call.called_number or a_party.number
            else:
                # Call-me-now: the PBX rang A, then B, and connects them.
                call.caller_number = a_party.number or call.caller_number
            call.called_number = call.called_number or number
        dest.role = self._role_of_newcomer(call, dest)

    def _learn_agent(self, interface: str) -> None:
        if interface:
            self._agent_interfaces[interface_key(interface)] = interface

    # --- conversations --------------------------------------------------------------------

    def _component(self, start: _Chan) -> list[_Chan]:
        """The channels connected to ``start`` through bridges and Local pairs."""
        seen = {start.uniqueid: start}
        todo = [start]
        while todo:
            chan = todo.pop()
            neighbours: list[_Chan] = []
            if chan.partner is not None:
                neighbours.append(chan.partner)
            if chan.bridge is not None:
                for uniqueid in self._bridges.get(chan.bridge, ()):
                    other = self._channels.get(uniqueid)
                    if other is not None:
                        neighbours.append(other)
            for other in neighbours:
                if other.uniqueid not in seen:
                    seen[other.uniqueid] = other
                    todo.append(other)
        return list(seen.values())

    def _promote_pipes(self, call: Call, *, answered_only: bool, only: _Chan | None = None) -> None:
        """A Local channel whose ``;2`` half answers by itself and never dials on (an IVR,
        voicemail, a lab's simulated handset or customer) ends the line: its ``;1`` half is
        the party there. Decided once the pipe has answered (or its dial ended)."""
        origin = call.origin
        candidates = [origin] if origin is not None and call.a_party is None else []
        candidates += [only] if only is not None else list(call.channels.values())
        for near in candidates:
            if near is None or near.kind is not Kind.LOCAL or not near.name.endswith(";1"):
                continue
            far = near.partner
            if far is None or far.dialled_out or far.bridge is not None or far.in_queue:
                continue
            is_origin = near is origin
            if is_origin:
                if not (near.dialled_out or near.in_queue or near.bridge is not None):
                    continue
            elif not near.dialled or (answered_only and near.bridge is None):
                continue
            near.kind = self._endpoints.pipe_kind(near.device)
            exten = near.device.removeprefix("Local/").split("@", 1)[0]
            if is_origin and call.a_party is None:
                call.a_party = near
                if near.kind is Kind.TRUNK:
                    call.direction = Direction.INBOUND
                    near.role = Role.CUSTOMER
            else:
                self._reached(call, near, exten)

    def _parties(self, chan: _Chan) -> list[_Chan]:
        return [c for c in self._component(chan) if c.is_endpoint]

    def _enter_bridge(self, bridge_id: str, chan: _Chan, now: float, out: list[Change]) -> None:
        if chan.bridge and chan.bridge != bridge_id:
            self._bridges.get(chan.bridge, set()).discard(chan.uniqueid)
        chan.bridge = bridge_id
        members = self._bridges.setdefault(bridge_id, set())
        members.add(chan.uniqueid)
        for uniqueid in list(members):  # Linkedids meeting in one bridge are one call
            other = self._channels.get(uniqueid)
            if other is not None and other.call is not chan.call:
                self._merge(chan.call, other.call)
        self._converse(chan, now, out)

    def _converse(self, chan: _Chan, now: float, out: list[Change]) -> None:
        """Whoever is connected with ``chan`` now: a conversation if both sides are there."""
        call = chan.call
        self._promote_pipes(call, answered_only=True)
        parties = self._parties(chan)
        if len(parties) < 2:
            return
        if call.leaver is not None and call.leaver in parties:
            call.leaver = None  # it came back (an optimisation swap, a consultation)
        if call.direction is None:
            self._settle_direction(call, parties)
        for party in parties:
            if party.role is None:  # attached in the middle: never saw it dialled
                party.role = self._role_of_newcomer(call, party)
        customers = [p for p in parties if p.role is Role.CUSTOMER]
        agents = [p for p in parties if p.role is Role.AGENT]
        if (
            not customers
            and len(agents) >= 2
            and call.direction is Direction.INTERNAL
            and self._customer_alone(call)
        ):
            # The phone that placed an internal call transferred it and left: the phone it
            # was talking with takes the caller's side.
            heir = next((p for p in agents if p.device == call.party), agents[0])
            heir.role = Role.CUSTOMER
            customers, agents = [heir], [p for p in agents if p is not heir]
        if not customers or not agents:
            return
        current = next((p for p in agents if self._party_key(p) == call.party), None)
        self._connect(call, current or agents[-1], now, out)

    def _settle_direction(self, call: Call, parties: list[_Chan]) -> None:
        """Attached in the middle (a resync): the sides from what is connected now."""
        origin = call.a_party or call.origin
        if origin is None or not origin.is_endpoint:
            origin = parties[0]
            call.a_party = origin
        others = [p for p in parties if p is not origin]
        if origin.kind is Kind.TRUNK:
            call.direction = Direction.INBOUND
        elif any(p.kind is Kind.TRUNK for p in others):
            call.direction = Direction.OUTBOUND
        else:
            call.direction = Direction.INTERNAL
        if origin.role is None:
            outside = call.direction is not Direction.INTERNAL
            origin.role = Role.CUSTOMER if origin.kind is Kind.TRUNK or not outside else Role.AGENT
        for party in others:
            if party.role is None:
                party.role = self._role_of_newcomer(call, party)

    def _customer_alone(self, call: Call) -> bool:
        return all(
            len(self._parties(c)) < 2
            for c in call.channels.values()
            if c.role is Role.CUSTOMER and c.is_endpoint
        )

    def _party_key(self, chan: _Chan) -> str:
        return chan.device if chan.kind is Kind.PHONE else chan.number or chan.device

    def _connect(self, call: Call, agent_chan: _Chan, now: float, out: list[Change]) -> None:
        """The customer side of ``call`` is talking with ``agent_chan``."""
        key = self._party_key(agent_chan)
        call.leaver = None
        call.hangup_by = None
        if key == call.party:
            return
        label = agent_chan.queue_interface or (
            agent_chan.device if agent_chan.kind is Kind.PHONE else key
        )
        if call.transfer_pending and call.transfers:
            last = call.transfers[-1]
            call.transfers[-1] = Transfer(last.kind, last.from_agent, label)
            call.transfer_pending = False
            call.inferred_transfer = False
        elif call.party is not None:
            # A new agent without a transfer event: the AMI Redirect case (an attended
            # transfer's event may still follow and say which kind it was).
            call.transfers.append(Transfer("blind", call.agent, label))
            call.inferred_transfer = True
        if agent_chan.kind is Kind.PHONE:
            if agent_chan is not call.a_party and label not in call.agents_offered:
                # It took the call without ringing (a pickup): its card pops as it connects.
                self._ring(call, label, None, out)
            call.agent = label
        call.party = key
        call.ringing.clear()
        if call.phase is not Phase.TALKING:
            call.phase = Phase.TALKING
            call.answered_at = now
            out.append(CallAnswered(call.call_id, call.agent))
        elif agent_chan.kind is Kind.PHONE:
            out.append(CallAnswered(call.call_id, call.agent))  # a transfer: the new agent has it

    def _leave_bridge(self, chan: _Chan) -> None:
        bridge_id = chan.bridge
        if bridge_id is None:
            return
        call = chan.call
        if chan.is_endpoint and call.phase is Phase.TALKING and call.leaver is None:
            parties = self._parties(chan)
            sides = {p.role for p in parties}
            if Role.CUSTOMER in sides and Role.AGENT in sides:
                call.leaver = chan
        chan.bridge = None
        members = self._bridges.get(bridge_id, set())
        members.discard(chan.uniqueid)
        if not members:
            self._bridges.pop(bridge_id, None)

    def _join_queue(self, chan: _Chan, queue: str, joined_at: float) -> None:
        chan.in_queue = True
        call = chan.call
        if chan.is_endpoint and chan.role is None:
            chan.role = Role.CUSTOMER
        if call.queue is None:
            call.queue = queue
            call.queue_joined_at = joined_at
        if call.phase is Phase.DIALING and not call.campaign:
            call.phase = Phase.QUEUED

    def _ring(self, call: Call, device: str, queue: str | None, out: list[Change]) -> None:
        """A device of the agent side rings: offer the call and pop it there."""
        if device not in call.agents_offered:
            call.agents_offered.append(device)
        if device in call.ringing or (call.phase is Phase.TALKING and call.party == device):
            return
        call.ringing.add(device)
        outbound = call.direction is Direction.OUTBOUND
        out.append(
            AgentRinging(
                call_id=call.call_id,
                agent=device,
                # A campaign call waits in the queue as the customer we dialed.
                caller_number=call.called_number if outbound else call.caller_number,
                caller_name="" if outbound else call.caller_name,
                queue=queue or call.queue,
                dial_id=call.dial_id,
            )
        )

    def _hangup(self, chan: _Chan, now: float, out: list[Change]) -> None:
        self._leave_bridge(chan)
        call = chan.call
        if call.leaver is chan and call.hangup_by is None:
            call.hangup_by = HangupBy.CALLER if chan.role is Role.CUSTOMER else HangupBy.AGENT
        if call.first_hangup is None and chan.is_endpoint and chan.role is not None:
            call.first_hangup = chan.role
        if chan.in_queue and call.phase is not Phase.TALKING and call.queue is not None:
            call.abandoned = True
        if chan.partner is not None:
            chan.partner.partner = None
        pair = local_pair_key(chan.name)
        if pair is not None and self._locals.get(pair) is chan:
            del self._locals[pair]
        self._channels.pop(chan.uniqueid, None)
        call.channels.pop(chan.uniqueid, None)
        self._remember(self._finished_channels, chan.uniqueid)
        if call.channels:
            return
        for key in (call.call_id, *call.aliases):
            self._calls.pop(key, None)
            self._remember(self._finished_calls, key)
        if call.direction is None and call.a_party is not None and call.a_party.kind is Kind.TRUNK:
            # An Originate that only reached one outside number (it was busy, did not
            # answer): a call to that number.
            call.direction = Direction.OUTBOUND
            call.called_number = call.called_number or call.a_party.number
        if call.direction is not None or call.queue is not None or call.abandoned:
            out.append(CallFinished(self._record(call, now)))
        else:
            # One phone alone (a supervisor's ChanSpy session, a phone picked up and put
            # down, a click-to-call the agent did not answer): nobody was called.
            log.debug("call %s had no other party: not logged", call.call_id)

    @staticmethod
    def _remember(finished: OrderedDict[str, None], key: str) -> None:
        finished[key] = None
        while len(finished) > FINISHED_MEMORY:
            finished.popitem(last=False)

    # --- the finished record --------------------------------------------------------------

    def _record(self, call: Call, ended_at: float) -> CallRecord:
        direction = call.direction or Direction.INBOUND
        outcome = outcome_of(call)
        hangup_by = call.hangup_by
        if hangup_by is None and call.first_hangup is not None:
            hangup_by = HangupBy.CALLER if call.first_hangup is Role.CUSTOMER else HangupBy.AGENT
        if outcome is Outcome.ABANDONED:
            hangup_by = None if call.campaign else HangupBy.CALLER
        elif outcome is not Outcome.ANSWERED:
            hangup_by = None
        if call.hold_time_s is not None:
            wait_s = call.hold_time_s
        elif call.answered_at is not None:
            wait_s = call.answered_at - (call.queue_joined_at or call.started_at)
        else:
            wait_s = ended_at - (call.queue_joined_at or call.started_at)
        talk_s = ended_at - call.answered_at if call.answered_at is not None else 0.0
        return CallRecord(
            call_id=call.call_id,
            direction=direction,
            caller_number=call.caller_number,
            caller_name=call.caller_name,
            called_number=call.called_number,
            queue=call.queue,
            agents_offered=tuple(call.agents_offered),
            agent=call.agent,
            started_at=call.started_at,
            answered_at=call.answered_at,
            ended_at=max(ended_at, call.started_at),
            wait_s=round(max(wait_s, 0.0), 3),
            talk_s=round(max(talk_s, 0.0), 3),
            outcome=outcome,
            hangup_by=hangup_by,
            transfers=tuple(call.transfers),
            recording=call.recording,
            dial_id=call.dial_id,
        )

    # --- event handlers -------------------------------------------------------------------

    def _on_newchannel(self, e: ev.Newchannel, now: float, out: list[Change]) -> None:
        if e.channel.uniqueid in self._channels:
            log.debug("duplicate Newchannel %s", e.channel.uniqueid)
            return
        self._attach(e.channel, now)

    def _on_callerid(self, e: ev.NewCallerid, now: float, out: list[Change]) -> None:
        chan = self._attach(e.channel, now)
        if chan is None:
            return
        call = chan.call
        origin = call.origin
        # The dialplan may still set the caller's number (a prefix, the extension instead
        # of the device) until the call is connected.
        if (
            origin is not None
            and chan in (origin, origin.partner)
            and call.phase is not Phase.TALKING
            and not call.campaign
            and (origin.is_endpoint or call.a_party is None)
        ):
            call.caller_number = e.channel.caller_num or call.caller_number
            call.caller_name = e.channel.caller_name or call.caller_name
        elif chan.dialled and not chan.bridge:
            chan.number = chan.number or e.channel.caller_num

    def _on_local_bridge(self, e: ev.LocalBridge, now: float, out: list[Change]) -> None:
        one, two = self._attach(e.one, now), self._attach(e.two, now)
        if one is None or two is None or one.partner is two:
            return
        one.partner, two.partner = two, one
        two.dialled = two.dialled or one.dialled

    def _on_dial_begin(self, e: ev.DialBegin, now: float, out: list[Change]) -> None:
        dest = self._attach(e.dest, now)
        if dest is None:
            return
        src = self._attach(e.channel, now) if e.channel is not None else None
        if e.channel is not None and src is None:
            return
        if src is not None and src.call is not dest.call:
            self._merge(src.call, dest.call)  # a pickup: the dial now rings the picker
        call = dest.call
        dest.dialled = True
        if dest.partner is not None:
            dest.partner.dialled = True
        if src is None:
            # An Originate: Asterisk dials the first leg itself; nobody called yet.
            if dest is call.origin:
                call.a_party = None
                call.called_number = ""
                if dest.is_endpoint:
                    call.a_party = dest
            return
        src.dialled_out = True
        if src.partner is not None and src.partner.queue_interface in call.agents_offered:
            # A queue member Local/2001@from-queue/n reaching its phone: the phone rang.
            offered = call.agents_offered
            offered.remove(src.partner.queue_interface)
            src.partner.queue_interface = None
        if not dest.is_endpoint:
            return
        if dest.kind is Kind.TRUNK:
            number = e.dest.exten if e.dest.exten not in ("", "s") else ""
            number = number or e.dial_string.split("@", 1)[0].rsplit("/", 1)[-1]
        else:
            number = e.dest.caller_num or (e.dest.exten if e.dest.exten != "s" else "")
        self._reached(call, dest, number)
        if dest.kind is Kind.PHONE and dest.role is Role.AGENT:
            self._ring(call, dest.device, None, out)

    def _on_dial_end(self, e: ev.DialEnd, now: float, out: list[Change]) -> None:
        dest = self._channels.get(e.dest.uniqueid)
        if dest is None:
            return
        call = dest.call
        call.ringing.discard(dest.device)
        if dest.kind is Kind.LOCAL:
            self._promote_pipes(call, answered_only=False, only=dest)
        if e.dial_status == "ANSWER":
            if dest.role is Role.CUSTOMER:
                call.customer_answered = True
            return
        failed = e.dial_status in _DIAL_FAILURES or e.dial_status in ("CANCEL", "CONTINUE")
        if failed and call.phase is not Phase.TALKING and call.dial_failure not in _DIAL_FAILURES:
            call.dial_failure = e.dial_status  # a busy member outweighs a cancelled one

    def _on_bridge_enter(self, e: ev.BridgeEnter, now: float, out: list[Change]) -> None:
        chan = self._attach(e.channel, now)
        if chan is not None:
            self._enter_bridge(e.bridge_id, chan, now, out)

    def _on_bridge_leave(self, e: ev.BridgeLeave, now: float, out: list[Change]) -> None:
        chan = self._channels.get(e.channel.uniqueid)
        if chan is not None:
            self._attach(e.channel, now)
            self._leave_bridge(chan)

    def _on_hangup(self, e: ev.Hangup, now: float, out: list[Change]) -> None:
        chan = self._channels.get(e.channel.uniqueid)
        if chan is None:
            log.debug("Hangup for unknown channel %s", e.channel.uniqueid)
            return
        self._hangup(chan, now, out)

    def _on_recording(self, e: ev.RecordingStarted, now: float, out: list[Change]) -> None:
        chan = self._attach(e.channel, now)
        if chan is not None and chan.call.recording is None and e.path:
            chan.call.recording = e.path

    def _on_campaign_leg(self, e: ev.CampaignLeg, now: float, out: list[Change]) -> None:
        chan = self._attach(e.channel, now)
        if chan is not None:
            chan.call.campaign = True

    def _on_campaign_dial(self, e: ev.CampaignDialTagged, now: float, out: list[Change]) -> None:
        chan = self._attach(e.channel, now)
        if chan is not None:
            chan.call.dial_id = e.dial_id

    def _on_machine(self, e: ev.MachineDetected, now: float, out: list[Change]) -> None:
        chan = self._attach(e.channel, now)
        if chan is not None and e.status == "MACHINE":
            chan.call.machine = True

    def _on_queue_join(self, e: ev.QueueCallerJoin, now: float, out: list[Change]) -> None:
        chan = self._attach(e.channel, now)
        if chan is not None:
            self._join_queue(chan, e.queue, now)

    def _on_queue_leave(self, e: ev.QueueCallerLeave, now: float, out: list[Change]) -> None:
        chan = self._channels.get(e.channel.uniqueid)
        if chan is not None:
            chan.in_queue = False

    def _on_queue_abandon(self, e: ev.QueueCallerAbandon, now: float, out: list[Change]) -> None:
        chan = self._attach(e.channel, now)
        if chan is not None:
            call = chan.call
            call.abandoned = True
            call.queue = call.queue or e.queue
            call.hold_time_s = float(e.hold_time_s)

    def _on_agent_called(self, e: ev.AgentCalled, now: float, out: list[Change]) -> None:
        caller = self._attach(e.channel, now)
        if caller is None:
            return
        self._learn_agent(e.interface)
        call = caller.call
        if call.queue is None:
            self._join_queue(caller, e.queue, now)
        if e.dest is not None:
            dest = self._attach(e.dest, now)
            if dest is not None:
                dest.queue_interface = e.interface
        if e.interface.startswith("Local/"):
            # The device it reaches rings (and pops) through the Local channel's own dial.
            if e.interface not in call.agents_offered:
                call.agents_offered.append(e.interface)
            return
        if call.direction is None and caller.is_endpoint and caller.kind is Kind.PHONE:
            call.direction = Direction.INTERNAL
            caller.role = Role.CUSTOMER
        self._ring(call, e.interface, e.queue, out)

    def _on_agent_connect(self, e: ev.AgentConnect, now: float, out: list[Change]) -> None:
        caller = self._attach(e.channel, now)
        if caller is None:
            return
        self._learn_agent(e.interface)
        call = caller.call
        if call.queue is None:
            self._join_queue(caller, e.queue, now - e.hold_time_s)
        if call.hold_time_s is None:
            call.hold_time_s = float(e.hold_time_s)
        if e.dest is None:
            return
        dest = self._attach(e.dest, now)
        if dest is not None and dest.kind is Kind.PHONE:
            dest.queue_interface = e.interface
            dest.role = Role.AGENT
            if caller.role is Role.CUSTOMER or call.campaign:
                self._connect(call, dest, now, out)

    def _on_agent_complete(self, e: ev.AgentComplete, now: float, out: list[Change]) -> None:
        """Normally redundant (we saw the call connect); when we attached in the middle of
        the conversation it is what tells us the queue, the agent and Asterisk's own hold
        and talk times."""
        if e.channel is None:
            return  # seen under load: AgentComplete without Uniqueid/Linkedid
        caller = self._attach(e.channel, now)
        if caller is None:
            return
        self._learn_agent(e.interface)
        call = caller.call
        if call.agent is not None and call.hold_time_s is not None:
            return  # AgentConnect said all this
        # Attached mid-call (a resync found the conversation): Asterisk's times beat ours.
        answered_at = now - e.talk_time_s
        self._join_queue(caller, e.queue, answered_at - e.hold_time_s)
        call.hold_time_s = float(e.hold_time_s)
        call.agent = call.agent or e.interface
        call.party = call.party or e.interface
        call.answered_at = answered_at
        call.phase = Phase.TALKING
        if e.interface not in call.agents_offered:
            call.agents_offered.append(e.interface)
        if e.reason in ("caller", "agent") and call.hangup_by is None:
            call.hangup_by = HangupBy(e.reason)

    def _on_member(self, e: ev.QueueMemberChanged, now: float, out: list[Change]) -> None:
        if e.kind != "removed":
            self._learn_agent(e.interface)

    def _on_blind_transfer(self, e: ev.BlindTransfer, now: float, out: list[Change]) -> None:
        if e.result != "Success":
            return
        transferer = self._attach_opt(e.transferer, now)
        transferee = self._attach_opt(e.transferee, now)
        party = transferee or transferer
        if party is None or party.call.last_transfer_event == e:
            return
        call = party.call
        call.last_transfer_event = e
        from_agent = (
            transferer.device if transferer is not None and transferer.kind is Kind.PHONE else None
        )
        call.transfers.append(Transfer("blind", from_agent or call.agent, e.extension))
        call.transfer_pending = True
        call.inferred_transfer = False

    def _on_attended_transfer(self, e: ev.AttendedTransfer, now: float, out: list[Change]) -> None:
        if e.result != "Success":
            return
        named = [
            self._attach_opt(c, now)
            for c in (e.orig_transferer, e.second_transferer, e.transferee, e.transfer_target)
        ]
        chans = [c for c in named if c is not None]
        if not chans:
            return
        for chan in chans[1:]:
            if chan.call is not chans[0].call:
                self._merge(chans[0].call, chan.call)
        call = chans[0].call
        if call.last_transfer_event == e:
            return
        call.last_transfer_event = e
        if call.inferred_transfer and call.transfers:
            # We saw the new agent before the event: it was this attended transfer.
            last = call.transfers[-1]
            call.transfers[-1] = Transfer("attended", last.from_agent, last.to)
            call.inferred_transfer = False
            return
        orig = named[0]
        from_agent = orig.device if orig is not None and orig.kind is Kind.PHONE else call.agent
        # The destination is resolved when the new agent joins the customer side.
        call.transfers.append(Transfer("attended", from_agent, ""))
        call.transfer_pending = True
        for chan in chans:
            if chan.bridge is not None:
                self._converse(chan, now, out)

    def _on_shutdown(self, e: ev.Shutdown, now: float, out: list[Change]) -> None:
        out.extend(self.shutdown(now))

    def _attach_opt(self, ch: ev.Channel | None, now: float) -> _Chan | None:
        return None if ch is None else self._attach(ch, now)


_Handler = Callable[[CallTracker, Any, float, list[Change]], None]

_HANDLERS: dict[type, _Handler] = {
    ev.Newchannel: CallTracker._on_newchannel,
    ev.NewCallerid: CallTracker._on_callerid,
    ev.LocalBridge: CallTracker._on_local_bridge,
    ev.DialBegin: CallTracker._on_dial_begin,
    ev.DialEnd: CallTracker._on_dial_end,
    ev.BridgeEnter: CallTracker._on_bridge_enter,
    ev.BridgeLeave: CallTracker._on_bridge_leave,
    ev.Hangup: CallTracker._on_hangup,
    ev.RecordingStarted: CallTracker._on_recording,
    ev.CampaignLeg: CallTracker._on_campaign_leg,
    ev.CampaignDialTagged: CallTracker._on_campaign_dial,
    ev.MachineDetected: CallTracker._on_machine,
    ev.QueueCallerJoin: CallTracker._on_queue_join,
    ev.QueueCallerLeave: CallTracker._on_queue_leave,
    ev.QueueCallerAbandon: CallTracker._on_queue_abandon,
    ev.AgentCalled: CallTracker._on_agent_called,
    ev.AgentConnect: CallTracker._on_agent_connect,
    ev.AgentComplete: CallTracker._on_agent_complete,
    ev.QueueMemberChanged: CallTracker._on_member,
    ev.BlindTransfer: CallTracker._on_blind_transfer,
    ev.AttendedTransfer: CallTracker._on_attended_transfer,
    ev.Shutdown: CallTracker._on_shutdown,
}


def finished_records(changes: Iterable[Change]) -> list[CallRecord]:
    return [c.record for c in changes if isinstance(c, CallFinished)]
