"""The call model: AMI channel events in, calls out.

Pure and synchronous: ``CallTracker.apply(event, now)`` returns a list of changes, time is a
parameter, there is no I/O. Unknown, duplicated or out-of-order events are logged and dropped.

How Asterisk shapes a call (Asterisk 12+ channel events, checked against the captures):

- Every channel has a ``Uniqueid``; all channels of one call share the ``Linkedid`` (the
  Uniqueid of the call's first channel). A channel belongs to the call of the Linkedid it had
  when we first saw it; that is our stable ``call_id``. A call ends when its last channel hangs
  up.
- A Local channel is a pair of halves ``…;1`` and ``…;2`` (``LocalBridge`` links them): the
  ``;1`` half is what the dialler sees, the ``;2`` half runs the dialplan on the other side.
  Both halves belong to the same side of the conversation.
- Each channel is on the *customer* side or the *agent* side. Queue callers
  (``QueueCallerJoin``) are customers, queue members rung by ``AgentCalled`` are agents; a
  channel created by ``Originate`` that then dials out is the agent's phone of a click-to-call
  and what it dials is the customer; what a customer channel dials directly is an agent.
- A conversation is a bridge holding a customer channel and an agent channel. The agent of the
  last such bridge is the call's agent; a new agent joining the customer after another one is a
  transfer (an AMI ``Redirect`` emits no transfer event, so this is how it is seen at all);
  ``BlindTransfer``/``AttendedTransfer`` events say which kind and who transferred.
- Whoever leaves the last conversation first hung up (``hangup_by``).
- Queue calls carry Asterisk's own ``HoldTime`` (wait) in ``AgentConnect`` and
  ``QueueCallerAbandon``; we prefer it to our clock.
- Outcomes of dialled legs come from ``DialEnd DialStatus`` (ANSWER, BUSY, NOANSWER,
  CONGESTION, CHANUNAVAIL, CANCEL).
"""

from __future__ import annotations

import enum
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from callcenter.model import events as ev
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

log = logging.getLogger(__name__)

# Remember this many finished calls/channels so late events for them (AgentComplete after the
# last Hangup, a duplicated Hangup, an OriginateResponse after everything) cannot resurrect them.
FINISHED_MEMORY = 20_000

_CHANNEL_SUFFIX = re.compile(r"-[0-9a-fA-F]+(;[12])?$")

_DIAL_FAILURES = {
    "BUSY": Outcome.BUSY,
    "NOANSWER": Outcome.NO_ANSWER,
    "CANCEL": Outcome.NO_ANSWER,
    "CONGESTION": Outcome.CONGESTION,
    "CHANUNAVAIL": Outcome.FAILED,
}


class Side(enum.Enum):
    UNKNOWN = "unknown"
    CUSTOMER = "customer"
    AGENT = "agent"


def device_of(channel_name: str) -> str:
    """``PJSIP/2001-0000000a`` -> ``PJSIP/2001``; ``Local/1001@agents-00000001;1`` ->
    ``Local/1001@agents``. The device is what a phone or queue member interface names."""
    return _CHANNEL_SUFFIX.sub("", channel_name)


def interface_key(interface: str) -> str:
    """Queue member interfaces may carry Local options (``Local/1001@agents/n``); compare
    them with devices without those."""
    if interface.startswith("Local/") and interface.count("/") > 1:
        return interface.rsplit("/", 1)[0]
    return interface


def _epoch_of(uniqueid: str, default: float) -> float:
    """A Uniqueid is ``<epoch seconds>.<sequence>``: the second the channel was created."""
    head, _, _ = uniqueid.partition(".")
    return float(head) if head.isdigit() else default


@dataclass(slots=True)
class _Chan:
    uniqueid: str
    name: str
    call: _Call
    side: Side = Side.UNKNOWN
    agent_id: str | None = None  # the queue member interface, when known
    partner: _Chan | None = None  # the other half of a Local channel
    bridge: str | None = None
    originated: bool = False  # created by an Originate (DialBegin without a dialler)
    in_queue: bool = False


