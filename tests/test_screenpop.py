"""Screen pops reach the rung agent only, in order, and clear when the call is taken or gone."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from callcenter.live.hub import Hub
from callcenter.live.screenpops import ScreenPops, agent_topic
from callcenter.model.records import AgentRinging, CallAnswered, CallFinished


class Inbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def send_str(self, data: str) -> None:
        self.messages.append(json.loads(data))

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        return True


async def lookup(number: str, name: str, agent: str = "", create: bool = True) -> dict[str, Any]:
    await asyncio.sleep(0.01)  # a slow database must not let "answered" overtake "ring"
    return {"customers": [{"id": 7, "name": name, "phones": [{"number": number}]}]}


async def test_ring_answered_ended(make_call: Any) -> None:
    hub = Hub()
    inboxes = {ext: Inbox() for ext in ("PJSIP/2001", "PJSIP/2002", "PJSIP/2003")}
    subs = [hub.subscribe(box, [agent_topic(ext)]) for ext, box in inboxes.items()]
    senders = [asyncio.create_task(hub.pump(sub)) for sub in subs]
    pops = ScreenPops(hub, lookup, clock=lambda: 1000.0)
    worker = asyncio.create_task(pops.run())

    pops.on_change(AgentRinging("c1", "PJSIP/2001", "+4930123", "<b>Eve</b>", "support"))
    pops.on_change(AgentRinging("c1", "PJSIP/2002", "+4930123", "<b>Eve</b>", "support"))
    pops.on_change(CallAnswered("c1", "PJSIP/2002"))
    pops.on_change(CallFinished(make_call("c1", agent="PJSIP/2002")))
    await asyncio.sleep(0.1)

    first, second, third = (inboxes[e].messages for e in ("PJSIP/2001", "PJSIP/2002", "PJSIP/2003"))
    # The ring never waits for the CRM: the card follows it, whenever the lookup is done.
    assert [m["type"] for m in first if m["type"] != "card"] == ["ring", "answered", "ended"]
    assert [m["type"] for m in second if m["type"] != "card"] == ["ring", "answered", "ended"]
    assert third == []
    ring = first[0]
    assert ring["type"] == "ring" and ring["customers"] == []
    assert ring["caller_name"] == "<b>Eve</b>"  # as text: escaping is the page's job
    [card] = [m for m in first if m["type"] == "card"]
    assert card["customers"][0]["id"] == 7
    assert second[1] == {"type": "answered", "call_id": "c1", "agent": "PJSIP/2002"}
    for task in [worker, *senders]:
        task.cancel()


async def test_queue_member_interfaces_map_to_the_agents_phone() -> None:
    assert agent_topic("Local/1001@agents/n") == agent_topic("Local/1001@agents")
    assert agent_topic("PJSIP/2001") == "agent:PJSIP/2001"


async def test_no_lookup_when_nobody_is_logged_in_at_that_phone() -> None:
    calls: list[str] = []

    async def counting(
        number: str, name: str, agent: str = "", create: bool = True
    ) -> dict[str, Any]:
        calls.append(number)
        return {}

    pops = ScreenPops(Hub(), counting, clock=lambda: 0.0)
    worker = asyncio.create_task(pops.run())
    pops.on_change(AgentRinging("c9", "PJSIP/2009", "+4930", "", None))
    await asyncio.sleep(0.01)
    assert calls == []
    worker.cancel()


async def test_an_unknown_caller_pops_at_once_and_the_stub_card_follows() -> None:
    """The ring never waits for the stub customer to be written."""
    written = asyncio.Event()

    async def unknown(number: str, name: str, agent: str, create: bool) -> dict[str, Any]:
        if not create:
            return {"customers": [], "history": []}
        await asyncio.sleep(0.2)  # a slow write
        written.set()
        return {"customers": [{"id": 9, "name": name}], "history": []}

    hub = Hub()
    inbox = Inbox()
    sender = asyncio.create_task(hub.pump(hub.subscribe(inbox, [agent_topic("PJSIP/2001")])))
    pops = ScreenPops(hub, unknown, clock=lambda: 0.0)
    worker = asyncio.create_task(pops.run())
    pops.on_change(AgentRinging("c2", "PJSIP/2001", "+4930999", "New Caller", "support"))
    await asyncio.sleep(0.05)
    assert [m["type"] for m in inbox.messages] == ["ring"]
    assert inbox.messages[0]["customers"] == [] and not written.is_set()
    await asyncio.wait_for(written.wait(), 2)
    await asyncio.sleep(0.05)
    assert inbox.messages[1] == {
        "type": "card",
        "call_id": "c2",
        "customers": [{"id": 9, "name": "New Caller"}],
        "history": [],
        "campaign": None,
        "churn": None,
    }
    worker.cancel()
    sender.cancel()
    await asyncio.gather(worker, sender, return_exceptions=True)
