"""Recordings, transcripts and voice notes over HTTP.

- ``GET /api/calls/{call_id}/recording`` streams the call's mixed WAV (range requests answered
  206 by aiohttp's ``FileResponse``: the panel's ``<audio>`` seeks with them). The path comes
  from the call log, never from the request, and goes through
  :class:`~callcenter.crm.recordings.RecordingPaths` (inside ``[crm] recordings_dir``, mapped
  from ``recordings_pbx_dir``); anything refused is logged and answered 404, like a missing
  file: the API does not tell which files exist.
- ``GET /api/calls/{call_id}/transcript``: the transcription state and transcript of a call.
- ``POST /api/customers/{id}/voice-notes``: the body is a mono 16-bit PCM WAV (the panel
  records 16 kHz); at most ``[transcribe] voice_note_max_bytes`` (413 beyond). It becomes a
  note on the customer's timeline (body ``Voice note``), its file is written under
  ``[transcribe] voice_notes_dir`` and a transcription job is queued (persisted: picked up by
  the service when it runs, even if transcription is disabled at the moment).
- ``GET /api/voice-notes/{id}/audio`` plays a voice note back (any user, like notes).

Agents read only the recordings and transcripts of calls they talked on (as ``GET
/api/calls/{call_id}``); supervisors and admins read all.
"""

from __future__ import annotations

import asyncio
import io
import os
import secrets
import struct
import wave
from pathlib import Path
from typing import Any

from aiohttp import web

from callcenter.crm.recordings import RecordingPaths
from callcenter.errors import NotFoundError, ValidationError
from callcenter.store import Role
from callcenter.store.transcripts import SubjectKind, Transcripts
from callcenter.transcription.audio import AudioError, decode_wav
from callcenter.web.bodies import json_response
from callcenter.web.errors import PermissionDenied
from callcenter.web.keys import (
    CALL_LOG_KEY,
    CLOCK_KEY,
    DATABASE_KEY,
    INTERACTIONS_KEY,
    PRINCIPAL_KEY,
    SETTINGS_KEY,
    TRANSCRIPTION_KEY,
)
from callcenter.web.middlewares import error_response
from callcenter.web.requests import path_id

VOICE_NOTE_BODY = "Voice note"
_WAV_HEADERS = {"Content-Type": "audio/wav", "Cache-Control": "private, no-store"}


async def _readable_call(request: web.Request) -> dict[str, Any]:
    """The call log record, if this user may read it (agents: their own calls)."""
    record: dict[str, Any] = await request.app[CALL_LOG_KEY].get(request.match_info["call_id"])
    user = request[PRINCIPAL_KEY].user
    if user.role is Role.AGENT and (not user.extension or record["agent"] != user.extension):
        raise PermissionDenied("agents can only read their own calls")
    return record


def confined(path: str, root: str) -> Path | None:
    """``path`` as an existing regular file, absolute and (when ``root`` is given) inside
    ``root`` after resolving symlinks and ``..``; None otherwise. Blocking (filesystem)."""
    candidate = Path(path)
    if not path or "\0" in path or not candidate.is_absolute():
        return None
    resolved = candidate.resolve()
    if root and not resolved.is_relative_to(Path(root).resolve()):
        return None
    return resolved if resolved.is_file() else None


async def call_recording(request: web.Request) -> web.StreamResponse:
    record = await _readable_call(request)
    crm = request.app[SETTINGS_KEY].crm
    paths = RecordingPaths(crm.recordings_dir, crm.recordings_pbx_dir)
    found = await asyncio.to_thread(paths.existing_file, str(record.get("recording") or ""))
    if found is None:
        raise NotFoundError(f"no recording for call {record['call_id']}")
    return web.FileResponse(found, headers=_WAV_HEADERS)


def _transcripts(request: web.Request) -> Transcripts:
    service = request.app.get(TRANSCRIPTION_KEY)
    return service.jobs if service is not None else Transcripts(request.app[DATABASE_KEY])


