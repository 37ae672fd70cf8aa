"""The campaign and churn API through create_app: supervisors only, create from the
retention list, start/pause/resume, progress."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from callcenter.store.customers import CustomerInput, Phone
from callcenter.web.auth import Role
from callcenter.web.keys import CUSTOMERS_KEY
from tests.web.webclient import logged_in, origin


async def test_campaign_lifecycle(client: TestClient[Any, Any]) -> None:
    await client.app[CUSTOMERS_KEY].create(
        CustomerInput(name="A", phones=(Phone("+4930100001", "+4930100001"),))
    )
    await logged_in(client, "boss", Role.SUPERVISOR)
    h = {"Origin": origin(client)}
    assert (await client.post("/api/churn/recompute", headers=h)).status == 200
    listed = await (await client.get("/api/churn?threshold=0")).json()
    assert [i["number"] for i in listed["items"]] == ["+4930100001"]
    body = {
        "name": "winback",
        "queue": "retention",
        "mode": "progressive",
        "retry": {"busy": 15, "no_answer": None},
        "source": {"churn": 0},
    }
    created = await client.post("/api/campaigns", json=body, headers=h)
    assert created.status == 201, await created.text()
    campaign = await created.json()
    assert campaign["state"] == "draft"
    assert campaign["progress"]["attempts"] == {"pending": 1}
    cid = campaign["id"]
    for action, state in (("start", "running"), ("pause", "paused"), ("resume", "running")):
        moved = await client.post(f"/api/campaigns/{cid}/{action}", headers=h)
        assert (await moved.json())["state"] == state
    again = await client.post(f"/api/campaigns/{cid}/start", headers=h)
    assert again.status == 409
    bad = await client.post("/api/campaigns", json={**body, "mode": "x"}, headers=h)
    assert bad.status == 400


async def test_agents_may_not_see_campaigns(client: TestClient[Any, Any]) -> None:
    await logged_in(client, "ann", Role.AGENT)
    assert (await client.get("/api/campaigns")).status == 403
