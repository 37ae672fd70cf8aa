"""JSON bodies in and out of the API, strict both ways.

In: ``Content-Type: application/json`` (charset, if given, UTF-8), valid UTF-8, standard JSON
only (no ``NaN``/``Infinity``, which Python's parser accepts and browsers' ``JSON.parse``
refuses), no lone surrogates (``"\\ud800"`` cannot be stored as UTF-8) and at most
:data:`MAX_DEPTH` levels of nesting. Anything else is a :class:`ValidationError` (400).

Out: :func:`json_response` never writes ``NaN``/``Infinity``; a non-finite number that got
into a record some other way goes out as ``null`` (and is logged), so one bad value cannot
break every page that lists it.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from aiohttp import web

from callcenter.errors import ValidationError

log = logging.getLogger(__name__)

MAX_DEPTH = 32


def _refuse_constant(name: str) -> Any:
    raise ValidationError("body", f"{name} is not a JSON number")


def check_value(value: Any, field: str = "body") -> None:
    """Refuse nesting beyond :data:`MAX_DEPTH`, lone surrogates and non-finite floats in a
    parsed JSON value (iteratively: a deep value cannot exhaust the stack here)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise ValidationError(field, f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_text(key, field)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            _check_text(item, field)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValidationError(field, "numbers must be finite")


def _check_text(text: str, field: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(field, "a string holds a lone surrogate (not Unicode text)") from exc


def parse_json(raw: bytes, field: str = "body") -> Any:
    """``raw`` (UTF-8) as a checked JSON value, or :class:`ValidationError`."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(field, "not UTF-8") from exc
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise ValidationError(field, f"nested deeper than {MAX_DEPTH} levels") from exc
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(field, f"not valid JSON: {exc}") from exc
    check_value(value, field)
    return value


async def read_json_object(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise ValidationError("Content-Type", "expected application/json")
    charset = request.charset
    if charset is not None and charset.lower().replace("-", "") != "utf8":
        raise ValidationError("Content-Type", "JSON must be UTF-8 (charset=utf-8 or none)")
    body = parse_json(await request.read())
    if not isinstance(body, dict):
        raise ValidationError("body", "expected a JSON object")
    return body


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def dumps(value: Any) -> str:
    """Standard JSON: a non-finite float becomes ``null`` (logged) instead of ``NaN``."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        log.warning("a non-finite number in a response was sent as null")
        return json.dumps(_finite(value), allow_nan=False)


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=dumps)
