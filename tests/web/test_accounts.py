"""Accounts (#13 item 12): disabling a user, passwords, API tokens with expiry and revocation,
through the API as the panel or an integration calls it; every change audited."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from callcenter.store import Role, token_hash
from callcenter.web.keys import ACCOUNTS_KEY, AUDIT_KEY
from callcenter.web.socket_guard import CLOSE_UNAUTHENTICATED
from tests.web.conftest import ClientFactory
from tests.web.webclient import PASSWORD, add_user, logged_in, login, origin

Client = TestClient[Any, Any]
NOW = 1_800_000_000.0
ADMIN_TOKEN = "cc_admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def now() -> list[float]:
    return [NOW]


@pytest.fixture
async def client(make_client: ClientFactory, now: list[float]) -> Client:
    """An admin acting with a bearer token; the cookie jar is free for the user under test."""
    client = await make_client(clock=lambda: now[0])
    admin = await add_user(client, "boss", Role.ADMIN)
    await client.app[ACCOUNTS_KEY].create_api_token(
        admin.id, "admin", token_hash(ADMIN_TOKEN), now=NOW
    )
    return client


async def send(client: Client, method: str, path: str, body: Any = None, **headers: str) -> Any:
    sent = {"Origin": origin(client), **headers}
    return await client.request(method, path, json=body, headers=sent)


async def actions(client: Client, action: str) -> list[tuple[str, str | None]]:
    entries = await client.app[AUDIT_KEY].recent(action=action)
    return [(entry.actor, entry.target) for entry in entries]


async def test_a_disabled_users_session_token_and_open_socket_stop_at_once(
    client: Client,
) -> None:
    await logged_in(client, "alice", Role.AGENT, extension="PJSIP/2001")
    made = await send(client, "POST", "/api/tokens", {"label": "crm sync"})
    assert made.status == 201, await made.text()
    alice_token = {"Authorization": f"Bearer {(await made.json())['token']}"}
    socket = await client.ws_connect("/ws/agent", headers={"Origin": origin(client)})
    assert (await socket.receive_json())["type"] == "hello"

    disabled = await send(client, "PATCH", "/api/users/alice", {"active": False}, **ADMIN)
    assert disabled.status == 200, await disabled.text()
    assert (await disabled.json())["user"]["active"] is False
    assert (await client.get("/api/me")).status == 401
    assert (await client.get("/api/me", headers=alice_token)).status == 401
    closing = await asyncio.wait_for(socket.receive(), 5)
    assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, CLOSE_UNAUTHENTICATED)
    assert (await login(client, "alice")).status == 401
    assert await actions(client, "user.disable") == [("boss", "alice")]

    enabled = await send(client, "PATCH", "/api/users/alice", {"active": True}, **ADMIN)
    assert enabled.status == 200
    assert (await client.get("/api/me")).status == 401  # the old cookie stays dead
    assert (await client.get("/api/me", headers=alice_token)).status == 200
    assert (await login(client, "alice")).status == 200


async def test_nobody_disables_themselves_and_input_is_checked(client: Client) -> None:
    own = await send(client, "PATCH", "/api/users/boss", {"active": False}, **ADMIN)
    assert own.status == 409
    assert (await own.json())["error"]["id"] == "conflict"
    for body, field in (({"active": "no"}, "active"), ({"active": False, "x": 1}, "x")):
        bad = await send(client, "PATCH", "/api/users/boss", body, **ADMIN)
        assert bad.status == 400
        assert (await bad.json())["error"]["details"]["field"] == field
    assert (
        await send(client, "PATCH", "/api/users/nobody", {"active": False}, **ADMIN)
    ).status == 404
    await logged_in(client, "alice", Role.AGENT)
    refused = await send(client, "PATCH", "/api/users/alice", {"active": True})
    assert refused.status == 403


async def test_changing_ones_password_ends_the_other_sessions(client: Client) -> None:
    await add_user(client, "alice", Role.SUPERVISOR)
    first = await login(client, "alice")
    other_cookie = first.cookies["callcenter_session"].value
    client.session.cookie_jar.clear()
    assert (await login(client, "alice")).status == 200
    wrong = await send(
        client, "POST", "/api/me/password", {"current_password": "nope", "new_password": "x" * 12}
    )
    assert wrong.status == 401
    short = await send(
        client, "POST", "/api/me/password", {"current_password": PASSWORD, "new_password": "x"}
    )
    assert (await short.json())["error"]["details"]["field"] == "new_password"
    changed = await send(
        client,
        "POST",
        "/api/me/password",
        {"current_password": PASSWORD, "new_password": "a new long password"},
    )
    assert changed.status == 204, await changed.text()
    assert (await client.get("/api/me")).status == 200  # this session stays
    async with aiohttp.ClientSession() as other:  # the first login's browser
        cookie = {"Cookie": f"callcenter_session={other_cookie}"}
        async with other.get(client.make_url("/api/me"), headers=cookie) as stale:
            assert stale.status == 401
    assert (await login(client, "alice")).status == 401
    assert (await login(client, "alice", "a new long password")).status == 200
    assert await actions(client, "user.password") == [("alice", "alice")]


async def test_an_admin_resets_a_password_and_every_session_ends(client: Client) -> None:
    await logged_in(client, "alice", Role.AGENT)
    reset = await send(
        client, "PUT", "/api/users/alice/password", {"password": "reset by boss 1"}, **ADMIN
    )
    assert reset.status == 204
    assert (await client.get("/api/me")).status == 401
    assert (await login(client, "alice", "reset by boss 1")).status == 200
    assert await actions(client, "user.password") == [("boss", "alice")]


async def test_tokens_expire_are_listed_without_secrets_and_revoke_at_once(
    client: Client, now: list[float]
) -> None:
    await logged_in(client, "alice", Role.AGENT)
    made = await send(client, "POST", "/api/tokens", {"label": "ci", "expires_in_days": 1})
    assert made.status == 201
    token = await made.json()
    bearer = {"Authorization": f"Bearer {token['token']}"}
    assert token["expires_at"] == "2027-01-16T08:00:00Z"
    assert (await client.get("/api/me", headers=bearer)).status == 200
    listed = await (await client.get("/api/tokens")).json()
    assert [t["label"] for t in listed["items"]] == ["ci"]
    assert "token" not in listed["items"][0] and "token_hash" not in listed["items"][0]
    now[0] += 86400
    assert (await client.get("/api/me", headers=bearer)).status == 401  # expired
    assert (await login(client, "alice")).status == 200  # the session expired too

    kept = await (await send(client, "POST", "/api/tokens", {"label": "kept"})).json()
    assert kept["expires_at"] is None
    bearer = {"Authorization": f"Bearer {kept['token']}"}
    others = await send(client, "DELETE", f"/api/tokens/{kept['id']}", **ADMIN)
    assert others.status == 200  # an admin revokes anybody's
    assert (await client.get("/api/me", headers=bearer)).status == 401
    assert await actions(client, "token.revoke") == [("boss", "alice")]
    admins = await (await client.get("/api/tokens", headers=ADMIN)).json()
    assert {t["user"] for t in admins["items"]} == {"alice", "boss"}
    boss_token = next(t for t in admins["items"] if t["user"] == "boss")
    theirs = await send(client, "DELETE", f"/api/tokens/{boss_token['id']}")
    assert theirs.status == 404  # an agent revokes only their own
    assert (await client.get("/api/me", headers=ADMIN)).status == 200
    for body, field in (
        ({"label": ""}, "label"),
        ({"label": "x", "expires_in_days": 0}, "expires_in_days"),
        ({"label": "x", "expires_in_days": True}, "expires_in_days"),
        ({"label": "x", "user": "boss"}, "user"),
    ):
        bad = await send(client, "POST", "/api/tokens", body)
        assert bad.status == 400, body
        assert (await bad.json())["error"]["details"]["field"] == field
