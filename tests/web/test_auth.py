from __future__ import annotations

import dataclasses
import sqlite3
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from argon2 import PasswordHasher

from callcenter.app import create_app
from callcenter.settings import Settings
from callcenter.store import Role, token_hash
from callcenter.web.auth import ANY_USER, LoginLimiter, Passwords, origin_allowed
from callcenter.web.errors import RateLimited
from callcenter.web.keys import ACCOUNTS_KEY, AUDIT_KEY, ROUTE_ACCESS_KEY
from callcenter.web.routes import ROUTES
from tests.web.webclient import PASSWORD, add_user, logged_in, login, origin

NOW = 1714550400.0


def set_cookie(response: Any) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        cookie.load(header)
    return cookie


# --- login / logout ------------------------------------------------------------------------


async def test_login_sets_a_hardened_session_cookie(client: Any, db_path: Path) -> None:
    user = await add_user(client, "Alice", Role.SUPERVISOR)
    response = await login(client, "ALICE")
    assert response.status == 200
    assert await response.json() == {"user": user.to_dict()}
    morsel = set_cookie(response)["callcenter_session"]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["path"] == "/"
    assert not morsel["secure"]
    assert int(morsel["max-age"]) == 12 * 3600
    token = morsel.value
    assert len(token) >= 40
    with sqlite3.connect(db_path) as raw:
        stored = [r[0] for r in raw.execute("SELECT token_hash FROM sessions")]
    assert stored == [token_hash(token)]  # only the hash is kept

    me = await client.get("/api/me")
    assert await me.json() == {"user": user.to_dict(), "via": "session"}


async def test_secure_cookie_setting(make_client: Any, settings: Settings) -> None:
    secure = dataclasses.replace(
        settings, http=dataclasses.replace(settings.http, secure_cookies=True)
    )
    client = await make_client(settings=secure)
    await add_user(client, "alice", Role.ADMIN)
    response = await login(client, "alice")
    morsel = set_cookie(response)["__Host-callcenter_session"]
    assert morsel["secure"] is True
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"


@pytest.mark.parametrize(("name", "password"), [("alice", "wrong password"), ("nobody", PASSWORD)])
async def test_bad_credentials_are_401_and_audited(client: Any, name: str, password: str) -> None:
    await add_user(client, "alice", Role.ADMIN)
    response = await login(client, name, password)
    assert response.status == 401
    body = await response.json()
    assert body["error"]["id"] == "invalid_credentials"
    assert "callcenter_session" not in set_cookie(response)
    entries = await client.app[AUDIT_KEY].recent(action="login.failed")
    assert [(e.actor, e.target) for e in entries] == [("anonymous", name)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "a"}, "password"),
        ({"password": "x"}, "username"),
        ({"username": 5, "password": "x"}, "username"),
        ({"username": "", "password": "x"}, "username"),
        ([1, 2], "body"),
    ],
)
async def test_login_validates_the_body(client: Any, body: Any, field: str) -> None:
    response = await client.post("/api/login", json=body, headers={"Origin": origin(client)})
    assert response.status == 400
    assert (await response.json())["error"]["details"]["field"] == field


async def test_login_requires_json(client: Any) -> None:
    response = await client.post(
        "/api/login", data={"username": "a", "password": "b"}, headers={"Origin": origin(client)}
    )
    assert response.status == 400
    assert (await response.json())["error"]["details"]["field"] == "Content-Type"
    response = await client.post(
        "/api/login",
        data="{not json",
        headers={"Origin": origin(client), "Content-Type": "application/json"},
    )
    assert (await response.json())["error"]["details"]["field"] == "body"


async def test_logout_ends_the_session(client: Any) -> None:
    await logged_in(client, "alice", Role.AGENT, extension="PJSIP/2001")
    old_cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))
    response = await client.post("/api/logout", headers={"Origin": origin(client)})
    assert response.status == 204
    assert set_cookie(response)["callcenter_session"].value == ""
    assert (await client.get("/api/me")).status == 401
    # Replaying the old cookie does not work either: the session row is gone.
    client.session.cookie_jar.update_cookies(old_cookie)
    assert (await client.get("/api/me")).status == 401
    actions = [e.action for e in await client.app[AUDIT_KEY].recent(actor="alice")]
    assert actions == ["logout", "login"]