@dataclass(slots=True)
class _Call:
    call_id: str
    started_at: float
    first: _Chan | None = None
    channels: dict[str, _Chan] = field(default_factory=dict)
    caller_number: str = ""
    caller_name: str = ""
    called_number: str = ""
    dialed_out: bool = False  # the agent side dialled the customer (click-to-call, campaign)
    dialled: bool = False  # a channel of the call dialled another one
    had_customer: bool = False  # a customer was ever part of it
    customer_answered: bool = False
    queue: str | None = None
    queue_joined_at: float | None = None
    hold_time_s: float | None = None
    abandoned: bool = False
    agents_offered: list[str] = field(default_factory=list)
    agent: str | None = None
    answered_at: float | None = None
    dial_failure: Outcome | None = None
    hangup_by: HangupBy | None = None
    leaver: _Chan | None = None  # left the current conversation first; hanging up decides
    first_hangup: Side | None = None  # fallback when no conversation was ever left
    last_leaver: _Chan | None = None  # left a bridge that still had someone else in it
    transfers: list[Transfer] = field(default_factory=list)
    transfer_pending: bool = False  # last transfer's destination agent not seen yet
    last_transfer_event: object = None  # a duplicated transfer event must not count twice
    recording: str | None = None
    dial_id: str | None = None  # ATTEMPT_ID of a campaign call
    machine: bool = False  # app_amd said an answering machine took the campaign call


#: Dialplan contexts that the agents' desk phones enter (dialplans/extensions.conf): a
#: SIP channel created in one of them is an agent's phone even if it is in no queue.
PHONE_CONTEXTS = frozenset({"from-phones"})


