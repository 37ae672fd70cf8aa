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
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from callcenter.ami.link import AmiLink
from callcenter.campaigns.dialer import Dialer
from callcenter.campaigns.retention import Retention
from callcenter.crm.imports import ImportRunner
from callcenter.crm.phones import PhoneNormalizer
from callcenter.crm.privacy import PrivacyService, RecordingFiles
from callcenter.crm.recordings import RecordingPaths
from callcenter.live.browser_phones import PhoneWatch
from callcenter.live.hub import Hub
from callcenter.live.pump import Pump
from callcenter.live.screenpops import CustomerCards, ScreenPops
from callcenter.live.wallboard import WallboardFeed
from callcenter.model.board import Board, PauseInterval
from callcenter.model.calls import CallTracker
from callcenter.model.records import CallRecord, Change
from callcenter.settings import Settings
from callcenter.store import (
    Accounts,
    AuditLog,
    CallLog,
    CallLogWriter,
    Customers,
    Database,
    Interactions,
    Privacy,
    Segments,
)
from callcenter.store.batch import BatchWriter
from callcenter.store.browse import CustomerBrowser
from callcenter.store.campaigns import Campaigns
from callcenter.store.cdr_recovery import CdrRecovery
from callcenter.store.channels import ChannelInteractions
from callcenter.store.erp import Erp
from callcenter.store.imports import ImportBatches
from callcenter.store.reports import Reports
from callcenter.transcription.feed import CallTranscriptionFeed
from callcenter.transcription.jobs import TranscribeOptions, TranscriptionService
from callcenter.web.account_admin import AccountAdmin
from callcenter.web.auth import SESSION_TTL_S, Authenticator, LoginLimiter, Passwords
from callcenter.web.forwarded import Transport
from callcenter.web.keys import (
    ACCOUNT_ADMIN_KEY,
    ACCOUNTS_KEY,
    AMI_LINK_KEY,
    AUDIT_KEY,
    AUTHENTICATOR_KEY,
    BROWSER_KEY,
    CALL_LOG_KEY,
    CALL_LOG_WRITER_KEY,
    CAMPAIGNS_KEY,
    CARDS_KEY,
    CDR_RECOVERY_KEY,
    CHANNELS_KEY,
    CLOCK_KEY,
    CUSTOMERS_KEY,
    DATABASE_KEY,
    DIALER_KEY,
    ERP_KEY,
    HUB_KEY,
    IMPORTS_KEY,
    INTERACTIONS_KEY,
    LINK_STATUS_KEY,
    LISTENERS_KEY,
    LOGIN_LIMITER_KEY,
    PAGES_KEY,
    PASSWORDS_KEY,
    PAUSE_WRITER_KEY,
    PHONES_KEY,
    PRIVACY_KEY,
    PUMP_KEY,
    REPORTS_KEY,
    RETENTION_KEY,
    SCREEN_POPS_KEY,
    SEGMENTS_KEY,
    SESSION_TTL_KEY,
    SETTINGS_KEY,
    SIP_PROXY_KEY,
    SOCKET_GUARD_KEY,
    TRANSCRIPTION_KEY,
    TRANSPORT_KEY,
    WALLBOARD_KEY,
)
from callcenter.web.linkstatus import LinkStatusProvider, no_link
from callcenter.web.middlewares import auth_middleware, error_middleware, security_headers
from callcenter.web.pages import Pages
from callcenter.web.routes import setup_routes
from callcenter.web.sip_proxy import SipProxy
from callcenter.web.socket_guard import SocketGuard

