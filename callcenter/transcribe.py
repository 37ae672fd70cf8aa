"""Transcription: recordings in, speaker-attributed transcripts out, off the event loop.

**Recordings.** The shipped dialplan records a queue call with MixMonitor into
``<uniqueid>.wav`` and, with the ``r()``/``t()`` options, each direction separately:
``<uniqueid>-in.wav`` is what the customer said, ``<uniqueid>-out.wav`` what the agent said.
When both legs are there each is transcribed on its own and the segments are merged in time
order with their speaker; a plain mixed recording alone gives speaker ``unknown``. A voice
note is the agent's own voice.

**Pipeline of one leg** (:func:`transcribe_leg`): read the WAV (8 kHz telephony or 16 kHz
notes), find the speech regions (silence gate, at the file's own rate), resample only those
to the model's rate and feed only those to vosk; timestamps stay positions in the recording
(see :mod:`callcenter.audio` and :mod:`callcenter.vosk_engine`).

**Jobs** (:class:`TranscriptionService`): persisted in SQLite (:mod:`callcenter.store.transcripts`)
so a restart loses none and does none twice. A pool of worker processes (``spawn``ed, each
loading the model once in its initializer) runs the legs; the two legs of a call run in
parallel when two workers are free. A bad file (empty, corrupt, not 16-bit PCM) fails at once
with the reason; other errors are retried up to ``max_attempts``; a missing or broken model
leaves the jobs queued and the service reports itself unavailable (the rest of the server
keeps running).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import enum
import json
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from callcenter.audio import (
    AudioError,
    Gate,
    read_wav,
    resample_regions,
    speech_regions,
    speech_seconds,
)
from callcenter.crm.recordings import RecordingPaths
from callcenter.errors import TranscriptionError
from callcenter.model.records import CallFinished, CallRecord, Change, Direction
from callcenter.store.batch import BatchWriter
from callcenter.store.customers import Customers
from callcenter.store.database import Database
from callcenter.store.transcripts import (
    Backlog,
    JobState,
    StoredTranscript,
    SubjectKind,
    TranscriptionJob,
    Transcripts,
)
from callcenter.summary import summarize
from callcenter.vosk_engine import (
    Engine,
    ModelError,
    Segment,
    check_model_dir,
    load_engine,
    model_name,
    resolve_model_dir,
)

log = logging.getLogger(__name__)

__all__ = [
    "AudioError",
    "EngineStatus",
    "Leg",
    "LegResult",
    "ModelError",
    "Speaker",
    "TranscribeOptions",
    "Transcript",
    "TranscriptSegment",
    "TranscriptionError",
    "TranscriptionService",
    "main_transcribe",
    "merge_legs",
    "recording_legs",
    "transcribe_leg",
    "transcribe_recording",
]


class Speaker(enum.Enum):
    CUSTOMER = "customer"
    AGENT = "agent"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Leg:
    path: str
    speaker: Speaker


@dataclass(frozen=True, slots=True)
class TranscriptSegment:
    speaker: Speaker
    start_s: float
    end_s: float
    text: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "speaker": self.speaker.value,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "text": self.text,
            "confidence": self.confidence,
        }


@dataclass(frozen=True, slots=True)
class LegResult:
    """One leg transcribed: its segments, its length and how much of it the gate let through."""

    speaker: Speaker
    segments: list[Segment]
    duration_s: float
    speech_s: float


@dataclass(frozen=True, slots=True)
class Transcript:
    segments: list[TranscriptSegment]
    duration_s: float
    speech_s: float
    model: str

    @property
    def text(self) -> str:
        return "\n".join(segment.text for segment in self.segments)

    def to_dict(self) -> dict[str, Any]:
        return {
            "segments": [segment.to_dict() for segment in self.segments],
            "text": self.text,
            "duration_s": self.duration_s,
            "speech_s": self.speech_s,
            "model": self.model,
        }


# --- the pipeline (pure of I/O except reading the WAV) -------------------------------------

LEG_SUFFIXES = {"-in": Speaker.CUSTOMER, "-out": Speaker.AGENT}


def recording_legs(recording: str) -> list[Leg]:
    """The files to transcribe for ``recording`` (filesystem lookups: call off the loop).

    ``X.wav`` with ``X-in.wav`` and ``X-out.wav`` beside it: the two legs. A leg file named
    directly: that leg. Otherwise the file itself, speaker unknown.
    """
    path = Path(recording)
    stem = path.stem
    for suffix, speaker in LEG_SUFFIXES.items():
        if stem.endswith(suffix):
            return [Leg(recording, speaker)]
    legs = [
        Leg(str(path.with_name(f"{stem}{suffix}{path.suffix}")), speaker)
        for suffix, speaker in LEG_SUFFIXES.items()
    ]
    if all(os.path.isfile(leg.path) for leg in legs):
        return legs
    return [Leg(recording, Speaker.UNKNOWN)]


def transcribe_leg(engine: Engine, leg: Leg, gate: Gate | None = None) -> LegResult:
    """Read, gate, resample the speech and recognise one file. Raises :class:`AudioError`."""
    audio = read_wav(leg.path)
    speech, regions = resample_regions(audio, speech_regions(audio, gate), engine.sample_rate)
    segments = engine.recognize(speech.pcm(), speech.sample_rate, regions) if regions else []
    return LegResult(
        leg.speaker, segments, audio.duration_s, speech_seconds(regions, speech.sample_rate)
    )


def merge_legs(results: Sequence[LegResult], model: str) -> Transcript:
    """One time-ordered list of segments from the legs of one recording."""
    order = {speaker: index for index, speaker in enumerate(Speaker)}
    segments = [
        TranscriptSegment(result.speaker, s.start_s, s.end_s, s.text, s.confidence)
        for result in results
        for s in result.segments
    ]
    segments.sort(key=lambda s: (s.start_s, s.end_s, order[s.speaker]))
    return Transcript(
        segments=segments,
        duration_s=round(max((r.duration_s for r in results), default=0.0), 3),
        speech_s=round(sum(r.speech_s for r in results), 3),
        model=model,
    )


def transcribe_recording(
    engine: Engine, recording: str, legs: Sequence[Leg] | None = None
) -> Transcript:
    """The whole recording in this process, leg after leg (the CLI; jobs use the pool)."""
    chosen = recording_legs(recording) if legs is None else legs
    return merge_legs([transcribe_leg(engine, leg) for leg in chosen], engine.name)


# --- worker processes ----------------------------------------------------------------------


@dataclass(slots=True)
class _WorkerState:
    engine: Engine | None = None
    error: ModelError | None = None


# Lives only in pool worker processes (set by their initializer); the server process never
# loads a model.
_WORKER = _WorkerState()


def init_worker(model_dir: str) -> None:
    """Process-pool initializer: load the model once for this process. A failure is kept
    and raised by each task (raising here would break the whole pool)."""
    try:
        _WORKER.engine = load_engine(model_dir)
    except ModelError as exc:
        _WORKER.error = exc


def work_leg(path: str, speaker: str) -> LegResult:
    """Pool task: transcribe one leg with this process's model."""
    if _WORKER.engine is None:
        raise _WORKER.error or ModelError("(none)", "worker has no model loaded")
    return transcribe_leg(_WORKER.engine, Leg(path, Speaker(speaker)))


