"""The FreePBX-style patterns on the real kit, through our server (issue 12, deliverable 4).

The kit's center runs ``tests/pbx/freepbx/`` (our ``dialplans/`` plus FreePBX-style ring
groups, a queue with ``Local/…@from-queue/n`` members, follow-me, pickup groups; see
``tests/fixtures/ami/freepbx/README.md``), on its own port base, so this module has its own
session kit (it overrides ``pbx_kit``: ``lab``, ``settings_for`` and ``server`` use it). Our
server reads it as the product's ``callcenter`` AMI user (with its event filters); agents are
logged in with extensions ``PJSIP/20xx`` and their ``/ws/agent`` sockets open.

Each test makes one real call and checks, on one fresh database:

- exactly one call-log row (``GET /api/calls``, and one submission to the writer), with the
  direction, caller, ``called_number`` (the DID), the answering *device* as ``agent`` (never a
  Local channel) and the devices that rang in ``agents_offered``;
- the row is linked to the caller's customer (their timeline via the API), and nobody else's:
  no customer for the DID or the number dialled out appears;
- the screen pop (``ring``) reached every device that rang, before it was answered, then
  ``answered`` naming who took it and ``ended``; an agent whose phone never rang got nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from callcenter.store import Role
from tests.pbx.conftest import Server, ServerFactory
from tests.pbx.kit import (
    ROOT,
    Event,
    Kit,
    Lab,
    kit_missing_reason,
    start_kit,
    stop_kit,
    wait_event,
)
from tests.pbx.test_live_sockets import AgentSocket, session
from tests.web.webclient import origin

pytestmark = pytest.mark.pbx

FREEPBX = ROOT / "tests" / "pbx" / "freepbx"
POP_TYPES = ("ring", "card", "answered", "ended")


@pytest.fixture(scope="session")
def pbx_kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kit]:
    """The kit with the FreePBX-style center (not the suite's shared kit with dialplans/)."""
    reason = kit_missing_reason()
    if reason:
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("pbx-freepbx")
    try:
        kit = start_kit(directory, center_conf=FREEPBX)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield kit
    finally:
        stop_kit(directory)


# --- the server side: agents' sockets, customers ---------------------------------------------


class Desk:
    """Agents ``ag<ext>`` at ``PJSIP/<ext>``, each with ``/ws/agent`` open."""

    def __init__(self, sockets: dict[str, AgentSocket]) -> None:
        self.sockets = sockets

    def pops(self, ext: str, call_id: str) -> list[dict[str, Any]]:
        return [
            frame
            for _, frame in self.sockets[ext].frames
            if frame.get("type") in POP_TYPES and frame.get("call_id") == call_id
        ]

    def all_pops(self, ext: str) -> list[dict[str, Any]]:
        return [frame for _, frame in self.sockets[ext].frames if frame.get("type") in POP_TYPES]

    def first_ring_at(self, ext: str) -> float:
        return self.sockets[ext].first("ring")[0]

    async def ended(self, call_id: str, *exts: str, within: float = 5) -> None:
        """Every one of ``exts`` got the call's ``ended``."""
        try:
            async with asyncio.timeout(within):
                while not all(  # noqa: ASYNC110 - the sockets' reader tasks fill the frames
                    any(f["type"] == "ended" for f in self.pops(ext, call_id)) for ext in exts
                ):
                    await asyncio.sleep(0.05)
        except TimeoutError:
            seen = {ext: self.pops(ext, call_id) for ext in exts}
            raise AssertionError(f"no 'ended' pop for {call_id} on every one of {seen}") from None


@contextlib.asynccontextmanager
async def desk(srv: Server, *exts: str) -> AsyncIterator[Desk]:
    sockets: dict[str, AgentSocket] = {}
    try:
        for ext in exts:
            sockets[ext] = AgentSocket(await session(srv, f"ag{ext}", Role.AGENT, f"PJSIP/{ext}"))
            await sockets[ext].open()
        yield Desk(sockets)
    finally:
        for socket in sockets.values():
            await socket.close()


async def add_customer(client: TestClient[Any, Any], name: str, number: str) -> int:
    response = await client.post(
        "/api/customers",
        json={"name": name, "phones": [{"number": number, "type": "mobile"}]},
        headers={"Origin": origin(client)},
    )
    assert response.status == 201, await response.text()
    customer_id: int = (await response.json())["id"]
    return customer_id


async def timeline_calls(client: TestClient[Any, Any], customer_id: int) -> list[str]:
    response = await client.get(f"/api/customers/{customer_id}")
    assert response.status == 200, await response.text()
    timeline = (await response.json())["timeline"]
    return [event["call"]["call_id"] for event in timeline if event["type"] == "call"]


async def customers_having(client: TestClient[Any, Any], number: str) -> list[dict[str, Any]]:
    response = await client.get("/api/customers/lookup", params={"number": number})
    assert response.status == 200, await response.text()
    found: list[dict[str, Any]] = (await response.json())["customers"]
    return found


async def the_one_row(srv: Server, call_id: str) -> dict[str, Any]:
    """The call log holds exactly one row, this call's, written once."""
    rows = await srv.records(1)
    assert [r["call_id"] for r in rows] == [call_id], rows
    assert srv.submissions() == {call_id: 1}
    return rows[0]


async def assert_linked(srv: Server, customer_id: int, call_id: str, *not_theirs: str) -> None:
    """The call is in the caller's timeline once; the numbers ``not_theirs`` (the DID, a
    number dialled out) got no customer, not even a stub."""
    assert await timeline_calls(srv.client, customer_id) == [call_id]
    for number in not_theirs:
        assert await customers_having(srv.client, number) == [], number


def assert_pops(
    desks: Desk,
    call_id: str,
    rang: dict[str, float],
    taker: str,
    caller: tuple[str, str],
    customer_id: int,
    final: str | None = None,
) -> None:
    """Each device in ``rang`` (ext -> when the call was answered, seen on the lab's AMI) got
    the ``ring`` pop with the caller's card first, then ``answered`` naming ``taker`` (and,
    after a transfer, another ``answered`` naming the new agent), then ``ended`` naming the
    call's last agent (``final``, after a transfer; else ``taker``)."""
    for ext, answered_at in rang.items():
        pops = desks.pops(ext, call_id)
        kinds = [p["type"] for p in pops]
        assert kinds[0] == "ring" and kinds[-1] == "ended", (ext, pops)
        first = kinds.index("answered")
        assert set(kinds[:first]) <= {"ring", "card"}, (ext, pops)
        assert set(kinds[first:-1]) <= {"answered", "card"}, (ext, pops)
        ring = pops[0]
        assert (ring["caller_number"], ring["caller_name"]) == caller, (ext, ring)
        [card] = [p for p in pops if p["type"] == "card"]  # the caller's card follows the ring
        assert [c["id"] for c in card["customers"]] == [customer_id], (ext, card)
        taken = [p["agent"] for p in pops if p["type"] == "answered"]
        assert pops[first] == {"type": "answered", "call_id": call_id, "agent": taker}, pops
        assert taken[-1] == (final or taker), (ext, pops)
        ended = {"outcome": pops[-1]["outcome"], "agent": pops[-1]["agent"]}
        assert ended == {"outcome": "answered", "agent": final or taker}, (ext, pops)
        assert desks.first_ring_at(ext) < answered_at, f"{ext}: the pop came after the answer"


def assert_device(agent: str | None) -> None:
    assert agent is not None and agent.startswith("PJSIP/"), agent
    assert not agent.startswith("PJSIP/carrier"), agent


# --- the world side --------------------------------------------------------------------------


def is_event(name: str, **fields: str) -> Any:
    def match(event: Event) -> bool:
        return event.get("Event") == name and all(
            event.get(key, "").startswith(value) for key, value in fields.items()
        )

    return match


async def caller_linkedid(events: asyncio.Queue[Event], did: str) -> str:
    """The call's id: the Linkedid of the trunk channel the customer's call came in on."""
    new = await wait_event(
        events, is_event("Newchannel", Channel="PJSIP/carrier-", Exten=did), within=15
    )
    return new["Linkedid"]


async def answered_by(events: asyncio.Queue[Event], device: str, within: float = 20) -> float:
    """When ``device``'s phone answered (DialEnd ANSWER to it); the lab's monotonic clock."""
    await wait_event(
        events,
        is_event("DialEnd", DestChannel=f"PJSIP/{device}-", DialStatus="ANSWER"),
        within=within,
    )
    return time.monotonic()


async def world_channel(lab: Lab, context: str, exten: str | None = None) -> str:
    """A world channel in ``context`` (``phone`` + the extension, ``caller``, ``customer``)."""
    found = await lab.channel(
        lab.world,
        lambda c: c.get("Context") == context and (exten is None or c.get("Exten") == exten),
    )
    assert found is not None, f"no world channel in {context} {exten or ''}"
    return found["Channel"]


async def hang_up_world(lab: Lab, context: str, exten: str | None = None) -> None:
    await lab.world.send("Hangup", Channel=await world_channel(lab, context, exten))


async def phone_dials(lab: Lab, ext: str, number: str) -> None:
    """Desk phone ``ext`` dials ``number`` itself (``*8`` too, which the world's dialout
    context does not match) and stays on the line."""
    await lab.world.send(
        "Originate",
        Channel=f"PJSIP/{number}@phone-{ext}",
        Application="Wait",
        Data="60",
        CallerID=f'"Phone {ext}" <{ext}>',
        Async="true",
    )


async def quiet_call(lab: Lab, within: float = 10) -> None:
    """The call is over on the center (its last channel gone)."""
    async with asyncio.timeout(within):
        while await lab.center.channels():  # noqa: ASYNC110 - polling the PBX
            await asyncio.sleep(0.1)


# --- the calls ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("did", "group"),
    [("4930555201", "601 (Local/… without /n, optimised away)"), ("4930555200", "600 (…/n)")],
    ids=["601-local", "600-local-n"],
)
async def test_ring_group_through_local_channels(
    lab: Lab, server: ServerFactory, did: str, group: str
) -> None:
    """Ring group 601 ``Dial(Local/2003@from-internal&Local/2004@from-internal)`` (600: the
    same with ``/n`` for 2001 and 2002): both phones ring; the second answers; the customer
    hangs up."""
    quiet, taker = ("2003", "2004") if did == "4930555201" else ("2002", "2001")
    number, name = "+493098765432", "Erika Mustermann"
    srv = await server()
    customer = await add_customer(srv.client, name, number)
    await lab.phone(quiet, "noanswer")
    await lab.phone(taker, "answer", 2)
    async with desk(srv, quiet, taker, "2005") as desks:
        with lab.center.listen() as events:
            await lab.call_in(did, number, name)
            call_id = await caller_linkedid(events, did)
            answered_at = await answered_by(events, taker)
            await asyncio.sleep(1.5)
            await hang_up_world(lab, "caller")
            await quiet_call(lab)
        row = await the_one_row(srv, call_id)
        await desks.ended(call_id, quiet, taker)
        assert_pops(
            desks, call_id, {quiet: answered_at, taker: answered_at}, f"PJSIP/{taker}",
            (number, name), customer,
        )  # fmt: skip
        assert desks.all_pops("2005") == []
        expected: dict[str, Any] = {
            "direction": "inbound",
            "caller_number": number,
            "caller_name": name,
            "called_number": did,
            "queue": None,
            "agent": f"PJSIP/{taker}",
            "outcome": "answered",
            "hangup_by": "caller",
            "transfers": [],
        }
        assert {key: row[key] for key in expected} == expected, group
        assert sorted(row["agents_offered"]) == sorted([f"PJSIP/{quiet}", f"PJSIP/{taker}"])
        await assert_linked(srv, customer, call_id, f"+{did}")