log = logging.getLogger(__name__)


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
    app[TRANSPORT_KEY] = Transport(settings.http)
    app[PASSWORDS_KEY] = passwords or Passwords()
    app[LOGIN_LIMITER_KEY] = login_limiter or LoginLimiter()
    app[CLOCK_KEY] = clock
    app[SESSION_TTL_KEY] = session_ttl_s
    app[LINK_STATUS_KEY] = link_status or no_link
    app[PHONES_KEY] = PhoneNormalizer(settings.crm.default_region)
    hub = Hub()

    async def campaign_of(dial_id: str) -> dict[str, Any] | None:
        campaigns = app.get(CAMPAIGNS_KEY)
        return await campaigns.call_context(dial_id) if campaigns is not None else None

    pops = ScreenPops(
        hub,
        lambda number, name, agent, create: app[CARDS_KEY](number, name, agent, create),
        clock,
        campaign_of,
    )
    center = settings.center
    listeners: list[Callable[[Change], None]] = [pops.on_change]
    app[LISTENERS_KEY] = listeners

    def publish(change: Change) -> None:
        for listener in listeners:
            listener(change)

    pump = Pump(
        CallTracker(settings.pbx.endpoints()),
        lambda record: app[CALL_LOG_WRITER_KEY].submit(record),
        publish,
        board=Board(center.service_level_s, ZoneInfo(center.time_zone)),
        pause_sink=lambda pause: app[PAUSE_WRITER_KEY].submit(pause),
    )
    app[HUB_KEY] = hub
    app[SCREEN_POPS_KEY] = pops
    app[PUMP_KEY] = pump
    app[WALLBOARD_KEY] = WallboardFeed(hub, pump, clock)
    if link_status is None and settings.ami.enabled:
        link = AmiLink(settings.ami, pump.on_event, pump.on_resync, clock=clock)
        app[AMI_LINK_KEY] = link
        app[LINK_STATUS_KEY] = lambda: link.status
    app[PAGES_KEY] = Pages()
    setup_routes(app)
    app.on_response_prepare.append(security_headers)
    app.cleanup_ctx.append(db_ctx)
    app.cleanup_ctx.append(privacy_ctx)
    if settings.transcribe.enabled:
        app.cleanup_ctx.append(transcribe_ctx)
    app.cleanup_ctx.append(live_ctx)
    app.cleanup_ctx.append(campaigns_ctx)
    if settings.phone.webrtc_ws:
        app[SIP_PROXY_KEY] = SipProxy(settings.phone.webrtc_ws)
        app.cleanup_ctx.append(sip_proxy_ctx)
    app.on_shutdown.append(close_sockets)
    return app


async def close_sockets(app: web.Application) -> None:
    """Shutdown: close the live sockets first, so their handlers end instead of holding the
    server open until the shutdown timeout."""
    await app[HUB_KEY].close_all()
    proxy = app.get(SIP_PROXY_KEY)
    if proxy is not None:
        await proxy.close_all()


async def sip_proxy_ctx(app: web.Application) -> AsyncIterator[None]:
    """The browser phones' SIP WebSocket proxy (``/sip`` -> ``[phone] webrtc_ws``)."""
    proxy = app[SIP_PROXY_KEY]
    await proxy.start()
    try:
        yield
    finally:
        await proxy.close()


