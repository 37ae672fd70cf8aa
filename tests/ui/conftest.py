"""Browser tests: the agent panel in real headless Chromium (Debian's ``chromium``, driven by
Playwright for Python with ``executable_path``; Playwright's own browser downloads are never
used).

One server for the UI tests, run in a thread with its own event loop (Playwright's sync API
drives the browser from the test thread): the real app from ``create_app`` on a temporary
database, its AMI link logged in to the fake PBX, agents ``agent1``… on ``PJSIP/2001``… in
queue ``support``. One browser for all of them; every test gets a fresh browser context (no
cookies) and its own agent, so tests never see each other's calls. Both are package-scoped:
Playwright's sync API must be gone before the asyncio tests of other folders run.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
from aiohttp import web
from argon2 import PasswordHasher

from callcenter.app import create_app
from callcenter.crm.customers import parse_customer
from callcenter.demo.fake_pbx import FakeAmiServer
from callcenter.settings import settings_from_mapping
from callcenter.store import Role
from callcenter.web.auth import Passwords
from callcenter.web.keys import ACCOUNTS_KEY, CUSTOMERS_KEY, PASSWORDS_KEY, PHONES_KEY
from tests.web.agent_calls import PbxScript

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "ui-test-password"
AGENTS = 16
SECRET = "ui-secret"
T = TypeVar("T")

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


class LiveServer:
    """The app and the fake PBX on a private event loop in a thread."""

    def __init__(self, db_path: Path) -> None:
        self._db_path = db_path
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="ui-server")
        self.pbx = FakeAmiServer(username="callcenter", secret=SECRET)
        self.script = PbxScript(self.pbx)
        self.app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def call(self, fn: Callable[[], T]) -> T:
        """Run a plain function on the server's loop (the fake PBX is not thread-safe)."""

        async def wrapper() -> T:
            return fn()

        return self.run(wrapper())

    def start(self) -> None:
        self._thread.start()
        self.run(self._start())

    async def _start(self) -> None:
        await self.pbx.start()
        settings = settings_from_mapping(
            {
                "db": {"path": str(self._db_path)},
                "ami": {
                    "port": self.pbx.port,
                    "secret": SECRET,
                    "reconnect_min_s": 0.05,
                    "reconnect_max_s": 0.5,
                },
            },
            {},
        )
        cheap = Passwords(PasswordHasher(time_cost=1, memory_cost=256, parallelism=1))
        self.app = create_app(settings, passwords=cheap)
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        await self.pbx.wait_for(lambda: self.pbx.clients > 0)
        password_hash = await self.app[PASSWORDS_KEY].hash(PASSWORD)
        for n in range(1, AGENTS + 1):
            ext = f"20{n:02d}"
            await self.app[ACCOUNTS_KEY].add_user(
                f"agent{n}", Role.AGENT, password_hash, extension=f"PJSIP/{ext}", now=0.0
            )
            self.script.add_agent(ext)

    def add_account(self, username: str, role: Role, extension: str | None) -> str:
        """A user with the tests' password (from the test thread); returns ``username``."""

        async def add() -> None:
            assert self.app is not None
            password_hash = await self.app[PASSWORDS_KEY].hash(PASSWORD)
            await self.app[ACCOUNTS_KEY].add_user(
                username, role, password_hash, extension=extension, now=0.0
            )

        self.run(add())
        return username

    async def create_customer(self, data: dict[str, Any]) -> dict[str, Any]:
        assert self.app is not None
        parsed = parse_customer(data, self.app[PHONES_KEY])
        customer: dict[str, Any] = await self.app[CUSTOMERS_KEY].create(parsed)
        return customer

    def stop(self) -> None:
        try:
            if self._runner is not None:
                self.run(self._runner.cleanup())
            self.run(self.pbx.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


@pytest.fixture(scope="package")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("ui") / "callcenter.db")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


_agents = itertools.count(1)


@pytest.fixture
def agent_number() -> int:
    """A different agent (1…AGENTS) for every test."""
    number = next(_agents)
    assert number <= AGENTS, "raise AGENTS in tests/ui/conftest.py"
    return number


class Panel:
    """A logged-in agent's page, with what it saw."""

    def __init__(self, page: Any, live: LiveServer, number: int) -> None:
        self.page = page
        self.live = live
        self.username = f"agent{number}"
        self.ext = f"20{number:02d}"
        self.interface = f"PJSIP/{self.ext}"
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def login(self) -> None:
        page = self.page
        page.goto(f"{self.live.url}/agent")
        page.wait_for_url("**/login?next=*")
        page.fill("#username", self.username)
        page.fill("#password", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url("**/agent")
        page.wait_for_selector("#live[data-state=live]")
        page.wait_for_selector("#my-state[data-state=ready]")


class SeesErrors(Protocol):
    errors: list[str]


U = TypeVar("U", bound=SeesErrors)


@contextmanager
def browser_user(browser: Any, user: Callable[[Any], U]) -> Iterator[U]:
    """``user(page)`` on a page of its own browser context (no cookies), closed afterwards;
    the page must have thrown no script errors."""
    context = browser.new_context()
    context.set_default_timeout(8000)
    try:
        who = user(context.new_page())
        yield who
        assert who.errors == []
    finally:
        context.close()


@pytest.fixture
def panel(browser: Any, live: LiveServer, agent_number: int) -> Iterator[Panel]:
    with browser_user(browser, lambda page: Panel(page, live, agent_number)) as agent:
        yield agent
        assert agent.dialogs == []
