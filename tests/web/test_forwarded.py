"""HTTPS behind a TLS-terminating proxy (#13 item 18): X-Forwarded-Proto and -For are believed
from the trusted proxies only; then the session cookie is Secure and __Host-, answers carry
HSTS, and the login limit and the audit log see the client's address."""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp
import pytest

from callcenter.errors import ConfigError
from callcenter.settings import Settings, settings_from_mapping
from callcenter.store import Role
from callcenter.web.keys import AUDIT_KEY
from tests.web.conftest import ClientFactory
from tests.web.webclient import add_user, login

HTTPS = {"X-Forwarded-Proto": "https"}


def behind(settings: Settings, **http: Any) -> Settings:
    return dataclasses.replace(settings, http=dataclasses.replace(settings.http, **http))


async def test_forwarded_headers_from_anybody_are_ignored(
    make_client: ClientFactory, settings: Settings
) -> None:
    client = await make_client(settings=settings)
    await add_user(client, "alice", Role.AGENT)
    response = await login(client, "alice", **HTTPS)
    assert response.status == 200
    assert "callcenter_session" in response.cookies
    assert not response.cookies["callcenter_session"]["secure"]
    assert "Strict-Transport-Security" not in response.headers


async def test_https_from_a_trusted_proxy_makes_the_cookie_secure_and_sends_hsts(
    make_client: ClientFactory, settings: Settings
) -> None:
    client = await make_client(settings=behind(settings, trusted_proxies=("127.0.0.0/8",)))
    await add_user(client, "alice", Role.AGENT)
    response = await login(client, "alice", **HTTPS)
    assert response.status == 200
    cookie = response.cookies["__Host-callcenter_session"]
    assert cookie["secure"] and cookie["httponly"] and cookie["path"] == "/"
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    async with aiohttp.ClientSession() as browser:
        sent = {"Cookie": f"__Host-callcenter_session={cookie.value}", **HTTPS}
        async with browser.get(client.make_url("/api/me"), headers=sent) as me:
            assert me.status == 200
            assert me.headers["Strict-Transport-Security"] == "max-age=31536000"
    plain = await client.get("/health")  # the proxy's plain-HTTP health check
    assert "Strict-Transport-Security" not in plain.headers


async def test_secure_cookies_on_means_https_always(
    make_client: ClientFactory, settings: Settings
) -> None:
    client = await make_client(settings=behind(settings, secure_cookies=True, hsts_max_age_s=600))
    assert (await client.get("/health")).headers["Strict-Transport-Security"] == "max-age=600"


async def test_the_client_address_comes_from_the_trusted_proxy(
    make_client: ClientFactory, settings: Settings
) -> None:
    client = await make_client(settings=behind(settings, trusted_proxies=("127.0.0.1",)))
    await add_user(client, "alice", Role.AGENT)
    attacker = {"X-Forwarded-For": "1.2.3.4, 203.0.113.9"}  # the proxy appended .9
    for _ in range(5):
        assert (await login(client, "alice", "wrong", **attacker)).status == 401
    assert (await login(client, "alice", "wrong", **attacker)).status == 429
    colleague = {"X-Forwarded-For": "198.51.100.7"}
    assert (await login(client, "alice", **colleague)).status == 200
    entries = await client.app[AUDIT_KEY].recent(action="login")
    assert entries[0].details["address"] == "198.51.100.7"
    failed = await client.app[AUDIT_KEY].recent(action="login.failed")
    assert {e.details["address"] for e in failed} == {"203.0.113.9"}


def test_trusted_proxies_must_be_addresses() -> None:
    with pytest.raises(ConfigError, match=r"http\.trusted_proxies"):
        settings_from_mapping({"http": {"trusted_proxies": ["proxy.example"]}}, {})
    parsed = settings_from_mapping({}, {"CALLCENTER_HTTP_TRUSTED_PROXIES": "10.0.0.0/24, ::1"})
    assert parsed.http.trusted_proxies == ("10.0.0.0/24", "::1")
