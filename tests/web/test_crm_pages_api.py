"""The API behind the CRM pages (issue 16) through create_app: browsing customers with search,
filters, sort and counts; bulk actions and the CSV of a selection; interactions from other
channels (idempotent by external_id, in the timeline, search, contact, GDPR export and
erasure); consent history; merge candidates; the erasure preview; editing segments; ticket
assignment, due times and resolution; who may do what."""

from __future__ import annotations

from typing import Any

from callcenter.store import Role
from callcenter.store.campaigns import CampaignSpec
from callcenter.web.keys import CAMPAIGNS_KEY
from tests.web.test_crm_api import created, error_of, patch, post
from tests.web.webclient import add_user, logged_in, login, origin


def person(name: str, number: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "phones": [{"number": number}], **more}


async def test_browse_sorts_filters_searches_and_counts(client: Any) -> None:
    await logged_in(client, "sue", Role.SUPERVISOR)
    for i, name in enumerate(["Dora", "Anton", "Carla", "Bert"]):
        tags = ["vip"] if i % 2 == 0 else []
        await created(client, person(name, f"030 55500{i}", tags=tags, company=f"Firm {name}"))
    page = await (await client.get("/api/customers/browse?sort=name&limit=2")).json()
    assert [c["name"] for c in page["items"]] == ["Anton", "Bert"]
    assert (page["total"], page["total_capped"], page["offset"]) == (4, False, 0)
    second = await (await client.get("/api/customers/browse?sort=name&limit=2&offset=2")).json()
    assert [c["name"] for c in second["items"]] == ["Carla", "Dora"]
    assert second["total"] == 4
    vip = await (await client.get("/api/customers/browse?tag=vip&sort=-name")).json()
    assert [c["name"] for c in vip["items"]] == ["Dora", "Carla"]
    found = await (await client.get("/api/customers/browse?q=firm+ber")).json()
    assert [c["name"] for c in found["items"]] == ["Bert"]
    assert (await client.get("/api/customers/browse?q=nobodyatall")).status == 200
    error = await error_of(await client.get("/api/customers/browse?sort=phone"))
    assert error["details"]["field"] == "sort"
    error = await error_of(await client.get("/api/customers/browse?limit=201"))
    assert error["details"]["field"] == "limit"


async def test_agents_browse_but_may_not_bulk_or_filter_by_churn(client: Any) -> None:
    await logged_in(client, "ann", Role.AGENT, extension="PJSIP/2001")
    anna = await created(client, person("Anna", "030 123456"))
    assert (await client.get("/api/customers/browse")).status == 200
    assert (await client.get("/api/customers/browse?min_churn=50")).status == 403
    body = {"ids": [anna["id"]], "action": "tag", "tag": "x"}
    assert (await post(client, "/api/customers/bulk", body)).status == 403
    assert (await post(client, "/api/customers/selection.csv", {"ids": [anna["id"]]})).status == 403
    assert (await client.get(f"/api/customers/{anna['id']}/erasure")).status == 403
    assert (await patch(client, "/api/segments/1", {"name": "x"})).status == 403


async def test_bulk_tag_owner_campaign_and_csv(client: Any) -> None:
    await logged_in(client, "sue", Role.SUPERVISOR)
    await add_user(client, "bob", Role.AGENT)
    a = await created(client, person("Anna", "030 111111", tags=["vip"]))
    b = await created(client, person("Bert", "030 222222"))
    c = await created(client, {"name": "No Phone"})
    d = await created(client, person("Dnc", "030 333333", do_not_call=True))
    ids = [a["id"], b["id"], c["id"], d["id"]]
    tagged = await (
        await post(client, "/api/customers/bulk", {"ids": ids, "action": "tag", "tag": "winback"})
    ).json()
    assert tagged["changed"] == 4
    page = await (await client.get("/api/customers/browse?tag=winback")).json()
    assert page["total"] == 4
    untag = {"ids": [a["id"]], "action": "untag", "tag": "vip"}
    assert (await (await post(client, "/api/customers/bulk", untag)).json())["changed"] == 1
    owner = {"ids": ids[:2], "action": "owner", "owner": "bob"}
    assert (await (await post(client, "/api/customers/bulk", owner)).json())["changed"] == 2
    assert (await (await client.get(f"/api/customers/{b['id']}")).json())["owner"] == "bob"
    error = await error_of(
        await post(
            client, "/api/customers/bulk", {"ids": ids, "action": "owner", "owner": "nobody"}
        )
    )
    assert error["details"]["field"] == "owner"
    error = await error_of(await post(client, "/api/customers/bulk", {"ids": [], "action": "tag"}))
    assert error["details"]["field"] == "ids"
    campaign = await client.app[CAMPAIGNS_KEY].create(
        CampaignSpec(name="Winback", source="segment", queue="nobody-q"), [], created_by="sue"
    )
    body = {"ids": ids, "action": "campaign", "campaign_id": campaign.id}
    added = await (await post(client, "/api/customers/bulk", body)).json()
    assert (added["added"], added["skipped"]) == (2, 2)  # no phone, do-not-call
    again = await (await post(client, "/api/customers/bulk", body)).json()
    assert (again["added"], again["skipped"]) == (0, 4)
    progress = await client.app[CAMPAIGNS_KEY].progress(campaign.id)
    assert sum(progress["attempts"].values()) == 2
    response = await post(client, "/api/customers/selection.csv", {"ids": [b["id"], a["id"]]})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    lines = (await response.text()).splitlines()
    assert lines[0].startswith("id,kind,name")
    assert [line.split(",")[2] for line in lines[1:]] == ["Bert", "Anna"]