async def test_queue_with_local_from_queue_members(lab: Lab, server: ServerFactory) -> None:
    """DID 4930555202 -> queue 700 (ringall) whose static members are
    ``Local/2007@from-queue/n`` and ``Local/2008@from-queue/n``: 2008 answers, 2007 never
    does; 2008 hangs up."""
    did, number, name = "4930555202", "+493012345678", "Jürgen Müller"
    srv = await server()
    customer = await add_customer(srv.client, name, number)
    await lab.phone("2007", "noanswer")
    await lab.phone("2008", "answer", 2)
    async with desk(srv, "2007", "2008", "2005") as desks:
        with lab.center.listen() as events:
            await lab.call_in(did, number, name)
            call_id = await caller_linkedid(events, did)
            answered_at = await answered_by(events, "2008")
            await wait_event(events, is_event("AgentConnect"))
            await asyncio.sleep(1.5)
            await hang_up_world(lab, "phone", "2008")
            await quiet_call(lab)
        row = await the_one_row(srv, call_id)
        await desks.ended(call_id, "2007", "2008")
        assert_pops(
            desks, call_id, {"2007": answered_at, "2008": answered_at}, "PJSIP/2008",
            (number, name), customer,
        )  # fmt: skip
        assert all(p["queue"] == "700" for p in desks.pops("2008", call_id) if p["type"] == "ring")
        assert desks.all_pops("2005") == []
        expected: dict[str, Any] = {
            "direction": "inbound",
            "caller_number": number,
            "caller_name": name,
            "called_number": did,
            "queue": "700",
            "agent": "PJSIP/2008",
            "outcome": "answered",
            "hangup_by": "agent",
            "transfers": [],
        }
        assert {key: row[key] for key in expected} == expected
        assert sorted(row["agents_offered"]) == ["PJSIP/2007", "PJSIP/2008"]
        assert row["wait_s"] is not None and 1.0 <= row["wait_s"] <= 5.0, row["wait_s"]
        await assert_linked(srv, customer, call_id, f"+{did}")


