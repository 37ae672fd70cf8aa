"""Outbound retention campaigns in headless Chromium: the supervisors' campaign page (create
from a CSV file read in the browser, progress, the two SVG charts, start / pause / resume),
an agent's 403, hostile names and scripts as text; and on the agent panel, a campaign call's
screen pop (campaign, churn reasons, script) and preview dialing.

Dials are written as the dialer writes them (``tests.campaigns.dials``); every campaign's
queue has no agents, so the running dialer of the shared server never dials them itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callcenter.demo.fake_pbx import ActionFields
from callcenter.live.screenpops import agent_topic
from callcenter.model.attempts import DialOutcome
from callcenter.store import Role
from callcenter.store.campaigns import CampaignSpec, ListEntry
from callcenter.web.keys import (
    CAMPAIGNS_KEY,
    CUSTOMERS_KEY,
    HUB_KEY,
    INTERACTIONS_KEY,
)
from tests.campaigns.dials import record_dials
from tests.ui.conftest import LiveServer, Panel, browser_user
from tests.ui.test_agent_panel import wait_until
from tests.ui.test_wallboard import Supervisor

MANAGER = "campaign-boss"
HOSTILE_NAME = 'Winback <img src=x onerror=alert(1)><script>alert("name")</script>'
HOSTILE_SCRIPT = 'Hello <b>{name}</b>,\n<script>alert("script")</script>\nWe miss you.'


class Manager(Supervisor):
    """A logged-in campaign manager (a supervisor of its own)."""

    username = MANAGER

    def login(self, path: str = "/campaigns") -> None:
        super().login(path)


@pytest.fixture(scope="module")
def manager_account(live: LiveServer) -> str:
    return live.add_account(MANAGER, Role.SUPERVISOR, extension=None)


@pytest.fixture
def manager(browser: Any, live: LiveServer, manager_account: str) -> Iterator[Manager]:
    with browser_user(browser, lambda page: Manager(page, live)) as boss:
        yield boss
        assert boss.dialogs == []


def _campaign_id(page: Any, name: str) -> int:
    row = page.locator("#campaign-rows tr", has=page.locator("th.name", has_text=name))
    row.wait_for()
    return int(row.get_attribute("data-campaign-id") or 0)


def _hour(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _wait_state(live: LiveServer, cid: int, expected: str) -> None:
    assert live.app is not None
    store = live.app[CAMPAIGNS_KEY]
    deadline = time.monotonic() + 5
    while live.run(store.get(cid)).state != expected:
        assert time.monotonic() < deadline, f"campaign {cid} never {expected}"
        time.sleep(0.05)


def test_create_from_a_csv_file_follow_progress_and_pause(
    manager: Manager, live: LiveServer
) -> None:
    rita = live.run(live.create_customer({"name": "Rita Retained", "phones": ["+4930555000101"]}))
    manager.login()
    page = manager.page
    page.wait_for_selector("#create-form")
    page.fill("#c-name", "Winback autumn")
    page.fill("#c-queue", "camp-ui-empty")
    page.select_option("#c-mode", "progressive")
    page.fill("#c-max-attempts", "2")
    page.fill("#c-abandon-target", "3")
    page.fill("#retry-busy", "15")
    page.check("#noretry-machine")
    page.fill("#c-callee-start", "09:00")
    page.fill("#c-callee-end", "20:00")
    page.fill("#c-script", "Hello, this is Acme.\nWe would like to keep you.")
    page.check("input[name=source][value=csv]")
    csv = "number\n+4930555000101\n+4930555000102\n+4930555000103\n+4930555000104\nnope\n"
    page.set_input_files(
        "#c-csv", files=[{"name": "list.csv", "mimeType": "text/csv", "buffer": csv.encode()}]
    )
    with page.expect_request(
        lambda r: r.url.endswith("/api/campaigns") and r.method == "POST"
    ) as sent:
        page.click("#create-submit")
    body = json.loads(sent.value.post_data or "{}")
    assert body["source"] == {"csv": csv}
    assert body["retry"] == {"busy": 15, "machine": None}
    assert (body["max_attempts"], body["abandon_target"]) == (2, 0.03)
    assert (body["callee_start"], body["callee_end"]) == ("09:00", "20:00")
    page.wait_for_selector("#notice:has-text('created')")
    assert "1 CSV row left out: row 6:" in (page.text_content("#notice") or "")
    cid = _campaign_id(page, "Winback autumn")
    row = f"#campaign-rows tr[data-campaign-id='{cid}']"
    page.wait_for_selector(f"{row}[data-state=draft]")
    assert page.text_content(f"{row} .numbers") == "4"
    page.wait_for_selector(f"#detail[data-campaign-id='{cid}']:not([hidden])")
    assert page.text_content("#detail-script") == "Hello, this is Acme.\nWe would like to keep you."
    assert page.text_content("#stat-dials") == "0"
    page.wait_for_selector("#chart-outcomes svg text:has-text('No dials yet')")

    # Dials come in (as the dialer records them): the page refreshes by itself.
    assert live.app is not None
    store = live.app[CAMPAIGNS_KEY]
    now = datetime.now(UTC)
    earlier = now - timedelta(hours=2)
    live.run(
        record_dials(
            store,
            [
                (f"c{cid}-1", _hour(earlier), DialOutcome.COMPLETED),
                (f"c{cid}-2", _hour(earlier), DialOutcome.BUSY),
                (f"c{cid}-3", _hour(earlier), DialOutcome.ABANDONED),
                (f"c{cid}-4", _hour(now), DialOutcome.COMPLETED),
                (f"c{cid}-2", _hour(now), DialOutcome.NO_ANSWER),
            ],
        )
    )
    # Rita stays: the agent's wrap-up says "retained", a save.
    live.run(
        live.app[INTERACTIONS_KEY].add_disposition(rita["id"], author="agent1", code="retained")
    )
    page.wait_for_selector("#stat-dials:text-is('5')", timeout=12000)
    assert page.text_content("#stat-contact") == "60%"  # 3 people of 5 settled dials
    assert page.text_content("#stat-abandon") == "33.3%"  # 1 of 3 people
    assert page.get_attribute("#stat-abandon", "data-over") == "true"
    assert page.text_content("#stat-target") == "3.0%"
    page.wait_for_selector("#stat-saves:text-is('1')")
    assert page.text_content(f"{row} .saves") == "1"
    assert page.text_content("#detail-attempts li[data-state=done] strong") == "4"
    assert page.text_content(f"{row} .dials") == "5"
    bars = "#chart-outcomes svg g.band"
    assert page.locator(bars).evaluate_all("gs => gs.map(g => g.dataset.key)") == [
        "completed",
        "abandoned",
        "busy",
        "no_answer",
    ]
    assert page.text_content(f"{bars}[data-key=completed] text.value") == "2"
    assert page.locator(f"{bars}[data-key=completed] rect.bar").count() == 1
    hours = page.locator("#chart-hours svg g.hour")
    assert hours.count() == 3  # two hours with dials and the empty one between
    assert hours.evaluate_all("gs => gs.map(g => g.dataset.dials)") == ["3", "0", "2"]
    assert page.locator("#chart-hours svg g.hour rect[data-outcome=abandoned]").count() == 1

    # Start, pause, resume: the buttons follow the state, the API holds it.
    page.click("#detail-start")
    page.wait_for_selector(f"{row}[data-state=running]")
    _wait_state(live, cid, "running")
    assert page.is_hidden("#detail-start") and page.is_visible("#detail-pause")
    page.click("#detail-pause")
    page.wait_for_selector("#detail-state:text-is('paused')")
    _wait_state(live, cid, "paused")
    assert page.is_visible("#detail-resume")
    page.click(f"{row} button.resume")
    page.wait_for_selector(f"{row}[data-state=running]")
    _wait_state(live, cid, "running")
    page.click(f"{row} button.pause")
    _wait_state(live, cid, "paused")


def test_a_hostile_campaign_name_and_script_are_text(manager: Manager, live: LiveServer) -> None:
    manager.login()
    page = manager.page
    page.fill("#c-name", HOSTILE_NAME)
    page.fill("#c-queue", "camp-ui-empty")
    page.select_option("#c-mode", "preview")
    page.fill("#c-script", HOSTILE_SCRIPT)
    page.check("input[name=source][value=churn]")
    page.fill("#c-churn", "99.5")
    page.click("#create-submit")
    page.wait_for_selector("#notice:has-text('created')")
    cid = _campaign_id(page, "Winback <img")
    row = f"#campaign-rows tr[data-campaign-id='{cid}']"
    assert page.text_content(f"{row} .name") == HOSTILE_NAME
    page.wait_for_selector(f"#detail[data-campaign-id='{cid}']:not([hidden])")
    assert page.text_content("#detail-name") == HOSTILE_NAME
    assert page.text_content("#detail-script") == HOSTILE_SCRIPT
    assert page.locator("main img, main script, main b").count() == 0
    assert manager.dialogs == []


def test_an_agent_gets_403_from_the_campaign_api(panel: Panel, live: LiveServer) -> None:
    panel.login()
    page = panel.page
    for path in ("/api/campaigns", "/api/campaigns/1", "/api/campaigns/1/timeline", "/api/churn"):
        assert page.request.get(f"{live.url}{path}").status == 403, path
    started = page.request.post(
        f"{live.url}/api/campaigns/1/start", headers={"Origin": live.url}, data="{}"
    )
    assert started.status == 403
    page.goto(f"{live.url}/campaigns")
    page.wait_for_selector("#forbidden:not([hidden])")
    assert "Supervisors only" in (page.text_content("#forbidden") or "")
    assert page.is_hidden("#campaigns-main")
    assert page.locator("#campaign-rows tr").count() == 0


# --- the agent panel ---------------------------------------------------------------------

CAMPAIGN = {"id": 41, "name": HOSTILE_NAME, "script": HOSTILE_SCRIPT}
CHURN = {
    "score": 72.5,
    "reasons": [
        {"reason": "open_complaints", "weight": 25.0, "detail": "2 open complaints"},
        {"reason": "contract_end", "weight": 15.0, "detail": "<b>ends</b> in 8 days"},
    ],
}


def _check_campaign_info(page: Any, root: str) -> None:
    page.wait_for_selector(f"{root}:not([hidden]) .campaign-name")
    assert page.text_content(f"{root} .campaign-name .name") == HOSTILE_NAME
    assert page.text_content(f"{root} .churn .score") == "72.5"
    reasons = page.locator(f"{root} .churn-reasons li")
    assert reasons.evaluate_all("ls => ls.map(l => l.textContent)") == [
        "open complaints weight 25 · 2 open complaints",
        "contract end weight 15 · <b>ends</b> in 8 days",
    ]
    assert page.text_content(f"{root} .script-text") == HOSTILE_SCRIPT
    assert page.locator(f"{root} img, {root} script, {root} b").count() == 0


def test_a_campaign_calls_pop_shows_campaign_churn_and_script(
    panel: Panel, live: LiveServer
) -> None:
    panel.login()
    page = panel.page
    assert page.is_hidden("#campaign-info")
    call = live.call(lambda: live.script.ring(panel.ext, "+4930555000199", "Kim Campaign"))
    page.wait_for_selector("#card-name:has-text('Kim Campaign')")
    assert page.is_hidden("#campaign-info")  # an inbound call: no campaign
    # The pop of a campaign call: the screen pop's ring message with its campaign keys.
    assert live.app is not None
    hub = live.app[HUB_KEY]
    found = live.run(live.app[CUSTOMERS_KEY].lookup("+4930555000199"))
    ring = {
        "type": "ring",
        "call_id": call.call_id,
        "queue": call.queue,
        "caller_number": "+4930555000199",
        "caller_name": "Kim Campaign",
        "at": time.time(),
        "customers": found.customers,
        "history": [],
        "campaign": CAMPAIGN,
        "churn": CHURN,
    }
    live.call(lambda: hub.publish(agent_topic(panel.interface), ring))
    _check_campaign_info(page, "#campaign-info")
    assert page.text_content("#card-name") == "Kim Campaign"
    live.call(lambda: live.script.answer(call))
    page.wait_for_selector("#call-active:not([hidden])")
    assert page.is_visible("#campaign-info")
    live.call(lambda: live.script.hang_up(call))
    page.wait_for_selector("#wrapup-form:not([hidden])")
    assert page.is_visible("#campaign-info")  # the script stays for the wrap-up
    page.click("#wrapup-skip")
    page.wait_for_selector("#campaign-info", state="hidden")
    # A pop without campaign keys (an ordinary call) shows none.
    other = live.call(lambda: live.script.ring(panel.ext, "+4930555000198", "Plain Caller"))
    page.wait_for_selector("#ring-name:has-text('Plain Caller')")
    assert page.is_hidden("#campaign-info")
    live.call(lambda: live.script.hang_up(other, answered=False))


PREVIEW_ITEM = {
    "attempt_id": "c41-7",
    "number": "+4930555000177",
    "tries": 1,
    "campaign": CAMPAIGN,
    # The screen pop's card: the customers having the number and the recent history.
    "customer": {
        "customers": [
            {
                "id": 9041,
                "name": "Paula Preview",
                "company": None,
                "phones": [{"number": "030 555000177", "e164": "+4930555000177", "type": "main"}],
                "emails": [],
                "tags": ["vip"],
                "do_not_call": False,
                "consent": {"may_call": True},
                "is_stub": False,
            }
        ],
        "history": [],
    },
    "churn": CHURN,
}


def test_preview_dialing_against_the_api_contract(panel: Panel, live: LiveServer) -> None:
    """The panel's side of preview mode, with the three endpoints answered as the API
    contract says (the browser's requests are fulfilled here, not by the server)."""
    page = panel.page
    offers: list[dict[str, Any]] = [{"item": None}] + [{"item": PREVIEW_ITEM}] * 3
    posted: list[str] = []
    dial_answers = [
        (409, {"error": {"id": "conflict", "message": "attempt c41-7 is not held for you"}}),
        (202, {"dial_id": "c41-7.2"}),
    ]

    def preview(route: Any) -> None:
        route.fulfill(status=200, content_type="application/json", body=json.dumps(offers.pop(0)))

    def act(route: Any) -> None:
        posted.append(route.request.url.removeprefix(live.url))
        if route.request.url.endswith("/dial"):
            status, body = dial_answers.pop(0)
            route.fulfill(status=status, content_type="application/json", body=json.dumps(body))
        else:
            route.fulfill(status=204)

    page.route(f"{live.url}/api/agent/preview", preview)
    page.route(f"{live.url}/api/agent/preview/*/*", act)
    panel.login()
    page.click("#preview-next")
    page.wait_for_selector("#preview-empty:not([hidden])")
    assert page.is_hidden("#preview-item")

    page.click("#preview-next")
    page.wait_for_selector("#preview-item:not([hidden])")
    assert page.text_content("#preview-number") == "+4930555000177"
    assert page.text_content("#preview-tries") == "tried 1 time before"
    assert page.text_content("#card-name") == "Paula Preview"
    _check_campaign_info(page, "#preview-campaign")
    assert page.is_disabled("#preview-next")  # one preview at a time
    page.click("#preview-skip")
    page.wait_for_selector("#preview-item", state="hidden")
    assert posted == ["/api/agent/preview/c41-7/skip"]
    assert page.is_hidden("#card")

    # The hold ran out while the agent read: the number is gone, the next one may be asked for.
    page.click("#preview-next")
    page.wait_for_selector("#preview-item:not([hidden])")
    page.click("#preview-dial")
    page.wait_for_selector("#problem:has-text('not held for you')")
    page.wait_for_selector("#preview-item", state="hidden")
    assert page.is_enabled("#preview-next")
    assert page.is_visible("#call-idle")

    page.click("#preview-next")
    page.wait_for_selector("#preview-item:not([hidden])")
    page.click("#preview-dial")
    page.wait_for_selector("#active-label:has-text('Dialing')")
    assert posted[-1] == "/api/agent/preview/c41-7/dial"
    assert page.text_content("#active-name") == "Paula Preview"
    assert page.is_hidden("#preview-item")
    _check_campaign_info(page, "#campaign-info")  # the call keeps what the preview showed
    assert page.is_disabled("#preview-next")


def _midday_zone() -> str:
    """A fixed-offset zone where it is around noon now: inside the default callee window
    (08:00-21:00) whenever the test runs."""
    offset = 12 - datetime.now(UTC).hour  # -11 … +12 hours
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"


def _originated(live: LiveServer, dial_id: str) -> ActionFields | None:
    def find() -> ActionFields | None:
        found = [a for a in live.pbx.actions_named("Originate") if a.get("ActionID") == dial_id]
        return found[-1] if found else None

    return live.call(find)


def test_preview_dialing_through_the_server(panel: Panel, live: LiveServer) -> None:
    """Preview mode end to end: a running preview campaign on the agent's queue offers its
    numbers with the customer card, churn and script; Skip gives one back, Dial originates
    the other from the agent's phone."""
    assert live.app is not None
    queue = f"camp-preview-{panel.ext}"
    live.call(lambda: live.script.add_agent(panel.ext, queue=queue))
    zone = _midday_zone()
    paula = live.run(
        live.create_customer(
            {"name": "Paula Preview", "phones": ["+4930555000166"], "time_zone": zone}
        )
    )
    live.run(
        live.create_customer({"name": "Sam Skip", "phones": ["+4930555000167"], "time_zone": zone})
    )
    store = live.app[CAMPAIGNS_KEY]

    async def campaign() -> int:
        created = await store.create(
            CampaignSpec(
                name=f"Preview {panel.ext}",
                queue=queue,
                mode="preview",
                script="Say hello.\n<script>alert(1)</script>",
            ),
            [
                ListEntry("+4930555000167", customer_id=None, priority=1),
                ListEntry("+4930555000166", customer_id=paula["id"]),
            ],
            created_by="test",
        )
        await store.set_state(created.id, "running")
        return created.id

    cid = live.run(campaign())
    panel.login()
    page = panel.page
    page.click("#preview-next")
    page.wait_for_selector("#preview-item:not([hidden])")
    assert page.text_content("#preview-number") == "+4930555000167"
    assert page.text_content("#card-name") == "Sam Skip"
    page.click("#preview-skip")
    page.wait_for_selector("#notice:has-text('Skipped +4930555000167')")

    # The skipped number stays due for the others; this agent gets the next one.
    page.click("#preview-next")
    page.wait_for_selector("#preview-item:not([hidden])")
    number = page.text_content("#preview-number") or ""
    assert number == "+4930555000166"
    names = {"+4930555000166": "Paula Preview"}
    attempt_id = page.get_attribute("#preview", "data-attempt-id")
    assert attempt_id == f"c{cid}-2"
    assert page.text_content("#preview-tries") == "not tried yet"
    assert page.text_content("#preview-campaign .campaign-name .name") == f"Preview {panel.ext}"
    assert page.text_content("#preview-campaign .script-text") == (
        "Say hello.\n<script>alert(1)</script>"
    )
    page.wait_for_selector(f"#card-name:text-is('{names[number]}')")
    with page.expect_response(lambda r: r.url.endswith(f"/{attempt_id}/dial")) as answer:
        page.click("#preview-dial")
    assert answer.value.status == 202
    dial_id = answer.value.json()["dial_id"]
    assert dial_id == f"{attempt_id}.1"
    page.wait_for_selector("#active-label:has-text('Dialing')")
    assert page.text_content("#active-name") == names[number]
    assert page.is_visible("#campaign-info .script-text")
    wait_until(lambda: _originated(live, dial_id) is not None)
    sent = _originated(live, dial_id)
    assert sent is not None
    assert (sent["Channel"], sent["Exten"]) == (panel.interface, number)
    assert page.locator("script:not([src])").count() == 0
