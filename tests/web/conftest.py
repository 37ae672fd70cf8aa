"""Web fixtures: an app built by create_app on a tmp database, users, and logging in; our
fake AMI server and an app whose AMI link logs in to it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from callcenter.app import create_app
from callcenter.demo.fake_pbx import FakeAmiServer
from callcenter.settings import Settings

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]

PBX_SECRET = "s3cret"


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


@pytest.fixture
async def fake_pbx() -> AsyncIterator[FakeAmiServer]:
    """Our fake AMI server on a free port; it takes the login callcenter / ``PBX_SECRET``."""
    server = FakeAmiServer(username="callcenter", secret=PBX_SECRET)
    await server.start()
    yield server
    await server.stop()


def on_fake_pbx(settings: Settings, pbx: FakeAmiServer, **ami: Any) -> Settings:
    """``settings`` with the AMI link pointed at ``pbx`` (``ami``: other AMI settings)."""
    changes: dict[str, Any] = {"port": pbx.port, "secret": PBX_SECRET, **ami}
    return dataclasses.replace(settings, ami=dataclasses.replace(settings.ami, **changes))


@pytest.fixture
async def pbx_client(
    make_client: ClientFactory, settings: Settings, fake_pbx: FakeAmiServer
) -> TestClient[Any, Any]:
    """The app with its AMI link pointed at ``fake_pbx`` (not waited for: it logs in on its own)."""
    return await make_client(settings=on_fake_pbx(settings, fake_pbx))
