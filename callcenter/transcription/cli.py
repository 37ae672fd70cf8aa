"""``callcenter transcribe``: one file printed as a transcript, or the queued backlog."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from callcenter.store.database import Database
from callcenter.store.transcripts import (
    TranscriptionJob,
)
from callcenter.transcription.audio import (
    AudioError,
)
from callcenter.transcription.engine import (
    load_engine,
    resolve_model_dir,
)
from callcenter.transcription.jobs import (
    TranscribeOptions,
    TranscriptionService,
)
from callcenter.transcription.pipeline import (
    Transcript,
    transcribe_recording,
)
from callcenter.transcription.summary import summarize

log = logging.getLogger(__name__)


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
