"""Persistence: the only package with SQL. See :mod:`callcenter.store.database` for the
connection, transactions and migrations; one repository class per aggregate."""

from callcenter.errors import ConflictError, ValidationError
from callcenter.store.accounts import Accounts, Role, User, token_hash
from callcenter.store.audit import AuditEntry, AuditLog
from callcenter.store.calllog import (
    MAX_PAGE,
    CallLog,
    CallLogWriter,
    CallPage,
    CallQuery,
    PageKey,
)
from callcenter.store.customers import (
    Address,
    Consent,
    CustomerInput,
    CustomerPage,
    CustomerPatch,
    Customers,
    Email,
    ImportBatchResult,
    Kind,
    Lookup,
    Phone,
    PhoneNumbers,
)
from callcenter.store.database import Database
from callcenter.store.interactions import (
    UNSET,
    CallbackQuery,
    CallbackState,
    Interactions,
    TicketKind,
    TicketQuery,
    TicketStatus,
)
from callcenter.store.privacy import Erasure, Privacy
from callcenter.store.segments import CustomerFilter, Segment, Segments

__all__ = [
    "MAX_PAGE",
    "UNSET",
    "Accounts",
    "Address",
    "AuditEntry",
    "AuditLog",
    "CallLog",
    "CallLogWriter",
    "CallPage",
    "CallQuery",
    "CallbackQuery",
    "CallbackState",
    "ConflictError",
    "Consent",
    "CustomerFilter",
    "CustomerInput",
    "CustomerPage",
    "CustomerPatch",
    "Customers",
    "Database",
    "Email",
    "Erasure",
    "ImportBatchResult",
    "Interactions",
    "Kind",
    "Lookup",
    "PageKey",
    "Phone",
    "PhoneNumbers",
    "Privacy",
    "Role",
    "Segment",
    "Segments",
    "TicketKind",
    "TicketQuery",
    "TicketStatus",
    "User",
    "ValidationError",
    "token_hash",
]
