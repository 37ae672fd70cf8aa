"""The administration page's own API: the effective settings, read-only, secrets masked.

"Effective" is what this process runs with: the TOML file with the ``CALLCENTER_*``
environment applied and every default filled in (the frozen :class:`Settings`). A value is
a secret when its key says so (``secret``, ``password``, ``token``) or when it is a URL with
a password in it (``postgresql://user:pw@host``); a secret shows as ``"********"`` when it is
set and ``""`` when it is not, so an admin sees that it is configured without seeing it.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from aiohttp import web

from callcenter.settings import Settings
from callcenter.web.bodies import json_response
from callcenter.web.keys import SETTINGS_KEY

MASK = "********"
_SECRET_KEY = re.compile(r"secret|password|passwd|token|credential|private", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^:/@\s]*):[^@/\s]*@", re.IGNORECASE)


def _masked(key: str, value: Any) -> Any:
    if _SECRET_KEY.search(key):
        return MASK if value else ""
    if isinstance(value, str):
        return _URL_PASSWORD.sub(rf"\1:{MASK}@", value)
    if isinstance(value, tuple | list):
        return [_masked("", item) for item in value]
    return value


def effective_settings(settings: Settings) -> dict[str, dict[str, Any]]:
    """``{section: {key: value}}`` of every setting, secrets masked."""
    sections: dict[str, dict[str, Any]] = {}
    for section in dataclasses.fields(settings):
        values = getattr(settings, section.name)
        sections[section.name] = {
            item.name: _masked(item.name, getattr(values, item.name))
            for item in dataclasses.fields(values)
        }
    return sections


async def settings_view(request: web.Request) -> web.Response:
    """``GET /api/admin/settings`` (admins)."""
    return json_response({"sections": effective_settings(request.app[SETTINGS_KEY])})