async def test_sessions_expire(make_client: Any) -> None:
    now = [NOW]
    client = await make_client(clock=lambda: now[0], session_ttl_s=60)
    await logged_in(client, "alice", Role.ADMIN)
    assert (await client.get("/api/me")).status == 200
    now[0] += 61
    assert (await client.get("/api/me")).status == 401


async def test_login_upgrades_an_outdated_hash(make_client: Any) -> None:
    weak = Passwords(PasswordHasher(time_cost=1, memory_cost=128, parallelism=1))
    stronger = Passwords(PasswordHasher(time_cost=2, memory_cost=256, parallelism=1))
    client = await make_client(passwords=stronger)
    old_hash = await weak.hash(PASSWORD)
    await client.app[ACCOUNTS_KEY].add_user("al", Role.ADMIN, old_hash, extension=None, now=NOW)
    assert (await login(client, "al")).status == 200
    found = await client.app[ACCOUNTS_KEY].credentials("al")
    assert found is not None
    assert found[1] != old_hash
    assert not stronger.needs_rehash(found[1])


# --- API tokens ----------------------------------------------------------------------------


async def make_token(client: Any, name: str, role: Role, token: str = "cc_secret-token") -> int:
    user = await add_user(client, name, role)
    token_id: int = await client.app[ACCOUNTS_KEY].create_api_token(
        user.id, "test", token_hash(token), now=NOW
    )
    return token_id


async def test_bearer_token_authenticates(client: Any) -> None:
    await make_token(client, "svc", Role.SUPERVISOR)
    response = await client.get("/api/me", headers={"Authorization": "Bearer cc_secret-token"})
    assert response.status == 200
    assert (await response.json())["via"] == "token"
    calls = await client.get("/api/calls", headers={"Authorization": "Bearer cc_secret-token"})
    assert calls.status == 200
    entries = await client.app[AUDIT_KEY].recent(action="calls.list")
    assert entries[0].actor == "svc"
    assert entries[0].details["via"] == "token"


@pytest.mark.parametrize("header", ["Bearer wrong", "Bearer ", "Basic c3ZjOnB3", "cc_secret-token"])
async def test_bad_authorization_is_401(client: Any, header: str) -> None:
    await make_token(client, "svc", Role.SUPERVISOR)
    response = await client.get("/api/me", headers={"Authorization": header})
    assert response.status == 401
    assert (await response.json())["error"]["id"] == "unauthenticated"


async def test_revoked_token_is_refused(client: Any) -> None:
    token_id = await make_token(client, "svc", Role.SUPERVISOR)
    await client.app[ACCOUNTS_KEY].revoke_api_token(token_id, now=NOW)
    response = await client.get("/api/me", headers={"Authorization": "Bearer cc_secret-token"})
    assert response.status == 401


async def test_bearer_requests_need_no_origin(client: Any) -> None:
    await make_token(client, "svc", Role.AGENT)
    response = await client.post("/api/logout", headers={"Authorization": "Bearer cc_secret-token"})
    assert response.status == 204


# --- roles ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"), [(Role.AGENT, 403), (Role.SUPERVISOR, 403), (Role.ADMIN, 200)]
)
async def test_admin_routes_check_the_role(client: Any, role: Role, status: int) -> None:
    await logged_in(client, "u", role, extension="PJSIP/2001")
    for path in ("/api/users", "/api/audit"):
        response = await client.get(path)
        assert response.status == status, path
        if status == 403:
            assert (await response.json())["error"]["id"] == "forbidden"


async def test_admin_lists_users_and_audit(client: Any) -> None:
    await add_user(client, "bob", Role.AGENT, extension="PJSIP/2002")
    await logged_in(client, "root", Role.ADMIN)
    users = (await (await client.get("/api/users")).json())["items"]
    assert [u["username"] for u in users] == ["bob", "root"]
    assert "password_hash" not in users[0]
    audit = (await (await client.get("/api/audit?action=login")).json())["items"]
    assert [(e["actor"], e["action"]) for e in audit] == [("root", "login")]
    bad = await client.get("/api/audit?limit=9999")
    assert (await bad.json())["error"]["details"]["field"] == "limit"


