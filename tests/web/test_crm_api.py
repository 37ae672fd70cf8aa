"""The CRM JSON API through create_app: shapes, validation errors naming the field, the
timeline, lookup, merge, callbacks, tickets, segments, search, GDPR export/erasure, audit."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from callcenter.settings import Settings
from callcenter.store import Role
from callcenter.web.keys import AUDIT_KEY, CALL_LOG_KEY
from tests.web.webclient import add_user, logged_in, origin

ANNA = {
    "name": "Anna Müller",
    "company": "ACME",
    "phones": [{"number": "030 123456", "type": "work"}],
    "emails": ["anna@example.com"],
    "tags": ["vip"],
    "consent": {"may_record": True},
    "custom": {"contract": "A-17"},
}


def write(path: Path) -> Path:
    path.write_bytes(b"RIFF")
    return path


def exists(path: Path) -> bool:
    return path.exists()


async def post(client: Any, path: str, body: Any) -> Any:
    return await client.post(path, json=body, headers={"Origin": origin(client)})


async def patch(client: Any, path: str, body: Any) -> Any:
    return await client.patch(path, json=body, headers={"Origin": origin(client)})


async def created(client: Any, body: dict[str, Any] = ANNA) -> dict[str, Any]:
    response = await post(client, "/api/customers", body)
    assert response.status == 201, await response.text()
    result: dict[str, Any] = await response.json()
    return result


async def error_of(response: Any, status: int = 400) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body = await response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"id", "message", "details"}
    result: dict[str, Any] = body["error"]
    return result


@pytest.fixture
async def agent(client: Any) -> Any:
    return await logged_in(client, "ann", Role.AGENT, extension="PJSIP/2001")


async def test_create_and_read_a_customer(client: Any, agent: Any) -> None:
    anna = await created(client)
    assert anna["phones"] == [{"number": "030 123456", "e164": "+4930123456", "type": "work"}]
    assert anna["emails"] == [{"address": "anna@example.com", "type": "main"}]
    assert anna["consent"] == {"may_call": True, "may_record": True, "marketing": False}
    response = await client.get(f"/api/customers/{anna['id']}")
    body = await response.json()
    assert body == {**anna, "timeline": []}
    # POST accepts what GET returned (read-only keys are ignored).
    again = await created(client, {**body, "phones": [{"number": "040 1234567"}]})
    assert again["id"] != anna["id"]
    actions = [e.action for e in await client.app[AUDIT_KEY].recent(actor="ann")]
    assert actions[:3] == ["customer.create", "customer.read", "customer.create"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": 5}, "name"),
        ({"name": "x", "phones": ["12ab"]}, "phones[0].number"),
        ({"name": "x", "phones": [{"number": "030 1", "type": "Mobile!"}]}, "phones[0].type"),
        ({"name": "x", "emails": ["no-at-sign"]}, "emails[0].address"),
        ({"name": "x", "tags": "vip"}, "tags"),
        ({"name": "x", "consent": {"may_fly": True}}, "consent.may_fly"),
        ({"name": "x", "consent": {"may_call": "yes"}}, "consent.may_call"),
        ({"name": "x", "time_zone": "Mars/Olympus"}, "time_zone"),
        ({"name": "x", "region": "Germany"}, "region"),
        ({"name": "x", "kind": "robot"}, "kind"),
        ({"name": "x", "owner": "ghost"}, "owner"),
        ({"name": "x", "custom": {"a": {"nested": 1}}}, "custom.a"),
        ({"name": "x", "colour": "red"}, "colour"),
        ([1], "body"),
    ],
)
async def test_bad_input_names_the_field(client: Any, agent: Any, body: Any, field: str) -> None:
    error = await error_of(await post(client, "/api/customers", body))
    assert error["id"] == "invalid_input"
    assert error["details"]["field"] == field
    assert error["details"]["reason"]


async def test_patch(client: Any, agent: Any) -> None:
    anna = await created(client)
    response = await patch(
        client, f"/api/customers/{anna['id']}", {"tags": ["vip", "reseller"], "company": ""}
    )
    body = await response.json()
    assert (body["tags"], body["company"], body["name"]) == (["vip", "reseller"], "", "Anna Müller")
    error = await error_of(await patch(client, f"/api/customers/{anna['id']}", {}))
    assert error["details"]["field"] == "body"
    assert (await patch(client, "/api/customers/999", {"name": "x"})).status == 404


async def test_lookup_and_timeline_from_the_call_log(
    client: Any, agent: Any, make_call: Any
) -> None:
    anna = await created(client)
    await client.app[CALL_LOG_KEY].add_many(
        [make_call("c1", caller_number="+4930123456"), make_call("c2", caller_number="040 55511")]
    )
    for number in ("+4930123456", "004930123456", "030 123456", "4930123456"):
        response = await client.get("/api/customers/lookup", params={"number": number})
        body = await response.json()
        assert body["matched"] == "+4930123456", number
        assert [c["id"] for c in body["customers"]] == [anna["id"]]
    stub = await (await client.get("/api/customers/lookup?number=04055511")).json()
    assert stub["customers"][0]["is_stub"] is True
    note = await post(client, f"/api/customers/{anna['id']}/notes", {"body": "Wants a call back"})
    assert note.status == 201
    disposition = await post(
        client, f"/api/customers/{anna['id']}/dispositions", {"code": "sale", "call_id": "c1"}
    )
    assert disposition.status == 201
    body = await (await client.get(f"/api/customers/{anna['id']}?timeline_limit=10")).json()
    assert sorted(e["type"] for e in body["timeline"][:2]) == ["disposition", "note"]
    assert body["timeline"][-1]["call"]["call_id"] == "c1"
    error = await error_of(await client.get("/api/customers/lookup"))
    assert error["details"]["field"] == "number"


async def test_callbacks(client: Any, agent: Any) -> None:
    anna = await created(client)
    await add_user(client, "bob", Role.AGENT)
    path = f"/api/customers/{anna['id']}/callbacks"
    mine = await (await post(client, path, {"due_at": "2024-05-02T09:00:00+02:00"})).json()
    assert (mine["due_at"], mine["assigned_to"], mine["state"]) == (
        "2024-05-02T07:00:00Z",
        None,
        "open",
    )
    bobs = await post(client, path, {"due_at": "2024-05-01T09:00:00Z", "assigned_to": "bob"})
    assert bobs.status == 201
    error = await error_of(await post(client, path, {"due_at": "tomorrow"}))
    assert error["details"]["field"] == "due_at"
    error = await error_of(await post(client, path, {"due_at": "2024-05-01", "assigned_to": "x"}))
    assert error["details"]["field"] == "assigned_to"
    listed = await (await client.get("/api/callbacks?assigned_to=me")).json()
    assert [c["id"] for c in listed["items"]] == [mine["id"]]  # mine = "anyone"
    # An agent sees only their own and unassigned callbacks (issue 16, item 9).
    every = await (await client.get("/api/callbacks")).json()
    assert [c["id"] for c in every["items"]] == [mine["id"]]
    assert (await client.get("/api/callbacks?assigned_to=bob")).status == 403
    bobs_id = (await bobs.json())["id"]
    assert (await patch(client, f"/api/callbacks/{bobs_id}", {"state": "done"})).status == 403
    taken = await patch(client, f"/api/callbacks/{mine['id']}", {"assigned_to": "bob"})
    assert taken.status == 403
    done = await patch(client, f"/api/callbacks/{mine['id']}", {"state": "done"})
    assert (await done.json())["state"] == "done"
    remaining = await (await client.get("/api/callbacks?state=all")).json()
    assert [c["state"] for c in remaining["items"]] == ["done"]
    error = await error_of(await patch(client, f"/api/callbacks/{mine['id']}", {"state": "x"}))
    assert error["details"]["field"] == "state"
    assert (await patch(client, "/api/callbacks/999", {"state": "done"})).status == 404


async def test_tickets(client: Any, agent: Any) -> None:
    anna = await created(client)
    path = f"/api/customers/{anna['id']}/tickets"
    ticket = await (
        await post(client, path, {"subject": "Router broken", "kind": "complaint", "calls": ["c1"]})
    ).json()
    assert (ticket["status"], ticket["kind"], ticket["calls"]) == ("open", "complaint", ["c1"])
    updated = await patch(
        client, f"/api/tickets/{ticket['id']}", {"status": "resolved", "add_calls": ["c2"]}
    )
    assert (await updated.json())["calls"] == ["c1", "c2"]
    listed = await (await client.get("/api/tickets?status=resolved&kind=complaint")).json()
    assert [t["id"] for t in listed["items"]] == [ticket["id"]]
    error = await error_of(await post(client, path, {"subject": ""}))
    assert error["details"]["field"] == "subject"


async def test_search(client: Any, agent: Any) -> None:
    anna = await created(client)
    await post(client, f"/api/customers/{anna['id']}/notes", {"body": "Heizung kaputt"})
    for words in ("muller", "acme", "anna@example", "heizung"):
        body = await (await client.get("/api/search", params={"q": words})).json()
        assert [c["id"] for c in body["items"]] == [anna["id"]], words
    error = await error_of(await client.get("/api/search?q=%20%21"))
    assert error["details"]["field"] == "q"
    assert (await client.app[AUDIT_KEY].recent(action="customers.search"))[0].actor == "ann"


async def test_list_filters_and_segments(client: Any) -> None:
    await logged_in(client, "sue", Role.SUPERVISOR)
    await created(client)
    await created(client, {"name": "Ben", "tags": ["lead"]})
    body = await (await client.get("/api/customers?tag=vip")).json()
    assert [c["name"] for c in body["items"]] == ["Anna Müller"]
    page = await (await client.get("/api/customers?limit=1")).json()
    assert page["next_cursor"] == str(page["items"][0]["id"])
    error = await error_of(await client.get("/api/customers?tga=vip"))
    assert error["details"]["field"] == "tga"
    segment = await post(client, "/api/segments", {"name": "leads", "filter": {"tag": "lead"}})
    assert segment.status == 201
    segment_id = (await segment.json())["id"]
    members = await (await client.get(f"/api/segments/{segment_id}/customers")).json()
    assert [c["name"] for c in members["items"]] == ["Ben"]
    error = await error_of(await post(client, "/api/segments", {"name": "x", "filter": {"y": 1}}))
    assert error["details"]["field"] == "y"
    duplicate = await post(client, "/api/segments", {"name": "leads", "filter": {"tag": "x"}})
    assert (await error_of(duplicate, 409))["id"] == "conflict"
    listed = await (await client.get("/api/segments")).json()
    # "retention" is the churn recomputation's own segment (made at start-up, in the background).
    assert [s["name"] for s in listed["items"] if s["name"] != "retention"] == ["leads"]
    deleted = await client.delete(f"/api/segments/{segment_id}", headers={"Origin": origin(client)})
    assert deleted.status == 204


async def test_merge(client: Any, make_call: Any) -> None:
    await logged_in(client, "sue", Role.SUPERVISOR)
    await client.app[CALL_LOG_KEY].add(make_call("c1", caller_number="040 55511"))
    stub = (await (await client.get("/api/customers/lookup?number=04055511")).json())["customers"][
        0
    ]
    ben = await created(client, {"name": "Ben", "phones": ["089 123456"]})
    response = await post(client, f"/api/customers/{ben['id']}/merge", {"other": stub["id"]})
    merged = await response.json()
    assert sorted(p["e164"] for p in merged["phones"]) == ["+494055511", "+4989123456"]
    entry = (await client.app[AUDIT_KEY].recent(action="customer.merge"))[0]
    assert entry.details == {"kept": ben["id"], "merged": stub["id"]}
    again = await post(client, f"/api/customers/{ben['id']}/merge", {"other": stub["id"]})
    assert (await error_of(again, 409))["id"] == "conflict"
    error = await error_of(await post(client, f"/api/customers/{ben['id']}/merge", {}))
    assert error["details"]["field"] == "other"


async def test_gdpr_export_and_erasure(
    make_client: Any, settings: Settings, make_call: Any, tmp_path: Path
) -> None:
    crm = dataclasses.replace(settings.crm, recordings_dir=str(tmp_path))
    client = await make_client(settings=dataclasses.replace(settings, crm=crm))
    await logged_in(client, "root", Role.ADMIN)
    anna = await created(client)
    recording = write(tmp_path / "rec.wav")
    await client.app[CALL_LOG_KEY].add(
        make_call("c1", caller_number="+4930123456", recording=str(recording))
    )
    await post(client, f"/api/customers/{anna['id']}/notes", {"body": "secret note"})
    exported = await client.get(f"/api/customers/{anna['id']}/export")
    assert "attachment" in exported.headers["Content-Disposition"]
    dossier = await exported.json()
    assert [n["body"] for n in dossier["notes"]] == ["secret note"]
    assert dossier["recordings"] == [{"call_id": "c1", "path": str(recording)}]
    erased = await client.delete(f"/api/customers/{anna['id']}", headers={"Origin": origin(client)})
    report = await erased.json()
    assert report["calls_anonymised"] == 1
    assert report["recording_files"]["deleted"] == [str(recording)]
    assert not exists(recording)
    assert (await client.get(f"/api/customers/{anna['id']}")).status == 404
    call = await client.app[CALL_LOG_KEY].get("c1")
    assert (call["caller_number"], call["recording"], call["talk_s"]) == ("", None, 60.0)
    entry = (await client.app[AUDIT_KEY].recent(action="customer.erase"))[0]
    assert entry.actor == "root"
    assert entry.details["calls_anonymised"] == 1
    assert (await client.app[AUDIT_KEY].recent(action="customer.export"))[0].actor == "root"
