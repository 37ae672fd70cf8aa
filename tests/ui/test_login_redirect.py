"""After login only same-origin paths are followed (issue 13, item 6): ``/\\t/evil.example``
is ``//evil.example`` to the browser's URL parser."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from callcenter.store import Role
from tests.ui.conftest import PASSWORD, LiveServer


@pytest.mark.parametrize(
    "next_",
    [
        "/\t/evil.example/phish",
        "/\n/evil.example/phish",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
    ],
)
def test_login_never_redirects_off_site(browser: Any, live: LiveServer, next_: str) -> None:
    name = live.add_account(
        f"redir{abs(hash(next_)) % 10**8}",
        Role.AGENT,
        "PJSIP/2090",
    )
    context = browser.new_context()
    context.set_default_timeout(8000)
    try:
        page = context.new_page()
        page.goto(f"{live.url}/login?next={quote(next_, safe='')}")
        page.fill("#username", name)
        page.fill("#password", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url(f"{live.url}/**")
        page.wait_for_load_state()
        assert page.url.startswith(live.url + "/"), page.url
    finally:
        context.close()
