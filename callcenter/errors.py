"""The one exception tree of callcenter.

    CallcenterError
    ├── ConfigError          a setting is missing or invalid (names the key and the reason)
    ├── ValidationError      bad input: names the field and why (HTTP 400)
    ├── TranscriptionError   a recording could not become a transcript
    │   ├── AudioError           (callcenter.transcription.audio) empty, corrupt or unsupported WAV
    │   └── ModelError           (callcenter.transcription.engine) missing or broken vosk model
    ├── (callcenter.web.errors) AuthenticationRequired 401, InvalidCredentials 401,
    │   PermissionDenied 403, CsrfRejected 403, RateLimited 429
    ├── AmiError             anything that went wrong talking to Asterisk
    │   ├── AmiConnectionError   TCP connect failed or the socket dropped
    │   ├── AmiAuthError         Login answered "Authentication failed"
    │   ├── AmiTimeoutError      an action got no response in time
    │   └── AmiActionError       Asterisk answered an action with Response: Error
    └── StoreError           the database refused or failed an operation
        ├── NotFoundError        the requested record does not exist
        ├── ConflictError        the record would clash with an existing one
        └── StoreUnavailable     the database cannot write (disk full, read-only, I/O) 503

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


class ValidationError(CallcenterError):
    """Bad input: names the field (a query parameter, a JSON key, a CSV column or a header)
    and why. Raised by the web layer, the CRM services and the store alike (HTTP 400)."""

    error_id = "invalid_input"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class TranscriptionError(CallcenterError):
    """Something stopped a recording from becoming a transcript."""

    error_id = "transcription"


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


class ConflictError(StoreError):
    """The record would clash with an existing one (for example a taken username)."""

    error_id = "conflict"


class StoreUnavailable(StoreError):
    """The database cannot write: the disk is full, the file or its folder is read-only, or
    the disk fails (SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CANTOPEN). Not the
    request's fault and not a bug: HTTP 503 with this message, and ``/health`` says so."""

    error_id = "storage_unavailable"
