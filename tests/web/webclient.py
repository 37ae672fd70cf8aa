"""Helpers for web tests: users, logging in, the client's own Origin."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from callcenter.store import Role, User
from callcenter.web.keys import ACCOUNTS_KEY, PASSWORDS_KEY

PASSWORD = "correct horse battery"


def origin(client: TestClient[Any, Any]) -> str:
    return str(client.make_url("/")).rstrip("/")


async def add_user(
    client: TestClient[Any, Any],
    name: str,
    role: Role,
    *,
    extension: str | None = None,
    password: str = PASSWORD,
) -> User:
    password_hash = await client.app[PASSWORDS_KEY].hash(password)
    return await client.app[ACCOUNTS_KEY].add_user(
        name, role, password_hash, extension=extension, now=1714550400.0
    )


async def login(
    client: TestClient[Any, Any], name: str, password: str = PASSWORD, **headers: str
) -> Any:
    sent = {"Origin": origin(client), **headers}
    return await client.post(
        "/api/login", json={"username": name, "password": password}, headers=sent
    )


async def logged_in(
    client: TestClient[Any, Any], name: str, role: Role, *, extension: str | None = None
) -> User:
    user = await add_user(client, name, role, extension=extension)
    response = await login(client, name)
    assert response.status == 200, await response.text()
    return user
