"""Request pipeline: errors -> JSON (outermost), then authentication, roles, CSRF and audit.

Every error of the tree leaves as ``{"error": {"id", "message", "details"}}`` with the status
from :data:`STATUS_BY_ERROR` (looked up along the class hierarchy, so a new subclass inherits
its parent's status). Server-side failures (5xx) do not echo internal messages.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from callcenter.errors import (
    AmiActionError,
    AmiConnectionError,
    AmiError,
    AmiTimeoutError,
    CallcenterError,
    ConfigError,
    NotFoundError,
    StoreError,
    StoreUnavailable,
)
from callcenter.store import ConflictError
from callcenter.web.auth import (
    ANY_USER,
    UNSAFE_METHODS,
    Access,
    Principal,
    origin_allowed,
    session_cookie_name,
)
from callcenter.web.errors import (
    AuthenticationRequired,
    CsrfRejected,
    InvalidCredentials,
    PermissionDenied,
    RateLimited,
    ValidationError,
)
from callcenter.web.keys import (
    AUDIT_KEY,
    AUTHENTICATOR_KEY,
    PRINCIPAL_KEY,
    ROUTE_ACCESS_KEY,
    SESSION_TOKEN_KEY,
    TRANSPORT_KEY,
)

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATUS_BY_ERROR: dict[type[CallcenterError], int] = {
    ValidationError: 400,
    AuthenticationRequired: 401,
    InvalidCredentials: 401,
    PermissionDenied: 403,
    CsrfRejected: 403,
    NotFoundError: 404,
    ConflictError: 409,
    RateLimited: 429,
    CallcenterError: 500,
    ConfigError: 500,
    StoreError: 500,
    StoreUnavailable: 503,
    AmiError: 502,
    AmiActionError: 502,
    AmiConnectionError: 503,
    AmiTimeoutError: 504,
}


_SERVER_MESSAGES = {
    502: "the PBX refused the request",
    503: "the PBX is unreachable",
    504: "the PBX did not answer in time",
}


def status_for(exc: CallcenterError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500  # pragma: no cover - CallcenterError is always in the MRO


def error_response(
    status: int,
    error_id: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"error": {"id": error_id, "message": message, "details": details or {}}}
    return web.json_response(body, status=status, headers=headers)


def _tree_error(exc: CallcenterError) -> web.Response:
    status = status_for(exc)
    details: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if isinstance(exc, ValidationError):
        details = {"field": exc.field, "reason": exc.reason}
    elif isinstance(exc, RateLimited):
        retry = int(exc.retry_after_s) + 1
        details = {"retry_after_s": retry}
        headers["Retry-After"] = str(retry)
    elif status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="callcenter"'
    if isinstance(exc, StoreUnavailable):  # logged by the store; its message is for users
        return error_response(status, exc.error_id, str(exc), headers={"Retry-After": "30"})
    if status >= 500:
        log.error("%s failed: %s", exc.error_id, exc, exc_info=exc)
        return error_response(status, exc.error_id, _SERVER_MESSAGES.get(status, "internal error"))
    return error_response(status, exc.error_id, str(exc), details, headers)


def _http_error(exc: web.HTTPException) -> web.Response:
    error_id = (exc.reason or "error").lower().replace(" ", "_")
    headers = {k: v for k, v in exc.headers.items() if k in {"Allow", "Retry-After"}}
    return error_response(exc.status, error_id, exc.reason or "error", headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _http_error(exc)
    except CallcenterError as exc:
        return _tree_error(exc)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error")


async def _identify(request: web.Request) -> Principal | None:
    """The caller from a bearer token (which must be valid if given) or a session cookie."""
    auth = request.app[AUTHENTICATOR_KEY]
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise AuthenticationRequired("Authorization must be 'Bearer <token>'")
        user = await auth.token_user(credentials.strip())
        if user is None:
            raise AuthenticationRequired("invalid or revoked API token")
        return Principal(user, "token", credentials.strip())
    secure = request.app[TRANSPORT_KEY].is_https(request)
    token = request.cookies.get(session_cookie_name(secure))
    if not token:
        return None
    user = await auth.session_user(token)
    if user is None:
        return None
    request[SESSION_TOKEN_KEY] = token
    return Principal(user, "session", token)


def _check_origin(request: web.Request) -> None:
    if not origin_allowed(
        request.host, request.headers.get("Origin"), request.headers.get("Referer")
    ):
        raise CsrfRejected("cross-origin request refused: Origin/Referer is not this server")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Applies the route's :class:`Access`: 401 without a login, 403 for the wrong role or a
    cross-origin cookie request, and the audit entry after a successful audited call."""
    access: Access = request.app[ROUTE_ACCESS_KEY].get(request.match_info.route, ANY_USER)
    check_origin = access.same_origin or request.method in UNSAFE_METHODS
    if access.public:
        # No credential is checked here, so none exempts the request: an Authorization
        # header (a browser adds Basic behind an auth proxy) must not skip the login CSRF check.
        if check_origin:
            _check_origin(request)
        return await handler(request)
    principal = await _identify(request)
    if principal is None:
        raise AuthenticationRequired("log in or send 'Authorization: Bearer <token>'")
    if check_origin and principal.via == "session":
        _check_origin(request)
    if not access.allows(principal.user.role):
        raise PermissionDenied(
            f"role {principal.user.role.value} may not {request.method} {request.path}"
        )
    request[PRINCIPAL_KEY] = principal
    response = await handler(request)
    if access.audit and response.status < 400:
        await request.app[AUDIT_KEY].audit(
            principal.user.username,
            access.audit,
            request.path_qs,
            {"via": principal.via, "address": request.app[TRANSPORT_KEY].client_address(request)},
        )
    return response


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: no sniffing, no framing, and API answers are never cached."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    transport = request.app[TRANSPORT_KEY]
    if transport.hsts_max_age_s and transport.is_https(request):
        response.headers.setdefault(
            "Strict-Transport-Security", f"max-age={transport.hsts_max_age_s}"
        )
    if request.path.startswith("/api/") or request.path == "/health":
        response.headers.setdefault("Cache-Control", "no-store")
