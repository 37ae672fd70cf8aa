"""CSV import and export endpoints.

``POST /api/import/customers`` takes the CSV as the request body (``Content-Type: text/csv``)
or as the ``file`` field of a ``multipart/form-data`` form (with optional ``map`` and
``delimiter`` fields); ``?map=COLUMN=FIELD`` (repeatable) and ``?delimiter=,|;|tab`` work for
both. The upload is spooled to a temporary file (up to ``crm.import_max_mb``), then imported
batch by batch (:mod:`callcenter.crm.csv_import`: parsing in a worker thread, each batch one
transaction), and the answer is the summary: counts, and each bad row with its number and
reason. The import runs within the request (aiohttp does not cancel a handler when the client
goes away, so an import that started finishes); batches of 1000 rows keep the database lock
short, so lookups and the call log are served in between.

The CSV exports stream page by page, so memory stays flat and other requests are served
between pages.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from collections.abc import AsyncIterator
from typing import IO

from aiohttp import BodyPartReader, StreamReader, web
from aiohttp.http_exceptions import HttpProcessingError

from callcenter.crm.csv_export import (
    CALL_COLUMNS,
    CUSTOMER_COLUMNS,
    call_row,
    customer_row,
    encode_rows,
)
from callcenter.crm.csv_import import CsvCustomers, import_customers, parse_mapping
from callcenter.store import MAX_PAGE, ValidationError
from callcenter.web.bodies import json_response
from callcenter.web.keys import (
    AUDIT_KEY,
    CALL_LOG_KEY,
    CUSTOMERS_KEY,
    PHONES_KEY,
    PRINCIPAL_KEY,
    SETTINGS_KEY,
)
from callcenter.web.requests import (
    _delimiter,
    _part_chunks,
    _single,
    _Spool,
    _unknown,
    parse_call_query,
)

IMPORT_BATCH = 1000
"""Rows per transaction for uploads: small enough that lookups never wait long for the lock."""
CSV_TYPES = ("text/csv", "application/csv", "text/plain", "application/octet-stream")


async def _chunks_of(stream: StreamReader) -> AsyncIterator[bytes]:
    async for chunk in stream.iter_chunked(1 << 16):
        yield chunk


async def _read_form(
    request: web.Request, spool: _Spool, mapping: dict[str, str], delimiter: str | None
) -> tuple[dict[str, str], str | None]:
    uploaded = False
    async for part in await request.multipart():
        if not isinstance(part, BodyPartReader):
            raise ValidationError("file", "nested multipart is not supported")
        if part.name == "file":
            await spool.feed(_part_chunks(part))
            uploaded = True
        elif part.name == "map":
            mapping.update(parse_mapping([await part.text()], source="map"))
        elif part.name == "delimiter":
            delimiter = _delimiter(await part.text())
        else:
            raise ValidationError(str(part.name), "unknown form field")
    if not uploaded:
        raise ValidationError("file", "required: the CSV file")
    return mapping, delimiter


async def import_customers_csv(request: web.Request) -> web.Response:
    params = request.query
    _unknown(params, ("map", "delimiter"))
    mapping = parse_mapping(params.getall("map", []), source="map")
    delimiter = _delimiter(_single(params, "delimiter"))
    limit = request.app[SETTINGS_KEY].crm.import_max_mb * 1024 * 1024
    file: IO[bytes] = await asyncio.to_thread(tempfile.TemporaryFile)
    try:
        spool = _Spool(file, limit)
        if request.content_type == "multipart/form-data":
            try:
                mapping, delimiter = await _read_form(request, spool, mapping, delimiter)
            except (
                ValueError,
                LookupError,
                RuntimeError,
                AssertionError,
                HttpProcessingError,
            ) as exc:
                # aiohttp's multipart reader reports a broken body this way
                raise ValidationError("body", f"broken multipart/form-data: {exc}") from exc
        elif request.content_type in CSV_TYPES:
            await spool.feed(_chunks_of(request.content))
        else:
            raise ValidationError("Content-Type", "expected text/csv or multipart/form-data")
        await asyncio.to_thread(file.seek, 0)
        reader = await asyncio.to_thread(
            CsvCustomers,
            file,
            request.app[PHONES_KEY],
            mapping=mapping,
            delimiter=delimiter,
            source="map",
        )
        summary = await import_customers(
            reader, request.app[CUSTOMERS_KEY], batch_size=IMPORT_BATCH
        )
    finally:
        await asyncio.to_thread(file.close)
    result = summary.to_dict()
    await request.app[AUDIT_KEY].audit(
        request[PRINCIPAL_KEY].user.username,
        "customers.import",
        request.path_qs,
        {
            key: result[key]
            for key in ("rows", "imported", "duplicates", "stubs_completed", "failed")
        },
    )
    return json_response(result)


def _csv_response(filename: str) -> web.StreamResponse:
    return web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
        }
    )


async def export_customers_csv(request: web.Request) -> web.StreamResponse:
    _unknown(request.query, ())
    response = _csv_response("customers.csv")
    await response.prepare(request)
    await response.write(encode_rows([list(CUSTOMER_COLUMNS)]))
    async for page in request.app[CUSTOMERS_KEY].pages():
        await response.write(encode_rows(customer_row(customer) for customer in page))
    await response.write_eof()
    return response


async def export_calls_csv(request: web.Request) -> web.StreamResponse:
    """The call log as CSV, newest first; the filters of ``GET /api/calls``."""
    query = dataclasses.replace(parse_call_query(request.query), limit=MAX_PAGE)
    response = _csv_response("calls.csv")
    await response.prepare(request)
    await response.write(encode_rows([list(CALL_COLUMNS)]))
    async for page in request.app[CALL_LOG_KEY].pages(query):
        await response.write(encode_rows(call_row(call) for call in page))
    await response.write_eof()
    return response
