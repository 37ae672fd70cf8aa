"""/import (#16 item 6) in headless Chromium against the real server: read a file's columns
(the automatic mapping preselected), change one, start, watch the progress while it runs,
download the rejected rows with their reasons; the batch is listed afterwards. A hostile
file name, header and cells arrive as text; agents are refused."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
from pathlib import Path
from typing import Any

from callcenter.store import Role
from callcenter.web.keys import IMPORTS_KEY
from tests.ui.conftest import LiveServer
from tests.ui.test_agent_panel import wait_until
from tests.ui.test_crm_pages import HOSTILE, user_of  # noqa: F401 (fixture)

_serial = itertools.count(1)


def test_import_with_mapping_progress_and_rejects(
    user_of: Any,  # noqa: F811
    live: LiveServer,
    tmp_path: Path,
) -> None:
    assert live.app is not None
    runner = live.app[IMPORTS_KEY]
    n = next(_serial)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Full Name", "phone", "do_not_call", "Notes"])
    writer.writerows([f"{HOSTILE} {n} {i}", f"030 77{n:02d}{i:04d}", "no", "x"] for i in range(40))
    writer.writerow([f"Broken {n}", f"030 7799{n:04d}", "perhaps", "x"])
    sup = user_of(Role.SUPERVISOR)
    sup.login("/import")
    page = sup.page
    assert page.get_attribute("nav a[href='/import']", "aria-current") == "page"
    page.select_option("#i-kind", "customers")
    page.set_input_files(
        "#i-file",
        files=[
            {"name": f"{HOSTILE}.csv", "mimeType": "text/csv", "buffer": out.getvalue().encode()}
        ],
    )
    page.click("#read-columns")
    page.wait_for_selector("#mapping-box:not([hidden])")
    rows = page.locator("#mapping-rows tr")
    assert rows.count() == 4
    assert page.input_value("#mapping-rows tr[data-column='phone'] select") == "phone"
    assert page.input_value("#mapping-rows tr[data-column='Full Name'] select") == ""
    assert (
        page.text_content("#mapping-rows tr[data-column='Full Name'] td.sample")
        == f"{HOSTILE} {n} 0"
    )
    page.select_option("#mapping-rows tr[data-column='Full Name'] select", "name")

    async def slowly() -> None:
        await asyncio.sleep(0.4)

    def slow_down() -> None:
        runner.batch_size = 10
        runner.between_batches = slowly

    def restore() -> None:
        runner.batch_size = 1000
        runner.between_batches = None

    live.call(slow_down)
    try:
        page.click("#start")
        page.wait_for_selector("#run[data-state=running]")
        wait_until(lambda: "rows done" in (page.text_content("#run-counts") or ""))
        running = page.text_content("#run-counts") or ""
        page.wait_for_selector("#run[data-state=done]", timeout=15000)
    finally:
        live.call(restore)
    assert "errors so far" in running
    assert page.text_content("#run-counts") == (
        "41 rows done: 40 imported, 0 updated, 0 duplicates, 1 errors so far"
    )
    assert page.evaluate("document.getElementById('run-progress').value") == 1
    with page.expect_download() as info:
        page.click("#run-rejects")
    saved = tmp_path / "rejected.csv"
    info.value.save_as(saved)
    table = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert table[0] == ["row", "reason", "Full Name", "phone", "do_not_call", "Notes"]
    assert table[1][0] == "42" and "do_not_call" in table[1][1]
    assert table[1][2] == f"Broken {n}"
    # the batch is listed afterwards, its file name as text
    listed = page.locator("#batch-rows tr").first
    # (Chromium sends a file name's quotes as %22)
    sent = HOSTILE.replace('"', "%22")
    assert listed.locator("td.filename").text_content() == f"{sent}.csv"
    assert listed.locator("td.imported").text_content() == "40"
    assert listed.get_attribute("data-state") == "done"
    sup.no_markup_from_data()


def test_agents_are_refused(user_of: Any, live: LiveServer) -> None:  # noqa: F811
    agent = user_of(Role.AGENT, "PJSIP/2095")
    agent.login("/import")
    page = agent.page
    assert page.is_visible("#forbidden")
    assert page.is_hidden("#upload")
    assert page.is_hidden("nav a[href='/import']")
