"""Composition root: the only module that wires everything together.

``create_app(settings, **overrides)`` builds the aiohttp application without doing any I/O;
every resource with a lifetime (the database, the call-log writer, the AMI link and pump) is
opened and closed in a ``cleanup_ctx`` function, in order, and closed in reverse. App state
lives only under the typed keys of :mod:`callcenter.web.keys`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from callcenter.ami.link import AmiLink
from callcenter.model.calls import CallTracker
from callcenter.pump import Pump
from callcenter.settings import Settings
from callcenter.store import Accounts, AuditLog, CallLog, CallLogWriter, Database
from callcenter.web.auth import SESSION_TTL_S, Authenticator, LoginLimiter, Passwords
from callcenter.web.keys import (
    ACCOUNTS_KEY,
    AMI_LINK_KEY,
    AUDIT_KEY,
    AUTHENTICATOR_KEY,
    CALL_LOG_KEY,
    CALL_LOG_WRITER_KEY,
    DATABASE_KEY,
    LINK_STATUS_KEY,
    LOGIN_LIMITER_KEY,
    PASSWORDS_KEY,
    PUMP_KEY,
    SETTINGS_KEY,
)
from callcenter.web.linkstatus import LinkStatusProvider, no_link
from callcenter.web.middlewares import auth_middleware, error_middleware, security_headers
from callcenter.web.routes import setup_routes

log = logging.getLogger(__name__)

_CLOCK_KEY: web.AppKey[Callable[[], float]] = web.AppKey("clock")
_SESSION_TTL_KEY = web.AppKey("session_ttl_s", float)


def create_app(
    settings: Settings,
    *,
    link_status: LinkStatusProvider | None = None,
    passwords: Passwords | None = None,
    login_limiter: LoginLimiter | None = None,
    clock: Callable[[], float] = time.time,
    session_ttl_s: float = SESSION_TTL_S,
) -> web.Application:
    """Build the application. Keyword overrides exist for tests and tools:

    - ``link_status``: a provider for ``/health`` instead of the AMI link (then no link,
      tracker or pump is created at all);
    - ``passwords``: e.g. a cheap argon2 hasher in tests;
    - ``login_limiter``, ``clock`` (epoch seconds, for session expiry and the audit log),
      ``session_ttl_s``.
    """
    app = web.Application(middlewares=[error_middleware, auth_middleware])
    app[SETTINGS_KEY] = settings
    app[PASSWORDS_KEY] = passwords or Passwords()
    app[LOGIN_LIMITER_KEY] = login_limiter or LoginLimiter()
    app[_CLOCK_KEY] = clock
    app[_SESSION_TTL_KEY] = session_ttl_s
    app[LINK_STATUS_KEY] = link_status or no_link
    if link_status is None and settings.ami.enabled:
        pump = Pump(CallTracker(), lambda record: app[CALL_LOG_WRITER_KEY].submit(record))
        link = AmiLink(settings.ami, pump.on_event, pump.on_resync, clock=clock)
        app[PUMP_KEY] = pump
        app[AMI_LINK_KEY] = link
        app[LINK_STATUS_KEY] = lambda: link.status
    setup_routes(app)
    app.on_response_prepare.append(security_headers)
    app.cleanup_ctx.append(db_ctx)
    if link_status is None and settings.ami.enabled:
        app.cleanup_ctx.append(ami_ctx)
    return app


async def db_ctx(app: web.Application) -> AsyncIterator[None]:
    """The database and everything built on it; the call-log writer drains before close."""
    settings = app[SETTINGS_KEY]
    db = await Database.open(Path(settings.db.path))
    call_log = CallLog(db)
    accounts = Accounts(db)
    audit = AuditLog(db, clock=app[_CLOCK_KEY])
    writer = CallLogWriter(call_log)
    app[DATABASE_KEY] = db
    app[CALL_LOG_KEY] = call_log
    app[CALL_LOG_WRITER_KEY] = writer
    app[ACCOUNTS_KEY] = accounts
    app[AUDIT_KEY] = audit
    app[AUTHENTICATOR_KEY] = Authenticator(
        accounts,
        audit,
        app[PASSWORDS_KEY],
        app[LOGIN_LIMITER_KEY],
        clock=app[_CLOCK_KEY],
        session_ttl_s=app[_SESSION_TTL_KEY],
    )
    writer_task = asyncio.create_task(writer.run(), name="call-log-writer")
    log.info("database %s open", db.path)
    try:
        yield
    finally:
        writer_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer_task
        await db.close()
        log.info("database closed")


async def ami_ctx(app: web.Application) -> AsyncIterator[None]:
    """The AMI link and the pump (after :func:`db_ctx`, so the pump can hand finished calls to
    the call-log writer; stopped before the database closes). Neither waits for the PBX:
    the server serves while Asterisk is down and the link keeps retrying."""
    link, pump = app[AMI_LINK_KEY], app[PUMP_KEY]
    pump_task = asyncio.create_task(pump.run(), name="pump")
    link.start()
    try:
        yield
    finally:
        await link.stop()
        pump_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump_task
