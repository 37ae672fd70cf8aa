"""Store errors that belong in :mod:`callcenter.errors` (the lead moves them there).

Kept here until then so the store does not edit the shared tree; everything derives from the
tree's classes, so the web layer maps them like the rest. :class:`ValidationError` moved here
from :mod:`callcenter.web.errors` (which re-exports it) because the CRM services and the store
raise it too.
"""

from __future__ import annotations

from callcenter.errors import CallcenterError, StoreError


class ValidationError(CallcenterError):
    """Bad input: names the field (a query parameter, a JSON key, a CSV column or a header)
    and why. Raised by the web layer, the CRM services and the store alike (HTTP 400)."""

    error_id = "invalid_input"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class ConflictError(StoreError):
    """The record would clash with an existing one (for example a taken username)."""

    error_id = "conflict"
