"""The supervisors' wallboard and reports in headless Chromium against the real server and
the fake PBX (calls played by ``PbxScript`` event by event as Asterisk 22 emits them in the
``sip_inbound_answered`` / ``sip_inbound_abandoned`` captures).

Every test uses its own queue and agent phones (``PJSIP/21xx``), so the counters it checks
start at zero whatever ran before on the shared server.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from callcenter.demo.traffic import HOSTILE_NAME
from callcenter.store import Role
from callcenter.web.keys import HUB_KEY
from tests.ui.conftest import PASSWORD, LiveServer, Panel, browser_user
from tests.ui.test_agent_panel import last_action, wait_until
from tests.web.agent_calls import Call, prefixed

SUPERVISOR_PHONE = "PJSIP/2901"
_phones = itertools.count(2101)


class Supervisor:
    """A logged-in supervisor's page, with what it saw."""

    username = "sup1"

    def __init__(self, page: Any, live: LiveServer) -> None:
        self.page = page
        self.live = live
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.accept()

    def login(self, path: str = "/wallboard") -> None:
        page = self.page
        page.goto(f"{self.live.url}{path}")
        page.wait_for_url("**/login?next=*")
        page.fill("#username", self.username)
        page.fill("#password", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url(f"**{path}*")
        page.wait_for_selector("html[data-ready=true]")


@pytest.fixture(scope="module")
def supervisor_account(live: LiveServer) -> str:
    return live.add_account(Supervisor.username, Role.SUPERVISOR, SUPERVISOR_PHONE)


@pytest.fixture
def supervisor(browser: Any, live: LiveServer, supervisor_account: str) -> Iterator[Supervisor]:
    with browser_user(browser, lambda page: Supervisor(page, live)) as sup:
        yield sup


def new_agent(live: LiveServer, queue: str) -> str:
    """A phone logged in to ``queue`` (a queue of its own: fresh counters)."""
    ext = str(next(_phones))
    live.call(lambda: live.script.add_agent(ext, queue=queue))
    return ext


def answer(live: LiveServer, call: Call) -> None:
    """Answer as in ``inbound_answered``: QueueCallerLeave, then AgentConnect and the bridge
    (``PbxScript.answer`` leaves out the QueueCallerLeave the wallboard needs)."""

    def play() -> None:
        live.script.event("QueueCallerLeave", "call", prefixed(call.caller), {"Queue": call.queue})
        live.script.answer(call)

    live.call(play)


def hang_up(live: LiveServer, call: Call) -> None:
    """The caller hangs up after talking: AgentComplete, then the bridge and channels go."""

    def play() -> None:
        live.script.event(
            "AgentComplete",
            "agent",
            prefixed(call.caller),
            prefixed(call.phone, "Dest"),
            {
                "Queue": call.queue,
                "Interface": call.interface,
                "MemberName": f"Agent {call.ext}",
                "HoldTime": "2",
                "TalkTime": "3",
                "Reason": "caller",
            },
        )
        live.script.hang_up(call)

    live.call(play)


def test_the_wallboard_follows_an_answered_and_an_abandoned_call_live(
    supervisor: Supervisor, live: LiveServer
) -> None:
    supervisor.login()
    page = supervisor.page
    page.wait_for_selector("#live[data-state=live]")
    ext = new_agent(live, "wb-live")
    tile = "#queues [data-queue=wb-live]"
    row = f"#agents tr[data-interface='PJSIP/{ext}']"
    page.wait_for_selector(f"{row}[data-state=ready]")
    assert page.text_content(f"{tile} .ready dd") == "1/1"

    # Ring: the caller waits (hostile caller ID shown as text), the wait time ticks.
    call = live.call(lambda: live.script.ring(ext, "+4930111222", HOSTILE_NAME, queue="wb-live"))
    page.wait_for_selector(f"{tile} .waiting li")
    assert page.text_content(f"{tile} .waiting .caller-name") == HOSTILE_NAME
    page.wait_for_selector(f"{row}[data-state=ringing]")
    assert page.text_content(f"{tile} .waiting-count dd") == "1"
    page.wait_for_selector(f"#calls tr[data-call-id='{call.call_id}'][data-state=queued]")
    assert page.text_content(f"#calls tr[data-call-id='{call.call_id}'] .caller-name") == (
        HOSTILE_NAME
    )
    assert page.locator("img").count() == 0
    page.wait_for_function(
        "sel => /^0:0[1-9]$/.test(document.querySelector(sel).textContent)",
        arg=f"{tile} .waiting .wait",
        timeout=3000,
    )

    # Answer: nobody waits, the agent is on the call, the call is talking.
    answer(live, call)
    page.wait_for_selector(f"{row}[data-state=on_call]")
    page.wait_for_selector(f"{tile} .waiting-count dd:text-is('0')")
    assert page.text_content(f"{row} .caller .caller-name") == HOSTILE_NAME
    page.wait_for_selector(f"#calls tr[data-call-id='{call.call_id}'][data-state=talking]")
    assert page.text_content(f"{tile} .on-call dd") == "1"

    # Hang up: answered today, the agent is ready again with one call handled.
    hang_up(live, call)
    page.wait_for_selector(f"{tile} .answered dd:text-is('1')")
    page.wait_for_selector(f"{row}[data-state=ready] .calls-today:text-is('1')")
    page.wait_for_selector(f"#calls tr[data-call-id='{call.call_id}']", state="detached")
    assert page.text_content(f"{tile} .sl dd") == "100%"

    # Ring, then the caller gives up: abandoned today, the service level drops.
    gone = live.call(lambda: live.script.ring(ext, "+4930333444", "Impatient", queue="wb-live"))
    page.wait_for_selector(f"{tile} .waiting .caller-name:text-is('Impatient')")
    live.call(lambda: live.script.hang_up(gone, answered=False))
    page.wait_for_selector(f"{tile} .abandoned dd:text-is('1')")
    assert page.text_content(f"{tile} .waiting-count dd") == "0"
    assert page.text_content(f"{tile} .answered dd") == "1"
    assert page.text_content(f"{tile} .sl dd") == "50%"
    page.wait_for_selector(f"{row}[data-state=ready]")


def test_listen_originates_chanspy_and_pause_asks_first(
    supervisor: Supervisor, live: LiveServer
) -> None:
    supervisor.login()
    page = supervisor.page
    ext = new_agent(live, "wb-spy")
    row = f"#agents tr[data-interface='PJSIP/{ext}']"
    page.click(f"{row} button.listen")
    wait_until(lambda: last_action(live, "Originate", Channel=SUPERVISOR_PHONE) is not None)
    sent = last_action(live, "Originate", Channel=SUPERVISOR_PHONE)
    assert sent is not None
    assert (sent["Application"], sent["Data"]) == ("ChanSpy", f"PJSIP/{ext}-,qS")
    page.wait_for_selector("#notice:has-text('pick up to listen')")

    page.select_option("#pause-reason", "lunch")
    page.click(f"{row} button.pause")
    wait_until(lambda: last_action(live, "QueuePause", Interface=f"PJSIP/{ext}") is not None)
    paused = last_action(live, "QueuePause", Interface=f"PJSIP/{ext}")
    assert paused is not None and (paused["Paused"], paused["Reason"]) == ("true", "lunch")
    assert supervisor.dialogs == [f"Pause Agent {ext} (lunch)?"]

    page.click(f"{row} button.remove[data-queue=wb-spy]")
    wait_until(lambda: last_action(live, "QueueRemove", Interface=f"PJSIP/{ext}") is not None)
    assert supervisor.dialogs[-1] == f"Remove Agent {ext} from queue wb-spy?"
    page.wait_for_selector(row, state="detached")


def test_the_wallboard_reconnects_and_refetches(supervisor: Supervisor, live: LiveServer) -> None:
    supervisor.login()
    page = supervisor.page
    page.wait_for_selector("#live[data-state=live]")
    assert live.app is not None
    hub = live.app[HUB_KEY]
    with page.expect_request(lambda r: r.url.endswith("/api/wallboard"), timeout=5000):
        live.run(hub.close_all())
    page.wait_for_selector("#live[data-state=live]")
    # Still live after the reconnect: a new phone shows up without any polling.
    ext = new_agent(live, "wb-reconnect")
    page.wait_for_selector(f"#agents tr[data-interface='PJSIP/{ext}']")


def test_an_agent_gets_supervisors_only_and_no_data(panel: Panel, live: LiveServer) -> None:
    panel.login()
    page = panel.page
    assert page.is_hidden("#supervisor-nav")
    page.goto(f"{live.url}/wallboard")
    page.wait_for_selector("#forbidden:not([hidden])")
    assert "Supervisors only" in (page.text_content("#forbidden") or "")
    assert page.is_hidden("#board")
    assert page.locator("#agents tr").count() == 0
    page.goto(f"{live.url}/reports")
    page.wait_for_selector("#forbidden:not([hidden])")
    assert page.is_hidden("#result")


def test_reports_show_a_call_in_the_table_and_the_charts(
    supervisor: Supervisor, live: LiveServer
) -> None:
    ext = new_agent(live, "wb-report")
    call = live.call(lambda: live.script.ring(ext, "+4940777888", "Rita Report", queue="wb-report"))
    answer(live, call)
    hang_up(live, call)
    supervisor.login("/agent")
    page = supervisor.page
    page.wait_for_selector("#supervisor-nav:not([hidden])")
    page.click("#supervisor-nav a[href='/reports']")
    page.wait_for_url("**/reports*")
    row = "#rows tr[data-key=wb-report]"
    page.wait_for_selector(row)
    assert page.text_content(f"{row} .answered") == "1"
    assert page.text_content(f"{row} .abandoned") == "0"
    page.wait_for_selector("#rows tr.total")
    band = "#chart-volume svg g[data-key=wb-report]"
    assert page.locator(f"{band} rect.bar.answered").count() == 1
    assert page.locator("#chart-sl svg g[data-key=wb-report] rect.bar.sl").count() == 1
    href = page.get_attribute("#csv", "href") or ""
    assert href.startswith("/api/reports.csv?") and "by=queue" in href
    csv = page.request.get(f"{live.url}{href}")
    assert csv.status == 200 and "wb-report" in csv.text()

    page.select_option("#by", "agent")
    page.click("#report-form button[type=submit]")
    page.wait_for_selector(f"#rows tr[data-key='PJSIP/{ext}']")
    assert page.text_content("#key-heading") == "Agent"
