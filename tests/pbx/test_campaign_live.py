"""A retention campaign run by our dialer against the real Asterisk kit.

The kit's customers behave by their number's last two digits (``01`` answers after 3 s,
``02`` busy, ``03`` never answers, ``04`` congestion). Our server places every call itself
(``Originate`` into ``campaign-dial``/``campaign`` of the shipped dialplan, with
answering-machine detection on), settles each dial from its own call record (the record
carries the dial id from the ``ATTEMPT_ID`` channel variable) and retries by the policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from callcenter.model.attempts import AttemptState, DialOutcome
from callcenter.web.keys import CAMPAIGNS_KEY, DIALER_KEY
from tests.pbx.conftest import Server, ServerFactory
from tests.pbx.kit import Kit, Lab, wait_event

pytestmark = pytest.mark.pbx

ANSWERS, BUSY, NO_ANSWER, CONGESTION = (f"+49301002{n:02d}" for n in (1, 2, 3, 4))
FAST_CAMPAIGNS = {
    "CALLCENTER_CAMPAIGNS_RING_TIMEOUT_S": "8",
    "CALLCENTER_CAMPAIGNS_RECORD_GRACE_S": "5",
    "CALLCENTER_CAMPAIGNS_TICK_S": "0.5",
}


def _say(text: str, path: Path) -> None:
    """A short greeting as the world's customers play it (8 kHz mono WAV)."""
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", "de", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(path)], check=True)
    raw.unlink()


