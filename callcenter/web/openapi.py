"""The OpenAPI 3.1 document of ``/api``, served at ``GET /api/openapi.json``.

Paths and methods come from the route table (:data:`callcenter.web.routes.ROUTES`), the
operations' descriptions from :data:`OPERATIONS` (keyed by route name), and who may call each
one from its :class:`~callcenter.web.auth.Access` (``x-roles``, ``security``, 401/403
answers). A route without a description is still listed (``x-undocumented``; the server must
not fail to start over documentation), and a test fails until every ``/api`` route has an
operation here and nothing else does.

The document needs a login like the rest of the API (the URL space is not probeable
anonymously); any role may read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from callcenter import __version__
from callcenter.crm.csv_import import ADDRESS_PARTS, CONSENT
from callcenter.web.auth import Access
from callcenter.web.keys import OPENAPI_KEY

JSON = "application/json"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def answer(name: str) -> dict[str, str]:
    """A shared response from ``components/responses``."""
    return {"$ref": f"#/components/responses/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _items(name: str, **extra: Any) -> dict[str, Any]:
    return _json(
        {
            "type": "object",
            "properties": {"items": {"type": "array", "items": ref(name)}, **extra},
            "required": ["items"],
        }
    )


def _query(name: str, description: str, schema: dict[str, Any] | None = None, **more: Any) -> Any:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": schema or {"type": "string"},
        **more,
    }


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": schema}}}


_STRING = {"type": "string"}
_CHANNELS = ("email", "meeting", "letter", "chat", "social")
_NULLABLE_STRING = {"type": ["string", "null"]}
_TIME = {"type": "string", "format": "date-time"}
_LIMIT = _query("limit", "page size", {"type": "integer", "minimum": 1, "maximum": 500})
_CURSOR = _query("cursor", "next_cursor of the previous page")
_FILTERS = [
    _query("tag", "has this tag"),
    _query("owner", "owned by this username"),
    _query("kind", "person or company", {"enum": ["person", "company"]}),
    _query("region", "two-letter country code"),
    _query("language", "language tag"),
    _query("stub", "only stubs (true) or no stubs (false)", {"type": "boolean"}),
    _query("do_not_call", "do-not-call flag", {"type": "boolean"}),
    _query("may_call", "consent to be called", {"type": "boolean"}),
    _query("marketing", "consent to marketing", {"type": "boolean"}),
    _query("no_contact_days", "no call for this many days", {"type": "integer", "minimum": 0}),
    _query(
        "open_ticket", "has an open ticket of this kind", {"enum": ["any", "ticket", "complaint"]}
    ),
    _query("open_callback", "has (true) or has no (false) open callback", {"type": "boolean"}),
    _query("min_value", "revenue in the last 12 months at least", {"type": "number"}),
    _query(
        "contract_ends_within_days",
        "a contract ends within this many days",
        {"type": "integer", "minimum": 0},
    ),
    _query("no_purchase_days", "no order for this many days", {"type": "integer", "minimum": 0}),
]
_CALL_FILTERS = [
    _query("from", "started at or after (ISO 8601)", _TIME),
    _query("to", "started before (ISO 8601)", _TIME),
    _query("number", "caller or called number, exactly"),
    _query("agent", "the interface that talked, e.g. PJSIP/2001"),
    _query("queue", "queue name"),
    _query(
        "outcome",
        "how the call ended",
        {"enum": ["answered", "abandoned", "busy", "no_answer", "congestion", "failed"]},
    ),
    _query("direction", "inbound, outbound or internal"),
]


def _schema(properties: dict[str, Any], required: Iterable[str] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required)}


_CSV = {"description": "CSV (UTF-8, header row)", "content": {"text/csv": {"schema": _STRING}}}
_NO_CONTENT = {"description": "done, no content"}

_AGENT_IFACE = {"type": "string", "description": "queue member interface, e.g. PJSIP/2001"}
_REPORT_PARAMS = [
    _query("from", "first day, YYYY-MM-DD (default: 6 days ago)"),
    _query("to", "last day, YYYY-MM-DD, inclusive (default: today)"),
    _query("by", "grouping", {"enum": ["queue", "agent", "day", "hour"]}),
]

OPERATIONS: dict[str, dict[str, Any]] = {
    "login": {
        "summary": "Log in; sets the session cookie",
        "requestBody": _body(ref("Login")),
        "responses": {"200": _json({"type": "object"}), "429": answer("TooManyAttempts")},
    },
    "logout": {"summary": "End the session", "responses": {"204": _NO_CONTENT}},
    "me": {"summary": "Who is logged in", "responses": {"200": _json({"type": "object"})}},
    "calls": {
        "summary": "The call log, newest first (agents: their own calls)",
        "parameters": [*_CALL_FILTERS, _LIMIT, _CURSOR],
        "responses": {"200": _items("Call", total={"type": "integer"})},
    },
    "users": {"summary": "All users", "responses": {"200": _items("User")}},
    "me_password": {
        "summary": "Change your own password (your other sessions end)",
        "requestBody": _body(
            _schema(
                {"current_password": _STRING, "new_password": _STRING},
                ["current_password", "new_password"],
            )
        ),
        "responses": {"204": {"description": "changed"}},
    },
    "user_create": {
        "summary": (
            "Create a user (admins); sip_password makes a PJSIP extension a browser phone. Audited"
        ),
        "requestBody": _body(
            _schema(
                {
                    "username": _STRING,
                    "role": {"enum": ["agent", "supervisor", "admin"]},
                    "password": _STRING,
                    "extension": _NULLABLE_STRING,
                    "sip_password": _STRING,
                },
                ["username", "role", "password"],
            )
        ),
        "responses": {"201": _json({"type": "object"}, "created"), "409": answer("Conflict")},
    },
    "admin_settings": {
        "summary": "The effective settings (file, environment, defaults), secrets masked",
        "responses": {"200": _json({"type": "object"})},
    },
    "user_update": {
        "summary": (
            "Disable (active: false) or enable a user (a disabled user's sessions, API tokens"
            " and open sockets stop at once), change their role, extension (null: none) or"
            " browser phone SIP password. Audited"
        ),
        "requestBody": _body(
            _schema(
                {
                    "active": {"type": "boolean"},
                    "role": {"enum": ["agent", "supervisor", "admin"]},
                    "extension": _NULLABLE_STRING,
                    "sip_password": _STRING,
                },
                [],
            )
        ),
        "responses": {"200": _json({"type": "object"}), "409": answer("Conflict")},
    },
    "user_password": {
        "summary": "Set a user's password (all their sessions end). Audited",
        "requestBody": _body(_schema({"password": _STRING}, ["password"])),
        "responses": {"204": {"description": "changed"}},
    },
    "tokens": {
        "summary": "API tokens (never their secrets): your own; admins see all",
        "responses": {"200": _json({"type": "object"})},
    },
    "token_create": {
        "summary": (
            "A new API token (the secret is in this answer only); optional expiry in days;"
            " user: another user's (admins). Audited"
        ),
        "requestBody": _body(
            _schema(
                {
                    "label": _STRING,
                    "expires_in_days": {"type": "integer", "minimum": 1, "maximum": 3650},
                    "user": _STRING,
                },
                ["label"],
            )
        ),
        "responses": {"201": _json({"type": "object"}, "created")},
    },
    "token_revoke": {
        "summary": "Revoke an API token (your own; admins: any). Audited",
        "responses": {"200": _json({"type": "object"})},
    },
    "audit": {
        "summary": "The audit log, newest first",
        "parameters": [
            _query("actor", "username (who)"),
            _query("action", "action name (what); customer.* matches a prefix"),
            _query("customer", "customer id (which customer)", {"type": "integer"}),
            _query("from", "ISO 8601 (when, inclusive)"),
            _query("to", "ISO 8601 (when, exclusive)"),
            _query("before", "entry id: the page after it", {"type": "integer"}),
            _LIMIT,
        ],
        "responses": {"200": _items("AuditEntry")},
    },
    "openapi": {
        "summary": "This document",
        "responses": {"200": _json({"type": "object"})},
    },
    "customers": {
        "summary": "Customers matching all given filters, by id",
        "parameters": [*_FILTERS, _LIMIT, _CURSOR],
        "responses": {"200": _items("Customer", next_cursor=_NULLABLE_STRING)},
    },
    "customer_create": {
        "summary": "Create a customer",
        "requestBody": _body(ref("CustomerInput")),
        "responses": {"201": _json(ref("Customer"), "created")},
    },
    "customer_lookup": {
        "summary": "Who has this phone number (any format; shared numbers: all of them)",
        "parameters": [_query("number", "as Asterisk or a user wrote it", required=True)],
        "responses": {
            "200": _json(
                {
                    "type": "object",
                    "properties": {
                        "number": _STRING,
                        "tried": {"type": "array", "items": _STRING},
                        "matched": _NULLABLE_STRING,
                        "customers": {"type": "array", "items": ref("Customer")},
                    },
                }
            )
        },
    },
    "customer": {
        "summary": "A customer with their timeline (calls, notes, dispositions, callbacks, "
        "tickets), newest first",
        "parameters": [
            _query("timeline_limit", "events in the timeline (default 50)", {"type": "integer"})
        ],
        "responses": {"200": _json(ref("CustomerWithTimeline"))},
    },
    "customer_update": {
        "summary": "Change a customer: only the fields given; a list given replaces the list",
        "requestBody": _body(ref("CustomerInput")),
        "responses": {"200": _json(ref("Customer")), "409": answer("Conflict")},
    },
    "customer_erase": {
        "summary": "GDPR erasure: personal data, notes and recordings; calls stay anonymous",
        "responses": {"200": _json(ref("Erasure"))},
    },
    "customer_export": {
        "summary": "GDPR export: everything stored about the customer",
        "responses": {"200": _json(ref("Dossier"))},
    },
    "customer_merge": {
        "summary": "Merge another customer into this one (everything moves here)",
        "requestBody": _body(
            {
                "type": "object",
                "properties": {"other": {"type": "integer"}},
                "required": ["other"],
            }
        ),
        "responses": {"200": _json(ref("Customer")), "409": answer("Conflict")},
    },
    "customer_notes": {
        "summary": "Add a note",
        "requestBody": _body(
            {
                "type": "object",
                "properties": {"body": _STRING, "call_id": _STRING},
                "required": ["body"],
            }
        ),
        "responses": {"201": _json(ref("Note"), "created")},
    },
    "customer_dispositions": {
        "summary": "Record a call's wrap-up code",
        "requestBody": _body(
            {
                "type": "object",
                "properties": {"code": _STRING, "call_id": _STRING},
                "required": ["code"],
            }
        ),
        "responses": {"201": _json(ref("Disposition"), "created")},
    },
    "customer_callbacks": {
        "summary": "Schedule a callback",
        "requestBody": _body(
            {
                "type": "object",
                "properties": {
                    "due_at": _TIME,
                    "assigned_to": {**_NULLABLE_STRING, "description": "null: anyone"},
                    "note": _STRING,
                },
                "required": ["due_at"],
            }
        ),
        "responses": {"201": _json(ref("Callback"), "created")},
    },
    "customer_tickets": {
        "summary": "Open a ticket or complaint",
        "requestBody": _body(
            {
                "type": "object",
                "properties": {
                    "subject": _STRING,
                    "kind": {"enum": ["ticket", "complaint"]},
                    "calls": {"type": "array", "items": _STRING},
                    "assigned_to": _NULLABLE_STRING,
                    "category": _STRING,
                    "due_at": _TIME,
                },
                "required": ["subject"],
            }
        ),
        "responses": {"201": _json(ref("Ticket"), "created")},
    },
    "callbacks": {
        "summary": "Callbacks, earliest due first",
        "parameters": [
            _query("state", "open (default), done, cancelled or all"),
            _query("assigned_to", "'me' or a username: theirs and anyone's"),
            _query("due_before", "due before (ISO 8601)", _TIME),
            _query("customer", "customer id", {"type": "integer"}),
            _LIMIT,
        ],
        "responses": {"200": _items("Callback")},
    },
    "callback_update": {
        "summary": "Change a callback's state, due time, assignee or note",
        "requestBody": _body(
            {
                "type": "object",
                "properties": {
                    "state": {"enum": ["open", "done", "cancelled"]},
                    "due_at": _TIME,
                    "assigned_to": _NULLABLE_STRING,
                    "note": _STRING,
                },
            }
        ),
        "responses": {"200": _json(ref("Callback"))},
    },
    "tickets": {
        "summary": "Tickets, recently updated first",
        "parameters": [
            _query("status", "open, pending, resolved or closed"),
            _query("kind", "ticket or complaint"),
            _query("customer", "customer id", {"type": "integer"}),
            _query("assigned_to", "'me' or a username"),
            _query("category", "category, exactly"),
            _query("overdue", "only unresolved tickets past their due time", {"type": "boolean"}),
            _LIMIT,
        ],
        "responses": {"200": _items("Ticket")},
    },
    "ticket_update": {
        "summary": "Change a ticket's status or subject, link more calls",
        "requestBody": _body(
            {
                "type": "object",
                "properties": {
                    "status": {"enum": ["open", "pending", "resolved", "closed"]},
                    "subject": _STRING,
                    "add_calls": {"type": "array", "items": _STRING},
                    "assigned_to": _NULLABLE_STRING,
                    "category": _STRING,
                    "due_at": {"type": ["string", "null"], "format": "date-time"},
                    "resolution": _STRING,
                },
            }
        ),
        "responses": {"200": _json(ref("Ticket"))},
    },
    "search": {
        "summary": "Full-text search over names, companies, emails, notes and transcripts",
        "parameters": [_query("q", "words (prefixes match)", required=True), _LIMIT],
        "responses": {"200": _items("Customer")},
    },
    "segments": {"summary": "Saved customer filters", "responses": {"200": _items("Segment")}},
    "segment_create": {
        "summary": "Save a customer filter",
        "requestBody": _body(
            {
                "type": "object",
                "properties": {"name": _STRING, "filter": ref("CustomerFilter")},
                "required": ["name", "filter"],
            }
        ),
        "responses": {"201": _json(ref("Segment"), "created"), "409": answer("Conflict")},
    },
    "segment_customers": {
        "summary": "The customers in a segment now",
        "parameters": [_LIMIT, _CURSOR],
        "responses": {"200": _items("Customer", segment=ref("Segment"))},
    },
    "segment_delete": {"summary": "Delete a segment", "responses": {"204": _NO_CONTENT}},
    # --- orders and contracts from the ERP (callcenter/web/erp_api.py)
    "customer_orders": {
        "summary": (
            "The customer's orders (newest first), contracts and value: revenue_12m,"
            " revenue_lifetime, last_order_at, days_since_last_order, contract_end"
        ),
        "responses": {"200": _json({"type": "object"})},
    },
    "customer_order_put": {
        "summary": (
            "An order (idempotent by external_id: the same one again updates it, 200 with"
            " updated: true). Audited"
        ),
        "requestBody": _body(
            _schema(
                {
                    "external_id": _STRING,
                    "ordered_at": {"type": "string", "format": "date-time"},
                    "amount": {"type": ["number", "string"]},
                    "currency": _STRING,
                    "description": _STRING,
                },
                ["external_id", "ordered_at", "amount"],
            )
        ),
        "responses": {
            "201": _json({"type": "object"}, "created"),
            "200": _json({"type": "object"}, "updated"),
        },
    },
    "customer_contract_put": {
        "summary": "A contract (idempotent by external_id like orders). Audited",
        "requestBody": _body(
            _schema(
                {
                    "external_id": _STRING,
                    "product": _STRING,
                    "starts_on": {"type": "string", "format": "date"},
                    "ends_on": {"type": ["string", "null"], "format": "date"},
                },
                ["external_id", "product", "starts_on"],
            )
        ),
        "responses": {
            "201": _json({"type": "object"}, "created"),
            "200": _json({"type": "object"}, "updated"),
        },
    },
    # --- imports as batches (callcenter/web/imports_api.py)
    "import_preview": {
        "summary": "A file's header, delimiter, automatic mapping and sample rows",
        "parameters": [_query("kind", "customers, interactions, orders, contracts", required=True)],
        "requestBody": {"required": True, "content": {"text/csv": {"schema": _STRING}}},
        "responses": {"200": _json({"type": "object"})},
    },
    "import_start": {
        "summary": (
            "Start an import (multipart: kind, mapping as JSON, delimiter, file); 202 with"
            " the batch, which runs in the background"
        ),
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": {"type": "object"}}},
        },
        "responses": {"202": _json({"type": "object"}, "started")},
    },
    "imports": {
        "summary": "Import batches, newest first",
        "responses": {"200": _json({"type": "object"})},
    },
    "import_batch": {
        "summary": "One batch: state, progress, rows done, errors so far",
        "responses": {"200": _json({"type": "object"})},
    },
    "import_rejects": {
        "summary": "A batch's rejected rows with their reasons (CSV). Audited",
        "responses": {"200": _CSV},
    },
    # --- the CRM pages (callcenter/web/crm_api.py)
    "customers_browse": {
        "summary": "A page of customers: search, filters, sort, offset, with a (capped) count",
        "parameters": [
            _query("q", "words searched in names, companies, emails, notes, interactions"),
            _query("sort", "id, -id, name, -name, last_contact, -last_contact"),
            _query("offset", "rows to skip", {"type": "integer", "minimum": 0}),
            _query("limit", "page size", {"type": "integer", "minimum": 1, "maximum": 200}),
            *_FILTERS,
        ],
        "responses": {
            "200": _json(
                _schema(
                    {
                        "items": {"type": "array", "items": ref("Customer")},
                        "total": {"type": "integer"},
                        "total_capped": {"type": "boolean"},
                        "offset": {"type": "integer"},
                        "limit": {"type": "integer"},
                    }
                )
            )
        },
    },
    "customers_bulk": {
        "summary": "Tag, untag, set the owner of, or add to a campaign, selected customers",
        "requestBody": _body(
            _schema(
                {
                    "ids": {"type": "array", "items": {"type": "integer"}, "maxItems": 500},
                    "action": {"enum": ["tag", "untag", "owner", "campaign"]},
                    "tag": _STRING,
                    "owner": _NULLABLE_STRING,
                    "campaign_id": {"type": "integer"},
                },
                ["ids", "action"],
            )
        ),
        "responses": {"200": _json({"type": "object"}), "409": answer("Conflict")},
    },
    "customers_selection_csv": {
        "summary": "Selected customers as CSV",
        "requestBody": _body(
            _schema({"ids": {"type": "array", "items": {"type": "integer"}}}, ["ids"])
        ),
        "responses": {"200": _CSV},
    },
    "customer_consent_history": {
        "summary": "Who changed the customer's consent or do-not-call, and when",
        "responses": {"200": _json({"type": "object"})},
    },
    "customer_same_number": {
        "summary": "Other customers having one of this customer's numbers (merge candidates)",
        "responses": {"200": _items("Customer")},
    },
    "customer_erasure_preview": {
        "summary": "What a GDPR erasure would delete or anonymise, counted",
        "responses": {"200": _json({"type": "object"})},
    },
    "customer_interactions": {
        "summary": "The customer's e-mails, meetings, letters, chats and social messages",
        "responses": {"200": _items("Interaction")},
    },
    "customer_interaction_add": {
        "summary": "Log an interaction; idempotent by external_id (200 and duplicate: true)",
        "requestBody": _body(
            _schema(
                {
                    "channel": {"enum": list(_CHANNELS)},
                    "direction": {"enum": ["inbound", "outbound"]},
                    "subject": _STRING,
                    "body": _STRING,
                    "occurred_at": _TIME,
                    "external_id": _STRING,
                },
                ["channel", "direction", "occurred_at"],
            )
        ),
        "responses": {
            "201": _json(ref("Interaction"), "created"),
            "200": _json(ref("Interaction"), "posted before: the stored one, duplicate true"),
        },
    },
    "segment_update": {
        "summary": "Rename a segment or replace its filter",
        "requestBody": _body(_schema({"name": _STRING, "filter": ref("CustomerFilter")})),
        "responses": {"200": _json(ref("Segment")), "409": answer("Conflict")},
    },
    "customers_import": {
        "summary": "Import customers from CSV (the body, or the 'file' field of a form)",
        "parameters": [
            _query(
                "map",
                "COLUMN=FIELD (repeatable); FIELD empty ignores the column",
                style="form",
                explode=True,
            ),
            _query("delimiter", ", or ; or tab (default: detected)"),
        ],
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": _STRING},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "map": _STRING,
                            "delimiter": _STRING,
                        },
                        "required": ["file"],
                    }
                },
            },
        },
        "responses": {"200": _json(ref("ImportSummary")), "413": answer("TooLarge")},
    },
    "customers_csv": {"summary": "All customers as CSV", "responses": {"200": _CSV}},
    "calls_csv": {
        "summary": "The call log as CSV, newest first",
        "parameters": _CALL_FILTERS,
        "responses": {"200": _CSV},
    },
    # --- supervisors (callcenter/web/supervisor.py)
    "wallboard": {
        "summary": "The live wallboard: queues, agents and calls (also on /ws/supervisor)",
        "responses": {"200": _json({"type": "object"})},
    },
    "supervisor_spy": {
        "summary": "Listen, whisper or barge: ring my phone, then ChanSpy on the agent",
        "requestBody": _body(
            {
                "type": "object",
                "properties": {
                    "agent": _AGENT_IFACE,
                    "mode": {"enum": ["listen", "whisper", "barge"]},
                },
                "required": ["agent", "mode"],
            }
        ),
        "responses": {"202": _json({"type": "object"}, "my phone is ringing")},
    },
    "supervisor_agent_pause": {
        "summary": "Pause (with a reason) or unpause an agent in all queues (QueuePause)",
        "requestBody": _body(
            {
                "type": "object",
                "properties": {
                    "agent": _AGENT_IFACE,
                    "paused": {"type": "boolean"},
                    "reason": _STRING,
                },
                "required": ["agent", "paused"],
            }
        ),
        "responses": {"200": _json({"type": "object"})},
    },
    "supervisor_agent_remove": {
        "summary": "Take an agent out of one queue (QueueRemove)",
        "requestBody": _body(
            {
                "type": "object",
                "properties": {"agent": _AGENT_IFACE, "queue": _STRING},
                "required": ["agent", "queue"],
            }
        ),
        "responses": {"200": _json({"type": "object"})},
    },
    "reports": {
        "summary": "Volumes, answered, abandoned, service level, handle time, pause time",
        "parameters": _REPORT_PARAMS,
        "responses": {"200": _json({"type": "object"})},
    },
    "reports_csv": {
        "summary": "The same report as CSV",
        "parameters": _REPORT_PARAMS,
        "responses": {"200": {"description": "CSV", "content": {"text/csv": {}}}},
    },
    # --- outbound retention campaigns (callcenter/web/campaigns.py)
    "campaigns": {"summary": "All campaigns", "responses": {"200": _json({"type": "object"})}},
    "campaign_create": {
        "summary": (
            "Create a campaign (draft) from a segment snapshot or the retention list:"
            " name, queue, mode, priority, time_zone, first_day, last_day, hours_start,"
            " hours_end, callee_start, callee_end, max_attempts, retry (minutes per outcome),"
            ' abandon_target, script (what the agent says), source {"segment": id} |'
            ' {"churn": threshold} | {"csv": "<file text>"} (header with phone, optional'
            " customer_id and priority; unusable rows come back in rejected)"
        ),
        "requestBody": _body({"type": "object"}),
        "responses": {"201": _json({"type": "object"})},
    },
    "campaign": {
        "summary": "A campaign with its progress: attempts, outcomes, contact, abandon, saves",
        "responses": {"200": _json({"type": "object"})},
    },
    "campaign_timeline": {
        "summary": (
            "Dials per UTC hour by outcome (in_flight: not settled yet), oldest first, up to"
            " the hour of the latest dial; hours without dials in between are listed empty"
        ),
        "parameters": [
            _query(
                "hours",
                "how many hours back from the latest dial (default 168)",
                {"type": "integer", "minimum": 1, "maximum": 744},
            )
        ],
        "responses": {
            "200": _json(
                _schema(
                    {
                        "hours": {
                            "type": "array",
                            "items": _schema(
                                {
                                    "hour": _TIME,
                                    "outcomes": {
                                        "type": "object",
                                        "additionalProperties": {"type": "integer"},
                                    },
                                },
                                ["hour", "outcomes"],
                            ),
                        }
                    },
                    ["hours"],
                )
            )
        },
    },
    "campaign_start": {
        "summary": "Start a draft campaign (it dials within its schedule)",
        "responses": {"200": _json({"type": "object"})},
    },
    "campaign_pause": {
        "summary": "Pause a running campaign (calls in flight finish)",
        "responses": {"200": _json({"type": "object"})},
    },
    "campaign_resume": {
        "summary": "Resume a paused campaign",
        "responses": {"200": _json({"type": "object"})},
    },
    "churn": {
        "summary": "The retention list: customers at or above the churn threshold, with reasons",
        "parameters": [_query("threshold", "minimum score (default from settings)")],
        "responses": {"200": _json({"type": "object"})},
    },
    "churn_recompute": {
        "summary": "Recompute every customer's churn score now",
        "responses": {"200": _json({"type": "object"})},
    },
    "customer_churn": {
        "summary": "A customer's churn score and its reasons",
        "responses": {"200": _json({"type": "object"})},
    },
    # --- agent panel (callcenter/web/agent_api.py): the caller's own phone; 403 without one.
    # PBX failures: 502 refused, 503 unreachable, 504 no answer, with a plain message.
    "agent_state": {
        "summary": "My queue state (from the PBX), the call my phone is in, my colleagues",
        "responses": {"200": _json({"type": "object"})},
    },
    "agent_options": {
        "summary": "The pause reasons and wrap-up dispositions on offer",
        "responses": {"200": _json({"type": "object"})},
    },
    "agent_phone": {
        "summary": "My phone: webrtc (with my browser phone's SIP credentials), simulated or desk",
        "responses": {"200": _json({"type": "object"})},
    },
    "agent_phone_update": {
        "summary": "My browser phone answers queue calls by itself (auto_answer)",
        "requestBody": _body(_schema({"auto_answer": {"type": "boolean"}}, ["auto_answer"])),
        "responses": {"200": _json({"type": "object"})},
    },
    "agent_pause": {
        "summary": "Pause (with a reason) or unpause my phone in all its queues (QueuePause)",
        "requestBody": _body(
            _schema({"paused": {"type": "boolean"}, "reason": _STRING}, ["paused"])
        ),
        "responses": {"200": _json({"type": "object"})},
    },
    "agent_dial": {
        "summary": "Click-to-call: ring my phone, then the number (Originate)",
        "requestBody": _body(_schema({"number": _STRING}, ["number"])),
        "responses": {"202": _json({"type": "object"}, "queued")},
    },
    "agent_preview": {
        "summary": (
            "The next number of a running preview campaign, held for me: campaign (name,"
            " script), churn reasons, customer card; item null when there is none"
        ),
        "responses": {"200": _json({"type": "object"})},
    },
    "agent_preview_dial": {
        "summary": (
            "Dial the held number from my phone (do-not-call, consent and the callee's"
            " calling window are checked again now)"
        ),
        "responses": {"202": _json({"type": "object"}, "queued"), "409": answer("Conflict")},
    },
    "agent_preview_skip": {
        "summary": "Give the held number back to the campaign",
        "responses": {"200": _json({"type": "object"}), "409": answer("Conflict")},
    },
    "agent_hangup": {
        "summary": "Hang up my channel of the call (default: my current call)",
        "requestBody": _body(_schema({"call_id": _STRING})),
        "responses": {"200": _json({"type": "object"}), "409": answer("Conflict")},
    },
    "agent_transfer": {
        "summary": "Transfer my caller to an extension or a number, blind or attended",
        "requestBody": _body(
            _schema(
                {"to": _STRING, "kind": {"enum": ["blind", "attended"]}, "call_id": _STRING},
                ["to"],
            )
        ),
        "responses": {"200": _json({"type": "object"}), "409": answer("Conflict")},
    },
    "agent_wrapup": {
        "summary": (
            "After a call: disposition, note and callback on the customer's timeline; a"
            " callback on a campaign call also reschedules the number in its campaign"
            " (campaign_callback: the attempt id). All three in one transaction: saved"
            " together or not at all. Once per call and agent: the same wrap-up again"
            " answers 200 with what was saved (replayed: true), a different one 409"
        ),
        "requestBody": _body(
            _schema(
                {
                    "customer_id": {"type": "integer"},
                    "call_id": _STRING,
                    "disposition": _STRING,
                    "note": _STRING,
                    "callback": _schema(
                        {"due_at": _TIME, "for": {"enum": ["me", "anyone"]}, "note": _STRING},
                        ["due_at"],
                    ),
                },
                ["customer_id", "disposition"],
            )
        ),
        "responses": {
            "201": _json({"type": "object"}, "saved"),
            "200": _json({"type": "object"}, "saved before (a retry)"),
            "409": answer("Conflict"),
        },
    },
    "call": {
        "summary": "One logged call with its dispositions and notes (agents: their own calls)",
        "responses": {"200": _json(ref("Call"))},
    },
    "call_recording": {
        "summary": "The call's recording (WAV; range requests answer 206). Agents: own calls",
        "parameters": [
            {
                "name": "Range",
                "in": "header",
                "description": "bytes=START-END",
                "schema": _STRING,
            }
        ],
        "responses": {
            "200": {"description": "the WAV", "content": {"audio/wav": {}}},
            "206": {"description": "the requested bytes", "content": {"audio/wav": {}}},
            "404": answer("NotFound"),
        },
    },
    "call_transcript": {
        "summary": "The call's transcription state and transcript (agents: their own calls)",
        "responses": {"200": _json(ref("Transcription")), "404": answer("NotFound")},
    },
    "voice_note_add": {
        "summary": "Upload a voice note (mono 16-bit PCM WAV, 16 kHz) for transcription",
        "requestBody": {"required": True, "content": {"audio/wav": {}}},
        "responses": {
            "201": _json(ref("Note"), "created; transcription queued"),
            "413": answer("TooLarge"),
        },
    },
    "voice_note_audio": {
        "summary": "Play a voice note back (WAV; range requests answer 206)",
        "responses": {
            "200": {"description": "the WAV", "content": {"audio/wav": {}}},
            "206": {"description": "the requested bytes", "content": {"audio/wav": {}}},
            "404": answer("NotFound"),
        },
    },
}


def _object(properties: dict[str, Any], required: Iterable[str] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


_CUSTOMER_PROPERTIES: dict[str, Any] = {
    "kind": {"enum": ["person", "company"]},
    "name": _STRING,
    "company": _STRING,
    "language": _NULLABLE_STRING,
    "region": _NULLABLE_STRING,
    "time_zone": _NULLABLE_STRING,
    "tags": {"type": "array", "items": _STRING},
    "custom": {"type": "object"},
    "owner": _NULLABLE_STRING,
    "consent": ref("Consent"),
    "do_not_call": {"type": "boolean"},
    "phones": {"type": "array", "items": ref("Phone")},
    "emails": {"type": "array", "items": ref("Email")},
    "addresses": {"type": "array", "items": ref("Address")},
}
_ID = {"type": "integer", "readOnly": True}
_CUSTOMER = _object(
    {
        "id": _ID,
        **_CUSTOMER_PROPERTIES,
        "is_stub": {"type": "boolean"},
        "merged_into": {"type": ["integer", "null"]},
        "created_at": _TIME,
        "updated_at": _TIME,
        "last_contact_at": {"type": ["string", "null"], "format": "date-time"},
        "matched": {
            "enum": ["customer", "note", "transcript"],
            "description": "search results only",
        },
    },
    ["id", "name", "company", "phones", "emails", "tags", "consent"],
)

SCHEMAS: dict[str, Any] = {
    "Error": _object(
        {
            "error": _object(
                {"id": _STRING, "message": _STRING, "details": {"type": "object"}},
                ["id", "message", "details"],
            )
        },
        ["error"],
    ),
    "Login": _object({"username": _STRING, "password": _STRING}, ["username", "password"]),
    "Phone": _object(
        {"number": _STRING, "e164": {**_STRING, "readOnly": True}, "type": _STRING}, ["number"]
    ),
    "Email": _object({"address": _STRING, "type": _STRING}, ["address"]),
    "Address": _object({name: _STRING for name in ("type", *sorted(set(ADDRESS_PARTS.values())))}),
    "Consent": _object({name: {"type": "boolean"} for name in CONSENT}),
    "CustomerInput": _object(_CUSTOMER_PROPERTIES),
    "Customer": _CUSTOMER,
    "CustomerWithTimeline": {
        "allOf": [
            ref("Customer"),
            _object({"timeline": {"type": "array", "items": ref("TimelineEvent")}}),
        ]
    },
    "TimelineEvent": _object(
        {
            "type": {"enum": ["call", "note", "disposition", "callback", "ticket"]},
            "at": _TIME,
            "call": ref("Call"),
            "note": ref("Note"),
            "disposition": ref("Disposition"),
            "callback": ref("Callback"),
            "ticket": ref("Ticket"),
        },
        ["type", "at"],
    ),
    "CustomerFilter": _object({param["name"]: param["schema"] for param in _FILTERS}),
    "Call": {"type": "object", "description": "a call log record (CallRecord.to_dict)"},
    "Transcription": _object(
        {
            "state": {"enum": ["queued", "running", "done", "failed"]},
            "error": _NULLABLE_STRING,
            "transcript": {
                "type": ["object", "null"],
                "properties": {
                    "segments": {
                        "type": "array",
                        "items": _object(
                            {
                                "speaker": {"enum": ["customer", "agent", "unknown"]},
                                "start_s": {"type": "number"},
                                "end_s": {"type": "number"},
                                "text": _STRING,
                                "confidence": {"type": "number"},
                            }
                        ),
                    },
                    "text": _STRING,
                    "summary": _STRING,
                    "keywords": {"type": "array", "items": _STRING},
                    "duration_s": {"type": "number"},
                },
            },
        },
        ["state"],
    ),
    "Note": _object(
        {
            "id": _ID,
            "customer_id": {"type": "integer"},
            "call_id": _NULLABLE_STRING,
            "author": _STRING,
            "body": _STRING,
            "created_at": _TIME,
        }
    ),
    "Disposition": _object(
        {
            "id": _ID,
            "customer_id": {"type": "integer"},
            "call_id": _NULLABLE_STRING,
            "code": _STRING,
            "author": _STRING,
            "created_at": _TIME,
        }
    ),
    "Callback": _object(
        {
            "id": _ID,
            "customer_id": {"type": "integer"},
            "due_at": _TIME,
            "assigned_to": _NULLABLE_STRING,
            "state": {"enum": ["open", "done", "cancelled"]},
            "note": _STRING,
            "created_by": _STRING,
            "created_at": _TIME,
            "updated_at": _TIME,
        }
    ),
    "Ticket": _object(
        {
            "id": _ID,
            "customer_id": {"type": "integer"},
            "kind": {"enum": ["ticket", "complaint"]},
            "subject": _STRING,
            "status": {"enum": ["open", "pending", "resolved", "closed"]},
            "created_by": _STRING,
            "created_at": _TIME,
            "updated_at": _TIME,
            "assigned_to": _NULLABLE_STRING,
            "category": _STRING,
            "due_at": {"type": ["string", "null"], "format": "date-time"},
            "resolution": _STRING,
            "calls": {"type": "array", "items": _STRING},
        }
    ),
    "Interaction": _object(
        {
            "id": _ID,
            "customer_id": {"type": "integer"},
            "channel": {"enum": list(_CHANNELS)},
            "direction": {"enum": ["inbound", "outbound"]},
            "subject": _STRING,
            "body": _STRING,
            "occurred_at": _TIME,
            "external_id": _NULLABLE_STRING,
            "author": _STRING,
            "created_at": _TIME,
        }
    ),
    "Segment": _object(
        {
            "id": _ID,
            "name": _STRING,
            "filter": ref("CustomerFilter"),
            "created_by": _STRING,
            "created_at": _TIME,
        }
    ),
    "Erasure": _object(
        {
            "erased_customers": {"type": "array", "items": {"type": "integer"}},
            "calls_anonymised": {"type": "integer"},
            "recording_files": {"type": "object"},
        }
    ),
    "Dossier": _object(
        {
            "customer": ref("Customer"),
            "merged_records": {"type": "array", "items": ref("Customer")},
            "calls": {"type": "array", "items": ref("Call")},
            "notes": {"type": "array", "items": ref("Note")},
            "dispositions": {"type": "array", "items": ref("Disposition")},
            "callbacks": {"type": "array", "items": ref("Callback")},
            "tickets": {"type": "array", "items": ref("Ticket")},
            "interactions": {"type": "array", "items": ref("Interaction")},
            "consent_changes": {"type": "array", "items": {"type": "object"}},
            "recordings": {"type": "array", "items": {"type": "object"}},
        }
    ),
    "ImportSummary": _object(
        {
            "rows": {"type": "integer"},
            "imported": {"type": "integer"},
            "duplicates": {"type": "integer"},
            "stubs_completed": {"type": "integer"},
            "failed": {"type": "integer"},
            "errors": {
                "type": "array",
                "items": _object({"row": {"type": "integer"}, "reason": _STRING}),
            },
            "duplicate_rows": {"type": "array", "items": {"type": "object"}},
            "ignored_columns": {"type": "array", "items": _STRING},
            "errors_truncated": {"type": "boolean"},
        }
    ),
    "User": _object(
        {
            "id": _ID,
            "username": _STRING,
            "role": {"enum": ["agent", "supervisor", "admin"]},
            "extension": _NULLABLE_STRING,
        }
    ),
    "AuditEntry": _object(
        {
            "id": _ID,
            "at": _TIME,
            "actor": _STRING,
            "action": _STRING,
            "target": _NULLABLE_STRING,
            "details": {"type": "object"},
        }
    ),
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ref("Error")}}}


RESPONSES: dict[str, Any] = {
    "BadInput": _error("bad input: details.field and details.reason say which and why"),
    "Unauthenticated": _error("not logged in (no session cookie or bearer token)"),
    "Forbidden": _error("the role may not do this, or a cross-origin cookie request"),
    "NotFound": _error("no such record"),
    "Conflict": _error("clashes with the current state (e.g. already merged)"),
    "TooManyAttempts": _error("too many failed logins; see Retry-After"),
    "TooLarge": _error(
        "the upload exceeds its limit (crm.import_max_mb, transcribe.voice_note_max_bytes)"
    ),
}


def path_params(aiohttp_path: str) -> list[tuple[int, int, str, str]]:
    """``(start, end, name, pattern)`` of each ``{name:pattern}`` in an aiohttp path. A
    pattern may hold braces of its own (``{call_id:[0-9a-z]{0,127}}``): the parameter ends at
    the brace that closes the one it opened with."""
    found: list[tuple[int, int, str, str]] = []
    i = 0
    while (i := aiohttp_path.find("{", i)) != -1:
        depth, j = 1, i + 1
        while j < len(aiohttp_path) and depth:
            depth += {"{": 1, "}": -1}.get(aiohttp_path[j], 0)
            j += 1
        name, _, pattern = aiohttp_path[i + 1 : j - 1].partition(":")
        found.append((i, j, name, pattern))
        i = j
    return found


def openapi_path(aiohttp_path: str) -> str:
    """``/api/calls/{call_id:[0-9A-Za-z]{1,128}}`` -> ``/api/calls/{call_id}``."""
    out, last = [], 0
    for start, end, name, _ in path_params(aiohttp_path):
        out += [aiohttp_path[last:start], "{" + name + "}"]
        last = end
    return "".join([*out, aiohttp_path[last:]])


UNDOCUMENTED: dict[str, Any] = {
    "summary": "(not described yet: add it to callcenter.web.openapi.OPERATIONS)",
    "x-undocumented": True,
    "responses": {"200": {"description": "OK"}},
}


def _operation(name: str, path: str, access: Access) -> dict[str, Any]:
    spec = dict(OPERATIONS.get(name, UNDOCUMENTED))
    responses = dict(spec.get("responses", {}))
    in_path = [(name, pattern) for _, _, name, pattern in path_params(path)]
    parameters = [
        {
            "name": param,
            "in": "path",
            "required": True,
            "schema": {"type": "integer"} if pattern == r"\d+" else {"type": "string"},
        }
        for param, pattern in in_path
    ] + list(spec.get("parameters", []))
    if parameters or "requestBody" in spec:
        responses.setdefault("400", answer("BadInput"))
    if in_path:
        responses.setdefault("404", answer("NotFound"))
    if access.public:
        spec["security"] = []
    else:
        responses.setdefault("401", answer("Unauthenticated"))
        responses.setdefault("403", answer("Forbidden"))
        spec["x-roles"] = sorted(role.value for role in access.roles)
    if access.audit:
        spec["x-audit"] = access.audit
    spec["operationId"] = name
    spec["responses"] = responses
    if parameters:
        spec["parameters"] = parameters
    return spec


def build_document(routes: Iterable[Any]) -> dict[str, Any]:
    """The document for the ``/api`` routes among ``routes`` (``Route`` objects)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not route.path.startswith("/api/"):
            continue
        path = openapi_path(route.path)
        paths.setdefault(path, {})[route.method.lower()] = _operation(
            route.name, route.path, route.access
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "callcenter API",
            "version": __version__,
            "description": 'Errors are {"error": {"id", "message", "details"}}. '
            "Cookie sessions must send a same-origin Origin header on POST, PATCH and DELETE; "
            "bearer tokens need not.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "responses": RESPONSES,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "callcenter_session"},
                "token": {"type": "http", "scheme": "bearer"},
            },
        },
        "security": [{"session": []}, {"token": []}],
    }


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI_KEY])