def legs_for_job(kind: SubjectKind, recording: str) -> list[Leg]:
    """The files of a job, the leg with the most speech first (reads and gates each leg:
    call off the loop).

    The legs go to the pool in this order. Were the customer leg always first, one worker
    would take every customer leg and the other every agent leg, and whichever side talks
    more would keep its worker busy while the other idles; longest first (the LPT rule)
    pairs one call's long leg with the previous call's short one instead.
    """
    if not os.path.isfile(recording):
        raise AudioError(recording, "file not found")
    if kind is SubjectKind.VOICE_NOTE:
        return [Leg(recording, Speaker.AGENT)]
    legs = recording_legs(recording)
    if len(legs) < 2:
        return legs
    work = {leg: _speech_in(leg) for leg in legs}
    return sorted(legs, key=work.__getitem__, reverse=True)


def _speech_in(leg: Leg) -> float:
    """Seconds the gate lets through: what the recogniser's work on the leg grows with."""
    audio = read_wav(leg.path)
    return speech_seconds(speech_regions(audio), audio.sample_rate)


# --- the job service -----------------------------------------------------------------------


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


# --- command line --------------------------------------------------------------------------


def _clock_text(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes):02d}:{rest:05.2f}"


def format_transcript(transcript: Transcript, summary_text: str, keywords: Sequence[str]) -> str:
    lines = [
        f"[{_clock_text(s.start_s)}–{_clock_text(s.end_s)}] {s.speaker.value}: {s.text}"
        for s in transcript.segments
    ]
    if summary_text:
        lines += ["", f"summary: {summary_text}"]
    if keywords:
        lines.append(f"keywords: {', '.join(keywords)}")
    return "\n".join(lines)


