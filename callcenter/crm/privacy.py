"""GDPR: a customer's data export, erasure with their recording files, and recording retention.

Recording files: the call log's ``recording`` field is the path Asterisk's MixMonitor wrote
(``/var/spool/asterisk/monitor/1714550400.12.wav``). With the ``r()``/``t()`` options
MixMonitor also writes the two legs separately; we delete ``<stem>-in<ext>`` and
``<stem>-out<ext>`` next to it as well, whether or not they exist. Every path goes through
:class:`~callcenter.crm.recordings.RecordingPaths` first: only files inside
``crm.recordings_dir`` are ever deleted (others are reported, and refused without it), since
a path in the database is not allowed to point the server at arbitrary files.

File deletion runs in a worker thread (it is disk I/O, possibly on a network share). A file
that cannot be deleted is reported (in the erasure's result and audit entry, or the retention
job's log), never silently forgotten.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callcenter.crm.recordings import RecordingPaths
from callcenter.model.records import iso
from callcenter.store import Privacy

log = logging.getLogger(__name__)

RETENTION_BATCH = 500


@dataclass
class Deletion:
    deleted: list[str] = field(default_factory=list)
    """Files that existed and were deleted (recordings and their legs)."""
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(path, why) for files that could not be deleted or were refused."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "deleted": self.deleted,
            "failed": [{"path": path, "reason": why} for path, why in self.failed],
        }


class RecordingFiles:
    def __init__(self, paths: RecordingPaths | str = "") -> None:
        self._paths = paths if isinstance(paths, RecordingPaths) else RecordingPaths(paths)

    @staticmethod
    def legs(path: str) -> list[Path]:
        """The recording and its ``-in``/``-out`` legs."""
        main = Path(path)
        return [
            main,
            *(main.with_name(f"{main.stem}{leg}{main.suffix}") for leg in ("-in", "-out")),
        ]

    def delete(self, paths: Iterable[str]) -> Deletion:
        """Delete the files (blocking: call through :meth:`delete_async` from the loop)."""
        result = Deletion()
        for path in paths:
            if "\0" in path:
                result.failed.append((path.replace("\0", "\\0"), "contains NUL"))
                continue
            for leg in self.legs(path):
                why = self._paths.why_refused(str(leg))
                file = self._paths.local(str(leg)) if why is None else None
                if file is None:
                    log.warning("refused to delete %r: %s", str(leg), why)
                    result.failed.append((str(leg), why or "refused"))
                    continue
                try:
                    file.unlink()
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    result.failed.append((str(file), exc.strerror or type(exc).__name__))
                    continue
                result.deleted.append(str(leg))
        return result

    async def delete_async(self, paths: Sequence[str]) -> Deletion:
        if not paths:
            return Deletion()
        return await asyncio.to_thread(self.delete, list(paths))


@dataclass(frozen=True, slots=True)
class ErasureReport:
    customer_ids: list[int]
    calls_anonymised: int
    files: Deletion

    def to_dict(self) -> dict[str, Any]:
        return {
            "erased_customers": self.customer_ids,
            "calls_anonymised": self.calls_anonymised,
            "recording_files": self.files.to_dict(),
        }


class PrivacyService:
    """Erasure and retention: the database part (:class:`~callcenter.store.Privacy`) plus
    the files. Remembers whether text was erased since the last index purge."""

    def __init__(
        self,
        privacy: Privacy,
        files: RecordingFiles,
        *,
        retention_days: int,
        clock: Callable[[], float] = time.time,
        voice_notes: RecordingFiles | None = None,
    ) -> None:
        self._privacy = privacy
        self._files = files
        self._voice_notes = voice_notes or files
        self._retention_days = retention_days
        self._clock = clock
        self._purge_pending = False

    async def dossier(self, customer_id: int) -> dict[str, Any]:
        return await self._privacy.dossier(customer_id)

    async def erasure_preview(self, customer_id: int) -> dict[str, Any]:
        return await self._privacy.erasure_preview(customer_id)

    async def erase(self, customer_id: int) -> ErasureReport:
        """Erase the customer in the database (transcripts included), then delete the
        recording files its calls referenced and the audio of its voice notes. The search
        index is purged of the erased text by the next :meth:`maintain` (a full index rewrite
        is too slow to do while an admin waits)."""
        erasure = await self._privacy.erase(customer_id)
        files = await self._files.delete_async(erasure.recordings)
        notes = await self._voice_notes.delete_async(erasure.voice_notes)
        files.deleted += notes.deleted
        files.failed += notes.failed
        self._purge_pending = True
        if files.failed:
            log.warning("erasure of customer %d left files behind: %s", customer_id, files.failed)
        return ErasureReport(erasure.customer_ids, erasure.calls_anonymised, files)

    async def apply_retention(self) -> Deletion:
        """Delete recordings of calls older than the retention period and clear their
        references; a file that cannot be deleted keeps its reference (retried next run)."""
        total = Deletion()
        if self._retention_days <= 0:
            return total
        before = iso(self._clock() - self._retention_days * 86400) or ""
        after: tuple[str, str] | None = None
        while True:
            batch = await self._privacy.expired_recordings(
                before, after=after, limit=RETENTION_BATCH
            )
            if not batch:
                break
            after = (batch[-1][0], batch[-1][1])
            result = await self._files.delete_async([path for _, _, path in batch])
            total.deleted += result.deleted
            total.failed += result.failed
            failed = {path for path, _ in result.failed}
            done = [
                call_id
                for _, call_id, path in batch
                if not any(str(leg) in failed for leg in self._files.legs(path))
            ]
            await self._privacy.forget_recordings(done)
        if total.deleted or total.failed:
            log.info(
                "retention: deleted %d recording files, %d could not be deleted",
                len(total.deleted),
                len(total.failed),
            )
        for path, why in total.failed:
            log.warning("retention: cannot delete %s: %s", path, why)
        return total

    async def maintain(self) -> None:
        """One run of the scheduled job: retention, then the search-index purge if needed."""
        await self.apply_retention()
        if self._purge_pending:
            self._purge_pending = False
            await self._privacy.purge_deleted_text()

    async def run(self, interval_s: float) -> None:
        """The background task: :meth:`maintain` now and every ``interval_s``; a failed run
        is logged and the next one tries again."""
        while True:
            try:
                await self.maintain()
            except Exception:
                log.exception("privacy maintenance failed; retrying in %.0f s", interval_s)
            await asyncio.sleep(interval_s)
