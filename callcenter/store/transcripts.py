"""Transcription jobs and the transcripts they produce (tables of migration 0100).

Invariants:

- One job per recording and per subject (a call id or a voice-note id), ever: :meth:`enqueue`
  is ``INSERT ... ON CONFLICT DO NOTHING``, so a duplicated ``CallFinished`` or a second
  upload of the same file queues nothing new.
- A job is claimed in one write transaction (select the oldest queued, mark it running,
  count the attempt), so two runners never take the same job.
- A transcript and its job's ``done`` are written in one transaction: a job is done exactly
  when its transcript is stored. After a crash, :meth:`requeue_interrupted` puts the jobs left
  ``running`` back in the queue (or fails them once they used up their attempts), so no job
  is lost and none ends done twice.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiosqlite

from callcenter.store import search
from callcenter.store.database import Database


class JobState(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class SubjectKind(enum.Enum):
    CALL = "call"
    VOICE_NOTE = "voice_note"


@dataclass(frozen=True, slots=True)
class TranscriptionJob:
    id: int
    kind: SubjectKind
    subject_id: str
    recording: str
    state: JobState
    attempts: int
    error: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class Backlog:
    """What supervisors and metrics see: jobs waiting, in progress, given up on, and how long
    the oldest unfinished one has waited (None when nothing is pending)."""

    queued: int
    running: int
    failed: int
    oldest_age_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "queued": self.queued,
            "running": self.running,
            "failed": self.failed,
            "oldest_age_s": self.oldest_age_s,
        }


@dataclass(frozen=True, slots=True)
class StoredTranscript:
    kind: SubjectKind
    subject_id: str
    segments: list[dict[str, Any]]
    text: str
    summary: str
    keywords: list[str]
    duration_s: float
    model: str
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "subject_id": self.subject_id,
            "segments": self.segments,
            "text": self.text,
            "summary": self.summary,
            "keywords": self.keywords,
            "duration_s": self.duration_s,
            "model": self.model,
            "created_at": self.created_at,
        }


_JOB_COLUMNS = "id, kind, subject_id, recording, state, attempts, error, created_at, updated_at"
_TRANSCRIPT_COLUMNS = (
    "kind, subject_id, segments, full_text, summary, keywords, duration_s, model, created_at"
)


def _job(row: Sequence[Any]) -> TranscriptionJob:
    return TranscriptionJob(
        id=int(row[0]),
        kind=SubjectKind(row[1]),
        subject_id=str(row[2]),
        recording=str(row[3]),
        state=JobState(row[4]),
        attempts=int(row[5]),
        error=row[6],
        created_at=str(row[7]),
        updated_at=str(row[8]),
    )


def _transcript(row: Sequence[Any]) -> StoredTranscript:
    return StoredTranscript(
        kind=SubjectKind(row[0]),
        subject_id=str(row[1]),
        segments=json.loads(row[2]),
        text=str(row[3]),
        summary=str(row[4]),
        keywords=json.loads(row[5]),
        duration_s=float(row[6]),
        model=str(row[7]),
        created_at=str(row[8]),
    )


def _stamp(now: float) -> str:
    """As :func:`callcenter.model.records.iso` (ISO 8601 UTC, whole seconds, ``Z``)."""
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _age(created_at: str, now: float) -> float:
    return max(0.0, now - datetime.fromisoformat(created_at).timestamp())


class Transcripts:
    """The job queue and the transcripts, on one :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # --- jobs ----------------------------------------------------------------------------

    async def enqueue(self, kind: SubjectKind, subject_id: str, recording: str, now: float) -> bool:
        """Queue ``recording`` for ``subject_id``. False when it was already queued (or done,
        or failed) for this recording or this subject."""
        stamp = _stamp(now)
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO transcription_jobs "
                "(kind, subject_id, recording, state, attempts, created_at, updated_at) "
                "VALUES (?, ?, ?, 'queued', 0, ?, ?) ON CONFLICT DO NOTHING",
                (kind.value, subject_id, recording, stamp, stamp),
            )
            return cursor.rowcount == 1

    async def requeue_interrupted(self, now: float, max_attempts: int) -> int:
        """At start-up: jobs left ``running`` by a crash go back to ``queued``; those that had
        already used ``max_attempts`` are failed instead (a file that kills the worker must
        not kill it forever). Returns how many were requeued."""
        stamp = _stamp(now)
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE transcription_jobs SET state = 'failed', finished_at = ?, updated_at = ?, "
                "error = 'interrupted on every attempt (worker or server crash)' "
                "WHERE state = 'running' AND attempts >= ?",
                (stamp, stamp, max_attempts),
            )
            cursor = await conn.execute(
                "UPDATE transcription_jobs SET state = 'queued', updated_at = ? "
                "WHERE state = 'running'",
                (stamp,),
            )
            return int(cursor.rowcount)

    async def claim(self, now: float) -> TranscriptionJob | None:
        """Take the oldest queued job: mark it running and count the attempt."""
        stamp = _stamp(now)
        async with self._db.transaction() as conn:
            async with conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM transcription_jobs WHERE state = 'queued' "
                "ORDER BY created_at, id LIMIT 1"
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return None
            job = _job(row)
            await conn.execute(
                "UPDATE transcription_jobs SET state = 'running', attempts = attempts + 1, "
                "started_at = ?, updated_at = ? WHERE id = ?",
                (stamp, stamp, job.id),
            )
        return TranscriptionJob(
            job.id,
            job.kind,
            job.subject_id,
            job.recording,
            JobState.RUNNING,
            job.attempts + 1,
            job.error,
            job.created_at,
            stamp,
        )

    async def complete(
        self,
        job: TranscriptionJob,
        segments: list[dict[str, Any]],
        text: str,
        summary: str,
        keywords: list[str],
        duration_s: float,
        model: str,
        now: float,
    ) -> None:
        """Store the transcript and mark the job done, together."""
        stamp = _stamp(now)
        async with self._db.transaction() as conn:
            await conn.execute(
                f"INSERT INTO transcripts ({_TRANSCRIPT_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, subject_id) DO UPDATE SET "
                "segments = excluded.segments, full_text = excluded.full_text, "
                "summary = excluded.summary, keywords = excluded.keywords, "
                "duration_s = excluded.duration_s, model = excluded.model, "
                "created_at = excluded.created_at",
                (
                    job.kind.value,
                    job.subject_id,
                    json.dumps(segments, ensure_ascii=False),
                    text,
                    summary,
                    json.dumps(keywords, ensure_ascii=False),
                    duration_s,
                    model,
                    stamp,
                ),
            )
            await search.put_transcript(conn, job.kind.value, job.subject_id, text)
            await conn.execute(
                "UPDATE transcription_jobs SET state = 'done', error = NULL, finished_at = ?, "
                "updated_at = ? WHERE id = ?",
                (stamp, stamp, job.id),
            )

    async def fail(
        self, job: TranscriptionJob, error: str, now: float, *, retry: bool, max_attempts: int
    ) -> JobState:
        """Record a failed attempt: back to the queue while ``retry`` and attempts remain,
        else failed for good. Returns the new state."""
        state = JobState.QUEUED if retry and job.attempts < max_attempts else JobState.FAILED
        stamp = _stamp(now)
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE transcription_jobs SET state = ?, error = ?, updated_at = ?, "
                "finished_at = ? WHERE id = ?",
                (state.value, error, stamp, stamp if state is JobState.FAILED else None, job.id),
            )
        return state

    async def release(self, job: TranscriptionJob, now: float) -> None:
        """Put a claimed job back without counting the attempt (the engine, not the file,
        was the problem: no model loaded)."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE transcription_jobs SET state = 'queued', "
                "attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, "
                "updated_at = ? WHERE id = ? AND state = 'running'",
                (_stamp(now), job.id),
            )

    async def job(self, kind: SubjectKind, subject_id: str) -> TranscriptionJob | None:
        async with (
            self._db.reading() as conn,
            conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM transcription_jobs WHERE kind = ? AND subject_id = ?",
                (kind.value, subject_id),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return None if row is None else _job(row)

    async def jobs(self, state: JobState | None = None) -> list[TranscriptionJob]:
        query = f"SELECT {_JOB_COLUMNS} FROM transcription_jobs"
        params: tuple[Any, ...] = ()
        if state is not None:
            query += " WHERE state = ?"
            params = (state.value,)
        async with self._db.reading() as conn, conn.execute(query + " ORDER BY id", params) as cur:
            return [_job(row) for row in await cur.fetchall()]

    async def backlog(self, now: float) -> Backlog:
        async with self._db.reading() as conn:
            async with conn.execute(
                "SELECT state, COUNT(*) FROM transcription_jobs GROUP BY state"
            ) as cursor:
                counts = {str(row[0]): int(row[1]) for row in await cursor.fetchall()}
            async with conn.execute(
                "SELECT MIN(created_at) FROM transcription_jobs "
                "WHERE state IN ('queued', 'running')"
            ) as cursor:
                row = await cursor.fetchone()
        oldest = None if row is None or row[0] is None else _age(str(row[0]), now)
        return Backlog(
            queued=counts.get("queued", 0),
            running=counts.get("running", 0),
            failed=counts.get("failed", 0),
            oldest_age_s=oldest,
        )

    # --- transcripts ---------------------------------------------------------------------

    async def get(self, kind: SubjectKind, subject_id: str) -> StoredTranscript | None:
        async with (
            self._db.reading() as conn,
            conn.execute(
                f"SELECT {_TRANSCRIPT_COLUMNS} FROM transcripts WHERE kind = ? AND subject_id = ?",
                (kind.value, subject_id),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return None if row is None else _transcript(row)

    async def for_call(self, call_id: str) -> StoredTranscript | None:
        return await self.get(SubjectKind.CALL, call_id)

    async def search(self, text: str, limit: int = 50) -> list[StoredTranscript]:
        """Transcripts whose text contains ``text`` (case-insensitive substring; portable SQL —
        an FTS index can replace this one function later)."""
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        async with (
            self._db.reading() as conn,
            conn.execute(
                f"SELECT {_TRANSCRIPT_COLUMNS} FROM transcripts "
                "WHERE LOWER(full_text) LIKE LOWER(?) ESCAPE '\\' "
                "ORDER BY created_at DESC LIMIT ?",
                (pattern, limit),
            ) as cursor,
        ):
            return [_transcript(row) for row in await cursor.fetchall()]

    async def erase(self, kind: SubjectKind, subject_id: str) -> list[str]:
        """GDPR erasure: delete the subject's transcript and job. Returns the recordings the
        jobs pointed at, so the caller can delete the audio too."""
        async with self._db.transaction() as conn:
            async with conn.execute(
                "SELECT recording FROM transcription_jobs WHERE kind = ? AND subject_id = ?",
                (kind.value, subject_id),
            ) as cursor:
                recordings = [str(row[0]) for row in await cursor.fetchall()]
            await conn.execute(
                "DELETE FROM transcripts WHERE kind = ? AND subject_id = ?",
                (kind.value, subject_id),
            )
            await conn.execute(
                "DELETE FROM transcription_jobs WHERE kind = ? AND subject_id = ?",
                (kind.value, subject_id),
            )
            await search.drop_transcripts(conn, kind.value, [subject_id])
        return recordings

    async def voice_note_file(self, note_id: int) -> str | None:
        """The audio file of a voice note (the path its job was queued with)."""
        job = await self.job(SubjectKind.VOICE_NOTE, str(note_id))
        return None if job is None else job.recording


async def subjects_of(
    conn: aiosqlite.Connection, kind: SubjectKind, subject_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """For the timeline and exports: each subject that has a transcription job, as
    ``{"state": queued|running|done|failed, "error": ..., "transcript": {...} | None}``
    (``transcript`` is :meth:`StoredTranscript.to_dict` once done)."""
    found: dict[str, dict[str, Any]] = {}
    ids = list(dict.fromkeys(subject_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        jobs = await conn.execute_fetchall(
            "SELECT subject_id, state, error FROM transcription_jobs"
            f" WHERE kind = ? AND subject_id IN ({marks})",
            [kind.value, *chunk],
        )
        for subject_id, state, error in jobs:
            found[str(subject_id)] = {"state": state, "error": error, "transcript": None}
        rows = await conn.execute_fetchall(
            f"SELECT {_TRANSCRIPT_COLUMNS} FROM transcripts"
            f" WHERE kind = ? AND subject_id IN ({marks})",
            [kind.value, *chunk],
        )
        for row in rows:
            transcript = _transcript(row)
            entry = found.setdefault(
                transcript.subject_id, {"state": JobState.DONE.value, "error": None}
            )
            entry["transcript"] = transcript.to_dict()
    return found


async def erase_subjects(
    conn: aiosqlite.Connection, kind: SubjectKind, subject_ids: Sequence[str]
) -> list[str]:
    """GDPR erasure inside the caller's transaction: the subjects' transcripts, jobs and
    index entries. Returns the recordings the jobs pointed at (the audio to delete)."""
    recordings: list[str] = []
    ids = list(dict.fromkeys(subject_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        params = [kind.value, *chunk]
        rows = await conn.execute_fetchall(
            f"SELECT recording FROM transcription_jobs WHERE kind = ? AND subject_id IN ({marks})",
            params,
        )
        recordings += [str(row[0]) for row in rows]
        for table in ("transcripts", "transcription_jobs"):
            await conn.execute(
                f"DELETE FROM {table} WHERE kind = ? AND subject_id IN ({marks})", params
            )
        await search.drop_transcripts(conn, kind.value, chunk)
    return recordings
