"""The agent panel in headless Chromium against the real server and the fake PBX."""

from __future__ import annotations

import time
from collections.abc import Callable

from callcenter.demo.fake_pbx import ActionFields
from callcenter.demo.traffic import HOSTILE_NAME
from callcenter.web.keys import HUB_KEY, INTERACTIONS_KEY
from tests.ui.conftest import LiveServer, Panel


def wait_until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def last_action(live: LiveServer, name: str, **fields: str) -> ActionFields | None:
    def find() -> ActionFields | None:
        for action in reversed(live.pbx.actions_named(name)):
            if all(action.get(key) == value for key, value in fields.items()):
                return action
        return None

    return live.call(find)


def test_login_and_a_ringing_call_pops_the_callers_card(panel: Panel, live: LiveServer) -> None:
    anna = live.run(
        live.create_customer(
            {"name": "Anna Schmidt", "company": "Schmidt & Söhne", "phones": ["030 98765432"]}
        )
    )
    panel.login()
    page = panel.page
    call = live.call(lambda: live.script.ring(panel.ext, "+493098765432", "A Schmidt"))
    page.wait_for_selector("#call-ringing:not([hidden])")
    assert page.text_content("#ring-name") == "A Schmidt"
    assert page.text_content("#card-name") == "Anna Schmidt"
    assert page.get_attribute("#card", "data-customer-id") == str(anna["id"])
    live.call(lambda: live.script.answer(call))
    page.wait_for_selector("#call-active:not([hidden])")
    assert page.text_content("#my-state") == "On call"
    live.call(lambda: live.script.hang_up(call))
    page.wait_for_selector("#wrapup-form:not([hidden])")
    page.click("#wrapup-skip")

    # A number two customers share: the agent picks who is calling.
    for name in ("Ben Kaya", "Cem Kaya"):
        live.run(live.create_customer({"name": name, "phones": ["+4940555777"]}))
    live.call(lambda: live.script.ring(panel.ext, "+4940555777", "KAYA"))
    page.wait_for_selector("#choice:not([hidden])")
    page.click("#choice-list button:has-text('Cem Kaya')")
    page.wait_for_selector("#card-name:has-text('Cem Kaya')")


def test_a_hostile_caller_name_is_shown_as_text(panel: Panel, live: LiveServer) -> None:
    panel.login()
    page = panel.page
    live.call(lambda: live.script.ring(panel.ext, "+4930666000777", HOSTILE_NAME))
    page.wait_for_selector("#call-ringing:not([hidden])")
    assert page.text_content("#ring-name") == HOSTILE_NAME
    # An unknown caller: the stub is named after caller ID, and offered for filling in.
    assert page.text_content("#card-name") == HOSTILE_NAME
    page.wait_for_selector("#stub-form:not([hidden])")
    assert page.locator("img").count() == 0
    page.fill("#stub-name", "Eve <script>alert(2)</script>")
    page.click("#stub-form button[type=submit]")
    page.wait_for_selector("#card-name:has-text('Eve <script>')")
    assert page.locator("#customer script").count() == 0
    assert panel.dialogs == []


def test_pause_and_ready_send_queuepause(panel: Panel, live: LiveServer) -> None:
    panel.login()
    page = panel.page
    page.select_option("#pause-reason", "lunch")
    page.click("#pause-button")
    wait_until(lambda: last_action(live, "QueuePause", Interface=panel.interface) is not None)
    sent = last_action(live, "QueuePause", Interface=panel.interface)
    assert sent is not None and (sent["Paused"], sent["Reason"]) == ("true", "lunch")
    page.wait_for_selector("#my-state[data-state=paused]:has-text('Paused: lunch')")
    page.click("#ready-button")
    page.wait_for_selector("#my-state[data-state=ready]")
    sent = last_action(live, "QueuePause", Interface=panel.interface)
    assert sent is not None and sent["Paused"] == "false"


def test_click_to_call_from_a_customer_card_sends_originate(panel: Panel, live: LiveServer) -> None:
    live.run(live.create_customer({"name": "Dora Dialer", "phones": ["0301112299"]}))
    panel.login()
    page = panel.page
    page.fill("#search-q", "Dora")
    page.click("#search-form button[type=submit]")
    page.click("#search-results button:has-text('Dora Dialer')")
    page.click("#card .dial")
    wait_until(lambda: last_action(live, "Originate", Channel=panel.interface) is not None)
    sent = last_action(live, "Originate", Channel=panel.interface)
    assert sent is not None
    assert (sent["Context"], sent["Exten"]) == ("outbound", "+49301112299")
    page.wait_for_selector("#active-label:has-text('Dialing')")


def test_wrap_up_saves_the_disposition_on_the_callers_timeline(
    panel: Panel, live: LiveServer
) -> None:
    panel.login()
    page = panel.page
    call = live.call(lambda: live.script.ring(panel.ext, "+4989123456", "Fritz Wrapup"))
    page.wait_for_selector("#card-name:has-text('Fritz Wrapup')")
    customer_id = int(page.get_attribute("#card", "data-customer-id") or 0)
    live.call(lambda: live.script.answer(call))
    page.wait_for_selector("#call-active:not([hidden])")
    live.call(lambda: live.script.hang_up(call))
    page.wait_for_selector("#wrapup-form:not([hidden])")
    page.select_option("#disposition", "sale")
    page.fill("#wrapup-note", "bought the big one")
    page.click("#wrapup-save")
    page.wait_for_selector("#notice:has-text('Wrap-up saved')")
    assert live.app is not None
    timeline = live.run(live.app[INTERACTIONS_KEY].timeline(customer_id))
    dispositions = [e["disposition"] for e in timeline if e["type"] == "disposition"]
    assert [(d["code"], d["call_id"]) for d in dispositions] == [("sale", call.call_id)]
    assert any(e["type"] == "note" and e["note"]["body"] == "bought the big one" for e in timeline)


def test_the_page_recovers_after_the_server_closes_its_socket(
    panel: Panel, live: LiveServer
) -> None:
    panel.login()
    page = panel.page
    assert live.app is not None
    hub = live.app[HUB_KEY]
    # A supervisor pauses this agent at the PBX: no pop says so; the page learns it on its
    # re-fetch after reconnecting (long before its idle poll).
    member = live.call(
        lambda: next(m for m in live.pbx.members if m["Interface"] == panel.interface)
    )

    def pause_at_pbx() -> None:
        member.update(Paused="1", PausedReason="meeting")
        live.script.event("QueueMemberPause", "agent", member)

    live.call(pause_at_pbx)
    before = hub.subscribers
    live.run(hub.close_all())
    page.wait_for_selector("#my-state:has-text('Paused: meeting')", timeout=5000)
    page.wait_for_selector("#live[data-state=live]")
    wait_until(lambda: hub.subscribers >= before)
    call = live.call(lambda: live.script.ring(panel.ext, "+4930222333", "After Reconnect"))
    page.wait_for_selector("#ring-name:has-text('After Reconnect')")
    live.call(lambda: live.script.hang_up(call, answered=False))
    page.wait_for_selector("#call-idle:not([hidden])")
