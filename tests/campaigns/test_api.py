"""The campaign and churn API through create_app: supervisors only, create from the
retention list, start/pause/resume, progress."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from callcenter.store.customers import CustomerInput, Phone
from callcenter.web.auth import Role
from callcenter.web.keys import CAMPAIGNS_KEY, CUSTOMERS_KEY
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


async def test_campaign_from_a_csv_lists_bad_rows_and_links_known_customers(
    client: TestClient[Any, Any],
) -> None:
    known = await client.app[CUSTOMERS_KEY].create(
        CustomerInput(name="Known", phones=(Phone("+4930100001", "+4930100001"),))
    )
    await logged_in(client, "boss", Role.SUPERVISOR)
    h = {"Origin": origin(client)}
    csv_text = (
        "\ufeffPhone;priority;note\n"
        "030 100001;5;known customer, national format\n"
        "+4930100002;;\n"
        "not a number;1;\n"
        "+4930100003;high;\n"
        "\n"
        "0049 30 100004;0;\n"
        "+4930100002;;the same number again\n"
    )
    body = {"name": "from file", "queue": "retention", "source": {"csv": csv_text}}
    created = await client.post("/api/campaigns", json=body, headers=h)
    assert created.status == 201, await created.text()
    campaign = await created.json()
    assert campaign["source"] == "csv"
    assert campaign["rejected"] == [
        {"row": 4, "error": "phone: not a phone number: 'not a number'"},
        {"row": 5, "error": "priority: expected an integer"},
    ]
    attempts = await client.app[CAMPAIGNS_KEY].attempts(campaign["id"])
    assert [(a.number, a.priority) for a in attempts] == [
        ("+4930100001", 5),
        ("+4930100002", 0),
        ("+4930100004", 0),
    ]
    context = await client.app[CAMPAIGNS_KEY].attempt_context(attempts[0].attempt_id)
    assert context is not None and context["customer_id"] == known["id"]
    no_phone = {**body, "name": "bad file", "source": {"csv": "name\nA\n"}}
    refused = await client.post("/api/campaigns", json=no_phone, headers=h)
    assert refused.status == 400
    assert "phone" in (await refused.json())["error"]["message"]


_VALID = {"name": "winback", "queue": "retention", "source": {"churn": 0}}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"time_zone": 5}, "time_zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone"),
        ({"name": "n" * 900_000}, "name"),
        ({"retry": {"busy": -5}}, "retry"),
        ({"retry": {"busy": True}}, "retry"),
        ({"first_day": "2026-03-10", "last_day": "2026-03-01"}, "last_day"),
        ({"first_day": 20260301}, "first_day"),
        ({"priority": 2**64}, "priority"),
        ({"priority": -(2**63) - 1}, "priority"),
        ({"max_attempts": 10**9}, "max_attempts"),
        ({"mode": ["preview"]}, "mode"),
        ({"mode": {"a": 1}}, "mode"),
        ({"hours_start": "18:00", "hours_end": "09:00"}, "hours_end"),
        ({"hours_start": "09:00"}, "hours_end"),
        ({"callee_start": "22:00", "callee_end": "08:00"}, "callee_end"),
        ({"hours_start": "①9:00", "hours_end": "18:00"}, "hours_start"),
        ({"abandon_target": True}, "abandon_target"),
    ],
)
async def test_campaign_input_is_validated(
    client: TestClient[Any, Any], change: dict[str, Any], field: str
) -> None:
    await logged_in(client, "boss", Role.SUPERVISOR)
    h = {"Origin": origin(client)}
    response = await client.post("/api/campaigns", json={**_VALID, **change}, headers=h)
    assert response.status == 400, await response.text()
    error = (await response.json())["error"]
    assert error["id"] == "invalid_input"
    assert error["details"]["field"] == field
    assert await client.app[CAMPAIGNS_KEY].all() == []


@pytest.mark.parametrize(
    "raw",
    [
        '{"name": "w", "queue": "q", "retry": {"busy": NaN}, "source": {"churn": 0}}',
        '{"name": "w", "queue": "q", "abandon_target": Infinity, "source": {"churn": 0}}',
        '{"name": "w", "queue": "q", "source": {"churn": -Infinity}}',
    ],
)
async def test_campaign_non_finite_numbers_are_refused(
    client: TestClient[Any, Any], raw: str
) -> None:
    await logged_in(client, "boss", Role.SUPERVISOR)
    h = {"Origin": origin(client), "Content-Type": "application/json"}
    response = await client.post("/api/campaigns", data=raw, headers=h)
    assert response.status == 400
    assert (await response.json())["error"]["id"] == "invalid_input"
    listing = await client.get("/api/campaigns")
    json.loads(await listing.text(), parse_constant=lambda name: pytest.fail(name))


async def test_churn_threshold_must_be_finite(client: TestClient[Any, Any]) -> None:
    await logged_in(client, "boss", Role.SUPERVISOR)
    for value in ("nan", "inf", "-inf"):
        assert (await client.get(f"/api/churn?threshold={value}")).status == 400
