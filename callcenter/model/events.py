"""Typed AMI events: the only shape in which Asterisk's events travel past ``ami/``.

``parse_event(headers)`` turns one AMI frame (header name -> value, spelled as Asterisk spells
them) into a frozen dataclass, or returns ``None`` for events the model does not use.

Asterisk facts encoded here (checked against the recorded captures):

- Channel events carry ``Uniqueid`` (one channel) and ``Linkedid`` (the Uniqueid of the oldest
  channel of the call: every channel of one call shares it). Dial*/Agent* events describe the
  *dialled* channel with the ``Dest`` prefix; transfers use ``Transferer``/``Transferee``.
- ``CallerIDNum``/``CallerIDName`` say ``<unknown>`` until the real value arrives with
  ``NewCallerid``; we map ``<unknown>`` and empty to ``""``.
- ``AgentRingNoAnswer.RingTime`` is in milliseconds, ``AgentConnect.RingTime`` in seconds.
- ``AgentComplete`` sometimes comes without Uniqueid/Linkedid (seen under load).
- The list responses used for resync (``CoreShowChannel``, ``QueueMember``, ``QueueEntry``,
  ``QueueParams``) are events too; they carry the ``ActionID`` of the request.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Headers = Mapping[str, str]

UNKNOWN = "<unknown>"


def _cid(value: str | None) -> str:
    if value is None or value == UNKNOWN:
        return ""
    return value


_ESCAPED = re.compile(r"\\(.)")


def _name(value: str | None) -> str:
    """A caller ID name. Asterisk escapes quotes and backslashes in names with a backslash
    (``O\\'Brien``); we give back what the caller sent."""
    text = _cid(value)
    return _ESCAPED.sub(r"\1", text) if "\\" in text else text


def _int(value: str | None, default: int = 0) -> int:
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        return default


@dataclass(frozen=True, slots=True)
class Channel:
    """The channel snapshot Asterisk attaches to channel events (with an optional prefix)."""

    name: str
    uniqueid: str
    linkedid: str
    state: int
    caller_num: str
    caller_name: str
    context: str
    exten: str

    @classmethod
    def from_headers(cls, h: Headers, prefix: str = "") -> Channel | None:
        keys = _CHANNEL_KEYS.get(prefix) or _channel_keys(prefix)
        uniqueid = h.get(keys[0])
        if not uniqueid:
            return None
        return cls(
            h.get(keys[1], ""),
            uniqueid,
            h.get(keys[2]) or uniqueid,
            _int(h.get(keys[3])),
            _cid(h.get(keys[4])),
            _name(h.get(keys[5])),
            h.get(keys[6], ""),
            h.get(keys[7], ""),
        )


_CHANNEL_FIELDS = (
    "Uniqueid",
    "Channel",
    "Linkedid",
    "ChannelState",
    "CallerIDNum",
    "CallerIDName",
    "Context",
    "Exten",
)
_CHANNEL_KEYS: dict[str, tuple[str, ...]] = {}


def _channel_keys(prefix: str) -> tuple[str, ...]:
    """The header names of a channel snapshot with ``prefix`` (Dest, Transferer, ...),
    built once per prefix: this runs for every event."""
    keys = _CHANNEL_KEYS[prefix] = tuple(prefix + name for name in _CHANNEL_FIELDS)
    return keys


# --- channels ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Newchannel:
    channel: Channel


@dataclass(frozen=True, slots=True)
class NewCallerid:
    channel: Channel


@dataclass(frozen=True, slots=True)
class Newstate:
    """ChannelState 6 (Up) means answered; 5 is Ringing."""

    channel: Channel


@dataclass(frozen=True, slots=True)
class Hangup:
    channel: Channel
    cause: int
    cause_txt: str


@dataclass(frozen=True, slots=True)
class DialBegin:
    """``channel`` is None when the dial was not started by a channel (an Originate)."""

    channel: Channel | None
    dest: Channel
    dial_string: str


@dataclass(frozen=True, slots=True)
class DialEnd:
    """``dial_status``: ANSWER, BUSY, NOANSWER, CONGESTION, CHANUNAVAIL, CANCEL, ..."""

    channel: Channel | None
    dest: Channel
    dial_status: str


@dataclass(frozen=True, slots=True)
class BridgeEnter:
    bridge_id: str
    channel: Channel


@dataclass(frozen=True, slots=True)
class BridgeLeave:
    bridge_id: str
    channel: Channel


@dataclass(frozen=True, slots=True)
class LocalBridge:
    """The two halves (``;1`` and ``;2``) of one Local channel got linked."""

    one: Channel
    two: Channel


@dataclass(frozen=True, slots=True)
class RecordingStarted:
    """``VarSet MIXMONITOR_FILENAME``: MixMonitor's output file for this channel."""

    channel: Channel
    path: str


@dataclass(frozen=True, slots=True)
class CampaignDialTagged:
    """``VarSet ATTEMPT_ID``: the channel belongs to a campaign dial. The dialer passes its
    dial id as the Originate variable ATTEMPT_ID and the dialplan sets it again with ``__``
    (inherited) on the customer's and the queue's channels, which is when Asterisk reports it."""

    channel: Channel
    dial_id: str


@dataclass(frozen=True, slots=True)
class CampaignLeg:
    """``VarSet CAMPAIGN_ID``: the channel is one of our campaign calls (``Originate
    Local/<number>@campaign-dial``: the customer is dialled first, the agent joins through the
    queue). Only our own variable says so; a click-to-dial Originate of a Local channel
    looks the same otherwise."""

    channel: Channel
    campaign_id: str


@dataclass(frozen=True, slots=True)
class MachineDetected:
    """``VarSet AMDSTATUS``: app_amd's verdict on an answered campaign call: ``HUMAN``,
    ``MACHINE``, ``NOTSURE`` or ``HANGUP``."""

    channel: Channel
    status: str


# --- queues -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueCallerJoin:
    queue: str
    channel: Channel
    position: int


@dataclass(frozen=True, slots=True)
class QueueCallerLeave:
    queue: str
    channel: Channel


@dataclass(frozen=True, slots=True)
class QueueCallerAbandon:
    queue: str
    channel: Channel
    hold_time_s: int


@dataclass(frozen=True, slots=True)
class AgentCalled:
    """A queue member's phone starts ringing for the caller ``channel``."""

    queue: str
    channel: Channel
    dest: Channel | None
    interface: str
    member_name: str


@dataclass(frozen=True, slots=True)
class AgentRingNoAnswer:
    queue: str
    channel: Channel
    interface: str
    ring_time_ms: int


@dataclass(frozen=True, slots=True)
class AgentConnect:
    queue: str
    channel: Channel
    dest: Channel | None
    interface: str
    member_name: str
    hold_time_s: int
    ring_time_s: int


@dataclass(frozen=True, slots=True)
class AgentComplete:
    queue: str
    channel: Channel | None
    interface: str
    hold_time_s: int
    talk_time_s: int
    reason: str  # "caller", "agent" or "transfer"


@dataclass(frozen=True, slots=True)
class QueueMemberChanged:
    """QueueMemberAdded/Removed/Status/Pause/Penalty and the QueueStatus list item
    ``QueueMember`` (which spells Interface as ``Location`` and MemberName as ``Name``).

    ``status`` is Asterisk's device state number: 1 not in use, 2 in use, 3 busy, 5
    unavailable, 6 ringing, 7 ring+in use, 8 on hold.
    """

    kind: str  # added, removed, status, pause, penalty, snapshot
    queue: str
    interface: str
    member_name: str
    state_interface: str
    status: int
    paused: bool
    paused_reason: str
    in_call: bool
    penalty: int
    calls_taken: int


@dataclass(frozen=True, slots=True)
class QueueParams:
    """QueueStatus list item describing one queue."""

    queue: str
    strategy: str
    calls: int
    completed: int
    abandoned: int
    service_level_s: int


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """QueueStatus list item: a caller waiting in a queue for ``wait_s`` seconds."""

    queue: str
    position: int
    channel_name: str
    uniqueid: str
    caller_num: str
    caller_name: str
    wait_s: int


# --- transfers, originate, lifecycle ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlindTransfer:
    """Emitted for the AMI ``BlindTransfer`` action and a phone's SIP REFER alike (never for
    ``Redirect``). ``transferer`` is the agent's channel, ``transferee`` the party moved."""

    result: str
    transferer: Channel | None
    transferee: Channel | None
    extension: str
    context: str


@dataclass(frozen=True, slots=True)
class AttendedTransfer:
    """The transferer (agent) talked to the target first, then joined the two calls.
    ``orig_transferer`` is the agent's leg to the customer, ``second_transferer`` the
    agent's leg to the target."""

    result: str
    orig_transferer: Channel | None
    second_transferer: Channel | None
    transferee: Channel | None
    transfer_target: Channel | None


@dataclass(frozen=True, slots=True)
class OriginateResponse:
    """Result of an async Originate. ``reason`` is Asterisk's control frame cause:
    4 answered, 5 busy, 8 congestion, 3 no answer (timeout), 1 hung up, 0 failed."""

    action_id: str
    success: bool
    channel_name: str
    uniqueid: str
    reason: int
    context: str
    exten: str


@dataclass(frozen=True, slots=True)
class ChannelSnapshot:
    """CoreShowChannels list item: a live channel at resync time."""

    channel: Channel
    application: str
    application_data: str
    duration_s: int
    bridge_id: str


@dataclass(frozen=True, slots=True)
class StreamTime:
    """The PBX's clock, read from a CEL event's ``EventTime`` (cel.conf's default
    ``dateformat``: ``%Y-%m-%d %H:%M:%S`` in UTC). Recorded streams carry no other timestamps
    (``timestampevents = no``), so ``callcenter replay`` keeps CEL events for this alone; the
    live server filters CEL out at the source and uses its own clock."""

    epoch: float


@dataclass(frozen=True, slots=True)
class FullyBooted:
    pass


@dataclass(frozen=True, slots=True)
class Shutdown:
    restart: bool


@dataclass(frozen=True, slots=True)
class ContactStatus:
    """A PJSIP contact of ``endpoint`` (AOR ``aor``) changed: ``Created``/``Updated`` (a
    phone registered), ``Reachable`` (qualify answered), ``Unreachable`` (qualify timed out),
    ``Removed`` (unregistered, expired, or its WebSocket closed: a browser tab went away)."""

    endpoint: str
    aor: str
    status: str
    uri: str

    @property
    def online(self) -> bool:
        return self.status in ("Created", "Updated", "Reachable")


Event = (
    Newchannel
    | NewCallerid
    | Newstate
    | Hangup
    | DialBegin
    | DialEnd
    | BridgeEnter
    | BridgeLeave
    | LocalBridge
    | RecordingStarted
    | CampaignLeg
    | CampaignDialTagged
    | MachineDetected
    | QueueCallerJoin
    | QueueCallerLeave
    | QueueCallerAbandon
    | AgentCalled
    | AgentRingNoAnswer
    | AgentConnect
    | AgentComplete
    | QueueMemberChanged
    | QueueParams
    | QueueEntry
    | BlindTransfer
    | AttendedTransfer
    | OriginateResponse
    | ChannelSnapshot
    | StreamTime
    | FullyBooted
    | Shutdown
    | ContactStatus
)


def _require(channel: Channel | None) -> Channel:
    if channel is None:
        raise ValueError("event has no Uniqueid")
    return channel


def _channel(h: Headers) -> Channel:
    return _require(Channel.from_headers(h))


def _member(kind: str) -> Callable[[Headers], QueueMemberChanged]:
    def build(h: Headers) -> QueueMemberChanged:
        return QueueMemberChanged(
            kind=kind,
            queue=h.get("Queue", ""),
            interface=h.get("Interface") or h.get("Location", ""),
            member_name=h.get("MemberName") or h.get("Name", ""),
            state_interface=h.get("StateInterface", ""),
            status=_int(h.get("Status")),
            paused=h.get("Paused") == "1",
            paused_reason=h.get("PausedReason", ""),
            in_call=h.get("InCall") == "1",
            penalty=_int(h.get("Penalty")),
            calls_taken=_int(h.get("CallsTaken")),
        )

    return build


def _varset(h: Headers) -> Event | None:
    variable = h.get("Variable")
    if variable == "MIXMONITOR_FILENAME":
        return RecordingStarted(channel=_channel(h), path=h.get("Value", ""))
    if variable == "CAMPAIGN_ID" and h.get("Value"):
        return CampaignLeg(channel=_channel(h), campaign_id=h["Value"])
    if variable == "ATTEMPT_ID" and h.get("Value"):
        return CampaignDialTagged(channel=_channel(h), dial_id=h["Value"])
    if variable == "AMDSTATUS":
        return MachineDetected(channel=_channel(h), status=h.get("Value", ""))
    return None


def _stream_time(h: Headers) -> StreamTime | None:
    stamp = h.get("EventTime", "")
    try:
        return StreamTime(float(calendar.timegm(time.strptime(stamp, "%Y-%m-%d %H:%M:%S"))))
    except ValueError:
        return None


def _duration(value: str | None) -> int:
    """CoreShowChannel Duration is HH:MM:SS."""
    if not value:
        return 0
    total = 0
    for part in value.split(":"):
        total = total * 60 + _int(part)
    return total


_PARSERS: dict[str, Callable[[Headers], Event | None]] = {
    "Newchannel": lambda h: Newchannel(_channel(h)),
    "NewCallerid": lambda h: NewCallerid(_channel(h)),
    "Newstate": lambda h: Newstate(_channel(h)),
    "Hangup": lambda h: Hangup(_channel(h), _int(h.get("Cause")), h.get("Cause-txt", "")),
    "DialBegin": lambda h: DialBegin(
        Channel.from_headers(h), _require(Channel.from_headers(h, "Dest")), h.get("DialString", "")
    ),
    "DialEnd": lambda h: DialEnd(
        Channel.from_headers(h), _require(Channel.from_headers(h, "Dest")), h.get("DialStatus", "")
    ),
    "BridgeEnter": lambda h: BridgeEnter(h.get("BridgeUniqueid", ""), _channel(h)),
    "BridgeLeave": lambda h: BridgeLeave(h.get("BridgeUniqueid", ""), _channel(h)),
    "LocalBridge": lambda h: LocalBridge(
        _require(Channel.from_headers(h, "LocalOne")), _require(Channel.from_headers(h, "LocalTwo"))
    ),
    "VarSet": _varset,
    "QueueCallerJoin": lambda h: QueueCallerJoin(
        h.get("Queue", ""), _channel(h), _int(h.get("Position"))
    ),
    "QueueCallerLeave": lambda h: QueueCallerLeave(h.get("Queue", ""), _channel(h)),
    "QueueCallerAbandon": lambda h: QueueCallerAbandon(
        h.get("Queue", ""), _channel(h), _int(h.get("HoldTime"))
    ),
    "AgentCalled": lambda h: AgentCalled(
        h.get("Queue", ""),
        _channel(h),
        Channel.from_headers(h, "Dest"),
        h.get("Interface", ""),
        h.get("MemberName", ""),
    ),
    "AgentRingNoAnswer": lambda h: AgentRingNoAnswer(
        h.get("Queue", ""), _channel(h), h.get("Interface", ""), _int(h.get("RingTime"))
    ),
    "AgentConnect": lambda h: AgentConnect(
        h.get("Queue", ""),
        _channel(h),
        Channel.from_headers(h, "Dest"),
        h.get("Interface", ""),
        h.get("MemberName", ""),
        _int(h.get("HoldTime")),
        _int(h.get("RingTime")),
    ),
    "AgentComplete": lambda h: AgentComplete(
        h.get("Queue", ""),
        Channel.from_headers(h),
        h.get("Interface", ""),
        _int(h.get("HoldTime")),
        _int(h.get("TalkTime")),
        h.get("Reason", ""),
    ),
    "QueueMemberAdded": _member("added"),
    "QueueMemberRemoved": _member("removed"),
    "QueueMemberStatus": _member("status"),
    "QueueMemberPause": _member("pause"),
    "QueueMemberPenalty": _member("penalty"),
    "QueueMember": _member("snapshot"),
    "QueueParams": lambda h: QueueParams(
        h.get("Queue", ""),
        h.get("Strategy", ""),
        _int(h.get("Calls")),
        _int(h.get("Completed")),
        _int(h.get("Abandoned")),
        _int(h.get("ServiceLevel")),
    ),
    "QueueEntry": lambda h: QueueEntry(
        h.get("Queue", ""),
        _int(h.get("Position")),
        h.get("Channel", ""),
        h.get("Uniqueid", ""),
        _cid(h.get("CallerIDNum")),
        _name(h.get("CallerIDName")),
        _int(h.get("Wait")),
    ),
    "BlindTransfer": lambda h: BlindTransfer(
        h.get("Result", ""),
        Channel.from_headers(h, "Transferer"),
        Channel.from_headers(h, "Transferee"),
        h.get("Extension", ""),
        h.get("Context", ""),
    ),
    "AttendedTransfer": lambda h: AttendedTransfer(
        h.get("Result", ""),
        Channel.from_headers(h, "OrigTransferer"),
        Channel.from_headers(h, "SecondTransferer"),
        Channel.from_headers(h, "Transferee"),
        Channel.from_headers(h, "TransferTarget"),
    ),
    "OriginateResponse": lambda h: OriginateResponse(
        h.get("ActionID", ""),
        h.get("Response") == "Success",
        h.get("Channel", ""),
        h.get("Uniqueid", ""),
        _int(h.get("Reason")),
        h.get("Context", ""),
        h.get("Exten", ""),
    ),
    "CoreShowChannel": lambda h: ChannelSnapshot(
        _channel(h),
        h.get("Application", ""),
        h.get("ApplicationData", ""),
        _duration(h.get("Duration")),
        h.get("BridgeId", ""),
    ),
    "CEL": _stream_time,
    "FullyBooted": lambda h: FullyBooted(),
    "Shutdown": lambda h: Shutdown(h.get("Restart", "").lower() == "true"),
    "ContactStatus": lambda h: ContactStatus(
        h.get("EndpointName", ""), h.get("AOR", ""), h.get("ContactStatus", ""), h.get("URI", "")
    ),
}

#: Event names ``parse_event`` understands (the list-response items included).
PARSED_EVENTS = frozenset(_PARSERS)


def parse_event(headers: Headers) -> Event | None:
    """Parse one AMI event frame. Returns ``None`` for events the model does not use.

    Raises ``ValueError`` for a frame of a known event that lacks a required id; callers log
    and drop it.
    """
    name = headers.get("Event")
    if name is None:
        return None
    parser = _PARSERS.get(name)
    if parser is None:
        return None
    return parser(headers)