@contextlib.asynccontextmanager
async def customers_greet(pbx_kit: Kit, lab: Lab) -> AsyncIterator[None]:
    """Every answering customer says a short "Hallo?" and waits, as a person does; app_amd
    takes that for a human (a machine talks longer, or not at all)."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox make the customers' greeting (make debs)")
    sound = Path(pbx_kit.env["WORLD_SOUNDS_DIR"]) / "campaign-hallo.wav"
    await asyncio.to_thread(_say, "Hallo?", sound)
    await lab.world.send("DBPut", Family="customer", Key="speech", Val=str(sound.with_suffix("")))
    try:
        yield
    finally:
        await lab.world.send("DBPut", Family="customer", Key="speech", Val='""')


@contextlib.asynccontextmanager
async def agent_hangs_up_after(lab: Lab, talk_s: float) -> AsyncIterator[list[str]]:
    """Each call an agent takes is hung up by the agent after ``talk_s`` seconds."""
    taken: list[str] = []

    async def watch(events: asyncio.Queue[dict[str, str]]) -> None:
        while True:
            event = await events.get()
            if event.get("Event") == "AgentConnect":
                taken.append(event["DestChannel"])
                await asyncio.sleep(talk_s)
                await lab.center.send("Hangup", Channel=event["DestChannel"])

    with lab.center.listen() as events:
        task = asyncio.create_task(watch(events))
        try:
            yield taken
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _campaign(srv: Server, csv: str, **spec: Any) -> int:
    origin = str(srv.client.make_url("/")).rstrip("/")
    body = {
        "name": "live win-back",
        "queue": "retention",
        "mode": "progressive",
        "callee_start": "00:00",
        "callee_end": "23:59",
        "source": {"csv": csv},
        **spec,
    }
    created = await srv.client.post("/api/campaigns", json=body, headers={"Origin": origin})
    assert created.status == 201, await created.text()
    cid: int = (await created.json())["id"]
    started = await srv.client.post(f"/api/campaigns/{cid}/start", headers={"Origin": origin})
    assert started.status == 200, await started.text()
    return cid


async def _settled(srv: Server, cid: int, within: float) -> dict[str, Any]:
    store = srv.app[CAMPAIGNS_KEY]

    async def all_done() -> bool:
        return all(a.state is AttemptState.DONE for a in await store.attempts(cid))

    await srv.wait_until(all_done, within, "every attempt of the campaign to be done")
    return {a.number: a for a in await store.attempts(cid)}


async def test_progressive_campaign_outcomes_and_retries_in_the_call_log(
    pbx_kit: Kit, lab: Lab, server: ServerFactory
) -> None:
    srv = await server(**FAST_CAMPAIGNS)
    await lab.logout_all("retention", "support", "sales")
    await lab.phone("2011", "answer", 0.5)
    await lab.login("retention", "2011")
    csv = "phone\n" + "\n".join((ANSWERS, BUSY, NO_ANSWER, CONGESTION)) + "\n"
    retry = {"busy": 0.05, "no_answer": 0.05, "congestion": 0.05}  # 3 s
    async with customers_greet(pbx_kit, lab), agent_hangs_up_after(lab, 2) as taken:
        cid = await _campaign(srv, csv, max_attempts=2, retry=retry)
        attempts = await _settled(srv, cid, within=120)
    assert len(taken) == 1  # only the customer who answers reached the agent

    answered = attempts[ANSWERS]
    assert (answered.done_reason.value, answered.last_outcome, answered.tries) == (
        "reached",
        DialOutcome.COMPLETED,
        1,
    )
    for number, outcome in (
        (BUSY, DialOutcome.BUSY),
        (NO_ANSWER, DialOutcome.NO_ANSWER),
        (CONGESTION, DialOutcome.CONGESTION),
    ):
        attempt = attempts[number]
        assert (attempt.done_reason.value, attempt.last_outcome, attempt.tries) == (
            "max_attempts",
            outcome,
            2,
        ), number

    # Every dial is in the call log exactly once, under its own dial id, with its outcome.
    rows = [r for r in await srv.records(7, within=20) if r["dial_id"]]
    by_dial = {r["dial_id"]: r for r in rows}
    assert len(rows) == len(by_dial) == 7
    expected = {
        ANSWERS: ["answered"],
        BUSY: ["busy", "busy"],
        NO_ANSWER: ["no_answer", "no_answer"],
        CONGESTION: ["congestion", "congestion"],
    }
    for number, outcomes in expected.items():
        attempt_id = attempts[number].attempt_id
        dials = [f"{attempt_id}.{n}" for n in range(1, len(outcomes) + 1)]
        assert [by_dial[d]["outcome"] for d in dials] == outcomes, number
        assert {by_dial[d]["called_number"] for d in dials} == {number}
    talk = by_dial[f"{attempts[ANSWERS].attempt_id}.1"]
    assert (talk["queue"], talk["agent"], talk["hangup_by"]) == ("retention", "PJSIP/2011", "agent")
    assert Counter(r.call_id for r in srv.submitted) == Counter(r["call_id"] for r in rows)

    progress = await (await srv.client.get(f"/api/campaigns/{cid}")).json()
    assert progress["progress"]["outcomes"] == {
        "completed": 1,
        "busy": 2,
        "no_answer": 2,
        "congestion": 2,
    }
    health = await srv.health()
    assert health["campaigns"]["answering_machine_detection"] == "available"


async def test_a_silent_answer_is_an_answering_machine(
    pbx_kit: Kit, lab: Lab, server: ServerFactory
) -> None:
    """The kit's customers say nothing unless told to: app_amd hears 2.5 s of silence and
    calls it a machine. The call never reaches the agent and is retried by its policy."""
    srv = await server(**FAST_CAMPAIGNS)
    await lab.logout_all("retention", "support", "sales")
    await lab.phone("2012", "answer", 0.5)
    await lab.login("retention", "2012")
    async with agent_hangs_up_after(lab, 1) as taken:
        cid = await _campaign(
            srv, f"phone\n{ANSWERS}\n", name="machines", max_attempts=1, retry={"machine": 60}
        )
        attempts = await _settled(srv, cid, within=60)
    assert taken == []
    attempt = attempts[ANSWERS]
    assert (attempt.done_reason.value, attempt.last_outcome) == (
        "max_attempts",
        DialOutcome.MACHINE,
    )
    [row] = [r for r in await srv.records(1) if r["dial_id"] == f"{attempt.attempt_id}.1"]
    assert (row["outcome"], row["agent"]) == ("machine", None)
    assert (await srv.health())["campaigns"]["answering_machine_detection"] == "available"


async def test_server_restart_mid_dial_follows_the_dial_and_never_dials_it_again(
    pbx_kit: Kit, lab: Lab, server: ServerFactory, tmp_path: Path
) -> None:
    """Our server stops while a customer's phone rings and starts again on the same
    database: the dial is found among the live channels (Getvar ATTEMPT_ID), followed to its
    end, settled from what Asterisk reports, and no number is dialed a second time."""
    db_path = tmp_path / "restart.db"
    first = await server(db_path=db_path, **FAST_CAMPAIGNS)
    await lab.logout_all("retention", "support", "sales")
    await lab.phone("2013", "answer", 0.5)
    await lab.login("retention", "2013")
    with lab.center.listen() as events:
        cid = await _campaign(first, f"phone\n{NO_ANSWER}\n", name="restart", max_attempts=1)
        originate = await wait_event(
            events,
            lambda e: e.get("Event") == "Newchannel" and "campaign-dial" in e.get("Channel", ""),
        )
        await first.client.close()  # the crash, while the customer's phone rings
        second = await server(db_path=db_path, **FAST_CAMPAIGNS)
        store = second.app[CAMPAIGNS_KEY]
        attempt_id = f"c{cid}-1"

        async def followed() -> bool:
            return f"{attempt_id}.1" in second.app[DIALER_KEY].in_flight

        await second.wait_until(followed, 10, "the restarted dialer to follow the live dial")
        attempts = await _settled(second, cid, within=30)
        originates: list[dict[str, str]] = []
        while not events.empty():
            event = events.get_nowait()
            if event.get("Event") == "Newchannel" and "campaign-dial" in event.get("Channel", ""):
                originates.append(event)
    assert originate["Channel"].startswith(f"Local/{NO_ANSWER}@campaign-dial")
    assert [e for e in originates if e["Channel"].endswith(";1")] == []  # never dialed again
    attempt = attempts[NO_ANSWER]
    assert attempt.tries == 1 and attempt.dial_id == f"{attempt_id}.1"
    assert attempt.last_outcome is DialOutcome.NO_ANSWER
    dial = await store.attempt(attempt_id)
    assert dial[0].state is AttemptState.DONE
