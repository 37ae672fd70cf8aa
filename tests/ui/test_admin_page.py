"""/admin (#16 item 7) in headless Chromium against the real server: users (create with a
browser phone, role and extension, password reset, disable: the disabled user's open page
loses its session at once), API tokens (the secret shown once; revoke stops it), the audit
log's filters (who, what, which customer), the effective settings with the AMI secret masked;
agents are refused. Hostile markup in labels, extensions and audit entries arrives as text."""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.request
from typing import Any

from callcenter.store import Role
from callcenter.web.keys import ACCOUNTS_KEY, AUDIT_KEY
from tests.ui.conftest import SECRET, LiveServer
from tests.ui.test_agent_panel import wait_until
from tests.ui.test_crm_pages import HOSTILE, user_of  # noqa: F401 (fixture)

_serial = itertools.count(1)


def status_of(live: LiveServer, path: str, **headers: str) -> int:
    request = urllib.request.Request(f"{live.url}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def login_status(live: LiveServer, username: str, password: str) -> int:
    request = urllib.request.Request(
        f"{live.url}/api/login",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json", "Origin": live.url},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_admin_manages_users(user_of: Any, live: LiveServer) -> None:  # noqa: F811
    assert live.app is not None
    accounts = live.app[ACCOUNTS_KEY]
    admin = user_of(Role.ADMIN)
    admin.login("/admin")
    page = admin.page
    assert page.get_attribute("nav a[href='/admin']", "aria-current") == "page"
    assert page.is_visible("#user-rows tr[data-username='agent1']")
    # create a user with a browser phone
    name = f"newbie{next(_serial)}"
    page.fill("#nu-username", name)
    page.select_option("#nu-role", "agent")
    page.fill("#nu-password", "short")
    page.fill("#nu-extension", "PJSIP/w2077")
    page.fill("#nu-sip", "sip password 77")
    page.click("#new-user button[type=submit]")
    page.wait_for_selector("#new-user-error:not([hidden])")
    assert "password" in (page.text_content("#new-user-error") or "")
    page.fill("#nu-password", "first password 1")
    page.click("#new-user button[type=submit]")
    row = page.locator(f"#user-rows tr[data-username='{name}']")
    row.wait_for()
    assert row.locator("input.extension").input_value() == "PJSIP/w2077"
    made = live.run(accounts.get_user(name))
    assert made.extension == "PJSIP/w2077"
    assert live.run(accounts.browser_phone(made.id)) is not None
    # role and a hostile extension (an interface has no spaces, but may hold markup)
    row.locator("select.role").select_option("supervisor")
    row.locator("input.extension").fill("PJSIP/<b>x</b>")
    row.locator("button.save").click()
    page.wait_for_selector(f"#notice:has-text('{name} saved.')")
    changed = live.run(accounts.get_user(name))
    assert (changed.role, changed.extension) == (Role.SUPERVISOR, "PJSIP/<b>x</b>")
    row = page.locator(f"#user-rows tr[data-username='{name}']")
    assert row.locator("input.extension").input_value() == "PJSIP/<b>x</b>"
    assert page.locator("main b").count() == 0
    # reset the password
    row.locator("input.new-password").fill("second password 2")
    row.locator("button.reset").click()
    page.wait_for_selector("#notice:has-text('password was reset')")
    assert login_status(live, name, "first password 1") == 401
    assert login_status(live, name, "second password 2") == 200
    # disable: the user's open page loses its session at once
    victim = user_of(Role.AGENT, "PJSIP/2093")
    victim.login("/customers")
    page.reload()
    page.wait_for_selector("html[data-ready=true]")
    victim_row = page.locator(f"#user-rows tr[data-username='{victim.username}']")
    victim_row.locator("button.disable").click()
    page.wait_for_selector(f"#notice:has-text('{victim.username} is disabled')")
    assert victim_row.locator("td.state").text_content() == "disabled"
    victim.page.reload()
    victim.page.wait_for_url("**/login?next=*")
    assert login_status(live, victim.username, "ui-test-password") == 401
    victim_row.locator("button.enable").click()
    page.wait_for_selector(f"#notice:has-text('{victim.username} is enabled')")
    assert login_status(live, victim.username, "ui-test-password") == 200
    # nobody disables themselves: no button on the admin's own row
    own = page.locator(f"#user-rows tr[data-username='{admin.username}']")
    assert own.locator("button.disable").count() == 0
    admin.no_markup_from_data()


def test_tokens_are_shown_once_and_revoked(user_of: Any, live: LiveServer) -> None:  # noqa: F811
    admin = user_of(Role.ADMIN)
    admin.login("/admin")
    page = admin.page
    label = f"{HOSTILE} {next(_serial)}"
    page.select_option("#nt-user", "agent2")
    page.fill("#nt-label", label)
    page.fill("#nt-days", "30")
    page.click("#new-token button[type=submit]")
    page.wait_for_selector("#token-once:not([hidden])")
    secret = page.input_value("#token-secret")
    assert secret.startswith("cc_")
    assert status_of(live, "/api/me", Authorization=f"Bearer {secret}") == 200
    row = page.locator("#token-rows tr", has_text=label)
    assert row.locator("th.label").text_content() == label
    assert row.locator("td.user").text_content() == "agent2"
    assert row.get_attribute("data-state") == "active"
    page.click("#token-hide")
    assert page.is_hidden("#token-once")
    assert page.input_value("#token-secret") == ""
    page.reload()
    page.wait_for_selector("html[data-ready=true]")
    assert secret not in page.content()
    row = page.locator("#token-rows tr", has_text=label)
    row.locator("button.revoke").click()
    wait_until(lambda: row.get_attribute("data-state") == "revoked")
    assert status_of(live, "/api/me", Authorization=f"Bearer {secret}") == 401
    admin.no_markup_from_data()


def test_audit_filters_and_masked_settings(user_of: Any, live: LiveServer) -> None:  # noqa: F811
    assert live.app is not None
    audit = live.app[AUDIT_KEY]
    who = f"hostile{next(_serial)}"
    live.run(audit.audit(who, "customer.read", "/api/customers/424242", {"q": HOSTILE}))
    live.run(audit.audit(who, "note.add", f"/api/customers/5/{HOSTILE}", {}))
    admin = user_of(Role.ADMIN)
    admin.login("/admin")
    page = admin.page
    page.fill("#a-actor", who)
    page.click("#audit-filters button[type=submit]")
    wait_until(lambda: page.locator("#audit-rows tr").count() == 2)
    assert page.locator("#audit-rows td.target", has_text=HOSTILE).count() == 1
    assert HOSTILE in (
        page.locator("#audit-rows tr[data-action='customer.read'] td.details").text_content() or ""
    )
    page.fill("#a-customer", "424242")
    page.click("#audit-filters button[type=submit]")
    wait_until(lambda: page.locator("#audit-rows tr").count() == 1)
    assert page.text_content("#audit-rows td.action") == "customer.read"
    page.fill("#a-actor", "")
    page.fill("#a-customer", "")
    page.fill("#a-action", "note.*")
    page.fill("#a-from", "2000-01-01")
    page.fill("#a-to", "2000-01-02")
    page.click("#audit-filters button[type=submit]")
    wait_until(lambda: page.locator("#audit-rows tr").count() == 0)
    # the settings, read-only, the AMI secret masked
    secret = page.locator("#settings tr[data-key='ami.secret'] td.value")
    assert secret.text_content() == "********"
    assert SECRET not in (page.text_content("#settings") or "")
    assert page.locator("#settings input, #settings select").count() == 0
    assert (
        page.locator("#settings tr[data-key='center.time_zone'] td.value").text_content() == "UTC"
    )
    admin.no_markup_from_data()


def test_agents_and_supervisors_are_refused(user_of: Any, live: LiveServer) -> None:  # noqa: F811
    for role, extension in ((Role.AGENT, "PJSIP/2094"), (Role.SUPERVISOR, None)):
        other = user_of(role, extension)
        other.login("/admin")
        page = other.page
        assert page.is_visible("#forbidden")
        assert page.is_hidden("nav a[href='/admin']")
        assert page.is_hidden("#users-heading")
        assert page.locator("#user-rows tr").count() == 0