async def call_transcript(request: web.Request) -> web.Response:
    """``{"call_id", "state", "error", "transcript"}``; 404 when the call was never queued."""
    record = await _readable_call(request)
    call_id = str(record["call_id"])
    repository = _transcripts(request)
    job = await repository.job(SubjectKind.CALL, call_id)
    transcript = await repository.get(SubjectKind.CALL, call_id)
    if job is None and transcript is None:
        raise NotFoundError(f"call {call_id} has no transcript")
    return json_response(
        {
            "call_id": call_id,
            "state": job.state.value if job is not None else "done",
            "error": job.error if job is not None else None,
            "transcript": transcript.to_dict() if transcript is not None else None,
        }
    )


def check_wav(data: bytes) -> float:
    """A mono 16-bit PCM WAV of 8 to 48 kHz with some audio; its duration in seconds."""
    try:
        with wave.open(io.BytesIO(data)) as reader:
            channels, width, rate = (
                reader.getnchannels(),
                reader.getsampwidth(),
                reader.getframerate(),
            )
    except (wave.Error, EOFError, RuntimeError, ValueError, struct.error) as exc:
        raise ValidationError("body", f"not a WAV file: {exc or type(exc).__name__}") from exc
    if channels != 1 or width != 2 or not 8000 <= rate <= 48000:
        raise ValidationError(
            "body", f"expected mono 16-bit PCM at 8-48 kHz, got {channels} ch, {8 * width} bit"
        )
    try:  # the transcriber's own reader: what it cannot read is refused now, not later
        audio = decode_wav(data, "voice note")
    except AudioError as exc:
        raise ValidationError("body", exc.reason) from exc
    return audio.duration_s


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is longer than ``limit``."""
    if request.content_length is not None and request.content_length > limit:
        return None
    buffer = bytearray()
    async for chunk in request.content.iter_chunked(65536):
        buffer += chunk
        if len(buffer) > limit:
            return None
    return bytes(buffer)


def _store_file(folder: str, name: str, data: bytes) -> Path:
    directory = Path(folder).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    partial = directory / f".{name}.part"
    partial.write_bytes(data)
    os.replace(partial, target)
    return target


async def upload_voice_note(request: web.Request) -> web.Response:
    options = request.app[SETTINGS_KEY].transcribe
    customer_id = path_id(request)
    data = await _read_limited(request, options.voice_note_max_bytes)
    if data is None:
        return error_response(
            413,
            "too_large",
            f"a voice note may be at most {options.voice_note_max_bytes} bytes",
            {"limit": options.voice_note_max_bytes},
        )
    duration_s = check_wav(data)
    user = request[PRINCIPAL_KEY].user
    note = await request.app[INTERACTIONS_KEY].add_note(
        customer_id, author=user.username, body=VOICE_NOTE_BODY
    )
    name = f"{note['id']}-{secrets.token_hex(8)}.wav"
    path = await asyncio.to_thread(_store_file, options.voice_notes_dir, name, data)
    service = request.app.get(TRANSCRIPTION_KEY)
    if service is not None:
        await service.enqueue_voice_note(str(note["id"]), str(path))
    else:
        await Transcripts(request.app[DATABASE_KEY]).enqueue(
            SubjectKind.VOICE_NOTE, str(note["id"]), str(path), request.app[CLOCK_KEY]()
        )
    note["voice_note"] = {"state": "queued", "error": None, "transcript": None}
    return json_response({**note, "duration_s": round(duration_s, 3)}, status=201)


async def voice_note_audio(request: web.Request) -> web.StreamResponse:
    note_id = path_id(request)
    path = await _transcripts(request).voice_note_file(note_id)
    root = request.app[SETTINGS_KEY].transcribe.voice_notes_dir
    found = None if path is None else await asyncio.to_thread(confined, path, root)
    if found is None:
        raise NotFoundError(f"no voice note {note_id}")
    return web.FileResponse(found, headers=_WAV_HEADERS)


__all__ = [
    "VOICE_NOTE_BODY",
    "call_recording",
    "call_transcript",
    "check_wav",
    "confined",
    "upload_voice_note",
    "voice_note_audio",
]
