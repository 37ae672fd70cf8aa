from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callcenter.errors import NotFoundError
from callcenter.store import Accounts, AuditLog, ConflictError, Database, Role, token_hash
from callcenter.store.accounts import check_extension, check_username

NOW = 1714550400.0


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(db_path)
    yield database
    await database.close()


@pytest.fixture
def accounts(db: Database) -> Accounts:
    return Accounts(db)


async def test_add_user_and_credentials(accounts: Accounts) -> None:
    user = await accounts.add_user(
        "  Alice ", Role.AGENT, "hash-1", extension="PJSIP/2001", now=NOW
    )
    assert user.username == "alice"
    assert user.to_dict() == {
        "id": user.id,
        "username": "alice",
        "role": "agent",
        "extension": "PJSIP/2001",
        "active": True,
    }
    found = await accounts.credentials("ALICE")
    assert found == (user, "hash-1")
    assert await accounts.credentials("bob") is None
    assert await accounts.get_user("alice") == user
    assert await accounts.list_users() == [user]
    with pytest.raises(NotFoundError):
        await accounts.get_user("bob")


async def test_duplicate_username_is_a_conflict(accounts: Accounts) -> None:
    await accounts.add_user("alice", Role.ADMIN, "h", extension=None, now=NOW)
    with pytest.raises(ConflictError, match="alice"):
        await accounts.add_user("ALICE", Role.AGENT, "h2", extension=None, now=NOW)
    assert len(await accounts.list_users()) == 1


async def test_password_hash_update(accounts: Accounts) -> None:
    user = await accounts.add_user("a", Role.ADMIN, "old", extension=None, now=NOW)
    await accounts.set_password_hash(user.id, "new")
    assert await accounts.credentials("a") == (user, "new")
    with pytest.raises(NotFoundError):
        await accounts.set_password_hash(999, "x")


async def test_sessions_expire_and_are_deleted(accounts: Accounts, db_path: Path) -> None:
    user = await accounts.add_user("a", Role.SUPERVISOR, "h", extension=None, now=NOW)
    await accounts.create_session(user.id, "digest-1", now=NOW, expires_at=NOW + 60)
    assert await accounts.session_user("digest-1", now=NOW + 59) == user
    assert await accounts.session_user("digest-1", now=NOW + 60) is None
    assert await accounts.session_user("other", now=NOW) is None
    # Creating a later session sweeps the expired one.
    await accounts.create_session(user.id, "digest-2", now=NOW + 120, expires_at=NOW + 999)
    with sqlite3.connect(db_path) as raw:
        left = [r[0] for r in raw.execute("SELECT token_hash FROM sessions")]
    assert left == ["digest-2"]
    assert await accounts.delete_session("digest-2") is True
    assert await accounts.delete_session("digest-2") is False
    assert await accounts.session_user("digest-2", now=NOW + 121) is None


async def test_deactivated_users_have_no_sessions_or_credentials(
    accounts: Accounts, db: Database
) -> None:
    user = await accounts.add_user("a", Role.ADMIN, "h", extension=None, now=NOW)
    await accounts.create_session(user.id, "d", now=NOW, expires_at=NOW + 60)
    await accounts.create_api_token(user.id, "ci", "t", now=NOW)
    async with db.transaction() as conn:
        await conn.execute("UPDATE users SET active = FALSE WHERE id = ?", (user.id,))
    assert await accounts.session_user("d", now=NOW) is None
    assert await accounts.token_user("t") is None
    assert await accounts.credentials("a") is None


async def test_api_tokens_and_revocation(accounts: Accounts) -> None:
    user = await accounts.add_user("svc", Role.SUPERVISOR, "h", extension=None, now=NOW)
    token_id = await accounts.create_api_token(user.id, "crm sync", token_hash("secret"), now=NOW)
    assert await accounts.token_user(token_hash("secret")) == user
    assert await accounts.token_user(token_hash("wrong")) is None
    await accounts.revoke_api_token(token_id, now=NOW + 1)
    assert await accounts.token_user(token_hash("secret")) is None
    with pytest.raises(NotFoundError):
        await accounts.revoke_api_token(token_id, now=NOW + 2)


def database_bytes(db_path: Path) -> bytes:
    return db_path.read_bytes() + db_path.with_name(db_path.name + "-wal").read_bytes()


async def test_tokens_are_stored_hashed(accounts: Accounts, db_path: Path) -> None:
    user = await accounts.add_user("svc", Role.ADMIN, "h", extension=None, now=NOW)
    await accounts.create_api_token(user.id, "x", token_hash("cc_plain"), now=NOW)
    assert b"cc_plain" not in database_bytes(db_path)
    assert token_hash("cc_plain") == token_hash("cc_plain") != "cc_plain"
    assert len(token_hash("cc_plain")) == 64


async def test_deleting_a_user_cascades_to_sessions(accounts: Accounts, db: Database) -> None:
    user = await accounts.add_user("a", Role.ADMIN, "h", extension=None, now=NOW)
    await accounts.create_session(user.id, "d", now=NOW, expires_at=NOW + 60)
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM users WHERE id = ?", (user.id,))
    async with db.reading() as conn, conn.execute("SELECT COUNT(*) FROM sessions") as cur:
        row = await cur.fetchone()
    assert row is not None and row[0] == 0


async def test_audit_log(db: Database) -> None:
    clock = iter([NOW, NOW + 1, NOW + 2])
    audit = AuditLog(db, clock=lambda: next(clock))
    await audit.audit("alice", "calls.list", "/api/calls?queue=sales", {"via": "session"})
    await audit.audit("anonymous", "login.failed", "bob")
    await audit.audit("alice", "logout", "alice", {"n": 1})
    entries = await audit.recent()
    assert [e.action for e in entries] == ["logout", "login.failed", "calls.list"]
    assert entries[2].to_dict() == {
        "id": entries[2].id,
        "at": "2024-05-01T08:00:00Z",
        "actor": "alice",
        "action": "calls.list",
        "target": "/api/calls?queue=sales",
        "details": {"via": "session"},
    }
    assert [e.action for e in await audit.recent(actor="alice")] == ["logout", "calls.list"]
    assert [e.target for e in await audit.recent(action="login.failed")] == ["bob"]
    assert len(await audit.recent(limit=1)) == 1


@pytest.mark.parametrize("name", ["alice", "a.b-c_d@x", "007"])
def test_valid_usernames(name: str) -> None:
    assert check_username(name.upper()) == name


@pytest.mark.parametrize("name", ["", "-x", "has space", "x" * 65, "ü"])
def test_invalid_usernames(name: str) -> None:
    with pytest.raises(ValueError):
        check_username(name)


@pytest.mark.parametrize("ext", ["PJSIP/2001", "SIP/alice", "Local/2001@agents/n"])
def test_valid_extensions(ext: str) -> None:
    assert check_extension(ext) == ext


@pytest.mark.parametrize("ext", ["2001", "PJSIP/", "/2001", "PJSIP/20 01"])
def test_invalid_extensions(ext: str) -> None:
    with pytest.raises(ValueError):
        check_extension(ext)
