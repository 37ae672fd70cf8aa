"""The CRM pages (issue 16) in headless Chromium against the real server: /customers (search,
filters, paging, saved segments, bulk tag), /customers/{id} (inline edit with the field's
error, consent history, logging an e-mail, the timeline filtered by channel, click-to-call,
the merge dialog, the GDPR erasure dialog), /tickets and /callbacks; the navigation by role.
Every name, subject and note is hostile markup that must arrive as text: no element is ever
made from it and no script runs (an ``alert`` would be a dialog; the fixtures fail on any
dialog or page error)."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from callcenter.store import Role, TicketKind
from callcenter.web.keys import CUSTOMERS_KEY, INTERACTIONS_KEY
from tests.ui.conftest import PASSWORD, LiveServer, browser_user
from tests.ui.test_agent_panel import last_action, wait_until

HOSTILE = '<img src=x onerror=alert(1)><script>alert("x")</script>'
_serial = itertools.count(1)


class User:
    """A logged-in user of the CRM pages, with what the page did."""

    def __init__(self, page: Any, live: LiveServer, username: str) -> None:
        self.page = page
        self.live = live
        self.username = username
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.accept()

    def login(self, path: str) -> None:
        page = self.page
        page.goto(f"{self.live.url}{path}")
        page.wait_for_url("**/login?next=*")
        page.fill("#username", self.username)
        page.fill("#password", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url(f"**{path}*")
        page.wait_for_selector("html[data-ready=true]")

    def no_markup_from_data(self) -> None:
        """Nothing the data said became an element."""
        assert self.page.locator("main img, main script:not([src])").count() == 0


def account(live: LiveServer, role: Role, extension: str | None = None) -> str:
    return live.add_account(f"crm{role.value}{next(_serial)}", role, extension)


@pytest.fixture
def user_of(browser: Any, live: LiveServer) -> Iterator[Any]:
    contexts: list[Any] = []

    def make(role: Role, extension: str | None = None) -> User:
        name = account(live, role, extension)
        manager = browser_user(browser, lambda page: User(page, live, name))
        contexts.append(manager)
        return manager.__enter__()

    yield make
    for manager in reversed(contexts):
        manager.__exit__(None, None, None)


def customer(live: LiveServer, **data: Any) -> dict[str, Any]:
    created: dict[str, Any] = live.run(live.create_customer(data))
    return created


def test_customers_page_for_a_supervisor(user_of: Any, live: LiveServer) -> None:
    tag = f"ui{next(_serial)}"
    hostile = customer(
        live, name=HOSTILE, company=HOSTILE, tags=[tag], phones=[{"number": "030 4440001"}]
    )
    for i in range(3):
        customer(live, name=f"Zed {tag} {i}", tags=[tag], phones=[{"number": f"030 444010{i}"}])
    sup = user_of(Role.SUPERVISOR)
    sup.login(f"/customers?tag={tag}&sort=name&limit=25")
    page = sup.page
    assert page.input_value("#f-tag") == tag
    rows = page.locator("#customer-rows tr")
    assert rows.count() == 4
    first = page.locator(f"#customer-rows tr[data-customer-id='{hostile['id']}']")
    assert first.locator("th.name a").text_content() == HOSTILE
    assert first.locator("td.company").text_content() == HOSTILE
    assert page.text_content("#count") == "(4)"
    sup.no_markup_from_data()
    # navigation: supervisors see the supervisors' pages too
    assert page.is_visible("nav a[href='/wallboard']")
    assert page.get_attribute("nav a[href='/customers']", "aria-current") == "page"
    # paging with the count
    page.select_option("#f-limit", "25")
    page.fill("#f-q", "zed")
    page.click("#apply")
    expect(page.locator("#customer-rows tr")).to_have_count(3)
    # save the filter as a segment, then apply it from the list
    page.fill("#f-q", "")
    page.fill("#segment-name", f"Segment {HOSTILE} {tag}")
    page.click("#segment-save")
    page.wait_for_selector("#notice:not([hidden])")
    option = page.locator("#segment option", has_text=tag)
    assert option.text_content() == f"Segment {HOSTILE} {tag}"
    page.click("#clear")
    expect(page).not_to_have_url(re.compile(re.escape(tag)))
    page.select_option("#segment", label=f"Segment {HOSTILE} {tag}")
    expect(page.locator("#f-tag")).to_have_value(tag)
    expect(page.locator("#customer-rows tr")).to_have_count(4)
    # bulk: tag the whole page
    page.check("#select-page")
    assert page.text_content("#selected-count") == "4 selected"
    page.select_option("#bulk-action", "tag")
    page.fill("#bulk-value", f"{tag}-done")
    page.click("#bulk-run")
    page.wait_for_selector("#notice:has-text('4 of 4 customers changed')")
    wait_until(lambda: page.locator("#customer-rows td.tags", has_text=f"{tag}-done").count() == 4)
    assert sup.dialogs == []


def test_agents_see_no_bulk_and_no_supervisor_links(user_of: Any, live: LiveServer) -> None:
    tag = f"ag{next(_serial)}"
    customer(live, name=f"Agent view {tag}", tags=[tag], phones=[{"number": "030 4440201"}])
    agent = user_of(Role.AGENT, "PJSIP/2091")
    agent.login(f"/customers?tag={tag}")
    page = agent.page
    assert page.locator("#customer-rows tr").count() == 1
    assert page.is_hidden("#bulk")
    assert page.is_hidden("#segment-save")
    assert page.is_hidden("#f-min_churn")
    assert page.is_hidden("nav a[href='/wallboard']")
    assert page.is_hidden("nav a[href='/campaigns']")
    assert page.is_visible("nav a[href='/callbacks']")
    # keyboard: every filter has a label, and Tab reaches the search box from the skip link
    for field in page.locator("#filters input, #filters select").all():
        field_id = field.get_attribute("id")
        assert page.locator(f"label[for='{field_id}']").count() == 1, field_id
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"


def test_customer_page_edit_consent_log_and_timeline(user_of: Any, live: LiveServer) -> None:
    anna = customer(
        live,
        name=HOSTILE,
        phones=[{"number": "030 4440301", "type": "work"}],
        custom={"note": HOSTILE},
        tags=[f"t{next(_serial)}"],
    )
    agent = user_of(Role.AGENT, "PJSIP/2092")
    agent.login(f"/customers/{anna['id']}")
    page = agent.page
    assert page.text_content("#customer-name") == HOSTILE
    assert page.input_value("#p-name") == HOSTILE
    assert page.input_value("#p-custom .value") == HOSTILE
    agent.no_markup_from_data()
    # inline edit with a validation message naming the field
    page.click("#add-email")
    page.fill("#p-emails li:last-child .address", "not an address")
    page.click("#profile-save")
    page.wait_for_selector("#profile-error:not([hidden])")
    assert "emails" in (page.text_content("#profile-error") or "")
    assert page.get_attribute("#p-emails li:last-child .address", "aria-invalid") == "true"
    page.fill("#p-emails li:last-child .address", "anna@example.com")
    page.fill("#p-company", "ACME & Co")
    page.click("#profile-save")
    page.wait_for_selector("#notice:has-text('Saved.')")
    assert page.is_hidden("#profile-error")
    assert live.app is not None
    saved = live.run(live.app[CUSTOMERS_KEY].get(anna["id"]))
    assert saved["company"] == "ACME & Co"
    assert [e["address"] for e in saved["emails"]] == ["anna@example.com"]
    # consent with who and when
    page.check("#c-do_not_call")
    page.wait_for_selector("#consent-history li:has-text('do not call: no → yes')")
    assert agent.username in (page.text_content("#consent-history") or "")
    assert page.is_disabled("#dial-list button.dial")
    page.uncheck("#c-do_not_call")
    page.wait_for_selector("#dial-list button.dial:not([disabled])")
    # click-to-call: the agent's phone is asked to ring
    page.click("#dial-list button.dial")
    wait_until(lambda: last_action(live, "Originate", Channel="PJSIP/2092") is not None)
    # log an e-mail (hostile subject), see it in the timeline, filter by channel
    page.select_option("#l-channel", "email")
    page.fill("#l-subject", HOSTILE)
    page.fill("#l-body", "Please call me back")
    page.click("#log-form button[type=submit]")
    page.wait_for_selector("#timeline li[data-channel=email]")
    entry = page.locator("#timeline li[data-channel=email]").first
    assert HOSTILE in (entry.text_content() or "")
    page.select_option("#l-channel", "note")
    page.fill("#l-subject", "")
    page.fill("#l-body", f"note {HOSTILE}")
    page.click("#log-form button[type=submit]")
    page.wait_for_selector("#timeline li[data-channel=note]")
    page.click("#timeline-filter button[data-channel=email]")
    assert page.locator("#timeline li").count() == 1
    assert (
        page.get_attribute("#timeline-filter button[data-channel=email]", "aria-pressed") == "true"
    )
    page.click("#timeline-filter button[data-channel=note]")
    assert (
        page.locator("#timeline li[data-channel=note]").count()
        == page.locator("#timeline li").count()
        == 1
    )
    agent.no_markup_from_data()
    # agents have no GDPR and no merge buttons
    assert page.is_hidden("#gdpr")


def test_admin_merges_and_erases(user_of: Any, live: LiveServer) -> None:
    keep = customer(live, name="Keep Me", phones=[{"number": "030 4440401"}])
    twin = customer(live, name=HOSTILE, phones=[{"number": "+49 30 4440401"}])
    admin = user_of(Role.ADMIN)
    admin.login(f"/customers/{keep['id']}")
    page = admin.page
    item = page.locator(f"#same-number li[data-customer-id='{twin['id']}']")
    assert item.locator("a").text_content() == HOSTILE
    item.locator("button.merge").click()
    page.wait_for_selector("#merge-dialog[open]")
    assert HOSTILE in (page.text_content("#merge-what") or "")
    page.click("#merge-confirm")
    page.wait_for_selector("#notice:has-text('Merged customer')")
    page.wait_for_selector("#same-number li.muted")
    # erasure: the dialog names what goes, the button waits for ERASE
    page.click("#gdpr-erase")
    page.wait_for_selector("#erase-dialog[open]")
    listed = page.text_content("#erase-what") or ""
    assert "Keep Me" in listed and "merged older records" in listed and "phone numbers" in listed
    assert page.is_disabled("#erase-confirm")
    page.fill("#erase-check", "ERASE")
    page.click("#erase-confirm")
    page.wait_for_url("**/customers", timeout=8000)
    assert admin.dialogs == []


def test_tickets_board_and_callbacks(user_of: Any, live: LiveServer) -> None:
    anna = customer(live, name="Ticket Owner", phones=[{"number": "030 4440501"}])
    assert live.app is not None
    store = live.app[INTERACTIONS_KEY]
    category = f"cat{next(_serial)}"
    late = live.run(
        store.add_ticket(
            anna["id"],
            kind=TicketKind.COMPLAINT,
            subject=HOSTILE,
            created_by="someone",
            category=category,
            due_at="2020-01-01T00:00:00Z",
        )
    )
    sup = user_of(Role.SUPERVISOR)
    sup.login("/tickets")
    page = sup.page
    page.fill("#t-category", category)
    page.click("#ticket-filters button[type=submit]")
    card = page.locator(f"#col-open li[data-ticket-id='{late['id']}']")
    card.wait_for()
    assert card.locator("h3.subject").text_content() == HOSTILE
    assert "overdue" in (card.get_attribute("class") or "")
    sup.no_markup_from_data()
    card.locator("button.take").click()
    page.wait_for_selector(
        f"#col-open li[data-ticket-id='{late['id']}'] input.assignee[value='{sup.username}']"
    )
    card = page.locator(f"li[data-ticket-id='{late['id']}']")
    card.locator("select.status").select_option("resolved")
    card.locator("button.change-status").click()
    assert "resolution note" in (card.locator("p.problem").text_content() or "")
    card.locator("input.resolution").fill(f"Refunded {HOSTILE}")
    card.locator("button.change-status").click()
    resolved = page.locator(f"#col-resolved li[data-ticket-id='{late['id']}']")
    resolved.wait_for()
    assert resolved.locator("p.resolution-text").text_content() == f"Resolution: Refunded {HOSTILE}"

    # callbacks: an agent sees theirs and unassigned ones, marks one done
    agent = user_of(Role.AGENT, "PJSIP/2093")
    mine = live.run(
        store.add_callback(
            anna["id"],
            due_at="2020-01-01T00:00:00Z",
            assigned_to=agent.username,
            note=HOSTILE,
            created_by="sup",
        )
    )
    others = live.run(
        store.add_callback(
            anna["id"],
            due_at="2020-01-01T00:00:00Z",
            assigned_to=sup.username,
            note="not yours",
            created_by="sup",
        )
    )
    agent.login("/callbacks")
    apage = agent.page
    row = apage.locator(f"#callback-rows tr[data-callback-id='{mine['id']}']")
    row.wait_for()
    assert row.locator("td.note").text_content() == HOSTILE
    assert "overdue" in (row.get_attribute("class") or "")
    assert apage.locator(f"#callback-rows tr[data-callback-id='{others['id']}']").count() == 0
    assert apage.is_hidden("#cb-whose")
    agent.no_markup_from_data()
    row.locator("button.done").click()
    apage.wait_for_selector(f"#callback-rows tr[data-callback-id='{mine['id']}']", state="detached")
    assert json.loads(json.dumps(live.run(store.get_callback(mine["id"]))))["state"] == "done"