async def test_interactions_are_idempotent_and_everywhere(client: Any) -> None:
    await logged_in(client, "adm", Role.ADMIN)
    anna = await created(client, person("Anna", "030 123456"))
    path = f"/api/customers/{anna['id']}/interactions"
    body = {
        "channel": "email",
        "direction": "inbound",
        "subject": "Kündigung Vertrag",
        "body": "I want to cancel <b>now</b>",
        "occurred_at": "2030-01-02T10:00:00+01:00",
        "external_id": "crm-mail-1",
    }
    first = await post(client, path, body)
    assert first.status == 201
    stored = await first.json()
    assert (stored["occurred_at"], stored["author"], stored["duplicate"]) == (
        "2030-01-02T09:00:00Z",
        "adm",
        False,
    )
    second = await post(client, path, {**body, "subject": "changed"})
    assert second.status == 200
    again = await second.json()
    assert (again["id"], again["subject"], again["duplicate"]) == (
        stored["id"],
        body["subject"],
        True,
    )
    listed = await (await client.get(path)).json()
    assert [i["id"] for i in listed["items"]] == [stored["id"]]
    # counts as contact
    customer = await (await client.get(f"/api/customers/{anna['id']}")).json()
    assert customer["last_contact_at"] == "2030-01-02T09:00:00Z"
    assert customer["timeline"][0]["type"] == "interaction"
    assert customer["timeline"][0]["interaction"]["subject"] == body["subject"]
    # search (diacritics folded) and the browse search
    hits = await (await client.get("/api/search?q=kundigung")).json()
    assert [(h["id"], h["matched"]) for h in hits["items"]] == [(anna["id"], "interaction")]
    # GDPR export and erasure
    dossier = await (await client.get(f"/api/customers/{anna['id']}/export")).json()
    assert [i["external_id"] for i in dossier["interactions"]] == ["crm-mail-1"]
    preview = await (await client.get(f"/api/customers/{anna['id']}/erasure")).json()
    assert (preview["interactions"], preview["phones"], preview["customers"]) == (
        1,
        1,
        [anna["id"]],
    )
    erased = await client.delete(f"/api/customers/{anna['id']}", headers={"Origin": origin(client)})
    assert erased.status == 200
    hits = await (await client.get("/api/search?q=kundigung")).json()
    assert hits["items"] == []
    # validation in words, naming the field
    for bad, field in (
        ({**body, "channel": "fax", "external_id": None}, "channel"),
        ({**body, "direction": "sideways", "external_id": None}, "direction"),
        ({**body, "occurred_at": "yesterday", "external_id": None}, "occurred_at"),
        (
            {"channel": "chat", "direction": "inbound", "occurred_at": "2030-01-01T00:00:00Z"},
            "subject",
        ),
        ({**body, "surprise": 1}, "surprise"),
    ):
        other = await created(client, person("Other", "030 999999"))
        error = await error_of(
            await post(client, f"/api/customers/{other['id']}/interactions", bad)
        )
        assert error["details"]["field"] == field, bad


async def test_an_interaction_counts_for_no_contact_days(make_client: Any) -> None:
    now = [1_900_000_000.0]
    client = await make_client(clock=lambda: now[0], session_ttl_s=1e9)
    await logged_in(client, "sue", Role.SUPERVISOR)
    anna = await created(client, person("Anna", "030 123456"))
    now[0] += 10 * 86400
    quiet = await (await client.get("/api/customers/browse?no_contact_days=5")).json()
    assert [c["id"] for c in quiet["items"]] == [anna["id"]]
    body = {
        "channel": "meeting",
        "direction": "outbound",
        "subject": "Visit",
        "occurred_at": "2030-03-27T17:00:00Z",  # the clock: 2030-03-27T17:46:40Z
    }
    assert (await post(client, f"/api/customers/{anna['id']}/interactions", body)).status == 201
    quiet = await (await client.get("/api/customers/browse?no_contact_days=5")).json()
    assert quiet["items"] == []


