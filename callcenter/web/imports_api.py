"""Imports as batches (the /import page): preview a file's header with the automatic
mapping, start an import (it runs in the background), watch its progress, list the batches,
download a batch's rejected rows with their reasons as CSV.

``POST /api/imports`` is ``multipart/form-data`` with ``kind`` (customers, interactions,
orders, contracts), ``mapping`` (a JSON object ``{column: field or ""}``; columns left out
take the automatic choice), optional ``delimiter`` (``,``, ``;``, ``tab``) and ``file``
last. It answers 202 with the batch as soon as the header and mapping are checked.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from typing import IO, Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from callcenter.crm.csv_export import encode_rows
from callcenter.crm.imports import KINDS, preview
from callcenter.store import ValidationError
from callcenter.web.bodies import json_response
from callcenter.web.keys import AUDIT_KEY, IMPORTS_KEY, PRINCIPAL_KEY, SETTINGS_KEY
from callcenter.web.requests import _delimiter, _part_chunks, _single, _Spool, _unknown, path_id

PREVIEW_BYTES = 65536


def _kind(value: str | None) -> str:
    if value not in KINDS:
        raise ValidationError("kind", f"expected one of {', '.join(KINDS)}")
    return value


async def preview_import(request: web.Request) -> web.Response:
    """``POST /api/imports/preview?kind=`` with the file's first bytes (text/csv, up to
    64 KiB): header, delimiter, the automatic mapping, the fields and sample rows."""
    _unknown(request.query, ("kind",))
    kind = _kind(_single(request.query, "kind"))
    head = await request.content.read(PREVIEW_BYTES + 1)
    if len(head) > PREVIEW_BYTES:
        raise ValidationError("body", f"send at most the first {PREVIEW_BYTES} bytes")
    return json_response(preview(kind, head))


def _mapping(text: str) -> dict[str, str]:
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise ValidationError("mapping", "expected a JSON object {column: field}") from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValidationError("mapping", "expected a JSON object {column: field}")
    return value


async def start_import(request: web.Request) -> web.Response:
    _unknown(request.query, ())
    if request.content_type != "multipart/form-data":
        raise ValidationError("Content-Type", "expected multipart/form-data")
    limit = request.app[SETTINGS_KEY].crm.import_max_mb * 1024 * 1024
    file: IO[bytes] = await asyncio.to_thread(tempfile.TemporaryFile)
    fields: dict[str, Any] = {"kind": None, "mapping": {}, "delimiter": None}
    filename = "upload.csv"
    started = False
    spool = _Spool(file, limit)
    try:
        try:
            uploaded = False
            async for part in await request.multipart():
                if not isinstance(part, BodyPartReader):
                    raise ValidationError("file", "nested multipart is not supported")
                if part.name == "file":
                    filename = (part.filename or filename)[:200]
                    await spool.feed(_part_chunks(part))
                    uploaded = True
                elif part.name == "kind":
                    fields["kind"] = _kind(await part.text())
                elif part.name == "mapping":
                    fields["mapping"] = _mapping(await part.text())
                elif part.name == "delimiter":
                    fields["delimiter"] = _delimiter(await part.text())
                else:
                    raise ValidationError(str(part.name), "unknown form field")
        except (ValueError, LookupError, RuntimeError, AssertionError, HttpProcessingError) as exc:
            if isinstance(exc, ValidationError):
                raise
            raise ValidationError("body", f"broken multipart/form-data: {exc}") from exc
        if not uploaded:
            raise ValidationError("file", "required: the CSV file")
        kind = _kind(fields["kind"])
        size = await asyncio.to_thread(file.tell)
        await asyncio.to_thread(file.seek, 0)
        user = request[PRINCIPAL_KEY].user.username
        batch = await request.app[IMPORTS_KEY].start(
            kind,
            file,
            size,
            filename=filename,
            user=user,
            mapping=fields["mapping"],
            delimiter=fields["delimiter"],
        )
        started = True
    finally:
        if not started:
            await asyncio.to_thread(file.close)
    await request.app[AUDIT_KEY].audit(
        user, "import.start", request.path, {"batch": batch["id"], "kind": kind, "file": filename}
    )
    return json_response(batch, status=202)


async def list_imports(request: web.Request) -> web.Response:
    _unknown(request.query, ())
    return json_response({"items": await request.app[IMPORTS_KEY].batches.recent()})


async def get_import(request: web.Request) -> web.Response:
    return json_response(await request.app[IMPORTS_KEY].batches.get(path_id(request)))


async def rejected_csv(request: web.Request) -> web.Response:
    """The rejected rows: ``row``, ``reason``, then the file's own columns as they were."""
    batch_id = path_id(request)
    runner = request.app[IMPORTS_KEY]
    batch = await runner.batches.get(batch_id)
    rejects = await runner.batches.rejects(batch_id)
    header = ["row", "reason", *batch["mapping"].keys()]
    data = encode_rows([header, *([row, reason, *cells] for row, reason, cells in rejects)])
    return web.Response(
        body=data,
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="import-{batch_id}-rejected.csv"',
        },
    )
