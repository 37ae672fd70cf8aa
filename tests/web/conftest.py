"""Web fixtures: an app built by create_app on a tmp database, users, and logging in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from callcenter.app import create_app
from callcenter.settings import Settings

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def make_client(aiohttp_client: Any, settings: Settings, cheap_passwords: Any) -> ClientFactory:
    """``await make_client(settings=..., **create_app_overrides)``."""

    async def build(settings: Settings = settings, **overrides: Any) -> TestClient[Any, Any]:
        overrides.setdefault("passwords", cheap_passwords)
        client: TestClient[Any, Any] = await aiohttp_client(create_app(settings, **overrides))
        return client

    return build


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient[Any, Any]:
    return await make_client()
