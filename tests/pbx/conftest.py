"""Fixtures for tests against the real Asterisk kit (``../shared/pbx``), marked ``pbx``.

- ``pbx_kit`` (session): the kit started once in a temporary directory with this repository's
  ``dialplans/`` on the call center's PBX, on a free port base; ``pbx stop`` when the session
  ends, also after failures. Without the kit every test using it is skipped with the reason.
- ``lab``: the traffic driver's own AMI sessions (center as ``lab``, world); it makes sure no
  call is left on either PBX before and after each test.
- ``server``: ``await server()`` builds our server with ``create_app`` pointed at the kit's
  AMI (the ``CALLCENTER_AMI_*`` environment from ``pbx.env``), serves it with
  ``aiohttp_client`` and logs a supervisor in. Calling it again with the same ``db_path``
  is a server restart on the same database.

Scenarios run with ``scenarios.py`` as asyncio subprocesses (``kit.run_scenario``), so the
server under test keeps running in the same event loop meanwhile.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from callcenter.app import create_app
from callcenter.model.records import CallRecord
from callcenter.settings import Settings, settings_from_mapping
from callcenter.store import Role
from callcenter.web.keys import ACCOUNTS_KEY, AMI_LINK_KEY, CALL_LOG_WRITER_KEY, PUMP_KEY
from tests.pbx.kit import Kit, Lab, kit_missing_reason, start_kit, stop_kit
from tests.web.webclient import add_user, login

_KIT_KEY = pytest.StashKey[Kit]()

#: Quick reconnects and dead-peer detection for tests; production defaults otherwise.
TEST_AMI_TIMING = {
    "CALLCENTER_AMI_RECONNECT_MIN_S": "0.1",
    "CALLCENTER_AMI_RECONNECT_MAX_S": "1",
    "CALLCENTER_AMI_PING_INTERVAL_S": "1",
    "CALLCENTER_AMI_PING_TIMEOUT_S": "2",
    "CALLCENTER_AMI_ACTION_TIMEOUT_S": "5",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "webrtc: browser phone media: only inside ../shared/pbx/netns-run"
    )


def shared_kit(request: pytest.FixtureRequest) -> Kit:
    """The session's one kit, started on first use (also from other test folders, e.g.
    ``tests/ami/test_ami_real_pbx.py``) and stopped when pytest finishes."""
    config = request.config
    kit = config.stash.get(_KIT_KEY, None)
    if kit is not None:
        return kit
    reason = kit_missing_reason()
    if reason:
        pytest.skip(reason)
    directory = request.getfixturevalue("tmp_path_factory").mktemp("pbx")
    config.add_cleanup(lambda: stop_kit(directory))
    try:
        kit = start_kit(directory)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    config.stash[_KIT_KEY] = kit
    return kit


@pytest.fixture(scope="session")
def pbx_kit(request: pytest.FixtureRequest) -> Kit:
    return shared_kit(request)


@pytest.fixture
def pbx_env(pbx_kit: Kit) -> dict[str, str]:
    return pbx_kit.env


@pytest.fixture
async def lab(pbx_kit: Kit) -> AsyncIterator[Lab]:
    lab = Lab(pbx_kit)
    await lab.open()
    await lab.quiet()
    try:
        yield lab
    finally:
        if lab.center.closed.is_set():  # the test restarted the center
            await lab.reopen_center()
        await lab.quiet()
        await lab.close()


def kit_environ(kit: Kit, **overrides: str) -> dict[str, str]:
    """``CALLCENTER_*`` variables as an operator would set them from ``pbx.env``."""
    env = kit.env
    environ = {
        "CALLCENTER_AMI_HOST": env["PBX_AMI_HOST"],
        "CALLCENTER_AMI_PORT": env["PBX_AMI_PORT"],
        "CALLCENTER_AMI_USERNAME": env["PBX_AMI_USERNAME"],
        "CALLCENTER_AMI_SECRET": env["PBX_AMI_SECRET"],
        **TEST_AMI_TIMING,
    }
    environ.update(overrides)
    return environ


@dataclass
class Server:
    """One running server under test, seen the way a supervisor sees it (HTTP), plus what the
    pump handed to the call-log writer (to prove "exactly once" before the database's
    primary key could hide a duplicate)."""

    client: TestClient[Any, Any]
    submitted: list[CallRecord] = field(default_factory=list)

    @property
    def app(self) -> Any:
        return self.client.app

    @property
    def link(self) -> Any:
        return self.app[AMI_LINK_KEY]

    @property
    def tracker(self) -> Any:
        return self.app[PUMP_KEY].tracker

    async def health(self) -> dict[str, Any]:
        response = await self.client.get("/health")
        body: dict[str, Any] = await response.json()
        return body

    async def calls(self) -> list[dict[str, Any]]:
        response = await self.client.get("/api/calls", params={"limit": "500"})
        assert response.status == 200, await response.text()
        items: list[dict[str, Any]] = (await response.json())["items"]
        return items

    async def wait_until(
        self, probe: Callable[[], Awaitable[bool]], within: float = 15, what: str = ""
    ) -> None:
        try:
            async with asyncio.timeout(within):
                while not await probe():  # noqa: ASYNC110 - polling the HTTP API
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"timed out after {within} s waiting for {what}") from None

    async def link_up(self, reconnects: int = 0, within: float = 30) -> None:
        async def up() -> bool:
            ami = (await self.health())["ami"]
            return ami["state"] == "up" and ami["reconnects"] >= reconnects

        await self.wait_until(up, within, "the AMI link to be up")
        await asyncio.sleep(0.2)  # the resync answers come right after the login

    async def record(self, call_id: str, within: float = 15) -> dict[str, Any]:
        """The call-log row of ``call_id`` once it is written."""

        async def logged() -> bool:
            return any(c["call_id"] == call_id for c in await self.calls())

        await self.wait_until(logged, within, f"call {call_id} in the call log")
        [row] = [c for c in await self.calls() if c["call_id"] == call_id]
        return row

    async def records(self, count: int, within: float = 15) -> list[dict[str, Any]]:
        async def enough() -> bool:
            return len(await self.calls()) >= count

        await self.wait_until(enough, within, f"{count} calls in the call log")
        await asyncio.sleep(0.5)  # a duplicate or a stray call would show up by now
        return await self.calls()

    def submissions(self) -> Counter[str]:
        return Counter(r.call_id for r in self.submitted)


ServerFactory = Callable[..., Awaitable[Server]]


@pytest.fixture
def settings_for(pbx_kit: Kit, tmp_path: Path) -> Callable[..., Settings]:
    def build(db_path: Path | None = None, **environ: str) -> Settings:
        raw = {"db": {"path": str(db_path or tmp_path / "callcenter.db")}}
        return settings_from_mapping(raw, kit_environ(pbx_kit, **environ))

    return build


@pytest.fixture
def server(
    aiohttp_client: Any,
    cheap_passwords: Any,
    settings_for: Callable[..., Settings],
) -> ServerFactory:
    """``await server(db_path=None, submitted=None, wait_up=True, **CALLCENTER_env)``."""

    async def start(
        db_path: Path | None = None,
        submitted: list[CallRecord] | None = None,
        wait_up: bool = True,
        **environ: str,
    ) -> Server:
        app = create_app(settings_for(db_path, **environ), passwords=cheap_passwords)
        client: TestClient[Any, Any] = await aiohttp_client(app)
        running = Server(client, submitted if submitted is not None else [])
        writer = app[CALL_LOG_WRITER_KEY]
        submit = writer.submit

        def counted(record: CallRecord) -> None:
            running.submitted.append(record)
            submit(record)

        writer.submit = counted
        if await app[ACCOUNTS_KEY].credentials("sup") is None:  # a fresh database
            await add_user(client, "sup", Role.SUPERVISOR)
        response = await login(client, "sup")
        assert response.status == 200, await response.text()
        if wait_up:
            await running.link_up()
        return running

    return start
