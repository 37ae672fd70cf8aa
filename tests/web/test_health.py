from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from callcenter.errors import StoreError
from callcenter.settings import Settings
from callcenter.web.keys import DATABASE_KEY

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
