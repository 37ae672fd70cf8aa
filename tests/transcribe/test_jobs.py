"""The persisted job queue and the service that runs it, with a stand-in recogniser.

The leg worker here reads the WAV for real (so bad files fail for real) but returns a canned
segment instead of running vosk, and runs on threads: what is under test is the queue, not
the model (tests/transcribe/test_engine.py runs the real pool and model).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from callcenter.store.database import Database
from callcenter.store.transcripts import JobState, SubjectKind, Transcripts
from callcenter.transcription.audio import Audio, encode_wav, read_wav
from callcenter.transcription.engine import Segment
from callcenter.transcription.jobs import TranscribeOptions, TranscriptionService
from callcenter.transcription.pipeline import LegResult, Speaker

T0 = 1714550400.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class FakeLegs:
    """Counts every leg it is asked for; fails a path on purpose while it is in ``flaky``."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.flaky: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, path: str, speaker: str) -> LegResult:
        with self._lock:
            self.calls[path] += 1
        if path in self.flaky:
            raise RuntimeError("disk hiccup")
        audio = read_wav(path)
        offset = 1.0 if speaker == "agent" else 0.5
        return LegResult(
            Speaker(speaker),
            [Segment(offset, offset + 0.5, f"{speaker} words", 0.9)],
            audio.duration_s,
            audio.duration_s,
        )


