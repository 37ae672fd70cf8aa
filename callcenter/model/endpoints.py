"""What a channel is: a trunk's, a phone's, or a Local pipe, decided by the PBX's configuration.

Asterisk names a channel ``<tech>/<endpoint>-<sequence>`` (``PJSIP/carrier-0000001f``,
``SIP/150010002-0000000e``); a Local channel ``Local/<exten>@<context>-<sequence>;1|2``. The
*endpoint* (the name without the sequence) says who is on the other end:

- a **trunk** is the carrier: its channels are the outside world (customers, mobiles). Which
  endpoints are trunks is configuration (``[pbx] trunks``, fnmatch patterns on the endpoint).
  A channel whose ``Newchannel`` context is a trunk context (``[pbx] trunk_contexts``) is a
  trunk's too. Careful: Asterisk creates a channel it dials *out* on a trunk in that trunk
  endpoint's context as well, so a trunk context says "trunk", not "came in": whether the
  trunk's channel started the call or was dialled decides the direction (see ``calls``).
- a **Local** channel is half of a pipe inside the PBX (ring groups, follow-me, queue members
  ``Local/2001@from-queue/n``): never a party of a conversation.
- anything else (``PJSIP/2001``, ``SIP/150010001``, ``IAX2/…``) is a **phone**: a device.

Uniqueids are ``<epoch>.<sequence>``, with Asterisk's ``systemname`` as a prefix when it is
set (``195176c06ab8-1529936170.42``).
"""

from __future__ import annotations

import enum
import fnmatch
import re
from dataclasses import dataclass

_CHANNEL_SUFFIX = re.compile(r"-[0-9a-fA-F]+(;[12])?$")

#: Channels Asterisk makes for its own bookkeeping, never a party: the stand-in that runs an
#: Originate's "failed" extension, ConfBridge's announcer and recorder, message channels.
_BOOKKEEPING = ("OutgoingSpoolFailed", "CBAnn/", "CBRec/", "Announcer/", "Message/", "Recorder/")


class Kind(enum.Enum):
    TRUNK = "trunk"
    PHONE = "phone"
    LOCAL = "local"
    BOOKKEEPING = "bookkeeping"


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


def local_pair_key(channel_name: str) -> str | None:
    """Both halves of one Local channel share their name up to ``;1``/``;2``."""
    if channel_name.startswith("Local/") and channel_name[-2:] in (";1", ";2"):
        return channel_name[:-2]
    return None


def uniqueid_order(uniqueid: str) -> tuple[float, int]:
    """(creation second, sequence) of a Uniqueid, with or without the systemname prefix;
    ``(inf, 0)`` when it is not one (a value we never saw from Asterisk)."""
    tail = uniqueid.rsplit("-", 1)[-1]
    head, _, seq = tail.partition(".")
    try:
        return float(head), int(seq or 0)
    except ValueError:
        return float("inf"), 0


def epoch_of(uniqueid: str, default: float) -> float:
    """The second the channel was created, read from its Uniqueid."""
    second = uniqueid_order(uniqueid)[0]
    return default if second == float("inf") else second


@dataclass(frozen=True, slots=True)
class PbxEndpoints:
    """Which endpoints of this PBX are trunks: ``[pbx] trunks`` / ``trunk_contexts``."""

    trunks: tuple[str, ...] = ("PJSIP/carrier",)
    trunk_contexts: tuple[str, ...] = ("from-carrier", "from-trunk", "from-pstn")

    def kind_of(self, channel_name: str, context: str) -> Kind:
        if channel_name.startswith("Local/"):
            return Kind.LOCAL
        if channel_name.startswith(_BOOKKEEPING):
            return Kind.BOOKKEEPING
        endpoint = device_of(channel_name)
        if context in self.trunk_contexts or any(
            fnmatch.fnmatchcase(endpoint, pattern) for pattern in self.trunks
        ):
            return Kind.TRUNK
        return Kind.PHONE

    def pipe_kind(self, device: str) -> Kind:
        """What a Local channel that ends the line stands for (``Local/<exten>@<context>``):
        the outside world where its endpoint or context is a trunk's, a phone otherwise."""
        context = device.rsplit("@", 1)[-1]
        if context in self.trunk_contexts or any(
            fnmatch.fnmatchcase(device, pattern) for pattern in self.trunks
        ):
            return Kind.TRUNK
        return Kind.PHONE