async def db_ctx(app: web.Application) -> AsyncIterator[None]:
    """The database and everything built on it; the call-log writer drains before close.
    The call log links every call it writes to its customer (stubs for unknown numbers)."""
    settings = app[SETTINGS_KEY]
    clock = app[CLOCK_KEY]
    db = await Database.open(Path(settings.db.path))
    customers = Customers(db, app[PHONES_KEY], clock=clock)
    call_log = CallLog(db, linker=customers.link_calls)
    accounts = Accounts(db)
    audit = AuditLog(db, clock=clock)
    writer = CallLogWriter(call_log)
    app[DATABASE_KEY] = db
    app[CALL_LOG_KEY] = call_log
    app[CUSTOMERS_KEY] = customers
    app[INTERACTIONS_KEY] = Interactions(db, clock=clock)
    app[SEGMENTS_KEY] = Segments(db, clock=clock)
    app[BROWSER_KEY] = CustomerBrowser(db, clock=clock)
    app[CHANNELS_KEY] = ChannelInteractions(db, clock=clock)
    app[ERP_KEY] = Erp(db, clock=clock)
    import_batches = ImportBatches(db, clock=clock)
    await import_batches.interrupt_running()
    app[IMPORTS_KEY] = ImportRunner(
        import_batches, customers, app[CHANNELS_KEY], app[ERP_KEY], app[PHONES_KEY]
    )
    app[PRIVACY_KEY] = PrivacyService(
        Privacy(db),
        RecordingFiles(
            RecordingPaths(settings.crm.recordings_dir, settings.crm.recordings_pbx_dir)
        ),
        retention_days=settings.crm.recordings_retention_days,
        clock=clock,
        voice_notes=RecordingFiles(settings.transcribe.voice_notes_dir),
    )
    app[CALL_LOG_WRITER_KEY] = writer
    app[ACCOUNTS_KEY] = accounts
    app[AUDIT_KEY] = audit
    app[AUTHENTICATOR_KEY] = Authenticator(
        accounts,
        audit,
        app[PASSWORDS_KEY],
        app[LOGIN_LIMITER_KEY],
        clock=app[CLOCK_KEY],
        session_ttl_s=app[SESSION_TTL_KEY],
    )
    guard = SocketGuard(app[AUTHENTICATOR_KEY].still_valid)
    app[SOCKET_GUARD_KEY] = guard
    app[ACCOUNT_ADMIN_KEY] = AccountAdmin(
        accounts, audit, app[PASSWORDS_KEY], clock=clock, changed=guard.recheck
    )
    writer_task = asyncio.create_task(writer.run(), name="call-log-writer")
    guard_task = asyncio.create_task(guard.run(), name="socket-guard")
    log.info("database %s open", db.path)
    try:
        yield
    finally:
        await app[IMPORTS_KEY].close()
        for task in (guard_task, writer_task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await db.close()
        log.info("database closed")


async def privacy_ctx(app: web.Application) -> AsyncIterator[None]:
    """The scheduled GDPR job: recording retention and purging erased text from the search
    index, at start-up and every ``crm.retention_interval_s``."""
    task = asyncio.create_task(
        app[PRIVACY_KEY].run(app[SETTINGS_KEY].crm.retention_interval_s),
        name="privacy-maintenance",
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def recording_paths(settings: Settings) -> RecordingPaths:
    return RecordingPaths(settings.crm.recordings_dir, settings.crm.recordings_pbx_dir)


async def transcribe_ctx(app: web.Application) -> AsyncIterator[None]:
    """Local transcription (vosk, in worker processes): finished calls with a recording and
    consent become persisted jobs. A missing model is logged and shown on /health; the rest
    of the server runs on."""
    options = app[SETTINGS_KEY].transcribe
    service = TranscriptionService(
        app[DATABASE_KEY],
        TranscribeOptions(
            options.model_dir, options.workers, options.max_attempts, options.poll_interval_s
        ),
        clock=app[CLOCK_KEY],
    )
    app[TRANSCRIPTION_KEY] = service
    feed = CallTranscriptionFeed(
        service,
        app[CUSTOMERS_KEY],
        recording_paths(app[SETTINGS_KEY]),
    )
    app[LISTENERS_KEY].append(feed.on_change)
    await service.start()
    feed_task = asyncio.create_task(feed.writer.run(), name="transcribe-feed")
    try:
        yield
    finally:
        feed_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feed_task
        await service.close()


async def live_ctx(app: web.Application) -> AsyncIterator[None]:
    """The live side: the pump, screen pops, the wallboard feed and the AMI link (after
    :func:`db_ctx`: the pump hands finished calls to the call-log writer and pops read
    customers; stopped before the database closes). Nothing waits for the PBX: the server
    serves while Asterisk is down and the link keeps retrying."""
    app[CARDS_KEY] = CustomerCards(app[CUSTOMERS_KEY], app[INTERACTIONS_KEY])
    reports = Reports(app[DATABASE_KEY])
    app[REPORTS_KEY] = reports
    pauses: BatchWriter[PauseInterval] = BatchWriter(reports.add_pauses, name="pause log")
    app[PAUSE_WRITER_KEY] = pauses
    board = app[PUMP_KEY].board
    # Today's counters survive a restart: they are recounted from today's call log.
    midnight = datetime.now(board.tz).replace(hour=0, minute=0, second=0, microsecond=0)
    board.record_all(await reports.calls_since(midnight.timestamp()))
    tasks = [
        asyncio.create_task(pauses.run(), name="pause-log-writer"),
        asyncio.create_task(app[SCREEN_POPS_KEY].run(), name="screen-pops"),
        asyncio.create_task(app[WALLBOARD_KEY].run(), name="wallboard-feed"),
    ]
    link = app.get(AMI_LINK_KEY)
    if link is not None and app[SETTINGS_KEY].phone.webrtc_ws:
        # Browser phones that go away pause their agent (see callcenter.live.browser_phones).
        watch = PhoneWatch(board, link.queue_pause)
        app[PUMP_KEY].event_listeners.append(watch.on_event)
        tasks.append(asyncio.create_task(watch.run(), name="phone-watch"))
    recovery = await cdr_recovery(app) if link is not None else None
    if recovery is not None:
        tasks.append(asyncio.create_task(recovery.run(), name="cdr-recovery"))
    if link is not None:
        link.start()
    try:
        yield
    finally:
        if recovery is not None:
            assert link is not None
            await recovery.close(connected=link.status.authenticated)
        if link is not None:
            await link.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def cdr_recovery(app: web.Application) -> CdrRecovery | None:
    """With ``[pbx] cdr_path``, calls that end while we are not listening are logged from the
    PBX's CDRs on the next resync (see callcenter.store.cdr_recovery)."""
    settings = app[SETTINGS_KEY]
    if not settings.pbx.cdr_path:
        return None
    pump = app[PUMP_KEY]

    def recovered(record: CallRecord) -> None:
        app[CALL_LOG_WRITER_KEY].submit(record)
        pump.board.record(record)
        pump.board_version += 1

    recovery = CdrRecovery(
        app[DATABASE_KEY],
        app[CALL_LOG_KEY],
        recovered,
        settings.pbx.endpoints(),
        Path(settings.pbx.cdr_path),
        max_gap_s=settings.pbx.cdr_max_gap_s,
        max_read_bytes=settings.pbx.cdr_max_read_mb * 1024 * 1024,
        clock=app[CLOCK_KEY],
    )
    await recovery.load()
    app[CDR_RECOVERY_KEY] = recovery
    pump.event_listeners.append(recovery.on_event)
    pump.resync_listeners.append(recovery.on_resync)
    return recovery


async def campaigns_ctx(app: web.Application) -> AsyncIterator[None]:
    """Retention campaigns: the churn scores (recomputed at start-up and every
    ``campaigns.churn_interval_s``) and, with an AMI link, the dialer (after
    :func:`live_ctx`: it reads the pump's board and hears OriginateResponse events and
    finished calls; it reconciles attempts left in flight before its first call)."""
    settings = app[SETTINGS_KEY]
    clock = app[CLOCK_KEY]
    store = Campaigns(app[DATABASE_KEY], clock=clock)
    app[CAMPAIGNS_KEY] = store
    retention = Retention(
        store,
        settings.campaigns,
        ZoneInfo(settings.center.time_zone),
        segments=app[SEGMENTS_KEY],
        clock=clock,
    )
    app[RETENTION_KEY] = retention
    tasks: list[asyncio.Task[None]] = []
    if settings.campaigns.enabled:
        tasks.append(asyncio.create_task(retention.run(), name="churn-scores"))
        link = app.get(AMI_LINK_KEY)
        if link is not None:
            pump = app[PUMP_KEY]
            dialer = Dialer(
                store,
                link.originate,
                pump.board,
                settings.campaigns,
                getvar=link.getvar,
                agent_context=settings.agent.outbound_context,
                clock=clock,
            )
            app[DIALER_KEY] = dialer
            pump.event_listeners.append(dialer.on_event)
            pump.resync_listeners.append(dialer.on_resync)
            if pump.last_resync is not None:  # the link was quicker than us
                dialer.on_resync(pump.last_resync, clock())
            app[LISTENERS_KEY].append(dialer.on_change)
            tasks.append(asyncio.create_task(dialer.run(), name="campaign-dialer"))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
