"""Persistence: the only package with SQL. See :mod:`callcenter.store.database` for the
connection, transactions and migrations; one repository class per aggregate."""

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
from callcenter.store.database import Database
from callcenter.store.errors import ConflictError

__all__ = [
    "MAX_PAGE",
    "Accounts",
    "AuditEntry",
    "AuditLog",
    "CallLog",
    "CallLogWriter",
    "CallPage",
    "CallQuery",
    "ConflictError",
    "Database",
    "PageKey",
    "Role",
    "User",
    "token_hash",
]
