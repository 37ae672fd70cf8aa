from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from callcenter.errors import StoreError, StoreUnavailable
from callcenter.settings import Settings
from callcenter.store import Role
from callcenter.web.keys import DATABASE_KEY
from tests.web.webclient import add_user, login

AMI_KEYS = {"enabled", "state", "connected", "authenticated", "last_error", "since", "reconnects"}


@dataclass(frozen=True)
class FakeLinkStatus:
    connected: bool
    authenticated: bool
    last_error: str | None
    since: float | datetime | None
    reconnects: int


async def test_health_while_the_pbx_is_unreachable(client: Any) -> None:
    response = await client.get("/health")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "degraded"
    assert body["db"] == "ok"
    assert set(body["ami"]) == AMI_KEYS
    assert body["ami"]["state"] == "down"
    assert body["ami"]["connected"] is False
    assert body["ami"]["authenticated"] is False
    error = body["ami"]["last_error"]
    assert error is None or "cannot connect" in error  # None until the first attempt ends
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_health_with_the_link_up(make_client: Any) -> None:
    status = FakeLinkStatus(True, True, None, 1714550400.0, 2)
    client = await make_client(link_status=lambda: status)
    body = await (await client.get("/health")).json()
    assert body == {
        "status": "ok",
        "db": "ok",
        "db_write": "ok",
        "ami": {
            "enabled": True,
            "state": "up",
            "connected": True,
            "authenticated": True,
            "last_error": None,
            "since": "2024-05-01T08:00:00Z",
            "reconnects": 2,
        },
    }


@pytest.mark.parametrize(
    ("status", "state"),
    [
        (FakeLinkStatus(True, False, "Authentication failed", None, 0), "connected"),
        (
            FakeLinkStatus(
                False, False, "connection refused", datetime(2024, 5, 1, 8, tzinfo=UTC), 7
            ),
            "down",
        ),
    ],
)
async def test_health_degraded_link(make_client: Any, status: FakeLinkStatus, state: str) -> None:
    client = await make_client(link_status=lambda: status)
    body = await (await client.get("/health")).json()
    assert body["status"] == "degraded"
    assert body["ami"]["state"] == state
    assert body["ami"]["last_error"] == status.last_error
    if status.since is not None:
        assert body["ami"]["since"] == "2024-05-01T08:00:00Z"


async def test_health_with_ami_disabled(make_client: Any, settings: Settings) -> None:
    disabled = dataclasses.replace(settings, ami=dataclasses.replace(settings.ami, enabled=False))
    client = await make_client(settings=disabled)
    body = await (await client.get("/health")).json()
    assert body["status"] == "ok"
    assert body["ami"]["enabled"] is False
    assert body["ami"]["state"] == "disabled"
    assert "disabled" in body["ami"]["last_error"]


async def test_health_reports_a_failing_database(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken() -> None:
        raise StoreError("disk I/O error")

    monkeypatch.setattr(client.app[DATABASE_KEY], "ping", broken)
    body = await (await client.get("/health")).json()
    assert body["db"] == "error"
    assert body["status"] == "degraded"


async def test_a_full_database_is_a_503_with_a_clear_message_and_health_says_so(
    client: Any,
) -> None:
    """A real SQLITE_FULL: the database may not grow beyond the pages it has (``PRAGMA
    max_page_count``, what a full disk does to SQLite), and those pages are filled."""
    await add_user(client, "alice", Role.AGENT)
    assert (await login(client, "alice")).status == 200
    db = client.app[DATABASE_KEY]
    async with db.transaction() as conn:
        [(pages,)] = await conn.execute_fetchall("PRAGMA page_count")
        await conn.execute(f"PRAGMA max_page_count = {pages}")
    for size in (2000, 200, 10):  # fill the last pages down to the last few bytes
        with pytest.raises(StoreUnavailable):
            for _ in range(10_000):
                async with db.transaction() as conn:
                    await conn.execute(
                        "INSERT INTO audit_log (at, actor, action, target, details)"
                        " VALUES ('2024-01-01T00:00:00Z', 'x', 'fill', NULL, ?)",
                        ("x" * size,),
                    )
    client.session.cookie_jar.clear()
    response = await login(client, "alice")
    assert response.status == 503
    error = (await response.json())["error"]
    assert error["id"] == "storage_unavailable"
    assert "the disk is full" in error["message"]
    assert response.headers["Retry-After"] == "30"
    health = await (await client.get("/health")).json()
    assert health["status"] == "degraded"
    assert health["db"] == "ok"
    assert health["db_write"].startswith("error: the disk is full")

    async with db.transaction() as conn:  # space again (an admin freed the disk)
        await conn.execute("PRAGMA max_page_count = 1073741823")
    assert (await login(client, "alice")).status == 200
    assert (await (await client.get("/health")).json())["db_write"] == "ok"