def _wav(path: Path, seconds: float = 1.0) -> str:
    t = np.arange(round(8000 * seconds)) / 8000
    pcm = np.rint(3000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    path.write_bytes(encode_wav(Audio(pcm, 8000)))
    return str(path)


@pytest.fixture
def model_dir(tmp_path: Path) -> str:
    """Looks like a vosk model to the start-up check (the stand-in never loads it)."""
    root = tmp_path / "model"
    for name in ("am/final.mdl", "graph/HCLG.fst", "conf/model.conf"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    return str(root)


def _service(
    db: Database, model_dir: str, legs: FakeLegs, clock: Clock, **options: object
) -> TranscriptionService:
    def threads(_: str) -> Executor:
        return ThreadPoolExecutor(max_workers=2)

    return TranscriptionService(
        db,
        TranscribeOptions(model_dir=model_dir, **options),  # type: ignore[arg-type]
        clock=clock,
        executor_factory=threads,
        leg_worker=legs,
    )


async def test_enqueue_is_idempotent(db_path: Path, tmp_path: Path) -> None:
    db = await Database.open(db_path)
    jobs = Transcripts(db)
    try:
        rec = _wav(tmp_path / "c1.wav")
        assert await jobs.enqueue(SubjectKind.CALL, "c1", rec, T0)
        assert not await jobs.enqueue(SubjectKind.CALL, "c1", rec, T0 + 1)
        assert not await jobs.enqueue(SubjectKind.CALL, "c1-again", rec, T0 + 2)  # same file
        assert not await jobs.enqueue(SubjectKind.CALL, "c1", str(tmp_path / "x.wav"), T0 + 3)
        assert len(await jobs.jobs()) == 1
    finally:
        await db.close()


async def test_jobs_survive_a_restart_none_lost_none_twice(
    db_path: Path, tmp_path: Path, model_dir: str
) -> None:
    clock = Clock()
    recordings = [_wav(tmp_path / f"c{i}.wav") for i in range(4)]
    db = await Database.open(db_path)
    jobs = Transcripts(db)
    for i, rec in enumerate(recordings):
        await jobs.enqueue(SubjectKind.CALL, f"c{i}", rec, T0 + i)
    crashed = await jobs.claim(T0 + 10)  # a worker had started c0 when the server died
    assert crashed is not None and crashed.subject_id == "c0"
    await db.close()

    db = await Database.open(db_path)
    legs = FakeLegs()
    service = _service(db, model_dir, legs, clock)
    try:
        assert await service.open()
        assert [j.state for j in await service.jobs.jobs()] == [JobState.QUEUED] * 4
        report = await service.drain()
        assert report.done == 4
        again = await service.drain()
        assert again.done == 0
    finally:
        await service.close()
        await db.close()
    assert legs.calls == Counter({rec: 1 for rec in recordings})
    db = await Database.open(db_path)
    try:
        done = await Transcripts(db).jobs(JobState.DONE)
        assert [j.subject_id for j in done] == ["c0", "c1", "c2", "c3"]
        assert [j.attempts for j in done] == [2, 1, 1, 1]
    finally:
        await db.close()


async def test_bad_files_fail_once_with_the_reason(
    db_path: Path, tmp_path: Path, model_dir: str
) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(encode_wav(Audio(np.zeros(0, dtype=np.int16), 8000)))
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 3)
    db = await Database.open(db_path)
    legs = FakeLegs()
    service = _service(db, model_dir, legs, Clock(), max_attempts=3)
    try:
        assert await service.open()
        await service.enqueue_call("empty", str(empty))
        await service.enqueue_call("corrupt", str(corrupt))
        await service.enqueue_call("gone", str(tmp_path / "never-written.wav"))
        report = await service.drain()
        assert (report.done, report.failed) == (0, 3)
        assert (await service.drain()).failed == 0  # not retried
        failed = {j.subject_id: j for j in await service.jobs.jobs(JobState.FAILED)}
        assert failed["empty"].error == "no audio (the data chunk is empty)"
        assert failed["corrupt"].error is not None and "corrupt WAV" in failed["corrupt"].error
        assert failed["gone"].error == "file not found"
        assert {j.attempts for j in failed.values()} == {1}
        backlog = await service.backlog()
        assert (backlog.queued, backlog.failed, backlog.oldest_age_s) == (0, 3, None)
    finally:
        await service.close()
        await db.close()
    assert legs.calls == Counter({str(empty): 1, str(corrupt): 1})


async def test_other_errors_are_retried_up_to_max_attempts(
    db_path: Path, tmp_path: Path, model_dir: str
) -> None:
    rec = _wav(tmp_path / "c1.wav")
    legs = FakeLegs()
    legs.flaky.add(rec)
    db = await Database.open(db_path)
    service = _service(db, model_dir, legs, Clock(), max_attempts=3)
    try:
        assert await service.open()
        await service.enqueue_call("c1", rec)
        report = await service.drain()
        assert report.failed == 1
        job = await service.jobs.job(SubjectKind.CALL, "c1")
        assert job is not None and job.state is JobState.FAILED
        assert job.attempts == 3 and job.error == "RuntimeError: disk hiccup"
    finally:
        await service.close()
        await db.close()
    assert legs.calls[rec] == 3


async def test_backlog_size_and_oldest_age(db_path: Path, tmp_path: Path, model_dir: str) -> None:
    clock = Clock()
    db = await Database.open(db_path)
    service = _service(db, model_dir, FakeLegs(), clock)
    try:
        await service.enqueue_call("c1", _wav(tmp_path / "c1.wav"))
        clock.now += 30
        await service.enqueue_call("c2", _wav(tmp_path / "c2.wav"))
        clock.now += 45
        backlog = await service.backlog()
        assert backlog.to_dict() == {"queued": 2, "running": 0, "failed": 0, "oldest_age_s": 75.0}
    finally:
        await db.close()


async def test_legs_are_merged_stored_searchable_and_erased(
    db_path: Path, tmp_path: Path, model_dir: str
) -> None:
    mixed = _wav(tmp_path / "1714.1.wav")
    leg_in = _wav(tmp_path / "1714.1-in.wav")
    leg_out = _wav(tmp_path / "1714.1-out.wav")
    db = await Database.open(db_path)
    legs = FakeLegs()
    service = _service(db, model_dir, legs, Clock())
    try:
        assert await service.open()
        await service.enqueue_call("call-1", mixed)
        assert (await service.drain()).done == 1
        assert set(legs.calls) == {leg_in, leg_out}
        stored = await service.transcript_for_call("call-1")
        assert stored is not None
        assert [(s["speaker"], s["start_s"]) for s in stored.segments] == [
            ("customer", 0.5),
            ("agent", 1.0),
        ]
        assert stored.text == "customer words\nagent words"
        assert [t.subject_id for t in await service.jobs.search("AGENT wor")] == ["call-1"]
        assert await service.jobs.search("100%") == []

        assert await service.erase_call("call-1") == 3
        assert await service.transcript_for_call("call-1") is None
        assert await service.jobs.job(SubjectKind.CALL, "call-1") is None
        left = await asyncio.to_thread(lambda: [Path(p).exists() for p in (mixed, leg_in, leg_out)])
        assert left == [False, False, False]
    finally:
        await service.close()
        await db.close()


async def test_a_missing_model_keeps_jobs_queued(db_path: Path, tmp_path: Path) -> None:
    db = await Database.open(db_path)
    service = _service(db, str(tmp_path / "no-model-here"), FakeLegs(), Clock())
    try:
        await service.start()
        assert not service.status.available
        assert service.status.reason == "directory not found"
        await service.enqueue_call("c1", _wav(tmp_path / "c1.wav"))
        assert (await service.drain()).done == 0
        assert (await service.backlog()).queued == 1
    finally:
        await service.close()
        await db.close()


async def test_the_background_dispatcher_runs_new_jobs(
    db_path: Path, tmp_path: Path, model_dir: str
) -> None:
    db = await Database.open(db_path)
    service = _service(db, model_dir, FakeLegs(), Clock(), poll_interval_s=60.0)
    try:
        await service.start()
        assert service.status.available
        await service.enqueue_voice_note("note-1", _wav(tmp_path / "n1.wav"))
        for _ in range(500):
            job = await service.jobs.job(SubjectKind.VOICE_NOTE, "note-1")
            if job is not None and job.state is JobState.DONE:
                break
            await asyncio.sleep(0.01)
        stored = await service.jobs.get(SubjectKind.VOICE_NOTE, "note-1")
        assert stored is not None
        assert [s["speaker"] for s in stored.segments] == ["agent"]
    finally:
        await service.close()
        await db.close()
