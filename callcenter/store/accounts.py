"""Users, their server-side sessions and API tokens.

A user has a role and, for agents, the device / queue-member interface they answer on
(``PJSIP/2001``, ``Local/2001@agents``): that interface is what the call log records as the
call's ``agent``, which is how an agent's "own calls" are found.

Session and API tokens are random secrets handed to the client once; the store only ever sees
their SHA-256 (:func:`token_hash`). Password hashing (argon2) happens outside the store; here
a password hash is an opaque string.
"""

from __future__ import annotations

import enum
import hashlib
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from callcenter.errors import ConflictError, NotFoundError, StoreError
from callcenter.model.records import iso
from callcenter.store.database import Database

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
# Asterisk interface: technology "/" resource, e.g. PJSIP/2001, SIP/alice, Local/2001@agents/n
_INTERFACE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*/[^\s/][^\s]*$")


class Role(enum.Enum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: Role
    extension: str | None
    active: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "role": self.role.value,
            "extension": self.extension,
            "active": self.active,
        }


def normalize_username(name: str) -> str:
    """Usernames are case-insensitive: stored and looked up in lower case."""
    return name.strip().lower()


def check_username(name: str) -> str:
    """The normalized username, or ValueError saying what is wrong with it."""
    normalized = normalize_username(name)
    if not _USERNAME.match(normalized):
        raise ValueError(
            "1-64 characters: letters, digits and . _ @ - (starting with a letter or digit)"
        )
    return normalized


def check_extension(interface: str) -> str:
    """An Asterisk interface such as ``PJSIP/2001``, or ValueError."""
    if not _INTERFACE.match(interface):
        raise ValueError("expected an Asterisk interface such as PJSIP/2001")
    return interface


