"""Screen pops, the agent panel and the wallboard's listen/whisper/barge on the real PBX.

- The ``ring`` pop reaches the ringing agent's ``/ws/agent`` while the desk phone still rings
  (it answers after 2 s): before the center's AgentConnect reaches a separate AMI listener
  and before the ``answered`` frame; a second agent's socket gets nothing.
- A hostile caller name sent over real SIP is shown as text by the agent panel in headless
  Chromium (Playwright's async API, so the server keeps running in this event loop).
- The wallboard's listen/whisper/barge buttons ring the supervisor's phone 2099 and ChanSpy
  runs on the agent's call (ChanSpyStart on the center); the spied call's row is unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from callcenter.store import Role
from tests.pbx.conftest import Server, ServerFactory
from tests.pbx.expect import assert_inbound_record
from tests.pbx.kit import Kit, Lab, start_scenario, wait_event
from tests.web.webclient import PASSWORD, add_user, login, origin

pytestmark = pytest.mark.pbx

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
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
HAVE_CHROMIUM = Path(CHROMIUM).exists()


async def session(srv: Server, name: str, role: Role, ext: str | None) -> TestClient[Any, Any]:
    """Another client of the same server, logged in as ``name`` (its own cookie jar)."""
    await add_user(srv.client, name, role, extension=ext)
    other: TestClient[Any, Any] = TestClient(srv.client.server)
    await other.start_server()
    response = await login(other, name)
    assert response.status == 200, await response.text()
    return other


class AgentSocket:
    """``/ws/agent`` of one logged-in agent; every frame with its arrival time."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.frames: list[tuple[float, dict[str, Any]]] = []
        self.ws: Any = None
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self.ws = await self.client.ws_connect("/ws/agent", headers={"Origin": origin(self.client)})
        hello = await self.ws.receive_json(timeout=5)
        assert hello["type"] == "hello", hello
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type is WSMsgType.TEXT:
                self.frames.append((time.monotonic(), message.json()))

    def first(self, kind: str) -> tuple[float, dict[str, Any]]:
        return next((t, f) for t, f in self.frames if f["type"] == kind)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.ws.close()
        await self.client.close()


async def test_the_pop_reaches_the_ringing_agent_before_answer_and_only_them(
    pbx_kit: Kit, lab: Lab, server: ServerFactory
) -> None:
    srv = await server()
    ringing = AgentSocket(await session(srv, "ag2001", Role.AGENT, "PJSIP/2001"))
    other = AgentSocket(await session(srv, "ag2002", Role.AGENT, "PJSIP/2002"))
    await ringing.open()
    await other.open()
    try:
        with lab.center.listen() as events:
            scenario = await start_scenario(
                pbx_kit, "inbound", "--from", "+493055501234", "--name", "Jürgen Müller",
                "--agent", "2001", "--ring", "2", "--talk", "1",
            )  # fmt: skip
            await wait_event(events, lambda e: e.get("Event") == "AgentConnect", within=30)
            connected_at = time.monotonic()
        [truth] = await scenario.result()
        row = await srv.record(truth["linkedid"])
        assert_inbound_record(row, truth, pbx_kit.recordings)
        assert srv.submissions() == {truth["linkedid"]: 1}

        async with asyncio.timeout(5):
            while not any(f["type"] == "ended" for _, f in ringing.frames):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        rang_at, ring = ringing.first("ring")
        answered_at, answered = ringing.first("answered")
        assert ring["call_id"] == truth["linkedid"]
        assert (ring["caller_number"], ring["caller_name"]) == ("+493055501234", "Jürgen Müller")
        assert ring["queue"] == truth["queue"]
        assert answered == {"type": "answered", "call_id": ring["call_id"], "agent": "PJSIP/2001"}
        # The phone rang 2 s: the pop came well before the answer, not just before it.
        assert rang_at < connected_at - 1.0, connected_at - rang_at
        assert rang_at < answered_at
        await asyncio.sleep(0.3)
        assert other.frames == []  # 2002 was not rung: no pop, no answered, no ended
    finally:
        await ringing.close()
        await other.close()


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    if not HAVE_CHROMIUM:
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    playwright_async = pytest.importorskip("playwright.async_api")
    async with playwright_async.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context()
            context.set_default_timeout(15000)
            yield context
        finally:
            await browser.close()


