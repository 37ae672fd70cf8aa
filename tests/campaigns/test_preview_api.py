"""Preview dialing through the HTTP API with the whole server against our fake PBX: an agent
gets the next number with its campaign, script and churn reasons, dials it from their phone
(the exact Originate) or gives it back; other agents never get a held number."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from callcenter.demo.fake_pbx import FakeAmiServer
from callcenter.model.attempts import AttemptState
from callcenter.model.records import CallFinished, CallRecord, Direction, HangupBy, Outcome
from callcenter.store.campaigns import CampaignSpec, ListEntry
from callcenter.store.customers import CustomerInput, Phone
from callcenter.web.auth import Role
from callcenter.web.keys import (
    AMI_LINK_KEY,
    CALL_LOG_WRITER_KEY,
    CAMPAIGNS_KEY,
    CUSTOMERS_KEY,
    DIALER_KEY,
    RETENTION_KEY,
)
from tests.campaigns.conftest import eventually
from tests.web.webclient import add_user, login, origin


@pytest.fixture
async def app_client(pbx_client: TestClient[Any, Any]) -> TestClient[Any, Any]:
    """The app with its AMI link logged in to ``fake_pbx``."""
    await eventually(lambda: pbx_client.app[AMI_LINK_KEY].status.authenticated, 5)
    return pbx_client


async def _campaign(client: TestClient[Any, Any]) -> int:
    customers = client.app[CUSTOMERS_KEY]
    entries = []
    for n, number in enumerate(("+4930100001", "+4930100002")):
        made = await customers.create(
            CustomerInput(name=f"<script>C{n}</script>", phones=(Phone(number, number),))
        )
        entries.append(ListEntry(number, int(made["id"])))
    spec = CampaignSpec(
        name="win-back",
        queue="retention",
        mode="preview",
        callee_start="00:00",
        callee_end="23:59",
        script="Hello, this is the retention team.",
    )
    store = client.app[CAMPAIGNS_KEY]
    campaign = await store.create(spec, entries, created_by="boss")
    await client.app[RETENTION_KEY].recompute()
    await store.set_state(campaign.id, "running")
    return campaign.id


async def test_preview_next_dial_and_skip(
    app_client: TestClient[Any, Any], fake_pbx: FakeAmiServer
) -> None:
    client = app_client
    cid = await _campaign(client)
    await add_user(client, "ann", Role.AGENT, extension="PJSIP/2001")
    await add_user(client, "bob", Role.AGENT, extension="PJSIP/2002")
    assert (await login(client, "ann")).status == 200
    h = {"Origin": origin(client)}
    got = await (await client.post("/api/agent/preview", headers={"Origin": origin(client)})).json()
    item = got["item"]
    assert item["attempt_id"] == f"c{cid}-1"
    assert item["number"] == "+4930100001"
    assert item["campaign"] == {
        "id": cid,
        "name": "win-back",
        "script": "Hello, this is the retention team.",
    }
    churn = await client.app[CAMPAIGNS_KEY].score_of(item["customer"]["customers"][0]["id"])
    assert item["churn"] == {"score": churn["score"], "reasons": churn["reasons"]}
    assert item["churn"]["reasons"]  # a brand-new customer never contacted: reasons
    assert [c["name"] for c in item["customer"]["customers"]] == ["<script>C0</script>"]

    # Bob does not get Ann's number; he gives his back, and it is his again next time.
    assert (await login(client, "bob")).status == 200
    bobs = (
        await (await client.post("/api/agent/preview", headers={"Origin": origin(client)})).json()
    )["item"]
    assert bobs["attempt_id"] == f"c{cid}-2"
    refused = await client.post(f"/api/agent/preview/c{cid}-1/dial", headers=h)
    assert refused.status == 409
    skipped = await client.post(f"/api/agent/preview/c{cid}-2/skip", headers=h)
    assert skipped.status == 200

    assert (await login(client, "ann")).status == 200
    dialed = await client.post(f"/api/agent/preview/c{cid}-1/dial", headers=h)
    assert dialed.status == 202, await dialed.text()
    dial_id = (await dialed.json())["dial_id"]
    assert dial_id == f"c{cid}-1.1"
    action = await fake_pbx.wait_for_action("Originate")
    assert {k: action[k] for k in ("Channel", "Context", "Exten", "ActionID", "Variable")} == {
        "Channel": "PJSIP/2001",
        "Context": "outbound",
        "Exten": "+4930100001",
        "ActionID": dial_id,
        "Variable": [f"CAMPAIGN_ID={cid}", f"ATTEMPT_ID={dial_id}"],
    }
    again = await client.post(f"/api/agent/preview/c{cid}-1/dial", headers=h)
    assert again.status == 409  # dialed once, never twice
    nxt = (
        await (await client.post("/api/agent/preview", headers={"Origin": origin(client)})).json()
    )["item"]
    assert nxt["attempt_id"] == f"c{cid}-2"


async def test_preview_needs_a_phone(app_client: TestClient[Any, Any]) -> None:
    await add_user(app_client, "boss", Role.SUPERVISOR)
    assert (await login(app_client, "boss")).status == 200
    assert (
        await app_client.post("/api/agent/preview", headers={"Origin": origin(app_client)})
    ).status == 403


async def test_a_callback_promised_on_a_campaign_call_comes_back_to_the_agent_first(
    app_client: TestClient[Any, Any], fake_pbx: FakeAmiServer
) -> None:
    client = app_client
    await _campaign(client)
    await add_user(client, "ann", Role.AGENT, extension="PJSIP/2001")
    assert (await login(client, "ann")).status == 200
    h = {"Origin": origin(client)}
    item = (
        await (await client.post("/api/agent/preview", headers={"Origin": origin(client)})).json()
    )["item"]
    dialed = await client.post(f"/api/agent/preview/{item['attempt_id']}/dial", headers=h)
    dial_id = (await dialed.json())["dial_id"]
    await fake_pbx.wait_for_action("Originate")
    # The call happened: the call model hands its record (carrying the dial id) on.
    record = CallRecord(
        call_id="1772445600.1",
        direction=Direction.OUTBOUND,
        caller_number="2001",
        caller_name="",
        called_number=item["number"],
        queue=None,
        agents_offered=(),
        agent="PJSIP/2001",
        started_at=time.time() - 60,
        answered_at=time.time() - 50,
        ended_at=time.time(),
        wait_s=0.0,
        talk_s=50.0,
        outcome=Outcome.ANSWERED,
        hangup_by=HangupBy.CALLER,
        dial_id=dial_id,
    )
    client.app[CALL_LOG_WRITER_KEY].submit(record)
    client.app[DIALER_KEY].on_change(CallFinished(record))
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    wrapped = await client.post(
        "/api/agent/wrapup",
        json={
            "customer_id": item["customer"]["customers"][0]["id"],
            "call_id": record.call_id,
            "disposition": "follow_up",
            "callback": {"due_at": due.isoformat().replace("+00:00", "Z"), "for": "me"},
        },
        headers=h,
    )
    assert wrapped.status == 201, await wrapped.text()
    assert (await wrapped.json())["campaign_callback"] == item["attempt_id"]
    attempt, _ = await client.app[CAMPAIGNS_KEY].attempt(item["attempt_id"])
    assert attempt.state is AttemptState.CALLBACK_SCHEDULED
    assert (attempt.callback_agent, attempt.due_at) == ("PJSIP/2001", due)
    again = (
        await (await client.post("/api/agent/preview", headers={"Origin": origin(client)})).json()
    )["item"]
    assert again["attempt_id"] == item["attempt_id"]  # due, promised by her: first


async def test_preview_is_not_offered_on_a_get(app_client: TestClient[Any, Any]) -> None:
    """Offering holds the number for 120 s: a state change, so never on a GET (item 19)."""
    await add_user(app_client, "ann", Role.AGENT, extension="PJSIP/2001")
    assert (await login(app_client, "ann")).status == 200
    response = await app_client.get("/api/agent/preview")
    assert response.status == 405
    evil = await app_client.post("/api/agent/preview", headers={"Origin": "http://evil.example"})
    assert evil.status == 403
