"""Errors raised by the web layer, part of the one tree (:mod:`callcenter.errors`).

:class:`ValidationError` (:mod:`callcenter.errors`) is re-exported here. The middleware maps
every class to an HTTP status.
"""

from __future__ import annotations

from callcenter.errors import CallcenterError, ValidationError

__all__ = [
    "AuthenticationRequired",
    "CsrfRejected",
    "InvalidCredentials",
    "PermissionDenied",
    "RateLimited",
    "ValidationError",
]


class AuthenticationRequired(CallcenterError):
    """No valid session cookie or API token (HTTP 401)."""

    error_id = "unauthenticated"


class InvalidCredentials(CallcenterError):
    """Login with an unknown user, a wrong password or a deactivated account (HTTP 401)."""

    error_id = "invalid_credentials"


class PermissionDenied(CallcenterError):
    """Authenticated, but the role (or ownership) does not allow this (HTTP 403)."""

    error_id = "forbidden"


class CsrfRejected(CallcenterError):
    """A cookie-authenticated unsafe request that did not come from our own origin (403)."""

    error_id = "csrf_rejected"


class RateLimited(CallcenterError):
    """Too many failed logins for this username from this address (HTTP 429)."""

    error_id = "rate_limited"

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many failed logins; retry in {int(retry_after_s) + 1} s")
        self.retry_after_s = retry_after_s