async def test_star8_group_pickup(lab: Lab, server: ServerFactory) -> None:
    """DID 4930555207 -> 2011 rings (call group 1); 2012 (pickup group 1) dials ``*8``, which
    chan_pjsip handles itself: one call, answered by 2012, no transfer; the caller hangs up.
    The picker's panel gets the customer's card as it connects, then ``answered`` (itself)."""
    did, number, name = "4930555207", "+4917612345678", "Max Mobil"
    srv = await server()
    customer = await add_customer(srv.client, name, number)
    await lab.phone("2011", "noanswer")
    async with desk(srv, "2011", "2012", "2005") as desks:
        with lab.center.listen() as events:
            await lab.call_in(did, number, name)
            call_id = await caller_linkedid(events, did)
            await wait_event(events, is_event("DialBegin", DestChannel="PJSIP/2011-"))
            await asyncio.sleep(2)
            await phone_dials(lab, "2012", "*8")
            await wait_event(events, is_event("Pickup"), within=10)
            picked_at = time.monotonic()
            await asyncio.sleep(1.5)
            await hang_up_world(lab, "caller")
            await quiet_call(lab)
        row = await the_one_row(srv, call_id)
        await desks.ended(call_id, "2011")
        assert_pops(desks, call_id, {"2011": picked_at}, "PJSIP/2012", (number, name), customer)
        assert desks.all_pops("2005") == []
        expected: dict[str, Any] = {
            "direction": "inbound",
            "caller_number": number,
            "caller_name": name,
            "called_number": did,
            "agent": "PJSIP/2012",
            "outcome": "answered",
            "hangup_by": "caller",
            "transfers": [],
        }
        assert {key: row[key] for key in expected} == expected
        assert "PJSIP/2011" in row["agents_offered"], row["agents_offered"]
        picker = desks.pops("2012", call_id)
        assert [p["type"] for p in picker][:1] == ["ring"], picker
        [card] = [p for p in picker if p["type"] == "card"]
        assert [c["id"] for c in card["customers"]] == [customer], picker
        assert {"type": "answered", "call_id": call_id, "agent": "PJSIP/2012"} in picker, picker
        await assert_linked(srv, customer, call_id, f"+{did}")


