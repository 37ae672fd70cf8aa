"""Transcription jobs (:class:`TranscriptionService`), off the event loop.

Jobs are persisted in SQLite (:mod:`callcenter.store.transcripts`) so a restart loses none
and does none twice. A pool of worker processes (``spawn``ed, each loading the model once in
its initializer) runs the legs; the two legs of a call run in parallel when two workers are
free. A bad file (empty, corrupt, not 16-bit PCM) fails at once with the reason; other errors
are retried up to ``max_attempts``; a missing or broken model leaves the jobs queued and the
service reports itself unavailable (the rest of the server keeps running).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callcenter.store.database import Database
from callcenter.store.transcripts import (
    Backlog,
    JobState,
    StoredTranscript,
    SubjectKind,
    TranscriptionJob,
    Transcripts,
)
from callcenter.transcription.audio import (
    AudioError,
)
from callcenter.transcription.engine import (
    ModelError,
    check_model_dir,
    model_name,
    resolve_model_dir,
)
from callcenter.transcription.pipeline import (
    LEG_SUFFIXES,
    LegResult,
    init_worker,
    legs_for_job,
    merge_legs,
    work_leg,
)
from callcenter.transcription.summary import summarize

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TranscribeOptions:
    """What :class:`TranscriptionService` needs from the ``[transcribe]`` settings."""

    model_dir: str = ""
    workers: int = 1
    max_attempts: int = 3
    poll_interval_s: float = 30.0


@dataclass(frozen=True, slots=True)
class EngineStatus:
    """For /health and the supervisor screen."""

    available: bool
    model_dir: str
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"available": self.available, "model_dir": self.model_dir, "reason": self.reason}


@dataclass(slots=True)
class DrainReport:
    done: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


LegWorker = Callable[[str, str], LegResult]
Progress = Callable[[int, int, TranscriptionJob], None]


class TranscriptionService:
    """Runs the persisted transcription jobs on a process pool. ``start`` / ``close`` from
    the app's cleanup context; :meth:`drain` for ``callcenter transcribe --backlog``."""

    def __init__(
        self,
        db: Database,
        options: TranscribeOptions,
        *,
        clock: Callable[[], float] = time.time,
        executor_factory: Callable[[str], Executor] | None = None,
        leg_worker: LegWorker = work_leg,
    ) -> None:
        if options.workers < 1:
            raise ValueError(f"workers must be >= 1, got {options.workers}")
        self._db = db
        self.jobs = Transcripts(db)
        self._options = options
        self._clock = clock
        self._executor_factory = executor_factory or self._process_pool
        self._leg_worker = leg_worker
        self._pool: Executor | None = None
        self._status = EngineStatus(False, options.model_dir, "not started")
        self._model_name = ""
        self._running: dict[asyncio.Task[None], TranscriptionJob] = {}
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._report = DrainReport()

    @property
    def status(self) -> EngineStatus:
        return self._status

    def _process_pool(self, model_dir: str) -> Executor:
        return ProcessPoolExecutor(
            max_workers=self._options.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_worker,
            initargs=(model_dir,),
        )

    async def open(self) -> bool:
        """Requeue jobs a crash left running, check the model, create the pool. False (and
        a logged error line) when the model is unusable; jobs then wait in the queue."""
        requeued = await self.jobs.requeue_interrupted(self._clock(), self._options.max_attempts)
        if requeued:
            log.warning("requeued %d transcription job(s) interrupted by a restart", requeued)
        try:
            model_dir = resolve_model_dir(self._options.model_dir)
            await asyncio.to_thread(check_model_dir, model_dir)
        except ModelError as exc:
            self._status = EngineStatus(False, exc.path, exc.reason)
            log.error("transcription unavailable: %s", exc)
            return False
        self._model_name = model_name(model_dir)
        self._pool = self._executor_factory(model_dir)
        self._status = EngineStatus(True, model_dir)
        return True

    async def start(self) -> None:
        """:meth:`open`, then a named background task runs the queue until :meth:`close`."""
        if await self.open():
            self._dispatcher = asyncio.create_task(self._dispatch(), name="transcribe-dispatch")

    async def close(self) -> None:
        """Stop dispatching; jobs in progress go back to the queue uncounted."""
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
            self._dispatcher = None
        running = dict(self._running)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        for job in running.values():
            await self.jobs.release(job, self._clock())
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    # --- queueing and reading ------------------------------------------------------------

    async def enqueue_call(self, call_id: str, recording: str) -> bool:
        """Queue a finished call's recording (call only when it was recorded with consent)."""
        return await self._enqueue(SubjectKind.CALL, call_id, recording)

    async def enqueue_voice_note(self, note_id: str, path: str) -> bool:
        return await self._enqueue(SubjectKind.VOICE_NOTE, note_id, path)

    async def _enqueue(self, kind: SubjectKind, subject_id: str, recording: str) -> bool:
        added = await self.jobs.enqueue(kind, subject_id, recording, self._clock())
        if added:
            self._wake.set()
        return added

    async def backlog(self) -> Backlog:
        return await self.jobs.backlog(self._clock())

    async def transcript_for_call(self, call_id: str) -> StoredTranscript | None:
        return await self.jobs.for_call(call_id)

    async def erase(self, kind: SubjectKind, subject_id: str, *, delete_audio: bool = True) -> int:
        """GDPR erasure of a call's or note's transcript, job and (by default) audio files,
        legs included. Returns the number of files deleted."""
        recordings = await self.jobs.erase(kind, subject_id)
        if not delete_audio:
            return 0
        return await asyncio.to_thread(_delete_audio, recordings)

    async def erase_call(self, call_id: str, *, delete_audio: bool = True) -> int:
        return await self.erase(SubjectKind.CALL, call_id, delete_audio=delete_audio)

    # --- running jobs --------------------------------------------------------------------

    async def _dispatch(self) -> None:
        while True:
            await self._fill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._options.poll_interval_s)
            self._wake.clear()

    async def _fill(self) -> None:
        """Claim jobs while fewer than ``workers`` are in progress."""
        while self._status.available and len(self._running) < self._options.workers:
            job = await self.jobs.claim(self._clock())
            if job is None:
                return
            task = asyncio.create_task(self._run(job), name=f"transcribe-job-{job.id}")
            self._running[task] = job
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        self._wake.set()

    async def drain(self, progress: Progress | None = None) -> DrainReport:
        """Work through every queued job, then return (``--backlog``). Stops early when the
        model turns out to be unusable."""
        self._report = DrainReport()
        total = (await self.backlog()).queued
        finished = 0
        while True:
            await self._fill()
            if not self._running:
                return self._report
            in_progress = dict(self._running)
            done, _ = await asyncio.wait(in_progress, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                job = in_progress[task]
                self._running.pop(task, None)
                finished += 1
                total = max(total, finished)
                if progress is not None:
                    progress(finished, total, job)

    async def _run(self, job: TranscriptionJob) -> None:
        now = self._clock
        try:
            legs = await asyncio.to_thread(legs_for_job, job.kind, job.recording)
            loop = asyncio.get_running_loop()
            pool = self._pool
            if pool is None:
                raise ModelError(self._status.model_dir, "no worker pool")
            results = await asyncio.gather(
                *(
                    loop.run_in_executor(pool, self._leg_worker, leg.path, leg.speaker.value)
                    for leg in legs
                )
            )
            transcript = merge_legs(results, self._model_name)
            texts = [segment.text for segment in transcript.segments]
            summary = await asyncio.to_thread(summarize, texts)
            await self.jobs.complete(
                job,
                [segment.to_dict() for segment in transcript.segments],
                transcript.text,
                summary.text,
                summary.keywords,
                transcript.duration_s,
                transcript.model,
                now(),
            )
            self._report.done += 1
            log.info(
                "transcribed %s %s: %d segments, %.1f s audio",
                job.kind.value,
                job.subject_id,
                len(transcript.segments),
                transcript.duration_s,
            )
        except AudioError as exc:
            await self.jobs.fail(job, exc.reason, now(), retry=False, max_attempts=0)
            self._report.failed += 1
            self._report.errors.append(str(exc))
            log.warning("transcription of %s %s failed: %s", job.kind.value, job.subject_id, exc)
        except ModelError as exc:
            await self.jobs.release(job, now())
            self._status = EngineStatus(False, exc.path, exc.reason)
            log.error("transcription unavailable: %s", exc)
        except BrokenProcessPool as exc:
            await self._retry_or_fail(job, f"worker process died: {exc}")
            self._replace_pool()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("transcription of %s %s crashed", job.kind.value, job.subject_id)
            await self._retry_or_fail(job, f"{type(exc).__name__}: {exc}")

    async def _retry_or_fail(self, job: TranscriptionJob, error: str) -> None:
        state = await self.jobs.fail(
            job, error, self._clock(), retry=True, max_attempts=self._options.max_attempts
        )
        if state is JobState.FAILED:
            self._report.failed += 1
            self._report.errors.append(f"{job.recording}: {error}")

    def _replace_pool(self) -> None:
        broken, self._pool = self._pool, None
        if broken is not None:
            broken.shutdown(wait=False, cancel_futures=True)
        if self._status.available:
            self._pool = self._executor_factory(self._status.model_dir)


def _delete_audio(recordings: Sequence[str]) -> int:
    deleted = 0
    for recording in recordings:
        path = Path(recording)
        candidates = [path] + [
            path.with_name(f"{path.stem}{suffix}{path.suffix}") for suffix in LEG_SUFFIXES
        ]
        for candidate in candidates:
            try:
                candidate.unlink()
            except FileNotFoundError:
                continue
            deleted += 1
    return deleted