async def test_every_route_is_in_the_access_table(client: Any) -> None:
    table = client.app[ROUTE_ACCESS_KEY]
    registered = [r for r in client.app.router.routes() if r.method != "HEAD"]
    assert len(registered) == len(ROUTES)
    assert all(route in table for route in registered)
    public = [r for r in ROUTES if r.access.public]
    shells = ("callcenter.web.pages", "callcenter.web.crm_pages")
    pages = [r for r in public if r.handler.__module__ in shells]
    # Besides the page shells and their static files (no data in them), only these:
    assert sorted(r.path for r in public if r not in pages) == ["/api/login", "/health"]
    assert not any(r.path.startswith(("/api/", "/ws/")) for r in pages)


async def test_everything_else_requires_login(client: Any) -> None:
    for route in ROUTES:
        if route.access.public:
            continue
        response = await client.request(
            route.method, route.path, headers={"Origin": origin(client)}
        )
        assert response.status == 401, route.path


# --- CSRF ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Referer": "http://evil.example/page"},
    ],
)
async def test_cookie_posts_from_elsewhere_are_refused(
    client: Any, headers: dict[str, str]
) -> None:
    await logged_in(client, "alice", Role.ADMIN)
    response = await client.post("/api/logout", headers=headers)
    assert response.status == 403
    assert (await response.json())["error"]["id"] == "csrf_rejected"
    assert (await client.get("/api/me")).status == 200  # still logged in


async def test_same_origin_referer_is_accepted(client: Any) -> None:
    await logged_in(client, "alice", Role.ADMIN)
    response = await client.post("/api/logout", headers={"Referer": origin(client) + "/panel"})
    assert response.status == 204


async def test_login_csrf_is_refused(client: Any) -> None:
    await add_user(client, "alice", Role.ADMIN)
    response = await login(client, "alice", Origin="http://evil.example")
    assert response.status == 403
    assert (await response.json())["error"]["id"] == "csrf_rejected"


@pytest.mark.parametrize("authorization", ["Basic YWxpY2U6cHc=", "Bearer cc_whatever"])
async def test_login_checks_the_origin_even_with_an_authorization_header(
    client: Any, authorization: str
) -> None:
    await add_user(client, "alice", Role.ADMIN)
    response = await login(
        client, "alice", Origin="http://evil.example", Authorization=authorization
    )
    assert response.status == 403
    assert (await response.json())["error"]["id"] == "csrf_rejected"
    assert "callcenter_session" not in set_cookie(response)


@pytest.mark.parametrize(
    ("host", "origin_header", "referer", "ok"),
    [
        ("cc.example:8080", "http://cc.example:8080", None, True),
        ("cc.example", "https://cc.example", None, True),  # TLS ends at the proxy
        ("cc.example", "https://CC.example:443", None, True),
        ("cc.example", None, "https://cc.example/agent", True),
        ("cc.example", "https://cc.example.evil.com", None, False),
        ("cc.example:8080", "http://cc.example:8081", None, False),
        ("cc.example", "http://user@evil.example", None, False),
        ("cc.example", "ftp://cc.example", None, False),
        ("cc.example", "not a url", None, False),
        ("cc.example", None, None, False),
        (None, "http://cc.example", None, False),
    ],
)
def test_origin_allowed(
    host: str | None, origin_header: str | None, referer: str | None, ok: bool
) -> None:
    assert origin_allowed(host, origin_header, referer) is ok


# --- rate limiting -------------------------------------------------------------------------


