"""Who is calling: passwords, sessions, API tokens, login rate limiting and the CSRF check.

Sessions are server-side: the cookie carries a random 256-bit token, the database keeps its
SHA-256 with the user and an absolute expiry, and logout deletes the row. The cookie is
HttpOnly, SameSite=Lax, Path=/, and Secure when the request came over HTTPS
(``http.secure_cookies``, or a trusted proxy's ``X-Forwarded-Proto``: see
:mod:`callcenter.web.forwarded`); then it is also named with the ``__Host-`` prefix, which
browsers only accept on HTTPS without Domain.

API tokens (``Authorization: Bearer cc_…``) act as their user; they are random, stored as
SHA-256, expire when created with an expiry (``expires_in_days``) and are revoked explicitly
(:mod:`callcenter.web.account_admin`). They are not ambient credentials (a browser
never adds them on its own), so requests carrying them need no CSRF check.

CSRF: for every unsafe request (POST, PUT, PATCH, DELETE) not authenticated by a bearer token
- including ``/api/login``, against login CSRF - the ``Origin`` header (or, failing that, the
``Referer``) must name this server's own host and port; a request with neither is refused.
Browsers send ``Origin`` on every cross-site and same-site POST, fetch and form submission
alike, and a page cannot forge it. Together with SameSite=Lax (the cookie is not even sent on
cross-site subrequests) this needs no token in the page, works for JSON and form posts, and
keeps the API usable from scripts with bearer tokens.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from yarl import URL

from callcenter.store import Accounts, AuditLog, Role, User, token_hash
from callcenter.web.errors import InvalidCredentials, RateLimited
from callcenter.web.socket_guard import Credential

SESSION_TTL_S = 12 * 3600.0
API_TOKEN_PREFIX = "cc_"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Access:
    """Who may call a route.

    ``audit`` names the audit action written after a successful call. ``same_origin`` applies
    the Origin check to every method, not only unsafe ones: for WebSocket handshakes (a GET
    that browsers send cross-origin with cookies attached, where the same-site rule allows).
    """

    roles: frozenset[Role]
    public: bool = False
    audit: str | None = None
    same_origin: bool = False

    def allows(self, role: Role) -> bool:
        return self.public or role in self.roles

    def audited(self, action: str) -> Access:
        return dataclasses.replace(self, audit=action)

    def origin_checked(self) -> Access:
        return dataclasses.replace(self, same_origin=True)


PUBLIC = Access(frozenset(), public=True)
ANY_USER = Access(frozenset(Role))
SUPERVISORS = Access(frozenset({Role.SUPERVISOR, Role.ADMIN}))
ADMINS = Access(frozenset({Role.ADMIN}))


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request."""

    user: User
    via: Literal["session", "token"]
    secret: str = field(default="", repr=False)
    """The session or API token that authenticated the request (for the socket guard)."""


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def session_cookie_name(secure: bool) -> str:
    return "__Host-callcenter_session" if secure else "callcenter_session"


def set_session_cookie(
    response: web.StreamResponse, token: str, *, secure: bool, max_age_s: float
) -> None:
    response.set_cookie(
        session_cookie_name(secure),
        token,
        max_age=int(max_age_s),
        path="/",
        secure=secure,
        httponly=True,
        samesite="Lax",
    )


def clear_session_cookie(response: web.StreamResponse, *, secure: bool) -> None:
    response.del_cookie(
        session_cookie_name(secure), path="/", secure=secure, httponly=True, samesite="Lax"
    )


def origin_allowed(host: str | None, origin: str | None, referer: str | None) -> bool:
    """True if ``Origin`` (else ``Referer``) names ``host`` (the request's Host header).

    Host and port are compared, not the scheme: behind a TLS-terminating proxy we see http
    while the browser says https; the proxy forwards the browser's Host unchanged.
    """
    if not host:
        return False
    claimed = origin if origin and origin != "null" else referer
    if not claimed:
        return False
    try:
        url = URL(claimed)
    except ValueError:
        return False
    if url.scheme not in {"http", "https"} or not url.raw_authority:
        return False
    authority = url.raw_authority.rsplit("@", 1)[-1]
    if url.explicit_port is not None and url.port == {"http": 80, "https": 443}[url.scheme]:
        authority = authority.rsplit(":", 1)[0]
    return authority.lower() == host.lower()


