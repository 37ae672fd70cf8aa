"""Typed keys for everything the app and a request carry (convention 5: no string keys)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

from callcenter.ami.link import AmiLink
from callcenter.campaigns.dialer import Dialer
from callcenter.campaigns.retention import Retention
from callcenter.crm.imports import ImportRunner
from callcenter.crm.phones import PhoneNormalizer
from callcenter.crm.privacy import PrivacyService
from callcenter.live.hub import Hub
from callcenter.live.pump import Pump
from callcenter.live.screenpops import CustomerCards, ScreenPops
from callcenter.live.wallboard import WallboardFeed
from callcenter.model.board import PauseInterval
from callcenter.model.records import Change
from callcenter.settings import Settings
from callcenter.store import (
    Accounts,
    AuditLog,
    CallLog,
    CallLogWriter,
    Customers,
    Database,
    Interactions,
    Segments,
)
from callcenter.store.batch import BatchWriter
from callcenter.store.browse import CustomerBrowser
from callcenter.store.campaigns import Campaigns
from callcenter.store.cdr_recovery import CdrRecovery
from callcenter.store.channels import ChannelInteractions
from callcenter.store.erp import Erp
from callcenter.store.reports import Reports
from callcenter.transcription.jobs import TranscriptionService
from callcenter.web.account_admin import AccountAdmin
from callcenter.web.auth import Access, Authenticator, LoginLimiter, Passwords, Principal
from callcenter.web.forwarded import Transport
from callcenter.web.linkstatus import LinkStatusProvider
from callcenter.web.socket_guard import SocketGuard

if TYPE_CHECKING:  # handler modules import these keys: no import of theirs at run time
    from callcenter.web.pages import Pages
    from callcenter.web.sip_proxy import SipProxy

SETTINGS_KEY = web.AppKey("settings", Settings)
DATABASE_KEY = web.AppKey("database", Database)
CALL_LOG_KEY = web.AppKey("call_log", CallLog)
CALL_LOG_WRITER_KEY = web.AppKey("call_log_writer", CallLogWriter)
ACCOUNTS_KEY = web.AppKey("accounts", Accounts)
AUDIT_KEY = web.AppKey("audit", AuditLog)
PASSWORDS_KEY = web.AppKey("passwords", Passwords)
LOGIN_LIMITER_KEY = web.AppKey("login_limiter", LoginLimiter)
AUTHENTICATOR_KEY = web.AppKey("authenticator", Authenticator)
LINK_STATUS_KEY: web.AppKey[LinkStatusProvider] = web.AppKey("link_status")
AMI_LINK_KEY = web.AppKey("ami_link", AmiLink)
PUMP_KEY = web.AppKey("pump", Pump)
CDR_RECOVERY_KEY = web.AppKey("cdr_recovery", CdrRecovery)
HUB_KEY = web.AppKey("hub", Hub)
SCREEN_POPS_KEY = web.AppKey("screen_pops", ScreenPops)
CARDS_KEY = web.AppKey("customer_cards", CustomerCards)
WALLBOARD_KEY = web.AppKey("wallboard", WallboardFeed)
REPORTS_KEY = web.AppKey("reports", Reports)
TRANSCRIPTION_KEY = web.AppKey("transcription", TranscriptionService)
ROUTE_ACCESS_KEY: web.AppKey[dict[AbstractRoute, Access]] = web.AppKey("route_access")
OPENAPI_KEY: web.AppKey[dict[str, Any]] = web.AppKey("openapi")
PHONES_KEY = web.AppKey("phones", PhoneNormalizer)
CUSTOMERS_KEY = web.AppKey("customers", Customers)
INTERACTIONS_KEY = web.AppKey("interactions", Interactions)
SEGMENTS_KEY = web.AppKey("segments", Segments)
PRIVACY_KEY = web.AppKey("privacy", PrivacyService)
DIALER_KEY = web.AppKey("dialer", Dialer)
ACCOUNT_ADMIN_KEY = web.AppKey("account_admin", AccountAdmin)
SOCKET_GUARD_KEY = web.AppKey("socket_guard", SocketGuard)

PRINCIPAL_KEY = web.RequestKey("principal", Principal)
SESSION_TOKEN_KEY: web.RequestKey[str] = web.RequestKey("session_token", str)

# The app's clock (epoch seconds): handlers take the time from it, never from the wall clock,
# so tests can move time.
CLOCK_KEY: web.AppKey[Callable[[], float]] = web.AppKey("clock")
SESSION_TTL_KEY = web.AppKey("session_ttl_s", float)
LISTENERS_KEY: web.AppKey[list[Callable[[Change], None]]] = web.AppKey("change_listeners")
PAUSE_WRITER_KEY: web.AppKey[BatchWriter[PauseInterval]] = web.AppKey("pause_writer")
CAMPAIGNS_KEY = web.AppKey("campaigns", Campaigns)
RETENTION_KEY = web.AppKey("retention", Retention)
BROWSER_KEY = web.AppKey("customer_browser", CustomerBrowser)
CHANNELS_KEY = web.AppKey("channel_interactions", ChannelInteractions)
TRANSPORT_KEY = web.AppKey("transport", Transport)
SIMULATED_PHONES_KEY = web.AppKey("simulated_phones", bool)
PAGES_KEY: web.AppKey[Pages] = web.AppKey("pages")
SIP_PROXY_KEY: web.AppKey[SipProxy] = web.AppKey("sip_proxy")
ERP_KEY = web.AppKey("erp", Erp)
IMPORTS_KEY = web.AppKey("imports", ImportRunner)