async def test_login_attempts_are_rate_limited(make_client: Any) -> None:
    client = await make_client(login_limiter=LoginLimiter(per_user=3, window_s=60))
    await add_user(client, "alice", Role.ADMIN)
    for _ in range(3):
        assert (await login(client, "alice", "wrong password")).status == 401
    response = await login(client, "alice")  # even the right password now waits
    assert response.status == 429
    body = await response.json()
    assert body["error"]["id"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    assert body["error"]["details"]["retry_after_s"] == int(response.headers["Retry-After"])
    # Another username from the same address is not locked out by alice's failures.
    await add_user(client, "bob", Role.ADMIN)
    assert (await login(client, "bob")).status == 200


def test_limiter_window_and_success_reset() -> None:
    now = [0.0]
    limiter = LoginLimiter(per_user=2, per_address=3, window_s=10, clock=lambda: now[0])
    limiter.begin("a", "1.1.1.1")
    limiter.begin("a", "1.1.1.1")
    with pytest.raises(RateLimited) as info:
        limiter.begin("a", "1.1.1.1")
    assert info.value.retry_after_s == pytest.approx(10)
    limiter.begin("a", "2.2.2.2")  # per address+username
    now[0] = 10.0
    started = limiter.begin("a", "1.1.1.1")  # the window slid past the first attempts
    limiter.succeeded("a", "1.1.1.1", started)
    limiter.begin("a", "1.1.1.1")
    # The address-wide limit counts failures of all usernames (3 within the window).
    limiter.begin("b", "1.1.1.1")
    limiter.begin("c", "1.1.1.1")
    with pytest.raises(RateLimited):
        limiter.begin("d", "1.1.1.1")


def test_limiter_counts_only_failures_per_address() -> None:
    """Behind one proxy, a whole shift's correct logins must not lock the address out."""
    limiter = LoginLimiter(per_user=5, per_address=3, window_s=900, clock=lambda: 0.0)
    for n in range(50):
        started = limiter.begin(f"agent{n}", "10.0.0.1")
        limiter.succeeded(f"agent{n}", "10.0.0.1", started)
    limiter.begin("x", "10.0.0.1")
    limiter.begin("y", "10.0.0.1")
    limiter.begin("z", "10.0.0.1")
    with pytest.raises(RateLimited):
        limiter.begin("w", "10.0.0.1")


async def test_many_correct_logins_from_one_address_are_not_limited(make_client: Any) -> None:
    client = await make_client(login_limiter=LoginLimiter(per_user=3, per_address=5))
    await add_user(client, "alice", Role.AGENT)
    for _ in range(12):
        assert (await login(client, "alice")).status == 200
    for _ in range(3):
        assert (await login(client, "alice", "wrong password")).status == 401
    assert (await login(client, "alice")).status == 429  # the per-user limit stays


def test_limiter_memory_is_bounded() -> None:
    limiter = LoginLimiter(max_keys=10)
    for i in range(100):
        limiter.begin(f"user{i}", f"10.0.0.{i}")
    assert len(limiter._attempts) <= 10


async def test_passwords_verify_and_reject(cheap_passwords: Passwords) -> None:
    stored = await cheap_passwords.hash("s3cret-pass")
    assert stored.startswith("$argon2id$")
    assert await cheap_passwords.verify(stored, "s3cret-pass") is True
    assert await cheap_passwords.verify(stored, "wrong") is False
    assert await cheap_passwords.verify("not a hash", "wrong") is False
    await cheap_passwords.burn("anything")


async def test_same_origin_routes_check_origin_on_get(
    aiohttp_client: Any, settings: Settings, cheap_passwords: Passwords
) -> None:
    """The flag WebSocket routes will use: the handshake is a GET that carries cookies."""

    async def socket_stand_in(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = create_app(settings, passwords=cheap_passwords)
    route = app.router.add_get("/ws/test", socket_stand_in, allow_head=False)
    app[ROUTE_ACCESS_KEY][route] = ANY_USER.origin_checked()
    client = await aiohttp_client(app)
    await logged_in(client, "alice", Role.AGENT, extension="PJSIP/2001")
    evil = {"Origin": "http://evil.example"}
    assert (await client.get("/ws/test", headers=evil)).status == 403
    assert (await client.get("/ws/test", headers={"Origin": origin(client)})).status == 200
    assert (await client.get("/api/me", headers=evil)).status == 200  # plain GETs are not checked
