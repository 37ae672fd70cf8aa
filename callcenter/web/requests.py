"""The shared request helpers of the handler modules: query parameters, body fields, path ids,
the caller's identity, and the plain words for a PBX refusal. Handler modules import these,
never each other (tests/test_architecture.py)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import IO, Any, TypeVar

from aiohttp import BodyPartReader, web
from multidict import MultiMapping

from callcenter.errors import (
    AmiConnectionError,
    AmiError,
    AmiTimeoutError,
    NotFoundError,
)
from callcenter.model.records import Direction, Outcome
from callcenter.settings import AgentSettings
from callcenter.store import (
    MAX_PAGE,
    CallQuery,
    CustomerFilter,
    PageKey,
    User,
)
from callcenter.store.calllog import DEFAULT_PAGE, time_key
from callcenter.web.errors import PermissionDenied, ValidationError
from callcenter.web.keys import (
    PRINCIPAL_KEY,
    SETTINGS_KEY,
)
from callcenter.web.middlewares import error_response

MAX_TEXT = 256


_E = TypeVar("_E", Outcome, Direction)


CALL_PARAMS = ("from", "to", "number", "agent", "queue", "outcome", "direction")


PAGE_PARAMS = ("limit", "cursor")


# A "+" in a query string arrives as a space: "…T09:00:00 02:00" meant "…T09:00:00+02:00".
_SPACED_OFFSET = re.compile(r" (\d{2}(:?\d{2})?)$")


def _single(params: MultiMapping[str], key: str) -> str | None:
    values = params.getall(key, [])
    if not values:
        return None
    if len(values) > 1:
        raise ValidationError(key, "given more than once")
    value = values[0]
    if not value.strip():
        raise ValidationError(key, "empty")
    if len(value) > MAX_TEXT:
        raise ValidationError(key, f"longer than {MAX_TEXT} characters")
    return value


def _limit(params: MultiMapping[str], default: int) -> int:
    text = _single(params, "limit")
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_PAGE:
        raise ValidationError("limit", f"expected an integer from 1 to {MAX_PAGE}")
    return int(text)


def _unknown(params: MultiMapping[str], allowed: tuple[str, ...]) -> None:
    for key in params:
        if key not in allowed:
            raise ValidationError(key, f"unknown parameter (allowed: {', '.join(allowed)})")


def _moment(key: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(_SPACED_OFFSET.sub(r"+\1", value.strip()))
    except ValueError as exc:
        raise ValidationError(key, "expected ISO 8601, e.g. 2024-05-01T09:00:00Z") from exc
    if not 1900 <= moment.year <= 9998:
        raise ValidationError(key, "year out of range 1900-9998")
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _choice(key: str, value: str | None, enum: type[_E]) -> _E | None:
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError as exc:
        allowed = ", ".join(member.value for member in enum)
        raise ValidationError(key, f"expected one of {allowed}") from exc


def encode_cursor(key: PageKey) -> str:
    raw = json.dumps([key.started_at, key.call_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> PageKey:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        started_at, call_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValidationError("cursor", "not a cursor returned by this API") from exc
    if not isinstance(started_at, str) or not isinstance(call_id, str):
        raise ValidationError("cursor", "not a cursor returned by this API")
    return PageKey(started_at, call_id)


def parse_call_query(params: MultiMapping[str]) -> CallQuery:
    """Query parameters of ``GET /api/calls`` -> :class:`CallQuery`; unknown ones are refused
    (a misspelt filter must not silently return everything)."""
    _unknown(params, CALL_PARAMS + PAGE_PARAMS)
    started_from = _moment("from", _single(params, "from"))
    started_to = _moment("to", _single(params, "to"))
    if started_from and started_to and started_from >= started_to:
        raise ValidationError("to", "must be later than from")
    limit = _limit(params, DEFAULT_PAGE)
    cursor = _single(params, "cursor")
    return CallQuery(
        started_from=started_from,
        started_to=started_to,
        number=_single(params, "number"),
        agent=_single(params, "agent"),
        queue=_single(params, "queue"),
        outcome=_choice("outcome", _single(params, "outcome"), Outcome),
        direction=_choice("direction", _single(params, "direction"), Direction),
        limit=limit,
        after=decode_cursor(cursor) if cursor else None,
    )


MAX_BODY = 10_000


MAX_SUBJECT = 200


MAX_CALL_ID = 128


FILTER_PARAMS = tuple(CustomerFilter.__dataclass_fields__)


def path_id(request: web.Request, name: str = "id") -> int:
    """The numeric id in the path (the route pattern allows digits only)."""
    text = request.match_info[name]
    if len(text) > 18:
        raise NotFoundError(f"no record {text}")
    return int(text)


def _username(request: web.Request) -> str:
    return request[PRINCIPAL_KEY].user.username


def _text(body: Mapping[str, Any], key: str, max_len: int, *, required: bool) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise ValidationError(key, "required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(key, "expected a non-empty string")
    if len(value) > max_len:
        raise ValidationError(key, f"longer than {max_len} characters")
    return value.strip()


def _call_id(body: Mapping[str, Any]) -> str | None:
    return _text(body, "call_id", MAX_CALL_ID, required=False)


def _only(body: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for key in body:
        if key not in allowed:
            raise ValidationError(str(key), f"unknown field (allowed: {', '.join(allowed)})")


def _due(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError(key, "expected an ISO 8601 time such as 2024-05-01T09:00:00Z")
    moment: datetime | None = _moment(key, value)
    assert moment is not None
    return time_key(moment)


def _assignee(body: Mapping[str, Any]) -> str | None:
    value = body.get("assigned_to")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("assigned_to", "expected a username or null (anyone)")
    return value.strip().lower()


def _call_ids(body: Mapping[str, Any], key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or len(value) > 100:
        raise ValidationError(key, "expected a list of at most 100 call ids")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item or len(item) > MAX_CALL_ID:
            raise ValidationError(f"{key}[{i}]", "expected a call id")
    return list(dict.fromkeys(value))


def _enum_value(key: str, value: Any, enum: Any) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise ValidationError(key, f"expected one of {allowed}") from None


def _filter(params: MultiMapping[str]) -> CustomerFilter:
    return CustomerFilter.from_mapping(
        {key: _single(params, key) for key in params if key in FILTER_PARAMS}
    )


def agent_settings(request: web.Request) -> AgentSettings:
    """The ``[agent]`` settings: pause reasons, dispositions, dialplan contexts."""
    return request.app[SETTINGS_KEY].agent


def agent_of(request: web.Request) -> tuple[User, str]:
    """The logged-in user and their phone; 403 without one (admins usually have none)."""
    user = request[PRINCIPAL_KEY].user
    if not user.extension:
        raise PermissionDenied("no phone extension is assigned to this user")
    return user, user.extension


_PLAIN_REFUSALS = (
    ("interface not found", "Your phone is not signed in to any queue, so it cannot be paused."),
    ("no such channel", "That call has already ended."),
    ("channel specified does not exist", "That call has already ended."),
    ("not bridged", "The call is not connected yet, so it cannot be transferred."),
)


def pbx_error(exc: AmiError) -> web.Response:
    """An AMI failure as the agent should read it (Asterisk's text in ``details.pbx``)."""
    if isinstance(exc, AmiConnectionError):
        status, message = 503, "The phone system is not connected right now. Try again shortly."
    elif isinstance(exc, AmiTimeoutError):
        status, message = 504, "The phone system did not answer in time. Try again."
    else:
        status = 502
        lowered = str(exc).lower()
        message = next(
            (plain for marker, plain in _PLAIN_REFUSALS if marker in lowered),
            f"The phone system refused: {exc}",
        )
    return error_response(status, exc.error_id, message, {"pbx": str(exc)})


# --- uploads ----------------------------------------------------------------------------

SPOOL_CHUNK = 1 << 20


DELIMITERS = {",": ",", ";": ";", "tab": "\t"}


def _delimiter(text: str | None) -> str | None:
    if text is None:
        return None
    if text not in DELIMITERS:
        raise ValidationError("delimiter", "expected , or ; or tab")
    return DELIMITERS[text]


class _Spool:
    """Copies an upload into a temporary file in 1 MiB writes, off the event loop."""

    def __init__(self, file: IO[bytes], limit: int) -> None:
        self.file = file
        self._limit = limit
        self._size = 0
        self._buffer = bytearray()

    async def feed(self, chunks: AsyncIterator[bytes]) -> None:
        async for chunk in chunks:
            self._size += len(chunk)
            if self._size > self._limit:
                raise web.HTTPRequestEntityTooLarge(max_size=self._limit, actual_size=self._size)
            self._buffer += chunk
            if len(self._buffer) >= SPOOL_CHUNK:
                await self._flush()
        await self._flush()

    async def _flush(self) -> None:
        if self._buffer:
            data, self._buffer = bytes(self._buffer), bytearray()
            await asyncio.to_thread(self.file.write, data)


async def _part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(1 << 16):
        yield chunk
