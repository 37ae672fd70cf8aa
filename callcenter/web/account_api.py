"""Account handlers: a user's own password and API tokens; admins disable and enable users,
reset passwords and revoke anybody's tokens. The work (and its audit entry) is in
:class:`~callcenter.web.account_admin.AccountAdmin`, shared with the command line.
"""

from __future__ import annotations

from aiohttp import web

from callcenter.store import Role
from callcenter.web.account_admin import check_password
from callcenter.web.bodies import json_response, read_json_object
from callcenter.web.errors import InvalidCredentials, ValidationError
from callcenter.web.keys import ACCOUNT_ADMIN_KEY, PRINCIPAL_KEY, SESSION_TOKEN_KEY

USERNAME = r"{username:[a-z0-9][a-z0-9._@-]*}"


def _only(body: dict[str, object], allowed: tuple[str, ...]) -> None:
    for key in body:
        if key not in allowed:
            raise ValidationError(key, f"unknown field (allowed: {', '.join(allowed)})")


async def create_user(request: web.Request) -> web.Response:
    """``POST /api/users`` ``{"username", "role", "password", "extension"?, "sip_password"?}``
    (admins): ``sip_password`` makes the PJSIP extension a browser phone."""
    body = await read_json_object(request)
    _only(body, ("username", "role", "password", "extension", "sip_password"))
    user = await request.app[ACCOUNT_ADMIN_KEY].create_user(
        request[PRINCIPAL_KEY].user.username,
        body.get("username"),
        body.get("role"),
        body.get("password"),
        extension=body.get("extension"),
        sip_password=body.get("sip_password"),
    )
    return json_response({"user": user.to_dict()}, status=201)


async def update_user(request: web.Request) -> web.Response:
    """``PATCH /api/users/{username}`` ``{"active"?, "role"?, "extension"?, "sip_password"?}``:
    disable (sessions, tokens and open sockets stop at once) or enable a user, change their
    role, their phone's interface (null: none) or their browser phone's SIP password."""
    body = await read_json_object(request)
    _only(body, ("active", "role", "extension", "sip_password"))
    if not body:
        raise ValidationError("active", "nothing to change")
    actor = request[PRINCIPAL_KEY].user.username
    admin = request.app[ACCOUNT_ADMIN_KEY]
    username = request.match_info["username"]
    if "active" in body and not isinstance(body["active"], bool):
        raise ValidationError("active", "expected true or false")
    if "role" in body and not isinstance(body["role"], str):
        raise ValidationError("role", "expected agent, supervisor or admin")
    user = None
    if body.keys() & {"role", "extension", "sip_password"}:
        user = await admin.update(
            actor,
            username,
            role=body.get("role"),
            extension=body.get("extension", ...),
            sip_password=body.get("sip_password"),
        )
    if "active" in body:
        user = await admin.set_active(actor, username, body["active"])
    assert user is not None
    return json_response({"user": user.to_dict()})


async def reset_password(request: web.Request) -> web.Response:
    """``PUT /api/users/{username}/password`` ``{"password"}`` (admins): every session of
    the user ends (the admin's own, if they reset themselves, stays)."""
    body = await read_json_object(request)
    _only(body, ("password",))
    password = check_password(body.get("password"))
    principal = request[PRINCIPAL_KEY]
    await request.app[ACCOUNT_ADMIN_KEY].set_password(
        principal.user.username,
        request.match_info["username"],
        password,
        keep_session=request.get(SESSION_TOKEN_KEY),
    )
    return web.Response(status=204)


async def change_own_password(request: web.Request) -> web.Response:
    """``POST /api/me/password`` ``{"current_password", "new_password"}``: the user's other
    sessions end; this one stays."""
    body = await read_json_object(request)
    _only(body, ("current_password", "new_password"))
    current = body.get("current_password")
    if not isinstance(current, str) or not current or len(current) > 1024:
        raise ValidationError("current_password", "required")
    new = check_password(body.get("new_password"), "new_password")
    admin = request.app[ACCOUNT_ADMIN_KEY]
    user = request[PRINCIPAL_KEY].user
    if not await admin.check_current_password(user, current):
        raise InvalidCredentials("the current password is wrong")
    await admin.set_password(
        user.username, user.username, new, keep_session=request.get(SESSION_TOKEN_KEY)
    )
    return web.Response(status=204)


async def list_tokens(request: web.Request) -> web.Response:
    """The caller's own tokens; admins see everybody's."""
    user = request[PRINCIPAL_KEY].user
    admin = request.app[ACCOUNT_ADMIN_KEY]
    tokens = await admin.tokens(None if user.role is Role.ADMIN else user.username)
    return json_response({"items": [token.to_dict() for token in tokens]})


async def create_token(request: web.Request) -> web.Response:
    """``POST /api/tokens`` ``{"label", "expires_in_days"?, "user"?}``: the secret is in
    this answer only. ``user`` (someone else's token) is for admins."""
    body = await read_json_object(request)
    _only(body, ("label", "expires_in_days", "user"))
    caller = request[PRINCIPAL_KEY].user
    owner = body.get("user", caller.username)
    if not isinstance(owner, str):
        raise ValidationError("user", "expected a username")
    if owner != caller.username and caller.role is not Role.ADMIN:
        raise ValidationError("user", "only admins create tokens for other users")
    token, secret = await request.app[ACCOUNT_ADMIN_KEY].create_token(
        caller.username,
        owner,
        body.get("label"),
        expires_in_days=body.get("expires_in_days"),
    )
    return json_response({**token.to_dict(), "token": secret}, status=201)


async def revoke_token(request: web.Request) -> web.Response:
    """``DELETE /api/tokens/{id}``: the caller's own token; admins revoke anybody's."""
    caller = request[PRINCIPAL_KEY].user
    token = await request.app[ACCOUNT_ADMIN_KEY].revoke_token(
        caller.username,
        int(request.match_info["id"]),
        owner=None if caller.role is Role.ADMIN else caller,
    )
    return json_response(token.to_dict())


__all__ = [
    "USERNAME",
    "change_own_password",
    "create_token",
    "create_user",
    "list_tokens",
    "reset_password",
    "revoke_token",
    "update_user",
]
