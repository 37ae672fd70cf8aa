"""Account administration shared by the API and the command line: disable and enable a user,
set a password, create, list and revoke API tokens. Every change is audited with its actor
(a username, or ``cli:<login>`` from the command line).

What stops at once: every request looks its credential up in the database (a session needs
an active user and an unexpired row; a token an active user, no ``revoked_at`` and no past
``expires_at``), so a disabled user's next request is a 401 whichever process disabled
them. Open WebSockets were authenticated once, at the handshake: the server's
:class:`~callcenter.web.socket_guard.SocketGuard` re-checks their credentials right after a
change made through the API and every few seconds for changes made elsewhere (the command
line), and closes the ones that no longer authenticate.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from callcenter.errors import ConflictError, ValidationError
from callcenter.store import Accounts, AuditLog, Role, User, token_hash
from callcenter.store.accounts import ApiToken, check_extension, check_username, sip_user
from callcenter.web.auth import API_TOKEN_PREFIX, Passwords, new_token

MIN_PASSWORD = 8
MAX_PASSWORD = 1024
MAX_TOKEN_DAYS = 3650
MAX_LABEL = 64


def check_password(password: object, field: str = "password") -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationError(field, f"{MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


def check_role(role: object) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise ValidationError("role", "expected agent, supervisor or admin") from None


def check_interface(extension: object) -> str | None:
    """None (no phone), or an Asterisk interface such as ``PJSIP/2001`` or, for a browser
    phone, ``PJSIP/w2001``."""
    if extension is None or extension == "":
        return None
    if not isinstance(extension, str) or len(extension) > 128:
        raise ValidationError("extension", "expected an Asterisk interface such as PJSIP/2001")
    try:
        return check_extension(extension.strip())
    except ValueError as exc:
        raise ValidationError("extension", str(exc)) from None


def check_label(label: object) -> str:
    if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL:
        raise ValidationError("label", f"a non-empty text of at most {MAX_LABEL} characters")
    if not label.isprintable():
        raise ValidationError("label", "control characters are not allowed")
    return label.strip()


def check_days(days: object) -> int | None:
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_TOKEN_DAYS:
        raise ValidationError("expires_in_days", f"an integer from 1 to {MAX_TOKEN_DAYS}")
    return days


class AccountAdmin:
    def __init__(
        self,
        accounts: Accounts,
        audit: AuditLog,
        passwords: Passwords,
        *,
        clock: Callable[[], float] = time.time,
        changed: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._accounts = accounts
        self._audit = audit
        self._passwords = passwords
        self._clock = clock
        self._changed = changed

    async def _after_change(self) -> None:
        if self._changed is not None:
            await self._changed()

    async def set_active(self, actor: str, username: str, active: bool) -> User:
        """Enable or disable ``username``; nobody disables their own account (the last admin
        must not lock everybody out by a slip)."""
        user = await self._accounts.get_user(username)
        if not active and user.username == actor:
            raise ConflictError("you cannot disable your own account")
        await self._accounts.set_active(user.id, active)
        await self._audit.audit(actor, "user.enable" if active else "user.disable", user.username)
        await self._after_change()
        return await self._accounts.get_user(user.username)

    async def create_user(
        self,
        actor: str,
        username: object,
        role: object,
        password: object,
        *,
        extension: object = None,
        sip_password: object = None,
    ) -> User:
        """A new user; ``sip_password`` gives their PJSIP extension a browser phone."""
        if not isinstance(username, str):
            raise ValidationError("username", "required")
        try:
            name = check_username(username)
        except ValueError as exc:
            raise ValidationError("username", str(exc)) from None
        checked_role = check_role(role)
        checked_password = check_password(password)
        interface = check_interface(extension)
        sip = self._check_sip_password(sip_password, interface)
        digest = await self._passwords.hash(checked_password)
        user = await self._accounts.add_user(
            name, checked_role, digest, extension=interface, now=self._clock()
        )
        if sip is not None:
            await self._accounts.set_sip_password(user.id, sip, now=self._clock())
        await self._audit.audit(
            actor,
            "user.create",
            user.username,
            {"role": checked_role.value, "extension": interface, "browser_phone": sip is not None},
        )
        return user

    @staticmethod
    def _check_sip_password(sip_password: object, interface: str | None) -> str | None:
        if sip_password is None or sip_password == "":
            return None
        if sip_user(interface) is None:
            raise ValidationError(
                "sip_password", "a browser phone needs a PJSIP extension such as PJSIP/w2001"
            )
        return check_password(sip_password, "sip_password")

    async def update(
        self,
        actor: str,
        username: str,
        *,
        role: object = None,
        extension: object = ...,
        sip_password: object = None,
    ) -> User:
        """Change a user's role, extension and browser-phone SIP password (each audited).
        Nobody changes their own role (the last admin must not demote themselves by a slip)."""
        user = await self._accounts.get_user(username)
        if role is not None:
            new_role = check_role(role)
            if new_role is not user.role:
                if user.username == actor:
                    raise ConflictError("you cannot change your own role")
                await self._accounts.set_role(user.id, new_role)
                await self._audit.audit(
                    actor,
                    "user.role",
                    user.username,
                    {"from": user.role.value, "to": new_role.value},
                )
        interface = user.extension
        if extension is not ...:
            interface = check_interface(extension)
            if interface != user.extension:
                await self._accounts.set_extension(user.id, interface)
                await self._audit.audit(
                    actor,
                    "user.extension",
                    user.username,
                    {"from": user.extension, "to": interface},
                )
        sip = self._check_sip_password(sip_password, interface)
        if sip is not None:
            await self._accounts.set_sip_password(user.id, sip, now=self._clock())
            await self._audit.audit(
                actor, "user.sip_password", user.username, {"extension": interface}
            )
        await self._after_change()
        return await self._accounts.get_user(user.username)

    async def set_password(
        self, actor: str, username: str, password: str, *, keep_session: str | None = None
    ) -> None:
        """Set a new password; every session of the user ends except ``keep_session`` (the
        session token of a user changing their own password)."""
        check_password(password)
        user = await self._accounts.get_user(username)
        digest = await self._passwords.hash(password)
        keep = token_hash(keep_session) if keep_session else ""
        await self._accounts.set_password_hash(user.id, digest, end_sessions=True, keep=keep)
        await self._audit.audit(actor, "user.password", user.username)
        await self._after_change()

    async def check_current_password(self, user: User, password: str) -> bool:
        found = await self._accounts.credentials(user.username)
        return found is not None and await self._passwords.verify(found[1], password)

    async def create_token(
        self, actor: str, username: str, label: object, *, expires_in_days: object = None
    ) -> tuple[ApiToken, str]:
        """A new token for ``username``: its listing and its secret (shown once)."""
        label = check_label(label)
        days = check_days(expires_in_days)
        user = await self._accounts.get_user(username)
        now = self._clock()
        secret = new_token(API_TOKEN_PREFIX)
        expires_at = now + days * 86400.0 if days is not None else None
        token_id = await self._accounts.create_api_token(
            user.id, label, token_hash(secret), now=now, expires_at=expires_at
        )
        [token] = [t for t in await self._accounts.api_tokens(user.id) if t.id == token_id]
        await self._audit.audit(
            actor,
            "token.create",
            user.username,
            {"token_id": token_id, "label": label, "expires_at": token.expires_at},
        )
        return token, secret

    async def tokens(self, username: str | None = None) -> list[ApiToken]:
        if username is None:
            return await self._accounts.api_tokens()
        return await self._accounts.api_tokens((await self._accounts.get_user(username)).id)

    async def revoke_token(
        self, actor: str, token_id: int, *, owner: User | None = None
    ) -> ApiToken:
        """Revoke a token (only ``owner``'s when given: a user revoking their own)."""
        token = await self._accounts.revoke_api_token(
            token_id, now=self._clock(), user_id=owner.id if owner is not None else None
        )
        await self._audit.audit(
            actor, "token.revoke", token.username, {"token_id": token.id, "label": token.name}
        )
        await self._after_change()
        return token


__all__ = [
    "AccountAdmin",
    "check_days",
    "check_interface",
    "check_label",
    "check_password",
    "check_role",
]
