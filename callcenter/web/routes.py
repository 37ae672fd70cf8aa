"""The whole URL table, with who may call each route and what gets audited.

``Access`` decides in the middleware: ``PUBLIC`` needs no login; otherwise 401 without a
login and 403 unless the user's role is listed. Routes not in this table (404/405 answers)
need a login, so the URL space is not probeable anonymously. Finer rules that depend on the
data (an agent reads only their own calls) live in the handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from callcenter.web import (
    account_api,
    admin,
    agent_api,
    api,
    bulk,
    campaign_reports,
    campaigns,
    crm,
    crm_api,
    crm_pages,
    erp_api,
    imports_api,
    pages,
    phone,
    preview,
    recordings,
    sip_proxy,
    supervisor,
    ws,
)
from callcenter.web.account_api import USERNAME
from callcenter.web.auth import ADMINS, ANY_USER, PUBLIC, SUPERVISORS, Access
from callcenter.web.keys import OPENAPI_KEY, ROUTE_ACCESS_KEY
from callcenter.web.openapi import build_document, openapi

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


ID = r"{id:\d+}"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    access: Access
    name: str


ROUTES: tuple[Route, ...] = (
    Route("GET", "/health", api.health, PUBLIC, "health"),
    Route("POST", "/api/login", api.login, PUBLIC, "login"),
    Route("POST", "/api/logout", api.logout, ANY_USER, "logout"),
    Route("GET", "/api/me", api.me, ANY_USER, "me"),
    # Agents too, but the handler narrows them to their own calls.
    Route("GET", "/api/calls", api.list_calls, ANY_USER.audited("calls.list"), "calls"),
    Route("GET", "/api/users", api.list_users, ADMINS.audited("users.list"), "users"),
    Route("POST", "/api/users", account_api.create_user, ADMINS, "user_create"),
    Route(
        "GET",
        "/api/admin/settings",
        admin.settings_view,
        ADMINS.audited("settings.read"),
        "admin_settings",
    ),
    Route("GET", "/api/audit", api.list_audit, ADMINS.audited("audit.list"), "audit"),
    # Accounts: AccountAdmin writes the audit entries (the command line shares it).
    Route("POST", "/api/me/password", account_api.change_own_password, ANY_USER, "me_password"),
    Route("PATCH", f"/api/users/{USERNAME}", account_api.update_user, ADMINS, "user_update"),
    Route(
        "PUT",
        f"/api/users/{USERNAME}/password",
        account_api.reset_password,
        ADMINS,
        "user_password",
    ),
    Route("GET", "/api/tokens", account_api.list_tokens, ANY_USER, "tokens"),
    Route("POST", "/api/tokens", account_api.create_token, ANY_USER, "token_create"),
    Route("DELETE", f"/api/tokens/{ID}", account_api.revoke_token, ANY_USER, "token_revoke"),
    Route("GET", "/api/openapi.json", openapi, ANY_USER, "openapi"),
    # Live sockets: the Origin check applies to the handshake (a GET browsers send
    # cross-site with cookies attached).
    Route("GET", "/ws/agent", ws.agent_socket, ANY_USER.origin_checked(), "ws_agent"),
    Route(
        "GET", "/ws/supervisor", ws.supervisor_socket, SUPERVISORS.origin_checked(), "ws_supervisor"
    ),
    # The browser phone's SIP WebSocket, proxied to Asterisk's: only the agent's own phone.
    Route("GET", "/sip", sip_proxy.sip_socket, ANY_USER.origin_checked(), "sip"),
    # --- CRM: everyone reads and writes customers and their timeline; merging is for
    # supervisors; GDPR export and erasure, and bulk exports, for admins.
    Route(
        "GET", "/api/customers", crm.list_customers, ANY_USER.audited("customers.list"), "customers"
    ),
    Route(
        "POST",
        "/api/customers",
        crm.create_customer,
        ANY_USER.audited("customer.create"),
        "customer_create",
    ),
    Route(
        "GET",
        "/api/customers/lookup",
        crm.lookup_customer,
        ANY_USER.audited("customers.lookup"),
        "customer_lookup",
    ),
    Route(
        "GET",
        f"/api/customers/{ID}",
        crm.get_customer,
        ANY_USER.audited("customer.read"),
        "customer",
    ),
    Route(
        "PATCH",
        f"/api/customers/{ID}",
        crm.update_customer,
        ANY_USER.audited("customer.update"),
        "customer_update",
    ),
    # The handler audits erasures and merges itself, with what was done.
    Route("DELETE", f"/api/customers/{ID}", crm.erase_customer, ADMINS, "customer_erase"),
    Route(
        "GET",
        f"/api/customers/{ID}/export",
        crm.export_customer,
        ADMINS.audited("customer.export"),
        "customer_export",
    ),
    Route("POST", f"/api/customers/{ID}/merge", crm.merge_customers, SUPERVISORS, "customer_merge"),
    Route(
        "POST",
        f"/api/customers/{ID}/notes",
        crm.add_note,
        ANY_USER.audited("note.create"),
        "customer_notes",
    ),
    Route(
        "POST",
        f"/api/customers/{ID}/dispositions",
        crm.add_disposition,
        ANY_USER.audited("disposition.create"),
        "customer_dispositions",
    ),
    Route(
        "POST",
        f"/api/customers/{ID}/callbacks",
        crm.add_callback,
        ANY_USER.audited("callback.create"),
        "customer_callbacks",
    ),
    Route(
        "POST",
        f"/api/customers/{ID}/tickets",
        crm.add_ticket,
        ANY_USER.audited("ticket.create"),
        "customer_tickets",
    ),
    Route(
        "GET", "/api/callbacks", crm.list_callbacks, ANY_USER.audited("callbacks.list"), "callbacks"
    ),
    Route(
        "PATCH",
        f"/api/callbacks/{ID}",
        crm.update_callback,
        ANY_USER.audited("callback.update"),
        "callback_update",
    ),
    Route("GET", "/api/tickets", crm.list_tickets, ANY_USER.audited("tickets.list"), "tickets"),
    Route(
        "PATCH",
        f"/api/tickets/{ID}",
        crm.update_ticket,
        ANY_USER.audited("ticket.update"),
        "ticket_update",
    ),
    Route(
        "GET", "/api/search", crm.search_customers, ANY_USER.audited("customers.search"), "search"
    ),
    Route("GET", "/api/segments", crm.list_segments, ANY_USER, "segments"),
    Route(
        "POST",
        "/api/segments",
        crm.create_segment,
        SUPERVISORS.audited("segment.create"),
        "segment_create",
    ),
    Route(
        "GET",
        f"/api/segments/{ID}/customers",
        crm.segment_customers,
        ANY_USER.audited("segment.read"),
        "segment_customers",
    ),
    Route(
        "DELETE",
        f"/api/segments/{ID}",
        crm.delete_segment,
        SUPERVISORS.audited("segment.delete"),
        "segment_delete",
    ),
    Route(
        "PATCH",
        f"/api/segments/{ID}",
        crm_api.update_segment,
        SUPERVISORS.audited("segment.update"),
        "segment_update",
    ),
    # --- the CRM pages' API (issue 16): browsing with counts for everyone; bulk actions and
    # the CSV of a selection for supervisors (the bulk handler audits what it did).
    Route(
        "GET",
        "/api/customers/browse",
        crm_api.browse_customers,
        ANY_USER.audited("customers.browse"),
        "customers_browse",
    ),
    Route("POST", "/api/customers/bulk", crm_api.bulk_customers, SUPERVISORS, "customers_bulk"),
    Route(
        "POST",
        "/api/customers/selection.csv",
        crm_api.selection_csv,
        SUPERVISORS,
        "customers_selection_csv",
    ),
    Route(
        "GET",
        f"/api/customers/{ID}/consent",
        crm_api.consent_history,
        ANY_USER.audited("customer.consent_history"),
        "customer_consent_history",
    ),
    Route(
        "GET",
        f"/api/customers/{ID}/same-number",
        crm_api.same_number,
        ANY_USER.audited("customer.same_number"),
        "customer_same_number",
    ),
    Route(
        "GET",
        f"/api/customers/{ID}/erasure",
        crm_api.erasure_preview,
        ADMINS.audited("customer.erasure_preview"),
        "customer_erasure_preview",
    ),
    Route(
        "GET",
        f"/api/customers/{ID}/interactions",
        crm_api.list_interactions,
        ANY_USER.audited("interactions.list"),
        "customer_interactions",
    ),
    Route(
        "POST",
        f"/api/customers/{ID}/interactions",
        crm_api.add_interaction,
        ANY_USER.audited("interaction.create"),
        "customer_interaction_add",
    ),
    # Orders and contracts from the ERP (integrations: a supervisor's or admin's token).
    Route(
        "GET",
        f"/api/customers/{ID}/orders",
        erp_api.customer_orders,
        ANY_USER.audited("orders.read"),
        "customer_orders",
    ),
    Route(
        "POST",
        f"/api/customers/{ID}/orders",
        erp_api.put_order,
        SUPERVISORS.audited("order.put"),
        "customer_order_put",
    ),
    Route(
        "POST",
        f"/api/customers/{ID}/contracts",
        erp_api.put_contract,
        SUPERVISORS.audited("contract.put"),
        "customer_contract_put",
    ),
    # Imports as batches (the /import page): started in the background, progress, rejects.
    Route(
        "POST", "/api/imports/preview", imports_api.preview_import, SUPERVISORS, "import_preview"
    ),
    Route("POST", "/api/imports", imports_api.start_import, SUPERVISORS, "import_start"),
    Route("GET", "/api/imports", imports_api.list_imports, SUPERVISORS, "imports"),
    Route("GET", f"/api/imports/{ID}", imports_api.get_import, SUPERVISORS, "import_batch"),
    Route(
        "GET",
        f"/api/imports/{ID}/rejected.csv",
        imports_api.rejected_csv,
        SUPERVISORS.audited("import.rejects"),
        "import_rejects",
    ),
    # The import handler audits itself, with the summary.
    Route(
        "POST",
        "/api/import/customers",
        bulk.import_customers_csv,
        SUPERVISORS,
        "customers_import",
    ),
    Route(
        "GET",
        "/api/export/customers.csv",
        bulk.export_customers_csv,
        ADMINS.audited("customers.export"),
        "customers_csv",
    ),
    Route(
        "GET",
        "/api/export/calls.csv",
        bulk.export_calls_csv,
        ADMINS.audited("calls.export"),
        "calls_csv",
    ),
    # --- Agent panel: the pages are public shells (their scripts read everything over the
    # API and go to /login on a 401); call control and wrap-up act on the caller's own phone.
    Route("GET", "/", pages.index, PUBLIC, "index"),
    Route("GET", "/login", pages.login_page, PUBLIC, "login_page"),
    Route("GET", "/agent", pages.agent_page, PUBLIC, "agent_page"),
    # Supervisors' pages: public shells too (the API and the socket answer 403 to agents).
    Route("GET", "/wallboard", pages.wallboard_page, PUBLIC, "wallboard_page"),
    Route("GET", "/reports", pages.reports_page, PUBLIC, "reports_page"),
    Route("GET", "/campaigns", pages.campaigns_page, PUBLIC, "campaigns_page"),
    # The CRM pages (public shells as well: every action is checked by its API route).
    Route("GET", "/customers", crm_pages.customers_page, PUBLIC, "customers_page"),
    Route("GET", f"/customers/{ID}", crm_pages.customer_page, PUBLIC, "customer_page"),
    Route("GET", "/tickets", crm_pages.tickets_page, PUBLIC, "tickets_page"),
    Route("GET", "/callbacks", crm_pages.callbacks_page, PUBLIC, "callbacks_page"),
    Route("GET", "/admin", crm_pages.admin_page, PUBLIC, "admin_page"),
    Route("GET", "/import", crm_pages.import_page, PUBLIC, "import_page"),
    Route("GET", "/static/{path:[A-Za-z0-9_./-]{1,200}}", pages.static_file, PUBLIC, "static"),
    Route("GET", "/api/agent/state", agent_api.agent_state, ANY_USER, "agent_state"),
    Route("GET", "/api/agent/options", agent_api.options, ANY_USER, "agent_options"),
    # My browser phone: its SIP credentials (to me only) and whether it answers by itself.
    Route("GET", "/api/agent/phone", phone.my_phone, ANY_USER, "agent_phone"),
    Route(
        "PATCH",
        "/api/agent/phone",
        phone.update_my_phone,
        ANY_USER.audited("phone.update"),
        "agent_phone_update",
    ),
    Route(
        "POST", "/api/agent/pause", agent_api.pause, ANY_USER.audited("agent.pause"), "agent_pause"
    ),
    Route("POST", "/api/agent/dial", agent_api.dial, ANY_USER.audited("call.dial"), "agent_dial"),
    # Preview campaigns: the next number held for me, dialed from my phone or given back.
    # POST: offering a number holds it for this agent (preview_hold_s), a change of state.
    Route("POST", "/api/agent/preview", preview.next_preview, ANY_USER, "agent_preview"),
    Route(
        "POST",
        "/api/agent/preview/{attempt_id}/dial",
        preview.dial_preview,
        ANY_USER.audited("campaign.preview_dial"),
        "agent_preview_dial",
    ),
    Route(
        "POST",
        "/api/agent/preview/{attempt_id}/skip",
        preview.skip_preview,
        ANY_USER.audited("campaign.preview_skip"),
        "agent_preview_skip",
    ),
    Route(
        "POST",
        "/api/agent/hangup",
        agent_api.hangup,
        ANY_USER.audited("call.hangup"),
        "agent_hangup",
    ),
    Route(
        "POST",
        "/api/agent/transfer",
        agent_api.transfer,
        ANY_USER.audited("call.transfer"),
        "agent_transfer",
    ),
    Route(
        "POST",
        "/api/agent/wrapup",
        agent_api.wrap_up,
        ANY_USER.audited("call.wrapup"),
        "agent_wrapup",
    ),
    # --- Supervisors: the wallboard (also pushed on /ws/supervisor), listen / whisper /
    # barge, pausing and removing agents (the handlers audit what they did), reports.
    Route("GET", "/api/wallboard", supervisor.wallboard, SUPERVISORS, "wallboard"),
    Route("POST", "/api/supervisor/spy", supervisor.spy, SUPERVISORS, "supervisor_spy"),
    Route(
        "POST",
        "/api/supervisor/agents/pause",
        supervisor.agent_pause,
        SUPERVISORS,
        "supervisor_agent_pause",
    ),
    Route(
        "POST",
        "/api/supervisor/agents/remove",
        supervisor.agent_remove,
        SUPERVISORS,
        "supervisor_agent_remove",
    ),
    Route("GET", "/api/reports", supervisor.report, SUPERVISORS.audited("reports.read"), "reports"),
    Route(
        "GET",
        "/api/reports.csv",
        supervisor.report_csv,
        SUPERVISORS.audited("reports.export"),
        "reports_csv",
    ),
    # Agents too, but the handler narrows them to their own calls.
    Route(
        "GET",
        "/api/calls/{call_id:[0-9A-Za-z][0-9A-Za-z._-]{0,127}}",
        agent_api.call_detail,
        ANY_USER.audited("call.read"),
        "call",
    ),
    Route(
        "GET",
        "/api/calls/{call_id:[0-9A-Za-z][0-9A-Za-z._-]{0,127}}/recording",
        recordings.call_recording,
        ANY_USER.audited("call.recording"),
        "call_recording",
    ),
    Route(
        "GET",
        "/api/calls/{call_id:[0-9A-Za-z][0-9A-Za-z._-]{0,127}}/transcript",
        recordings.call_transcript,
        ANY_USER.audited("call.transcript"),
        "call_transcript",
    ),
    Route(
        "POST",
        f"/api/customers/{ID}/voice-notes",
        recordings.upload_voice_note,
        ANY_USER.audited("voice_note.add"),
        "voice_note_add",
    ),
    Route(
        "GET",
        f"/api/voice-notes/{ID}/audio",
        recordings.voice_note_audio,
        ANY_USER.audited("voice_note.play"),
        "voice_note_audio",
    ),
    # --- outbound retention campaigns and churn scores: supervisors and admins.
    Route("GET", "/api/campaigns", campaigns.list_campaigns, SUPERVISORS, "campaigns"),
    Route(
        "POST",
        "/api/campaigns",
        campaigns.create_campaign,
        SUPERVISORS.audited("campaign.create"),
        "campaign_create",
    ),
    Route("GET", f"/api/campaigns/{ID}", campaigns.get_campaign, SUPERVISORS, "campaign"),
    Route(
        "GET",
        f"/api/campaigns/{ID}/timeline",
        campaign_reports.campaign_timeline,
        SUPERVISORS,
        "campaign_timeline",
    ),
    Route(
        "POST",
        f"/api/campaigns/{ID}/start",
        campaigns.start_campaign,
        SUPERVISORS.audited("campaign.start"),
        "campaign_start",
    ),
    Route(
        "POST",
        f"/api/campaigns/{ID}/pause",
        campaigns.pause_campaign,
        SUPERVISORS.audited("campaign.pause"),
        "campaign_pause",
    ),
    Route(
        "POST",
        f"/api/campaigns/{ID}/resume",
        campaigns.resume_campaign,
        SUPERVISORS.audited("campaign.resume"),
        "campaign_resume",
    ),
    Route("GET", "/api/churn", campaigns.retention_list, SUPERVISORS, "churn"),
    Route(
        "POST",
        "/api/churn/recompute",
        campaigns.recompute_churn,
        SUPERVISORS.audited("churn.recompute"),
        "churn_recompute",
    ),
    Route(
        "GET",
        f"/api/customers/{ID}/churn",
        campaigns.customer_churn,
        SUPERVISORS,
        "customer_churn",
    ),
)


def setup_routes(app: web.Application) -> None:
    access = {}
    for route in ROUTES:
        added = app.router.add_route(route.method, route.path, route.handler, name=route.name)
        access[added] = route.access
    app[ROUTE_ACCESS_KEY] = access
    app[OPENAPI_KEY] = build_document(ROUTES)
