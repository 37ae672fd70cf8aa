"""Calls that end while our server is down are logged from the PBX's CDRs (issue 13, item 17).

The center writes dialplans/cdr_custom.conf's JSON-lines CDR file; our server reads it
(``[pbx] cdr_path``) on the resync after it starts again. Every call made while it was stopped
is logged exactly once, marked recovered, with what the CDRs tell (caller, number called,
queue, agents, outcome, times); a call it saw live is not logged again, and a second restart
adds nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from callcenter.web.keys import CDR_RECOVERY_KEY
from tests.pbx.conftest import Server, ServerFactory
from tests.pbx.expect import CLOCK_SLACK_S, cdr_expected
from tests.pbx.kit import Kit, Lab, epoch, run_scenario

pytestmark = pytest.mark.pbx

#: Eight calls of every kind, made while our server is stopped.
WHILE_DOWN: tuple[tuple[str, ...], ...] = (
    ("inbound", "--agent", "2001", "--ring", "1", "--talk", "2",
     "--from", "+493011100001", "--name", "Jürgen Müller"),
    ("inbound", "--queue", "sales", "--agent", "2002", "--ring", "1", "--talk", "1",
     "--from", "+821012345678", "--name", "김철수"),
    ("abandon", "--wait", "3", "--from", "+493011100003", "--name", "Ungeduldig"),
    ("inbound", "--queue", "retention", "--rna", "2003", "--agent", "2004", "--ring", "1",
     "--talk", "1", "--hangup-by", "agent", "--from", "+493011100004", "--name", "Zweiter"),
    ("outbound", "--agent", "2005", "--to", "+4930100002"),
    ("outbound", "--agent", "2005", "--to", "+4930100001", "--talk", "1"),
    ("outbound", "--agent", "2006", "--to", "+4930100004"),
    ("campaign", "--queue", "sales", "--to", "+4930100001", "--agent", "2007"),
)  # fmt: skip


def record_fixture(folder: Path, cdr: Path, truths: list[dict[str, Any]]) -> None:
    (folder / "kit_calls.cdr.jsonl").write_bytes(cdr.read_bytes())
    lines = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in truths)
    (folder / "kit_calls.truth.jsonl").write_text(lines, encoding="utf-8")


async def recovery_done(srv: Server, passes: int = 1) -> None:
    recovery = srv.app[CDR_RECOVERY_KEY]

    async def done() -> bool:
        return bool(recovery.passes >= passes)

    await srv.wait_until(done, 15, "the CDR recovery pass")


async def test_calls_made_while_our_server_is_down_are_recovered_once(
    pbx_kit: Kit, lab: Lab, server: ServerFactory, tmp_path: Path
) -> None:
    cdr = await lab.cdr_file()
    db_path = tmp_path / "recovery.db"
    environ = {"CALLCENTER_PBX_CDR_PATH": str(cdr)}
    submitted: list[Any] = []

    first = await server(db_path=db_path, submitted=submitted, **environ)
    await recovery_done(first)  # a fresh database: nothing to recover, the watermark starts
    [seen] = await run_scenario(
        pbx_kit, "inbound", "--agent", "2001", "--ring", "1", "--talk", "1",
        "--from", "+493011100000", "--name", "Live Gesehen",
    )  # fmt: skip
    assert (await first.record(seen["linkedid"]))["recovered"] is False
    await first.client.close()

    truths = []
    for args in WHILE_DOWN:
        truths += await run_scenario(pbx_kit, *args)
    assert len(truths) == 8

    second = await server(db_path=db_path, submitted=submitted, **environ)
    await recovery_done(second)
    rows = {row["call_id"]: row for row in await second.records(9)}
    assert set(rows) == {seen["linkedid"], *(t["linkedid"] for t in truths)}
    assert rows[seen["linkedid"]]["recovered"] is False
    problems = []
    for truth in truths:
        row = rows[truth["linkedid"]]
        expected = cdr_expected(truth)
        got = {key: row[key] for key in expected}
        if got != expected or row["recovered"] is not True:
            problems.append(f"{truth['scenario']} {truth['linkedid']}: {got} != {expected}")
        for ours, theirs in (("started_at", "started"), ("ended_at", "ended")):
            if abs(epoch(row[ours]) - epoch(truth[theirs])) > CLOCK_SLACK_S:
                problems.append(f"{truth['linkedid']} {ours}: {row[ours]} vs {truth[theirs]}")
    assert not problems, "\n".join(problems)
    assert Counter(r.call_id for r in submitted) == {r: 1 for r in rows}
    await second.client.close()

    if keep := os.environ.get("CDR_RECORD_TO"):  # refresh tests/fixtures/cdr/ from the kit
        record_fixture(Path(keep), cdr, [seen, *truths])

    third = await server(db_path=db_path, submitted=submitted, **environ)
    await recovery_done(third)
    await asyncio.sleep(0.5)
    assert len(await third.calls()) == 9
    assert Counter(r.call_id for r in submitted) == {r: 1 for r in rows}