async def test_blonde_transfer_from_a_ring_group(lab: Lab, server: ServerFactory) -> None:
    """Ring group 600: 2001 answers the customer, then (AMI ``Atxfer``) dials 2006 and hangs up
    while 2006 still rings; 2006 answers later and hangs up: one call, agent 2006, one
    transfer from 2001 to 2006; 2006's pop rings with the customer's card and hears
    ``answered`` (itself) when it takes the call."""
    did, number, name = "4930555200", "+493033322211", "Blonde Transfer"
    srv = await server()
    customer = await add_customer(srv.client, name, number)
    await lab.phone("2001", "answer", 1)
    await lab.phone("2002", "noanswer")
    await lab.phone("2006", "answer", 3)
    async with desk(srv, "2001", "2002", "2006", "2005") as desks:
        with lab.center.listen() as events:
            await lab.call_in(did, number, name)
            call_id = await caller_linkedid(events, did)
            answered_at = await answered_by(events, "2001")
            await asyncio.sleep(1.5)
            agent_channel = await lab.channel(
                lab.center, lambda c: c["Channel"].startswith("PJSIP/2001-")
            )
            assert agent_channel is not None
            reply = await lab.center.send(
                "Atxfer", Channel=agent_channel["Channel"], Exten="2006", Context="from-phones"
            )
            assert reply.get("Response") == "Success", reply
            await wait_event(events, is_event("DialBegin", DestChannel="PJSIP/2006-"))
            await asyncio.sleep(1.0)
            await hang_up_world(lab, "phone", "2001")  # 2006 still rings: a blonde transfer
            await wait_event(events, is_event("AttendedTransfer"))
            target_answered_at = await answered_by(events, "2006")
            await asyncio.sleep(1.5)
            await hang_up_world(lab, "phone", "2006")
            await quiet_call(lab)
        row = await the_one_row(srv, call_id)
        await desks.ended(call_id, "2001", "2002")
        first = {"2001": answered_at, "2002": answered_at}
        assert_pops(
            desks, call_id, first, "PJSIP/2001", (number, name), customer, final="PJSIP/2006"
        )
        target = desks.pops("2006", call_id)
        assert desks.all_pops("2005") == []
        expected: dict[str, Any] = {
            "direction": "inbound",
            "caller_number": number,
            "caller_name": name,
            "called_number": did,
            "agent": "PJSIP/2006",
            "outcome": "answered",
            "hangup_by": "agent",
        }
        assert {key: row[key] for key in expected} == expected
        assert [(t["from_agent"], t["to"]) for t in row["transfers"]] == [
            ("PJSIP/2001", "PJSIP/2006")
        ], row["transfers"]
        assert {"PJSIP/2001", "PJSIP/2002"} <= set(row["agents_offered"]), row["agents_offered"]
        await assert_linked(srv, customer, call_id, f"+{did}")
        # The transfer target rang too: its pop shows the customer, then who has the call.
        assert target and target[0]["type"] == "ring", target
        assert target[0]["caller_number"] == number, target[0]
        [card] = [p for p in target if p["type"] == "card"]
        assert [c["id"] for c in card["customers"]] == [customer], target
        assert desks.sockets["2006"].first("ring")[0] < target_answered_at
        ended = {"type": "ended", "call_id": call_id, "outcome": "answered", "agent": "PJSIP/2006"}
        assert target[-1] == ended, target
        assert {"type": "answered", "call_id": call_id, "agent": "PJSIP/2006"} in target, target
        assert "PJSIP/2006" in row["agents_offered"], row["agents_offered"]


