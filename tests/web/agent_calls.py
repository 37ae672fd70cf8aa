"""Queue calls to one agent's phone, played by the fake PBX event by event the way Asterisk 22
emits them in ``sip_inbound_answered`` (carrier channel, QueueCallerJoin, the phone's channel,
AgentCalled, AgentConnect + two BridgeEnter, then BridgeLeave and Hangup of both).

The channels are also put in the fake PBX's live state, so ``CoreShowChannels`` after a
reconnect and ``strict_channels`` call control see them as Asterisk would. Used by the agent
API tests, the browser tests and the screen-pop benchmark.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

from callcenter.demo.fake_pbx import FakeAmiServer

_CHANNEL_KEYS = (
    "Channel",
    "ChannelState",
    "ChannelStateDesc",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Language",
    "AccountCode",
    "Context",
    "Exten",
    "Priority",
    "Uniqueid",
    "Linkedid",
)


def prefixed(channel: Mapping[str, str], prefix: str = "") -> dict[str, str]:
    return {prefix + key: channel.get(key, "") for key in _CHANNEL_KEYS}


@dataclass
class Call:
    ext: str
    queue: str
    caller: dict[str, str]
    phone: dict[str, str]
    bridge: str

    @property
    def call_id(self) -> str:
        return self.caller["Linkedid"]

    @property
    def interface(self) -> str:
        return f"PJSIP/{self.ext}"


class PbxScript:
    def __init__(self, pbx: FakeAmiServer) -> None:
        self.pbx = pbx
        self._seq = itertools.count(1)

    def _name(self, device: str) -> str:
        return f"{device}-{next(self._seq):08x}"

    def event(self, name: str, privilege: str, *parts: Mapping[str, str]) -> None:
        headers: dict[str, str] = {"Event": name, "Privilege": f"{privilege},all"}
        for part in parts:
            headers.update(part)
        self.pbx.broadcast_event(headers)

    def add_agent(self, ext: str, queue: str = "support") -> None:
        """Log ``PJSIP/<ext>`` in to ``queue`` (QueueMemberAdded), as QueueAdd would."""
        if queue not in self.pbx.queues:
            self.pbx.add_queue(queue)
        member = self.pbx.add_member(queue, f"PJSIP/{ext}", member_name=f"Agent {ext}")
        self.event("QueueMemberAdded", "agent", member)

    def ring(self, ext: str, number: str, name: str, queue: str = "support") -> Call:
        """A caller enters ``queue`` and the agent's phone rings (AgentCalled)."""
        caller = self.pbx.add_channel(
            self._name("PJSIP/carrier"),
            caller_num=number,
            caller_name=name,
            context="inbound",
            exten="enter",
            application="Queue",
            application_data=f"{queue},t",
        )
        self.event("Newchannel", "call", prefixed(caller))
        self.event("QueueCallerJoin", "call", prefixed(caller), {"Queue": queue, "Position": "1"})
        phone = self.pbx.add_channel(
            self._name(f"PJSIP/{ext}"),
            linkedid=caller["Linkedid"],
            state=5,
            caller_num=ext,
            caller_name=f"Agent {ext}",
            context="from-phones",
            exten="enter",
        )
        self.event("Newchannel", "call", prefixed(phone))
        self.event(
            "AgentCalled",
            "agent",
            prefixed(caller),
            prefixed(phone, "Dest"),
            {"Queue": queue, "Interface": f"PJSIP/{ext}", "MemberName": f"Agent {ext}"},
        )
        return Call(ext, queue, caller, phone, f"bridge-{caller['Uniqueid']}")

    def answer(self, call: Call) -> None:
        call.phone.update(ChannelState="6", ChannelStateDesc="Up", BridgeId=call.bridge)
        call.caller["BridgeId"] = call.bridge
        self.event(
            "AgentConnect",
            "agent",
            prefixed(call.caller),
            prefixed(call.phone, "Dest"),
            {
                "Queue": call.queue,
                "Interface": call.interface,
                "MemberName": f"Agent {call.ext}",
                "HoldTime": "2",
                "RingTime": "2",
            },
        )
        for channel in (call.phone, call.caller):
            self.event("BridgeEnter", "call", {"BridgeUniqueid": call.bridge}, prefixed(channel))

    def hang_up(self, call: Call, *, answered: bool = True) -> None:
        """The caller hangs up (after talking, or while the phone rings: abandoned)."""
        if answered:
            for channel in (call.caller, call.phone):
                self.event(
                    "BridgeLeave", "call", {"BridgeUniqueid": call.bridge}, prefixed(channel)
                )
        else:
            self.event("QueueCallerAbandon", "agent", prefixed(call.caller), {"Queue": call.queue})
        for channel in (call.caller, call.phone):
            if self.pbx.channels.pop(channel["Channel"], None) is not None:
                self.event("Hangup", "call", prefixed(channel), {"Cause": "16"})
