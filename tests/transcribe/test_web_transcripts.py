"""Transcripts where users see them: the timeline, the call's recording (auth, ranges, no path
traversal), search, GDPR export/erasure and voice-note uploads. Transcripts are stored through
the job repository (no model needed), except in the last test, which runs the real one."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import wave
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from callcenter.app import create_app
from callcenter.crm.customers import parse_customer
from callcenter.settings import Settings
from callcenter.store import Role
from callcenter.store.transcripts import SubjectKind, Transcripts
from callcenter.transcription.jobs import TranscribeOptions, TranscriptionService
from callcenter.web.keys import (
    CALL_LOG_KEY,
    CUSTOMERS_KEY,
    DATABASE_KEY,
    PHONES_KEY,
)
from tests.web.webclient import logged_in, origin

SEGMENTS = [
    {
        "speaker": "agent",
        "start_s": 0.5,
        "end_s": 1.5,
        "text": "무엇을 도와드릴까요",
        "confidence": 0.9,
    },
    {
        "speaker": "customer",
        "start_s": 2.0,
        "end_s": 3.0,
        "text": "환불 해 주세요",
        "confidence": 0.8,
    },
]


def wav_bytes(seconds: float = 0.5, rate: int = 16000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(b"\x01\x00" * int(seconds * rate))
    return out.getvalue()


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    folder = tmp_path / "monitor"
    folder.mkdir()
    return folder


@pytest.fixture
def app_settings(settings: Settings, recordings: Path, tmp_path: Path) -> Settings:
    return dataclasses.replace(
        settings,
        crm=dataclasses.replace(settings.crm, recordings_dir=str(recordings)),
        transcribe=dataclasses.replace(
            settings.transcribe,
            voice_notes_dir=str(tmp_path / "notes"),
            voice_note_max_bytes=100_000,
        ),
    )


@pytest.fixture
async def client(aiohttp_client: Any, app_settings: Settings, cheap_passwords: Any) -> Any:
    return await aiohttp_client(create_app(app_settings, passwords=cheap_passwords))


async def store_transcript(client: TestClient[Any, Any], call_id: str, recording: str) -> None:
    jobs = Transcripts(client.app[DATABASE_KEY])
    await jobs.enqueue(SubjectKind.CALL, call_id, recording, 1714550400.0)
    job = await jobs.claim(1714550401.0)
    assert job is not None
    text = "\n".join(s["text"] for s in SEGMENTS)
    await jobs.complete(job, SEGMENTS, text, "환불 해 주세요", ["환불"], 3.2, "ko", 1714550402.0)


@pytest.fixture
async def anna(client: Any, make_call: Any, recordings: Path) -> dict[str, Any]:
    """A customer with one recorded, transcribed call (legs beside it) of agent PJSIP/2002."""
    parsed = parse_customer(
        {"name": "Anna", "phones": [{"number": "+4930123456"}]}, client.app[PHONES_KEY]
    )
    customer: dict[str, Any] = await client.app[CUSTOMERS_KEY].create(parsed)
    mixed = recordings / "c1.wav"
    mixed.write_bytes(wav_bytes(2.0, 8000))
    for leg in ("-in", "-out"):
        (recordings / f"c1{leg}.wav").write_bytes(wav_bytes(1.0, 8000))
    await client.app[CALL_LOG_KEY].add_many([make_call("c1", recording=str(mixed))])
    await store_transcript(client, "c1", str(mixed))
    return customer


async def test_the_timeline_and_the_call_carry_the_transcript(client: Any, anna: Any) -> None:
    await logged_in(client, "sup", Role.SUPERVISOR)
    body = await (await client.get(f"/api/customers/{anna['id']}")).json()
    [call] = [e["call"] for e in body["timeline"] if e["type"] == "call"]
    transcription = call["transcription"]
    assert transcription["state"] == "done"
    assert transcription["transcript"]["segments"] == SEGMENTS
    assert transcription["transcript"]["summary"] == "환불 해 주세요"
    assert transcription["transcript"]["keywords"] == ["환불"]
    detail = await (await client.get("/api/calls/c1/transcript")).json()
    assert detail["state"] == "done" and detail["transcript"]["segments"] == SEGMENTS
    assert (await client.get("/api/calls/nope/transcript")).status == 404


async def test_the_recording_streams_with_ranges_to_whom_may_hear_it(
    client: Any, anna: Any, recordings: Path
) -> None:
    await logged_in(client, "other", Role.AGENT, extension="PJSIP/2001")
    assert (await client.get("/api/calls/c1/recording")).status == 403
    assert (await client.get("/api/calls/c1/transcript")).status == 403
    await client.post("/api/logout", json={}, headers={"Origin": origin(client)})
    await logged_in(client, "own", Role.AGENT, extension="PJSIP/2002")
    whole = await client.get("/api/calls/c1/recording")
    assert whole.status == 200
    assert whole.headers["Content-Type"] == "audio/wav"
    data = await whole.read()
    assert data == (recordings / "c1.wav").read_bytes()
    part = await client.get("/api/calls/c1/recording", headers={"Range": "bytes=10-19"})
    assert part.status == 206
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    assert await part.read() == data[10:20]


async def test_recording_paths_outside_the_folder_or_missing_are_404(
    client: Any, make_call: Any, recordings: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.wav"
    secret.write_bytes(wav_bytes())
    await client.app[CALL_LOG_KEY].add_many(
        [
            make_call("out", recording=str(recordings / ".." / "secret.wav")),
            make_call("rel", recording="secret.wav"),
            make_call("gone", recording=str(recordings / "gone.wav")),
            make_call("none", recording=None),
        ]
    )
    (recordings / "link.wav").symlink_to(secret)
    await client.app[CALL_LOG_KEY].add_many(
        [make_call("link", recording=str(recordings / "link.wav"))]
    )
    await logged_in(client, "sup", Role.SUPERVISOR)
    for call_id in ("out", "rel", "gone", "none", "link"):
        response = await client.get(f"/api/calls/{call_id}/recording")
        assert response.status == 404, call_id


async def test_search_finds_customers_by_their_transcripts(client: Any, anna: Any) -> None:
    await logged_in(client, "sup", Role.SUPERVISOR)
    body = await (await client.get("/api/search", params={"q": "환불"})).json()
    assert [(c["id"], c["matched"]) for c in body["items"]] == [(anna["id"], "transcript")]
    body = await (await client.get("/api/search", params={"q": "도와드릴"})).json()
    assert [c["id"] for c in body["items"]] == [anna["id"]]


async def test_export_includes_and_erasure_removes_transcripts_and_audio(
    client: Any, anna: Any, recordings: Path
) -> None:
    await logged_in(client, "boss", Role.ADMIN)
    headers = {"Origin": origin(client)}
    note = await client.post(
        f"/api/customers/{anna['id']}/voice-notes", data=wav_bytes(), headers=headers
    )
    assert note.status == 201, await note.text()
    note_id = (await note.json())["id"]
    voice = Transcripts(client.app[DATABASE_KEY])
    note_file = Path(await voice.voice_note_file(note_id) or "")
    assert await asyncio.to_thread(note_file.is_file)
    dossier = await (await client.get(f"/api/customers/{anna['id']}/export")).json()
    assert [t["call_id"] for t in dossier["transcripts"]] == ["c1"]
    assert dossier["transcripts"][0]["segments"] == SEGMENTS

    erased = await client.delete(f"/api/customers/{anna['id']}", headers=headers)
    assert erased.status == 200, await erased.text()
    deleted = (await erased.json())["recording_files"]["deleted"]
    assert sorted(Path(p).name for p in deleted) == sorted(
        ["c1-in.wav", "c1-out.wav", "c1.wav", note_file.name]
    )
    assert await asyncio.to_thread(lambda: list(recordings.iterdir())) == []
    assert not await asyncio.to_thread(note_file.exists)
    assert await voice.for_call("c1") is None
    assert await voice.job(SubjectKind.VOICE_NOTE, str(note_id)) is None
    assert await voice.search("환불") == []
    body = await (await client.get("/api/search", params={"q": "환불"})).json()
    assert body["items"] == []


async def test_voice_note_upload_limits_and_validation(client: Any, anna: Any) -> None:
    await logged_in(client, "agent", Role.AGENT, extension="PJSIP/2001")
    url = f"/api/customers/{anna['id']}/voice-notes"
    headers = {"Origin": origin(client)}
    too_big = await client.post(url, data=wav_bytes(4.0), headers=headers)
    assert too_big.status == 413
    assert (await too_big.json())["error"]["id"] == "too_large"
    assert (await client.post(url, data=b"RIFF nonsense", headers=headers)).status == 400
    stereo = io.BytesIO()
    with wave.open(stereo, "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(16000)
        writer.writeframes(b"\0" * 6400)
    assert (await client.post(url, data=stereo.getvalue(), headers=headers)).status == 400
    assert (await client.post(url, data=wav_bytes(), headers={})).status == 403
    assert (
        await client.post("/api/customers/999/voice-notes", data=wav_bytes(), headers=headers)
    ).status == 404
    ok = await client.post(url, data=wav_bytes(), headers=headers)
    assert ok.status == 201
    note = await ok.json()
    assert note["body"] == "Voice note" and note["author"] == "agent"
    audio = await client.get(f"/api/voice-notes/{note['id']}/audio")
    assert audio.status == 200 and await audio.read() == wav_bytes()
    assert (await client.get("/api/voice-notes/999/audio")).status == 404
    body = await (await client.get(f"/api/customers/{anna['id']}")).json()
    [voice] = [e["note"] for e in body["timeline"] if e["type"] == "note"]
    assert voice["voice_note"] == {"state": "queued", "error": None, "transcript": None}


async def test_a_voice_note_is_transcribed_by_the_real_model_into_the_timeline(
    client: Any, anna: Any, voice_note: Path, engine: Any
) -> None:
    await logged_in(client, "agent", Role.AGENT, extension="PJSIP/2001")
    posted = await client.post(
        f"/api/customers/{anna['id']}/voice-notes",
        data=await asyncio.to_thread(voice_note.read_bytes),
        headers={"Origin": origin(client)},
    )
    assert posted.status == 201, await posted.text()
    service = TranscriptionService(client.app[DATABASE_KEY], TranscribeOptions(workers=1))
    try:
        assert await service.open()
        report = await asyncio.wait_for(service.drain(), 120)
    finally:
        await service.close()
    assert report.failed == 0 and report.done == 1
    body = await (await client.get(f"/api/customers/{anna['id']}")).json()
    [voice] = [e["note"] for e in body["timeline"] if e["type"] == "note"]
    transcript = voice["voice_note"]["transcript"]
    assert voice["voice_note"]["state"] == "done"
    assert transcript["segments"] and {s["speaker"] for s in transcript["segments"]} == {"agent"}
    words = transcript["text"].split()
    found = await (await client.get("/api/search", params={"q": words[0]})).json()
    assert anna["id"] in [c["id"] for c in found["items"]]


def test_a_wav_with_wrong_chunk_sizes_is_a_validation_error() -> None:
    """Every corrupted header field and every truncation: 400, never another exception."""
    import contextlib
    import struct

    from callcenter.errors import ValidationError
    from callcenter.web.recordings import check_wav

    good = wav_bytes(0.1)
    broken = [good[:n] for n in range(60)]
    for offset in range(4, 44):
        for value in (0, 1, 3, 17, 0x7FFFFFFF, 0xFFFFFFFF):
            data = bytearray(good)
            data[offset : offset + 4] = struct.pack("<I", value)
            broken.append(bytes(data))
    for data in broken:
        with contextlib.suppress(ValidationError):
            check_wav(data)


async def test_only_the_calls_own_agent_and_supervisors_see_its_transcript_everywhere(
    client: Any, anna: Any
) -> None:
    """The transcript endpoint refused other agents, but the customer's timeline and the
    screen pop's history carried the full transcript of every call (issue 13, item 2)."""
    from callcenter.web.keys import CARDS_KEY

    await logged_in(client, "other", Role.AGENT, extension="PJSIP/2001")
    body = await (await client.get(f"/api/customers/{anna['id']}")).json()
    [call] = [e["call"] for e in body["timeline"] if e["type"] == "call"]
    assert call["transcription"] is None and call["recording"] is None
    assert call["outcome"] == "answered"  # the history itself stays
    card = await client.app[CARDS_KEY]("+4930123456", "Anna", "PJSIP/2001")
    [popped] = [e["call"] for e in card["history"] if e["type"] == "call"]
    assert popped["transcription"] is None and popped["recording"] is None
    own = await client.app[CARDS_KEY]("+4930123456", "Anna", "PJSIP/2002")
    [mine] = [e["call"] for e in own["history"] if e["type"] == "call"]
    assert mine["transcription"]["transcript"]["segments"] == SEGMENTS
    await client.post("/api/logout", json={}, headers={"Origin": origin(client)})
    await logged_in(client, "own", Role.AGENT, extension="PJSIP/2002")
    body = await (await client.get(f"/api/customers/{anna['id']}")).json()
    [call] = [e["call"] for e in body["timeline"] if e["type"] == "call"]
    assert call["transcription"]["state"] == "done"