class Passwords:
    """argon2id hashing, run off the event loop (a hash costs tens of milliseconds and, with
    the default parameters, 64 MiB). At most ``concurrency`` hashes run at once, so a login
    flood queues up instead of exhausting memory and threads."""

    def __init__(self, hasher: PasswordHasher | None = None, *, concurrency: int = 2) -> None:
        self._hasher = hasher or PasswordHasher()
        self._slots = asyncio.Semaphore(concurrency)
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str, password: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(self._verify, stored_hash, password)

    async def burn(self, password: str) -> None:
        """Spend the time of a real check, so an unknown username answers as slowly."""
        if self._dummy is None:
            self._dummy = await self.hash(new_token())
        await self.verify(self._dummy, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False


class LoginLimiter:
    """Counts login attempts per (username, address) and per address in a sliding window.

    An attempt counts when it starts (so parallel guesses cannot slip through while the
    password is being checked) and is forgiven when it succeeds, in both counters: only
    failures accumulate (behind one proxy a whole shift logs in from one address). Beyond
    ``per_user`` failures for one username from one address, or ``per_address`` from one
    address for any usernames, logins are refused until the oldest counted attempt leaves
    the window. Memory is bounded:
    at most ``max_keys`` keys are tracked, the oldest are forgotten first.

    State is per process; several server instances would keep this in the shared store.
    The address is the client's (:meth:`~callcenter.web.forwarded.Transport.client_address`):
    the TCP peer, or behind a proxy listed in ``http.trusted_proxies`` the address it saw.
    """

    def __init__(
        self,
        *,
        per_user: int = 5,
        per_address: int = 100,
        window_s: float = 900.0,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {"user": per_user, "address": per_address}
        self._window_s = window_s
        self._max_keys = max_keys
        self._clock = clock
        self._attempts: dict[tuple[str, ...], deque[float]] = {}

    def _keys(self, username: str, address: str) -> list[tuple[tuple[str, ...], int]]:
        return [
            (("user", username, address), self._limits["user"]),
            (("address", address), self._limits["address"]),
        ]

    def _recent(self, key: tuple[str, ...], now: float) -> deque[float]:
        times = self._attempts.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self._window_s:
            times.popleft()
        if not times:
            del self._attempts[key]
        return times

    def begin(self, username: str, address: str) -> float:
        """Count an attempt, or raise :class:`RateLimited` if over a limit; returns the
        attempt's time, to be handed to :meth:`succeeded`."""
        now = self._clock()
        keys = self._keys(username, address)
        wait = 0.0
        for key, limit in keys:
            times = self._recent(key, now)
            if len(times) >= limit:
                wait = max(wait, times[len(times) - limit] + self._window_s - now)
        if wait > 0:
            raise RateLimited(wait)
        for key, _ in keys:
            self._attempts.setdefault(key, deque()).append(now)
        while len(self._attempts) > self._max_keys:
            del self._attempts[next(iter(self._attempts))]
        return now

    def succeeded(self, username: str, address: str, started: float) -> None:
        """Forgive this username's attempts from this address, and take the successful
        attempt (begun at ``started``) off the address total."""
        self._attempts.pop(("user", username, address), None)
        times = self._attempts.get(("address", address))
        if times is not None and started in times:
            times.remove(started)
            if not times:
                del self._attempts[("address", address)]


class Authenticator:
    """Logs users in and out and resolves session cookies and API tokens to users."""

    def __init__(
        self,
        accounts: Accounts,
        audit: AuditLog,
        passwords: Passwords,
        limiter: LoginLimiter,
        *,
        clock: Callable[[], float] = time.time,
        session_ttl_s: float = SESSION_TTL_S,
    ) -> None:
        self._accounts = accounts
        self._audit = audit
        self._passwords = passwords
        self._limiter = limiter
        self._clock = clock
        self.session_ttl_s = session_ttl_s

    async def login(self, username: str, password: str, *, address: str) -> tuple[User, str]:
        """Check the password; return the user and a new session token (for the cookie)."""
        name = username.strip().lower()
        started = self._limiter.begin(name, address)
        found = await self._accounts.credentials(name)
        if found is None:
            await self._passwords.burn(password)
            ok = False
        else:
            ok = await self._passwords.verify(found[1], password)
        if found is None or not ok:
            await self._audit.audit("anonymous", "login.failed", name, {"address": address})
            raise InvalidCredentials("unknown user or wrong password")
        user, stored_hash = found
        self._limiter.succeeded(name, address, started)
        if self._passwords.needs_rehash(stored_hash):
            await self._accounts.set_password_hash(user.id, await self._passwords.hash(password))
        token = new_token()
        now = self._clock()
        await self._accounts.create_session(
            user.id, token_hash(token), now=now, expires_at=now + self.session_ttl_s
        )
        await self._audit.audit(user.username, "login", user.username, {"address": address})
        return user, token

    async def logout(self, user: User, session_token: str | None, *, address: str) -> None:
        if session_token:
            await self._accounts.delete_session(token_hash(session_token))
        await self._audit.audit(user.username, "logout", user.username, {"address": address})

    async def session_user(self, session_token: str) -> User | None:
        return await self._accounts.session_user(token_hash(session_token), now=self._clock())

    async def token_user(self, api_token: str) -> User | None:
        return await self._accounts.token_user(token_hash(api_token), now=self._clock())

    async def still_valid(self, credential: Credential) -> bool:
        """Whether an open socket's credential still authenticates (see SocketGuard)."""
        if credential.via == "token":
            return await self.token_user(credential.secret) is not None
        return await self.session_user(credential.secret) is not None
