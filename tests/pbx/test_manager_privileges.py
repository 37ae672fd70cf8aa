"""The ``callcenter`` AMI user of ``dialplans/manager.conf`` on a real Asterisk 22: every
action the server sends is permitted, nothing more dangerous is, and the ``eventfilter``
lines filter its events at the source.

Actions are sent with harmless arguments (channels that do not exist): Asterisk checks the
privilege before the arguments, so anything but "Permission denied" proves the privilege.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.pbx.kit import Ami, Event, Kit, wait_event

pytestmark = pytest.mark.pbx

DENIED = "Permission denied"
NO_CHANNEL = "PJSIP/9999-00000000"


@pytest.fixture
async def callcenter_ami(pbx_kit: Kit) -> AsyncIterator[Ami]:
    env = pbx_kit.env
    async with Ami("cc", pbx_kit.ami_port, env["PBX_AMI_USERNAME"], env["PBX_AMI_SECRET"]) as ami:
        yield ami


SERVER_ACTIONS: dict[str, dict[str, str]] = {
    # resync after every login
    "CoreShowChannels": {},
    "QueueStatus": {},
    # agents' queue membership
    "QueueAdd": {"Queue": "support", "Interface": "PJSIP/2019", "MemberName": "Privileges"},
    "QueuePause": {"Queue": "support", "Interface": "PJSIP/2019", "Paused": "true"},
    "QueueRemove": {"Queue": "support", "Interface": "PJSIP/2019"},
    # call control
    "Originate": {
        "Channel": "PJSIP/2019",
        "Context": "no-such-context",
        "Exten": "1",
        "Priority": "1",
    },
    "Hangup": {"Channel": NO_CHANNEL},
    "Redirect": {"Channel": NO_CHANNEL, "Context": "from-phones", "Exten": "2001", "Priority": "1"},
    "BlindTransfer": {"Channel": NO_CHANNEL, "Context": "from-phones", "Exten": "2001"},
    "Atxfer": {"Channel": NO_CHANNEL, "Context": "from-phones", "Exten": "2001"},
    "Ping": {},
}


@pytest.mark.parametrize("action", sorted(SERVER_ACTIONS))
async def test_the_server_may_send(callcenter_ami: Ami, action: str) -> None:
    reply = await callcenter_ami.send(action, **SERVER_ACTIONS[action])
    assert reply.get("Message") != DENIED, reply


async def test_and_nothing_more_dangerous(callcenter_ami: Ami) -> None:
    """No ``write=system``: no Filter action (the eventfilter lines do that), above all no
    Originate into System()/Exec() (shell commands as the Asterisk user); no ``command``."""
    filter_reply = await callcenter_ami.send("Filter", Operation="Add", Filter="Event: Newchannel")
    assert filter_reply["Message"] == DENIED
    command = await callcenter_ami.send("Command", Command="core show version")
    assert command["Message"] == DENIED
    shell = await callcenter_ami.send(
        "Originate", Channel="Local/2019@from-phones", Application="System", Data="true"
    )
    assert shell["Response"] == "Error"
    assert "Forbidden" in shell["Message"]
    module = await callcenter_ami.send("ModuleLoad", Module="app_system.so", LoadType="unload")
    assert module["Message"] == DENIED


async def test_manager_conf_filters_the_events_at_the_source(
    callcenter_ami: Ami, pbx_kit: Kit
) -> None:
    """QueueAdd makes Asterisk emit DeviceStateChange and CEL as well as QueueMemberAdded;
    only the event the server uses may reach the callcenter session."""
    seen: list[Event] = []
    with callcenter_ami.listen() as events:
        await callcenter_ami.send("QueueAdd", Queue="sales", Interface="PJSIP/2018")
        await callcenter_ami.send("QueueRemove", Queue="sales", Interface="PJSIP/2018")
        await wait_event(
            events,
            lambda e: seen.append(e) is None and e.get("Event") == "QueueMemberRemoved",
        )
        await asyncio.sleep(0.3)
        while not events.empty():
            seen.append(events.get_nowait())
    assert [e["Event"] for e in seen] == ["QueueMemberAdded", "QueueMemberRemoved"]