async def test_follow_me_to_an_external_number(lab: Lab, server: ServerFactory) -> None:
    """DID 4930555203 -> follow-me of 2018: 2018 alone for 6 s, then 2018 and its mobile
    +4915112345601 (out over the carrier trunk) together; the mobile answers and hangs up.
    The call stays the customer's: linked to the caller, never to the mobile's number."""
    did, number, name = "4930555203", "+493012345678", "Jürgen Müller"
    mobile = "+4915112345601"
    srv = await server()
    customer = await add_customer(srv.client, name, number)
    await lab.phone("2018", "noanswer")
    async with desk(srv, "2018", "2005") as desks:
        with lab.center.listen() as events:
            await lab.call_in(did, number, name)
            call_id = await caller_linkedid(events, did)
            await wait_event(
                events,
                is_event("DialEnd", DestChannel="PJSIP/carrier-", DialStatus="ANSWER"),
                within=20,
            )
            answered_at = time.monotonic()
            await asyncio.sleep(1.5)
            await hang_up_world(lab, "customer")  # the mobile
            await quiet_call(lab)
        row = await the_one_row(srv, call_id)
        await desks.ended(call_id, "2018")
        pops = desks.pops("2018", call_id)
        assert desks.all_pops("2005") == []
        expected: dict[str, Any] = {
            "direction": "inbound",
            "caller_number": number,
            "caller_name": name,
            "called_number": did,
            "queue": None,
            "outcome": "answered",
            "hangup_by": "agent",
            "transfers": [],
        }
        assert {key: row[key] for key in expected} == expected
        assert "PJSIP/2018" in row["agents_offered"], row["agents_offered"]
        # No device of ours answered: the mobile did, over the trunk. Never a Local channel
        # or the trunk's channel; the number the call went out to, or nobody.
        assert row["agent"] in (None, mobile), row["agent"]
        assert not any(a.startswith("Local/") for a in row["agents_offered"]), row["agents_offered"]
        await assert_linked(srv, customer, call_id, f"+{did}", mobile)
        # 2018 rang (twice: alone, then with the mobile): the pop came before the mobile answered,
        # then cleared with who took it.
        kinds = [p["type"] for p in pops]
        assert kinds[0] == "ring" and kinds[-2:] == ["answered", "ended"], pops
        assert pops[0]["caller_number"] == number
        cards = [p for p in pops if p["type"] == "card"]
        assert cards and all([c["id"] for c in card["customers"]] == [customer] for card in cards)
        assert desks.first_ring_at("2018") < answered_at
        assert pops[-2]["agent"] == row["agent"], (pops, row["agent"])
