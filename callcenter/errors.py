"""The one exception tree of callcenter.

    CallcenterError
    ├── ConfigError          a setting is missing or invalid (names the key and the reason)
    ├── AmiError             anything that went wrong talking to Asterisk
    │   ├── AmiConnectionError   TCP connect failed or the socket dropped
    │   ├── AmiAuthError         Login answered "Authentication failed"
    │   ├── AmiTimeoutError      an action got no response in time
    │   └── AmiActionError       Asterisk answered an action with Response: Error
    └── StoreError           the database refused or failed an operation
        └── NotFoundError        the requested record does not exist

Adapters translate library exceptions into these with ``raise ... from exc``; the web layer
maps them to an HTTP status and a stable ``error_id``.
"""

from __future__ import annotations


class CallcenterError(Exception):
    """Base of every error callcenter raises on purpose."""

    error_id = "internal"


class ConfigError(CallcenterError):
    error_id = "config"

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


class AmiError(CallcenterError):
    error_id = "pbx"


class AmiConnectionError(AmiError):
    error_id = "pbx_unreachable"


class AmiAuthError(AmiError):
    error_id = "pbx_auth"


class AmiTimeoutError(AmiError):
    error_id = "pbx_timeout"


class AmiActionError(AmiError):
    error_id = "pbx_refused"


class StoreError(CallcenterError):
    error_id = "store"


class NotFoundError(StoreError):
    error_id = "not_found"