def main_transcribe(
    args: argparse.Namespace,
    options: TranscribeOptions,
    db_path: Path,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """``callcenter transcribe FILE.wav... [--json]`` prints transcripts (legs beside a call
    recording are used); ``callcenter transcribe --backlog`` works through the queued jobs
    with a progress bar. Exit 0, 1 when a file or job failed, 2 on bad usage."""
    out = out or sys.stdout
    err = err or sys.stderr
    files: list[Path] = list(getattr(args, "files", None) or [])
    if getattr(args, "backlog", False):
        if files:
            print("error: give FILE.wav or --backlog, not both", file=err)
            return 2
        return asyncio.run(_run_backlog(options, db_path, err))
    if not files:
        print("error: give at least one FILE.wav (or --backlog)", file=err)
        return 2
    engine = load_engine(resolve_model_dir(options.model_dir))
    status = 0
    for path in files:
        try:
            transcript = transcribe_recording(engine, str(path))
        except AudioError as exc:
            print(f"error: {exc}", file=err)
            status = 1
            continue
        summary = summarize([segment.text for segment in transcript.segments])
        if getattr(args, "json", False):
            data = transcript.to_dict()
            data.update(file=str(path), summary=summary.text, keywords=summary.keywords)
            print(json.dumps(data, ensure_ascii=False), file=out)
        else:
            if len(files) > 1:
                print(f"== {path}", file=out)
            print(format_transcript(transcript, summary.text, summary.keywords), file=out)
    return status


async def _run_backlog(options: TranscribeOptions, db_path: Path, err: TextIO) -> int:
    db = await Database.open(db_path)
    service = TranscriptionService(db, options)
    try:
        if not await service.open():
            print(
                f"error: speech model {service.status.model_dir}: {service.status.reason}", file=err
            )
            return 1
        before = await service.backlog()
        print(f"{before.queued} job(s) queued", file=err)
        bar = _ProgressBar(err)
        report = await service.drain(bar.update)
        bar.close()
    finally:
        await service.close()
        await db.close()
    print(f"done {report.done}, failed {report.failed}", file=err)
    for error in report.errors:
        print(f"  failed: {error}", file=err)
    if not service.status.available:
        print(f"error: transcription stopped: {service.status.reason}", file=err)
        return 1
    return 1 if report.failed else 0


class _ProgressBar:
    """``[#####-----] 5/10 jobs`` on a terminal (redrawn in place), one line per job otherwise."""

    WIDTH = 30

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._started = time.monotonic()

    def update(self, finished: int, total: int, job: TranscriptionJob) -> None:
        filled = round(self.WIDTH * finished / max(1, total))
        elapsed = time.monotonic() - self._started
        line = (
            f"[{'#' * filled}{'-' * (self.WIDTH - filled)}] {finished}/{total} jobs "
            f"{elapsed:5.1f}s  {job.kind.value} {job.subject_id}"
        )
        if self._tty:
            self._stream.write("\r" + line[:120].ljust(120))
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()


class CallTranscriptionFeed:
    """Finished calls become transcription jobs when they have a recording and a customer of
    theirs consented to being recorded (``consent.may_record``); without consent the audio
    is never transcribed. ``on_change`` is the pump's synchronous listener; the consent
    lookup and the enqueueing run in a background writer."""

    def __init__(
        self,
        service: TranscriptionService,
        customers: Customers,
        paths: RecordingPaths | None = None,
    ) -> None:
        self._service = service
        self._customers = customers
        self._paths = paths
        self.writer: BatchWriter[CallRecord] = BatchWriter(self._enqueue, name="transcribe feed")

    def on_change(self, change: Change) -> None:
        if isinstance(change, CallFinished) and change.record.recording:
            self.writer.submit(change.record)

    async def _enqueue(self, records: Sequence[CallRecord]) -> None:
        for record in records:
            number = (
                record.called_number
                if record.direction is Direction.OUTBOUND
                else record.caller_number
            )
            found = (await self._customers.lookup(number)).customers if number else []
            if not any(customer["consent"]["may_record"] for customer in found):
                log.info("call %s: no consent to record, not transcribed", record.call_id)
                continue
            recording = str(record.recording)
            if self._paths is not None:  # the PBX's path, confined and mapped to ours
                local = await asyncio.to_thread(self._paths.local, recording)
                if local is None:
                    continue
                recording = str(local)
            await self._service.enqueue_call(record.call_id, recording)