async def test_consent_history_and_same_number(client: Any) -> None:
    await logged_in(client, "sue", Role.SUPERVISOR)
    anna = await created(client, person("Anna", "030 123456"))
    twin = await created(client, person("Anna M.", "+49 30 123456"))
    await created(client, person("Else", "030 765432"))
    path = f"/api/customers/{anna['id']}"
    assert (
        await patch(client, path, {"do_not_call": True, "consent": {"marketing": True}})
    ).status == 200
    assert (await patch(client, path, {"name": "Anna Müller"})).status == 200
    history = (await (await client.get(f"{path}/consent")).json())["items"]
    assert sorted(
        (h["field"], h["old_value"], h["new_value"], h["changed_by"]) for h in history
    ) == [
        ("do_not_call", False, True, "sue"),
        ("marketing", False, True, "sue"),
    ]
    same = (await (await client.get(f"{path}/same-number")).json())["items"]
    assert [(c["id"], c["shared_numbers"]) for c in same] == [(twin["id"], ["+4930123456"])]


async def test_segments_can_be_edited(client: Any) -> None:
    await logged_in(client, "sue", Role.SUPERVISOR)
    made = await (
        await post(client, "/api/segments", {"name": "VIP", "filter": {"tag": "vip"}})
    ).json()
    path = f"/api/segments/{made['id']}"
    changed = await (
        await patch(
            client, path, {"name": "VIP quiet", "filter": {"tag": "vip", "no_contact_days": 30}}
        )
    ).json()
    assert (changed["name"], changed["filter"]) == (
        "VIP quiet",
        {"tag": "vip", "no_contact_days": 30},
    )
    await post(client, "/api/segments", {"name": "Other", "filter": {"tag": "x"}})
    assert (await patch(client, path, {"name": "Other"})).status == 409
    error = await error_of(await patch(client, path, {"filter": {"colour": "red"}}))
    assert error["details"]["field"] == "colour"
    assert (await patch(client, "/api/segments/999", {"name": "Nope"})).status == 404


async def test_tickets_assign_due_resolve_and_filter(client: Any) -> None:
    await logged_in(client, "sue", Role.SUPERVISOR)
    await add_user(client, "bob", Role.AGENT)
    anna = await created(client, person("Anna", "030 123456"))
    path = f"/api/customers/{anna['id']}/tickets"
    late = await (
        await post(
            client,
            path,
            {
                "subject": "Late",
                "kind": "complaint",
                "category": "billing",
                "due_at": "2020-01-01T00:00:00Z",
            },
        )
    ).json()
    fine = await (
        await post(client, path, {"subject": "Fine", "due_at": "2099-01-01T00:00:00Z"})
    ).json()
    assert (late["category"], late["assigned_to"], late["due_at"]) == (
        "billing",
        None,
        "2020-01-01T00:00:00Z",
    )
    overdue = await (await client.get("/api/tickets?overdue=true")).json()
    assert [t["id"] for t in overdue["items"]] == [late["id"]]
    assigned = await (
        await patch(client, f"/api/tickets/{fine['id']}", {"assigned_to": "bob"})
    ).json()
    assert assigned["assigned_to"] == "bob"
    bobs = await (await client.get("/api/tickets?assigned_to=bob")).json()
    assert [t["id"] for t in bobs["items"]] == [fine["id"]]
    billing = await (await client.get("/api/tickets?category=billing")).json()
    assert [t["id"] for t in billing["items"]] == [late["id"]]
    done = await (
        await patch(
            client, f"/api/tickets/{late['id']}", {"status": "resolved", "resolution": "Refunded"}
        )
    ).json()
    assert (done["status"], done["resolution"]) == ("resolved", "Refunded")
    assert (await (await client.get("/api/tickets?overdue=true")).json())["items"] == []
    error = await error_of(
        await patch(client, f"/api/tickets/{fine['id']}", {"assigned_to": "ghost"})
    )
    assert error["details"]["field"] == "assigned_to"
    error = await error_of(await client.get("/api/tickets?overdue=maybe"))
    assert error["details"]["field"] == "overdue"


async def test_pages_are_served_with_the_navigation(client: Any) -> None:
    for path in ("/customers", "/customers/1", "/tickets", "/callbacks"):
        response = await client.get(path)
        assert response.status == 200, path
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        html = await response.text()
        assert 'data-roles="supervisor admin">Wallboard' in html
        assert 'href="/customers"' in html
    assert (await client.get("/customers/abc")).status == 401


async def test_agent_login_then_pages(client: Any) -> None:
    await add_user(client, "ann", Role.AGENT, extension="PJSIP/2001")
    assert (await login(client, "ann")).status == 200
    assert (await client.get("/api/customers/browse")).status == 200