class CallTracker:
    """Feed it every parsed AMI event in order; collect the changes it returns."""

    def __init__(self, phone_contexts: frozenset[str] = PHONE_CONTEXTS) -> None:
        self._phone_contexts = phone_contexts
        self._channels: dict[str, _Chan] = {}
        self._calls: dict[str, _Call] = {}
        self._bridges: dict[str, set[str]] = {}
        self._agent_interfaces: dict[str, str] = {}  # interface_key -> interface
        self._finished: OrderedDict[str, None] = OrderedDict()

    # --- public ---------------------------------------------------------------------------

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    def live_calls(self, now: float) -> list[dict[str, object]]:
        """The calls in progress, for the wallboard: who, where, and since when."""
        calls: list[dict[str, object]] = []
        for call in self._calls.values():
            if call.answered_at is not None:
                state, since = "talking", call.answered_at
            elif call.queue is not None and not call.dialed_out:
                state, since = "queued", call.queue_joined_at or call.started_at
            else:
                state, since = "dialing", call.started_at
            calls.append(
                {
                    "call_id": call.call_id,
                    "direction": "outbound" if call.dialed_out else "inbound",
                    "caller_number": call.caller_number,
                    "caller_name": call.caller_name,
                    "called_number": call.called_number,
                    "queue": call.queue,
                    "agent": call.agent,
                    "state": state,
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
            if interface_key(device_of(chan.name)) == key
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
        for snap in live.values():
            if snap.channel.uniqueid in self._channels:
                continue
            chan = self._attach(snap.channel, now - snap.duration_s)
            if chan is None:
                continue
            since = now - snap.duration_s
            if snap.application == "Queue":  # the caller (waiting, or bridged to an agent)
                self._join_queue(chan, snap.application_data.split(",", 1)[0], since)
            if snap.bridge_id:
                self._enter_bridge(snap.bridge_id, chan, since, changes)
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
        return changes

    # --- channel bookkeeping --------------------------------------------------------------

    def _known(self, uniqueid: str) -> _Chan | None:
        return self._channels.get(uniqueid)

    def _attach(self, ch: ev.Channel, now: float) -> _Chan | None:
        """The channel for ``ch``, registering it (and its call) the first time we see it."""
        chan = self._channels.get(ch.uniqueid)
        if chan is not None:
            if ch.name and chan.name != ch.name:
                chan.name = ch.name
            return chan
        if ch.uniqueid in self._finished or ch.linkedid in self._finished:
            return None
        if ch.name == "OutgoingSpoolFailed":
            # Asterisk's stand-in channel that runs an Originate context's "failed"
            # extension: bookkeeping of a failed originate, not a call.
            return None
        call = self._calls.get(ch.linkedid)
        if call is None:
            started = now if ch.uniqueid == ch.linkedid else _epoch_of(ch.linkedid, now)
            call = _Call(call_id=ch.linkedid, started_at=min(started, now))
            self._calls[ch.linkedid] = call
        chan = _Chan(uniqueid=ch.uniqueid, name=ch.name, call=call)
        call.channels[ch.uniqueid] = chan
        self._channels[ch.uniqueid] = chan
        if call.first is None:
            call.first = chan
            call.caller_number = ch.caller_num
            call.caller_name = ch.caller_name
            if ch.exten and ch.exten != "s" and not ch.name.startswith("Local/"):
                call.called_number = ch.exten  # the DID the carrier dialled
        is_phone = ch.context in self._phone_contexts and not ch.name.startswith("Local/")
        if is_phone or interface_key(device_of(ch.name)) in self._agent_interfaces:
            self._set_side(chan, Side.AGENT)
        return chan

    def _attach_opt(self, ch: ev.Channel | None, now: float) -> _Chan | None:
        return None if ch is None else self._attach(ch, now)

    def _set_side(self, chan: _Chan, side: Side, agent_id: str | None = None) -> None:
        if side is Side.CUSTOMER:
            chan.call.had_customer = True
        for half in (chan, chan.partner):
            if half is None:
                continue
            half.side = side
            if agent_id:
                half.agent_id = agent_id

    def _agent_of(self, chan: _Chan) -> str:
        """The queue member interface of an agent channel, else its device."""
        if chan.agent_id:
            return chan.agent_id
        device = device_of(chan.name)
        return self._agent_interfaces.get(interface_key(device), device)

    def _learn_agent(self, interface: str) -> None:
        if interface:
            self._agent_interfaces[interface_key(interface)] = interface

    def _remember_finished(self, key: str) -> None:
        self._finished[key] = None
        while len(self._finished) > FINISHED_MEMORY:
            self._finished.popitem(last=False)

    # --- conversations --------------------------------------------------------------------

    def _enter_bridge(self, bridge_id: str, chan: _Chan, now: float, out: list[Change]) -> None:
        if chan.call.leaver is chan:
            chan.call.leaver = None  # it moved on (transfer, consultation): not a hang-up
        if chan.bridge and chan.bridge != bridge_id:
            self._bridges.get(chan.bridge, set()).discard(chan.uniqueid)
        chan.bridge = bridge_id
        members = self._bridges.setdefault(bridge_id, set())
        members.add(chan.uniqueid)
        chans = [self._channels[u] for u in members if u in self._channels]
        customers = [c for c in chans if c.side is Side.CUSTOMER]
        agents = [c for c in chans if c.side is Side.AGENT]
        if not customers or not agents:
            return
        agent_chan = agents[0]
        for customer in customers:
            self._connect(customer.call, agent_chan, now, out)

    def _connect(self, call: _Call, agent_chan: _Chan, now: float, out: list[Change]) -> None:
        """The customer of ``call`` is talking with ``agent_chan``'s agent."""
        agent = self._agent_of(agent_chan)
        if agent == call.agent:
            return
        if call.transfer_pending and call.transfers:
            last = call.transfers[-1]
            call.transfers[-1] = Transfer(last.kind, last.from_agent, agent)
            call.transfer_pending = False
        elif call.agent is not None:
            # A new agent without a transfer event: the AMI Redirect case.
            call.transfers.append(Transfer("blind", call.agent, agent))
        call.agent = agent
        call.hangup_by = None
        call.leaver = None
        if call.answered_at is None:
            call.answered_at = now
            out.append(CallAnswered(call.call_id, agent))

    def _leave_bridge(self, chan: _Chan) -> None:
        bridge_id = chan.bridge
        if bridge_id is None:
            return
        chan.bridge = None
        members = self._bridges.get(bridge_id, set())
        was_conversation = chan.side is not Side.UNKNOWN and any(
            (other := self._channels.get(u)) is not None
            and other.side not in (Side.UNKNOWN, chan.side)
            for u in members
            if u != chan.uniqueid
        )
        if len(members) > 1:
            chan.call.last_leaver = chan
        members.discard(chan.uniqueid)
        if not members:
            self._bridges.pop(bridge_id, None)
        call = chan.call
        current = chan.side is Side.CUSTOMER or self._agent_of(chan) == call.agent
        if was_conversation and current and call.leaver is None:
            call.leaver = chan  # an agent who already transferred the call does not count

    def _join_queue(self, chan: _Chan, queue: str, joined_at: float) -> None:
        self._set_side(chan, Side.CUSTOMER)
        chan.in_queue = True
        call = chan.call
        if call.queue is None:
            call.queue = queue
            call.queue_joined_at = joined_at

    def _hangup(self, chan: _Chan, now: float, out: list[Change]) -> None:
        self._leave_bridge(chan)
        call = chan.call
        leaver = call.leaver
        if leaver is not None and chan in (leaver, leaver.partner) and call.hangup_by is None:
            call.hangup_by = HangupBy.CALLER if leaver.side is Side.CUSTOMER else HangupBy.AGENT
        if call.first_hangup is None and chan.side is not Side.UNKNOWN:
            call.first_hangup = chan.side
        if chan.in_queue and call.answered_at is None and call.queue is not None:
            call.abandoned = True
        self._channels.pop(chan.uniqueid, None)
        call.channels.pop(chan.uniqueid, None)
        self._remember_finished(chan.uniqueid)
        if not call.channels:
            self._calls.pop(call.call_id, None)
            self._remember_finished(call.call_id)
            if call.had_customer or call.dialled:
                out.append(CallFinished(self._record(call, now)))
            else:
                # One phone alone (a supervisor's ChanSpy session, a phone picked up and put
                # down, a click-to-call the agent did not answer): nobody was called.
                log.debug("call %s had no other party: not logged", call.call_id)

    # --- the finished record --------------------------------------------------------------

    def _record(self, call: _Call, ended_at: float) -> CallRecord:
        direction = Direction.INBOUND
        if call.dialed_out:
            direction = Direction.OUTBOUND
        elif call.first is not None and call.first.side is Side.AGENT:
            direction = Direction.INTERNAL
        answered = call.answered_at is not None
        if call.machine and not answered:
            outcome = Outcome.MACHINE
        elif answered:
            outcome = Outcome.ANSWERED
        elif call.queue is not None and (not call.dialed_out or call.customer_answered):
            # A caller who gave up, or a campaign call the customer answered and no agent
            # took in time (dropped with the safe-harbour message): abandoned either way.
            outcome = Outcome.ABANDONED
        elif call.dial_failure is not None:
            outcome = call.dial_failure
        elif direction is Direction.OUTBOUND:
            outcome = Outcome.FAILED
        elif call.queue is not None:
            outcome = Outcome.ABANDONED
        else:
            outcome = Outcome.ABANDONED if direction is Direction.INBOUND else Outcome.NO_ANSWER
        hangup_by = call.hangup_by
        if hangup_by is None and call.first_hangup is not None:
            hangup_by = HangupBy.CALLER if call.first_hangup is Side.CUSTOMER else HangupBy.AGENT
        if outcome is Outcome.ABANDONED:
            hangup_by = None if call.dialed_out else HangupBy.CALLER
        elif direction is Direction.INTERNAL and call.last_leaver is not None:
            # Agent to agent: "caller" is the agent who placed the call; whoever hangs up
            # leaves the bridge first (Asterisk then hangs up the other side).
            leaver = call.last_leaver
            hangup_by = (
                HangupBy.CALLER if call.first in (leaver, leaver.partner) else HangupBy.AGENT
            )
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
            hangup_by=hangup_by if outcome in (Outcome.ANSWERED, Outcome.ABANDONED) else None,
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
        if (chan is call.first or chan.partner is call.first) and not call.dialed_out:
            call.caller_number = e.channel.caller_num or call.caller_number
            call.caller_name = e.channel.caller_name or call.caller_name

    def _on_newstate(self, e: ev.Newstate, now: float, out: list[Change]) -> None:
        self._attach(e.channel, now)

    def _on_local_bridge(self, e: ev.LocalBridge, now: float, out: list[Change]) -> None:
        one, two = self._attach(e.one, now), self._attach(e.two, now)
        if one is None or two is None:
            return
        one.partner, two.partner = two, one
        known = one if one.side is not Side.UNKNOWN else two
        self._set_side(known, known.side, known.agent_id)
        two.originated = two.originated or one.originated

    def _on_dial_begin(self, e: ev.DialBegin, now: float, out: list[Change]) -> None:
        dest = self._attach(e.dest, now)
        if dest is None:
            return
        if e.channel is None:
            # Originate: Asterisk dials the first leg itself.
            dest.originated = True
            return
        src = self._attach(e.channel, now)
        if src is None:
            return
        call = src.call
        call.dialled = True
        dest_is_agent = (
            dest.side is Side.AGENT or interface_key(device_of(dest.name)) in self._agent_interfaces
        )
        campaign_leg = src.partner is not None and src.partner.originated
        if src.side is Side.UNKNOWN and src.originated:
            self._set_side(src, Side.AGENT)  # click-to-call: the agent's phone dials out
        if campaign_leg and src.side is not Side.AGENT:
            # Originate of Local/<number>@<ctx>: the ;2 half dials the customer, the ;1 half
            # waits for the answer and then joins a queue (a campaign call).
            self._set_side(src, Side.CUSTOMER)
            self._set_side(dest, Side.CUSTOMER)
            call.dialed_out = True
            call.called_number = e.dest.exten or call.called_number
        elif src.side is Side.AGENT and not dest_is_agent:
            # An agent's phone dialling out (click-to-call, or dialled by hand).
            self._set_side(dest, Side.CUSTOMER)
            call.dialed_out = True
            call.agent = call.agent or self._agent_of(src)
            number = e.dest.exten or e.dial_string.split("@", 1)[0].rsplit("/", 1)[-1]
            if number and number != "s":
                call.called_number = number
        elif dest.side is Side.UNKNOWN:
            # The caller's own channel dialling an extension is a customer reaching an agent.
            # Other dialers are Local "pipes" (a consultation, a transfer leg): no side.
            if src.side is Side.UNKNOWN and call.first in (src, src.partner):
                self._set_side(src, Side.CUSTOMER)
            self._set_side(dest, Side.AGENT)
            if src.side is Side.CUSTOMER and not src.in_queue:
                # A direct call or a transfer ringing an agent's phone: pop it there too.
                out.append(
                    AgentRinging(
                        call.call_id,
                        self._agent_of(dest),
                        call.caller_number,
                        call.caller_name,
                        call.queue,
                    )
                )

    def _on_dial_end(self, e: ev.DialEnd, now: float, out: list[Change]) -> None:
        dest = self._attach_opt(e.dest, now)
        if dest is None:
            return
        call = dest.call
        if e.dial_status == "ANSWER":
            dialer = self._known(e.channel.uniqueid) if e.channel else None
            dialled_by_agent = dialer is not None and dialer.side is Side.AGENT
            if dest.side is Side.CUSTOMER:
                call.customer_answered = True
            # click-to-call: the agent is already on the line when the customer answers;
            # an internal call: the agent called picked up.
            if dialled_by_agent and call.answered_at is None and dest.side is not Side.UNKNOWN:
                call.answered_at = now
                if dest.side is Side.AGENT:
                    call.agent = self._agent_of(dest)
                out.append(CallAnswered(call.call_id, call.agent))
            return
        failure = _DIAL_FAILURES.get(e.dial_status)
        if failure is not None and call.answered_at is None:
            call.dial_failure = failure

    def _on_bridge_enter(self, e: ev.BridgeEnter, now: float, out: list[Change]) -> None:
        chan = self._attach(e.channel, now)
        if chan is not None:
            self._enter_bridge(e.bridge_id, chan, now, out)

    def _on_bridge_leave(self, e: ev.BridgeLeave, now: float, out: list[Change]) -> None:
        chan = self._attach_opt(e.channel, now)
        if chan is not None:
            self._leave_bridge(chan)

    def _on_hangup(self, e: ev.Hangup, now: float, out: list[Change]) -> None:
        chan = self._attach_opt(e.channel, now)
        if chan is None:
            log.debug("Hangup for unknown channel %s", e.channel.uniqueid)
            return
        self._hangup(chan, now, out)

    def _on_recording(self, e: ev.RecordingStarted, now: float, out: list[Change]) -> None:
        chan = self._attach(e.channel, now)
        if chan is not None and chan.call.recording is None and e.path:
            chan.call.recording = e.path

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
            call = chan.call
            if call.first is chan and not call.dialed_out:
                call.caller_number = e.channel.caller_num or call.caller_number
                call.caller_name = e.channel.caller_name or call.caller_name

    def _on_queue_leave(self, e: ev.QueueCallerLeave, now: float, out: list[Change]) -> None:
        chan = self._attach_opt(e.channel, now)
        if chan is not None:
            chan.in_queue = False

    def _on_queue_abandon(self, e: ev.QueueCallerAbandon, now: float, out: list[Change]) -> None:
        chan = self._attach_opt(e.channel, now)
        if chan is not None:
            chan.call.abandoned = True
            chan.call.hold_time_s = float(e.hold_time_s)

    def _on_agent_called(self, e: ev.AgentCalled, now: float, out: list[Change]) -> None:
        caller = self._attach(e.channel, now)
        if caller is None:
            return
        self._learn_agent(e.interface)
        call = caller.call
        if caller.side is Side.UNKNOWN:
            self._join_queue(caller, e.queue, now)
        if e.dest is not None:
            dest = self._attach(e.dest, now)
            if dest is not None:
                self._set_side(dest, Side.AGENT, e.interface)
        if e.interface not in call.agents_offered:
            call.agents_offered.append(e.interface)
        out.append(
            AgentRinging(
                call_id=call.call_id,
                agent=e.interface,
                # A campaign call waits in the queue as the customer we dialed.
                caller_number=call.called_number if call.dialed_out else call.caller_number,
                caller_name="" if call.dialed_out else call.caller_name,
                queue=e.queue,
                dial_id=call.dial_id,
            )
        )

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
        if e.dest is not None:
            dest = self._attach(e.dest, now)
            if dest is not None:
                self._set_side(dest, Side.AGENT, e.interface)
                self._connect(call, dest, now, out)

    def _on_agent_complete(self, e: ev.AgentComplete, now: float, out: list[Change]) -> None:
        """Normally redundant (we saw the call connect); when we attached in the middle of
        the conversation it is what tells us the queue, the agent and Asterisk's own hold
        and talk times."""
        caller = self._attach_opt(e.channel, now)
        if caller is None:
            return  # seen under load: AgentComplete without Uniqueid/Linkedid
        self._learn_agent(e.interface)
        call = caller.call
        if call.agent is not None and call.hold_time_s is not None:
            return  # AgentConnect said all this
        # Attached mid-call (a resync found the conversation): Asterisk's times beat ours.
        answered_at = now - e.talk_time_s
        self._join_queue(caller, e.queue, answered_at - e.hold_time_s)
        call.hold_time_s = float(e.hold_time_s)
        call.agent = call.agent or e.interface
        call.answered_at = answered_at
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
        from_agent = self._agent_of(transferer) if transferer is not None else call.agent
        call.transfers.append(Transfer("blind", from_agent, e.extension))
        call.transfer_pending = True

    def _on_attended_transfer(self, e: ev.AttendedTransfer, now: float, out: list[Change]) -> None:
        if e.result != "Success":
            return
        transferee = self._attach_opt(e.transferee, now)
        if transferee is None:
            return
        call = transferee.call
        if call.last_transfer_event == e:
            return
        call.last_transfer_event = e
        orig = self._attach_opt(e.orig_transferer, now)
        from_agent = self._agent_of(orig) if orig is not None else call.agent
        # The destination is resolved when the new agent joins the customer: the target may
        # be a Local channel of the consultation (Atxfer dials through one).
        call.transfers.append(Transfer("attended", from_agent, ""))
        call.transfer_pending = True
        target = self._attach_opt(e.transfer_target, now)
        if target is not None and target.side is Side.AGENT:
            self._adopt(target, call)
            self._connect(call, target, now, out)

    def _adopt(self, chan: _Chan, call: _Call) -> None:
        """Move a channel (the attended-transfer target, which was created by the agent's
        consultation call) into the customer's call, so it ends with it."""
        for half in (chan, chan.partner):
            if half is None or half.call is call:
                continue
            old = half.call
            old.channels.pop(half.uniqueid, None)
            half.call = call
            call.channels[half.uniqueid] = half
            if not old.channels:
                self._calls.pop(old.call_id, None)
                self._remember_finished(old.call_id)
        self._set_side(chan, Side.AGENT)

    def _on_shutdown(self, e: ev.Shutdown, now: float, out: list[Change]) -> None:
        out.extend(self.shutdown(now))


_Handler = Callable[[CallTracker, Any, float, list[Change]], None]

_HANDLERS: dict[type, _Handler] = {
    ev.Newchannel: CallTracker._on_newchannel,
    ev.NewCallerid: CallTracker._on_callerid,
    ev.Newstate: CallTracker._on_newstate,
    ev.LocalBridge: CallTracker._on_local_bridge,
    ev.DialBegin: CallTracker._on_dial_begin,
    ev.DialEnd: CallTracker._on_dial_end,
    ev.BridgeEnter: CallTracker._on_bridge_enter,
    ev.BridgeLeave: CallTracker._on_bridge_leave,
    ev.Hangup: CallTracker._on_hangup,
    ev.RecordingStarted: CallTracker._on_recording,
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