class Page:
    """A page with the dialogs it opened (dismissed) and its script errors."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    async def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    async def login(self, base: str, path: str, username: str) -> None:
        page = self.page
        await page.goto(f"{base}{path}")
        await page.wait_for_url("**/login?next=*")
        await page.fill("#username", username)
        await page.fill("#password", PASSWORD)
        await page.click("#login-form button[type=submit]")
        await page.wait_for_url(f"**{path}*")
        await page.wait_for_selector("#live[data-state=live]")


async def test_a_hostile_caller_name_pops_as_text_in_chromium(
    pbx_kit: Kit, lab: Lab, server: ServerFactory
) -> None:
    srv = await server()
    await add_user(srv.client, "ag2003", Role.AGENT, extension="PJSIP/2003")
    base = origin(srv.client)
    async with chromium() as context:
        panel = Page(await context.new_page())
        await panel.login(base, "/agent", "ag2003")
        scenario = await start_scenario(
            pbx_kit, "inbound", "--from", "+4930666000777", "--name", HOSTILE_NAME,
            "--agent", "2003", "--ring", "2", "--talk", "1",
        )  # fmt: skip
        page = panel.page
        await page.wait_for_selector("#call-ringing:not([hidden])", timeout=30000)
        assert await page.text_content("#ring-name") == HOSTILE_NAME
        await page.wait_for_selector("#card-name")
        assert await page.text_content("#card-name") == HOSTILE_NAME
        await page.wait_for_selector("#call-active:not([hidden])", timeout=15000)
        assert await page.locator("img").count() == 0
        [truth] = await scenario.result()
        await page.wait_for_selector("#wrapup-form:not([hidden])", timeout=15000)
        assert await page.locator("img").count() == 0
        assert panel.dialogs == []
        assert panel.errors == []
    row = await srv.record(truth["linkedid"])
    assert row["caller_name"] == HOSTILE_NAME
    assert_inbound_record(row, truth, pbx_kit.recordings)


SUPERVISOR = "2099"
SPIED = "2005"
#: ChanSpy's options per mode (q quiet, S stop when the call ends, w whisper, B barge).
SPY_OPTIONS = {"listen": "qS", "whisper": "qwS", "barge": "qBS"}


async def test_listen_whisper_barge_from_the_wallboard(
    pbx_kit: Kit, lab: Lab, server: ServerFactory
) -> None:
    srv = await server()
    await add_user(srv.client, "boss", Role.SUPERVISOR, extension=f"PJSIP/{SUPERVISOR}")
    await lab.phone(SUPERVISOR, "answer", 0.5)
    base = origin(srv.client)
    row_selector = f"#agents tr[data-interface='PJSIP/{SPIED}']"
    async with chromium() as context:
        board = Page(await context.new_page())
        await board.login(base, "/wallboard", "boss")
        page = board.page
        with lab.center.listen() as events:
            scenario = await start_scenario(
                pbx_kit, "inbound", "--agent", SPIED, "--from", "+4930999777",
                "--name", "Spied On", "--ring", "1", "--talk", "12",
            )  # fmt: skip
            await wait_event(events, lambda e: e.get("Event") == "AgentConnect", within=30)
            await page.wait_for_selector(row_selector)
            for mode in ("listen", "whisper", "barge"):
                await page.click(f"{row_selector} button.{mode}")
                start = await wait_event(events, lambda e: e.get("Event") == "ChanSpyStart")
                assert start["SpyerChannel"].startswith(f"PJSIP/{SUPERVISOR}-"), start
                assert start["SpyeeChannel"].startswith(f"PJSIP/{SPIED}-"), start
                await page.wait_for_selector(f"#notice:has-text('pick up to {mode}')")
                spyer = start["SpyerChannel"]
                data = await lab.center.send("Getvar", Channel=spyer, Variable="CHANNEL(appdata)")
                assert data.get("Value", "").endswith(f",{SPY_OPTIONS[mode]}"), data
                await asyncio.sleep(0.5)
                await lab.center.send("Hangup", Channel=spyer)
                await wait_event(
                    events,
                    lambda e, s=spyer: e.get("Event") == "Hangup" and e.get("Channel") == s,
                )
        assert board.errors == []
    [truth] = await scenario.result()
    row = await srv.record(truth["linkedid"])
    assert_inbound_record(row, truth, pbx_kit.recordings)
    assert srv.submissions()[truth["linkedid"]] == 1
    assert [r["call_id"] for r in await srv.calls()] == [truth["linkedid"]]
