from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from callcenter.crm.phones import PhoneNormalizer
from callcenter.store import Customers, Database
from callcenter.store.campaigns import Campaigns
from tests.web.conftest import (  # noqa: F401  (the web fixtures)
    client,
    fake_pbx,
    make_client,
    pbx_client,
)

START = 1772445600.0  # 2026-03-02 10:00:00 UTC, a Monday


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def eventually(predicate: Callable[[], bool], timeout_s: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "cc.db")
    yield database
    await database.close()


@pytest.fixture
def customers(db: Database, clock: Clock) -> Customers:
    return Customers(db, PhoneNormalizer("DE"), clock=clock)


@pytest.fixture
def store(db: Database, clock: Clock) -> Campaigns:
    return Campaigns(db, clock=clock)