def token_hash(token: str) -> str:
    """How a session or API token is stored: random 256-bit secrets need no slow hash."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


_USER_COLUMNS = "u.id, u.username, u.role, u.extension, u.active"


def _user(row: Sequence[Any]) -> User:
    return User(
        id=int(row[0]),
        username=str(row[1]),
        role=Role(row[2]),
        extension=row[3],
        active=bool(row[4]),
    )


def _rowid(rowid: int | None) -> int:
    if rowid is None:  # pragma: no cover - an INSERT always sets one
        raise StoreError("insert returned no row id")
    return rowid


class Accounts:
    """Repository of users, sessions and API tokens. Times are epoch seconds in, ISO text in
    the database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # --- users ---------------------------------------------------------------------------

    async def add_user(
        self,
        username: str,
        role: Role,
        password_hash: str,
        *,
        extension: str | None,
        now: float,
    ) -> User:
        username = normalize_username(username)
        async with self._db.transaction() as conn:
            try:
                cursor = await conn.execute(
                    "INSERT INTO users"
                    " (username, role, extension, password_hash, active, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (username, role.value, extension, password_hash, True, iso(now)),
                )
            except sqlite3.IntegrityError as exc:
                raise ConflictError(f"user {username!r} already exists") from exc
            user_id = _rowid(cursor.lastrowid)
        return User(user_id, username, role, extension)

    async def credentials(self, username: str) -> tuple[User, str] | None:
        """The user and their password hash, or None if unknown or deactivated."""
        async with (
            self._db.reading() as conn,
            conn.execute(
                f"SELECT {_USER_COLUMNS}, u.password_hash FROM users u"
                " WHERE u.username = ? AND u.active = ?",
                (normalize_username(username), True),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        if row is None:
            return None
        return _user(row), str(row[5])

    async def set_password_hash(
        self, user_id: int, password_hash: str, *, end_sessions: bool = False, keep: str = ""
    ) -> None:
        """Replace the password hash; with ``end_sessions`` the user's sessions end too,
        except the one whose digest is ``keep`` (the session that changed the password)."""
        async with self._db.transaction() as conn:
            async with conn.execute(
                "UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id)
            ) as cursor:
                if cursor.rowcount != 1:
                    raise NotFoundError(f"no user with id {user_id}")
            if end_sessions:
                await conn.execute(
                    "DELETE FROM sessions WHERE user_id = ? AND token_hash != ?", (user_id, keep)
                )

    async def set_active(self, user_id: int, active: bool) -> None:
        """Enable or disable a user. A disabled user's sessions are deleted (so enabling
        them again does not revive old cookies); their API tokens stop working while the
        account is disabled (every lookup checks ``active``)."""
        async with self._db.transaction() as conn:
            async with conn.execute(
                "UPDATE users SET active = ? WHERE id = ?", (active, user_id)
            ) as cursor:
                if cursor.rowcount != 1:
                    raise NotFoundError(f"no user with id {user_id}")
            if not active:
                await conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))

    async def set_role(self, user_id: int, role: Role) -> None:
        """A new role applies from the user's next request (every request reads the user)."""
        await self._update_user(user_id, "role", role.value)

    async def set_extension(self, user_id: int, extension: str | None) -> None:
        """The device / queue-member interface the user answers on (None: none)."""
        await self._update_user(user_id, "extension", extension)

    async def _update_user(self, user_id: int, column: str, value: object) -> None:
        async with (
            self._db.transaction() as conn,
            conn.execute(f"UPDATE users SET {column} = ? WHERE id = ?", (value, user_id)) as cursor,
        ):
            if cursor.rowcount != 1:
                raise NotFoundError(f"no user with id {user_id}")

    async def get_user(self, username: str) -> User:
        async with (
            self._db.reading() as conn,
            conn.execute(
                f"SELECT {_USER_COLUMNS} FROM users u WHERE u.username = ?",
                (normalize_username(username),),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        if row is None:
            raise NotFoundError(f"no user {username!r}")
        return _user(row)

    async def list_users(self) -> list[User]:
        async with (
            self._db.reading() as conn,
            conn.execute(f"SELECT {_USER_COLUMNS} FROM users u ORDER BY u.username") as cursor,
        ):
            return [_user(row) for row in await cursor.fetchall()]

    # --- sessions ------------------------------------------------------------------------

    async def create_session(
        self, user_id: int, token_digest: str, *, now: float, expires_at: float
    ) -> None:
        """Store a new session (and drop expired ones, which keeps the table small)."""
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (iso(now),))
            await conn.execute(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (token_digest, user_id, iso(now), iso(expires_at)),
            )

    async def session_user(self, token_digest: str, *, now: float) -> User | None:
        """The active user owning this unexpired session, or None."""
        async with (
            self._db.reading() as conn,
            conn.execute(
                f"SELECT {_USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id"
                " WHERE s.token_hash = ? AND s.expires_at > ? AND u.active = ?",
                (token_digest, iso(now), True),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return None if row is None else _user(row)

    async def delete_session(self, token_digest: str) -> bool:
        async with (
            self._db.transaction() as conn,
            conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_digest,)) as cursor,
        ):
            return cursor.rowcount == 1

    # --- API tokens ----------------------------------------------------------------------

    async def create_api_token(
        self,
        user_id: int,
        name: str,
        token_digest: str,
        *,
        now: float,
        expires_at: float | None = None,
    ) -> int:
        async with (
            self._db.transaction() as conn,
            conn.execute(
                "INSERT INTO api_tokens (user_id, name, token_hash, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (user_id, name, token_digest, iso(now), iso(expires_at)),
            ) as cursor,
        ):
            token_id = _rowid(cursor.lastrowid)
        return token_id

    async def token_user(self, token_digest: str, *, now: float | None = None) -> User | None:
        """The active user owning this unrevoked, unexpired API token, or None."""
        async with (
            self._db.reading() as conn,
            conn.execute(
                f"SELECT {_USER_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id"
                " WHERE t.token_hash = ? AND t.revoked_at IS NULL AND u.active = ?"
                " AND (t.expires_at IS NULL OR t.expires_at > ?)",
                (token_digest, True, iso(now) if now is not None else ""),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return None if row is None else _user(row)

    async def api_tokens(self, user_id: int | None = None) -> list[ApiToken]:
        """Tokens (never their secrets or hashes), newest first; of one user if given."""
        sql = (
            "SELECT t.id, u.username, t.name, t.created_at, t.expires_at, t.revoked_at"
            " FROM api_tokens t JOIN users u ON u.id = t.user_id"
        )
        params: tuple[Any, ...] = ()
        if user_id is not None:
            sql += " WHERE t.user_id = ?"
            params = (user_id,)
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall(sql + " ORDER BY t.id DESC", params)
        return [ApiToken(int(r[0]), str(r[1]), str(r[2]), str(r[3]), r[4], r[5]) for r in rows]

    async def revoke_api_token(
        self, token_id: int, *, now: float, user_id: int | None = None
    ) -> ApiToken:
        """Revoke an active token (only ``user_id``'s, if given); returns it."""
        owner = "" if user_id is None else " AND user_id = ?"
        params: tuple[Any, ...] = (iso(now), token_id) + (() if user_id is None else (user_id,))
        async with self._db.transaction() as conn:
            async with conn.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL" + owner,
                params,
            ) as cursor:
                if cursor.rowcount != 1:
                    raise NotFoundError(f"no active API token with id {token_id}")
            rows = list(
                await conn.execute_fetchall(
                    "SELECT t.id, u.username, t.name, t.created_at, t.expires_at, t.revoked_at"
                    " FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?",
                    (token_id,),
                )
            )
        r = rows[0]
        return ApiToken(int(r[0]), str(r[1]), str(r[2]), str(r[3]), r[4], r[5])

    # --- browser phones (WebRTC) ---------------------------------------------------------

    async def set_sip_password(self, user_id: int, sip_password: str, *, now: float) -> None:
        """Store (or replace) the SIP password of the user's browser phone."""
        async with self._db.transaction() as conn:
            try:
                await conn.execute(
                    "INSERT INTO browser_phones (user_id, sip_password, auto_answer, updated_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET"
                    " sip_password = excluded.sip_password, updated_at = excluded.updated_at",
                    (user_id, sip_password, False, iso(now)),
                )
            except sqlite3.IntegrityError as exc:
                raise NotFoundError(f"no user with id {user_id}") from exc

    async def browser_phone(self, user_id: int) -> BrowserPhone | None:
        """The user's browser phone credentials and settings, or None if none are set."""
        async with (
            self._db.reading() as conn,
            conn.execute(
                "SELECT sip_password, auto_answer FROM browser_phones WHERE user_id = ?",
                (user_id,),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return None if row is None else BrowserPhone(str(row[0]), bool(row[1]))

    async def set_auto_answer(self, user_id: int, auto_answer: bool, *, now: float) -> None:
        async with (
            self._db.transaction() as conn,
            conn.execute(
                "UPDATE browser_phones SET auto_answer = ?, updated_at = ? WHERE user_id = ?",
                (auto_answer, iso(now), user_id),
            ) as cursor,
        ):
            if cursor.rowcount != 1:
                raise NotFoundError(f"user {user_id} has no browser phone")


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An API token as listed: who it acts as and its lifetime, never its secret."""

    id: int
    username: str
    name: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user": self.username,
            "label": self.name,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
        }


@dataclass(frozen=True, slots=True)
class BrowserPhone:
    """An agent's browser phone: the digest password of their PJSIP endpoint (never in a
    listing, never in ``repr``) and whether queue calls are answered without a click."""

    sip_password: str = field(repr=False)
    auto_answer: bool = False


def sip_user(extension: str | None) -> str | None:
    """The SIP user a browser phone registers as: ``PJSIP/w2001`` -> ``w2001``; None for
    anything that is not a plain PJSIP endpoint."""
    if not extension:
        return None
    tech, _, resource = extension.partition("/")
    if tech.upper() != "PJSIP" or not re.fullmatch(r"[A-Za-z0-9_.+-]{1,64}", resource):
        return None
    return resource
