"""The administration API behind /admin (#16 item 7) through create_app: creating users (with
a browser phone), changing role and extension, the audit log's filters (who, what, when,
which customer), the effective settings with secrets masked; admins only."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from callcenter.settings import Settings, settings_from_mapping
from callcenter.store import Role
from callcenter.web.keys import ACCOUNTS_KEY, AUDIT_KEY
from tests.web.conftest import ClientFactory
from tests.web.test_accounts import send
from tests.web.webclient import add_user, logged_in, login


async def test_an_admin_creates_users_with_a_browser_phone(client: Any) -> None:
    await logged_in(client, "boss", Role.ADMIN)
    made = await send(
        client,
        "POST",
        "/api/users",
        {
            "username": "Wanda",
            "role": "agent",
            "password": "wanda's password",
            "extension": "PJSIP/w2001",
            "sip_password": "sip secret 1",
        },
    )
    assert made.status == 201, await made.text()
    user = (await made.json())["user"]
    assert (user["username"], user["role"], user["extension"]) == ("wanda", "agent", "PJSIP/w2001")
    phone = await client.app[ACCOUNTS_KEY].browser_phone(user["id"])
    assert phone is not None and phone.sip_password == "sip secret 1"
    again = await send(
        client, "POST", "/api/users", {"username": "wanda", "role": "agent", "password": "x" * 9}
    )
    assert again.status == 409
    for body, field in (
        ({"username": "bad name", "role": "agent", "password": "x" * 9}, "username"),
        ({"username": "x1", "role": "boss", "password": "x" * 9}, "role"),
        ({"username": "x2", "role": "agent", "password": "short"}, "password"),
        (
            {"username": "x3", "role": "agent", "password": "x" * 9, "extension": "2001"},
            "extension",
        ),
        (
            {
                "username": "x4",
                "role": "agent",
                "password": "x" * 9,
                "extension": "SIP/2001",
                "sip_password": "y" * 9,
            },
            "sip_password",
        ),
    ):
        bad = await send(client, "POST", "/api/users", body)
        assert bad.status == 400, body
        assert (await bad.json())["error"]["details"]["field"] == field
    entries = await client.app[AUDIT_KEY].recent(action="user.create")
    assert [(e.actor, e.target, e.details["browser_phone"]) for e in entries] == [
        ("boss", "wanda", True)
    ]
    client.session.cookie_jar.clear()
    assert (await login(client, "wanda", "wanda's password")).status == 200


async def test_role_and_extension_change_and_apply_at_once(client: Any) -> None:
    await logged_in(client, "boss", Role.ADMIN)
    await add_user(client, "sam", Role.AGENT, extension="PJSIP/2001")
    changed = await send(
        client, "PATCH", "/api/users/sam", {"role": "supervisor", "extension": "PJSIP/w2002"}
    )
    assert changed.status == 200, await changed.text()
    assert (await changed.json())["user"] | {"id": 0} == {
        "id": 0,
        "username": "sam",
        "role": "supervisor",
        "extension": "PJSIP/w2002",
        "active": True,
    }
    phone = await send(client, "PATCH", "/api/users/sam", {"sip_password": "browser pw 22"})
    assert phone.status == 200
    sam = await client.app[ACCOUNTS_KEY].get_user("sam")
    assert (await client.app[ACCOUNTS_KEY].browser_phone(sam.id)) is not None
    assert [e.details for e in await client.app[AUDIT_KEY].recent(action="user.role")] == [
        {"from": "agent", "to": "supervisor"}
    ]
    none = await send(client, "PATCH", "/api/users/sam", {"extension": None})
    assert (await none.json())["user"]["extension"] is None
    own = await send(client, "PATCH", "/api/users/boss", {"role": "agent"})
    assert own.status == 409
    # the new role counts from sam's next request
    client.session.cookie_jar.clear()
    assert (await login(client, "sam")).status == 200
    assert (await client.get("/api/wallboard")).status == 200
    assert (await client.get("/api/users")).status == 403
    assert (await send(client, "POST", "/api/users", {})).status == 403
    assert (await send(client, "PATCH", "/api/users/sam", {"role": "admin"})).status == 403
    assert (await client.get("/api/admin/settings")).status == 403


async def test_audit_filters_who_what_when_and_which_customer(client: Any) -> None:
    await logged_in(client, "boss", Role.ADMIN)
    audit = client.app[AUDIT_KEY]
    await audit.audit("ann", "customer.read", "/api/customers/7", {})
    await audit.audit("ann", "note.add", "/api/customers/7/notes", {})
    await audit.audit("ann", "customer.read", "/api/customers/70", {})
    await audit.audit("bob", "customers.bulk", "/api/customers/bulk", {"ids": [3, 7]})
    await audit.audit("bob", "customer.merge", "/api/customers/9/merge", {"merged": 7})
    await audit.audit("bob", "customer.read", "/api/customers/7?x=1", {})

    async def listed(query: str) -> list[tuple[str, str, str | None]]:
        response = await client.get(f"/api/audit?{query}")
        assert response.status == 200, await response.text()
        return [(e["actor"], e["action"], e["target"]) for e in (await response.json())["items"]]

    about_7 = await listed("customer=7")
    assert len(about_7) == 5
    assert ("ann", "customer.read", "/api/customers/70") not in about_7
    assert await listed("customer=7&actor=ann") == [
        ("ann", "note.add", "/api/customers/7/notes"),
        ("ann", "customer.read", "/api/customers/7"),
    ]
    assert [a for _, a, _ in await listed("action=customer.*&actor=bob")] == [
        "customer.read",
        "customer.merge",
    ]
    assert await listed("action=customers.bulk") == [
        ("bob", "customers.bulk", "/api/customers/bulk")
    ]
    everything = (await (await client.get("/api/audit?limit=500")).json())["items"]
    first_at = everything[-1]["at"]
    assert await listed("to=2000-01-01") == []
    assert len(await listed(f"from={first_at}&actor=ann")) == 3
    assert await listed("from=2999-01-01") == []
    newest_of_bob = next(e["id"] for e in everything if e["actor"] == "bob")
    assert len(await listed(f"before={newest_of_bob}&actor=bob")) == 2
    for query, field in (("customer=x", "customer"), ("from=yesterday", "from"), ("who=a", "who")):
        response = await client.get(f"/api/audit?{query}")
        assert response.status == 400
        assert (await response.json())["error"]["details"]["field"] == field


async def test_effective_settings_mask_secrets(
    make_client: ClientFactory, settings: Settings
) -> None:
    raw = {
        "db": {"path": settings.db.path},
        "ami": {"port": settings.ami.port, "secret": "ami-Secret-123", "host": "10.1.2.3"},
        "transcribe": {"enabled": False},
        "phone": {"webrtc_ws": "wss://user:ws-pass-9@pbx.example/ws"},
    }
    environ = {"CALLCENTER_CENTER_TIME_ZONE": "Europe/Berlin"}
    client = await make_client(settings_from_mapping(raw, environ))
    await logged_in(client, "boss", Role.ADMIN)
    response = await client.get("/api/admin/settings")
    assert response.status == 200
    text = await response.text()
    assert "ami-Secret-123" not in text and "ws-pass-9" not in text
    sections = json.loads(text)["sections"]
    assert sections["ami"]["secret"] == "********"
    assert sections["ami"]["host"] == "10.1.2.3"
    assert sections["phone"]["webrtc_ws"] == "wss://user:********@pbx.example/ws"
    assert sections["center"]["time_zone"] == "Europe/Berlin"  # the environment applied
    assert sections["http"]["port"] == 8080  # defaults filled in
    assert set(sections) == {f.name for f in dataclasses.fields(Settings)}
    entries = await client.app[AUDIT_KEY].recent(action="settings.read")
    assert [e.actor for e in entries] == ["boss"]


async def test_admin_page_is_a_shell_with_its_navigation(client: Any) -> None:
    response = await client.get("/admin")
    assert response.status == 200
    html = await response.text()
    assert '<a href="/admin" data-roles="admin" aria-current="page">Administration' in html
    assert "/static/crm/admin.js" in html
    assert (await client.get("/static/crm/admin.js")).status == 200
    await logged_in(client, "ann", Role.AGENT, extension="PJSIP/2001")
    for path in ("/api/users", "/api/audit", "/api/admin/settings"):
        assert (await client.get(path)).status == 403, path
