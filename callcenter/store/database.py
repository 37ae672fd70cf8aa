"""The one database connection, its transactions and the numbered schema migrations.

Everything SQLite-specific sits in :func:`_connect_sqlite` and :data:`_BEGIN_WRITE`; the SQL
in the repositories and in ``migrations/*.sql`` is standard SQL (``ON CONFLICT ... DO
NOTHING``, ISO 8601 text times, JSON as text) so a PostgreSQL store can follow.

SQLite settings: WAL (readers never block the writer), ``synchronous=NORMAL`` (with WAL a
committed transaction survives a crash of this process; only a power cut can cost the last
commits), foreign keys on, ``secure_delete`` (deleted rows are overwritten, so a GDPR erasure
does not leave the data readable in free pages), and a busy timeout so a second process
(``callcenter user add`` while the server runs) waits for the write lock instead of failing.

After the migrations, :func:`callcenter.store.search.ensure_index` creates the full-text index
(SQLite-specific, so not a migration) if it is missing.

One aiosqlite connection serves the whole server. Its statements run one at a time on its
thread, so interleaved coroutines would otherwise mix their statements into each other's
transactions: every use goes through :meth:`Database.transaction` or :meth:`Database.reading`,
which hold an :class:`asyncio.Lock`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import aiosqlite

from callcenter.errors import StoreError, StoreUnavailable
from callcenter.model.records import iso
from callcenter.store import search

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_BUSY_TIMEOUT_MS = 5000
# SQLite primary result codes meaning "this database cannot write now" (not a bug, not bad
# input): full disk (or max_page_count), read-only file or folder, disk I/O, cannot open.
_UNAVAILABLE = {
    13: "the disk is full",
    8: "the database is read-only",
    10: "disk I/O error",
    14: "cannot open the database file",
}

# SQLite: take the write lock at BEGIN, so two writers queue on busy_timeout instead of one
# failing with SQLITE_BUSY when it upgrades a read transaction. (PostgreSQL: plain BEGIN.)
_BEGIN_WRITE = "BEGIN IMMEDIATE"
#: The line a migration carries when it rebuilds a referenced table (see Database._apply).
REBUILD_MARKER = "-- migration: rebuilds a referenced table"

_CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def bundled_migrations() -> list[Migration]:
    """The ``migrations/NNNN_name.sql`` files shipped with the package, in version order."""
    folder = resources.files("callcenter.store").joinpath("migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match is None:
            continue
        found.append(
            Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8"))
        )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise StoreError(f"duplicate migration version in {versions}")
    return found


async def _connect_sqlite(path: Path) -> aiosqlite.Connection:
    """Open ``path`` with the SQLite settings described in the module docstring."""
    # isolation_level=None: no implicit BEGINs; transactions are explicit (Database.transaction).
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        await conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        async with conn.execute("PRAGMA journal_mode = WAL") as cursor:
            row = await cursor.fetchone()
        if row is None or str(row[0]).lower() != "wal":
            log.warning("SQLite refused WAL mode for %s (journal_mode=%s)", path, row)
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA secure_delete = ON")
    except BaseException:
        await conn.close()
        raise
    return conn


class Database:
    """An open database. Create with :meth:`open`; always :meth:`close`."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self._reader: aiosqlite.Connection | None = None
        self._reader_lock = asyncio.Lock()
        self.path = path
        self.write_error: str | None = None
        self._probed: tuple[float, str | None] | None = None
        """Why the last write transaction failed for want of a writable database (full
        disk, read-only, I/O), or None once a write succeeded again."""

    @classmethod
    async def open(cls, path: Path | str, *, migrations: list[Migration] | None = None) -> Database:
        """Open (creating the file and its folder if needed) and bring the schema up to date."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = await _connect_sqlite(path)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open database {path}: {exc}") from exc
        db = cls(conn, path)
        try:
            await db.migrate(bundled_migrations() if migrations is None else migrations)
            async with db.transaction() as tx:
                await search.ensure_index(tx)
            db._reader = await _connect_sqlite(path)
            await db._reader.execute("PRAGMA query_only = ON")
        except BaseException:
            await db.close()
            raise
        return db

    async def close(self) -> None:
        async with self._lock:
            await self._conn.close()
        async with self._reader_lock:
            if self._reader is not None:
                await self._reader.close()
                self._reader = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        async with self._lock:
            conn = self._conn
            if conn.in_transaction:
                # Only possible if a previous block was cancelled while rolling back.
                log.warning("rolling back a transaction left open by a cancelled task")
                await conn.execute("ROLLBACK")
            try:
                await conn.execute(_BEGIN_WRITE)
                yield conn
                await conn.execute("COMMIT")
            except sqlite3.Error as exc:
                await self._rollback_quietly()
                raise self._translate(exc) from exc
            except BaseException:
                await self._rollback_quietly()
                raise
            self.write_error = None

    def _translate(self, exc: sqlite3.Error) -> StoreError:
        reason = _UNAVAILABLE.get(getattr(exc, "sqlite_errorcode", 0) & 0xFF)
        if reason is None:
            return StoreError(f"database error: {exc}")
        self.write_error = f"{reason} ({exc})"
        log.error("database %s cannot write: %s", self.path, self.write_error)
        return StoreUnavailable(f"the database cannot save changes: {reason}; try again later")

    async def write_probe(self, now: float, *, max_age_s: float = 5.0) -> str | None:
        """Rewrite the one-row ``write_probe`` table: None if the database takes writes,
        else why not (also the reason the last real write failed, until one succeeds).
        At most one probe write per ``max_age_s`` (``/health`` is public and polled)."""
        if self._probed is not None and 0 <= now - self._probed[0] < max_age_s:
            return self._probed[1] or self.write_error
        self._probed = (now, await self._probe_write(now))
        return self._probed[1] or self.write_error

    async def _probe_write(self, now: float) -> str | None:
        async with self._lock:
            conn = self._conn
            try:
                await conn.execute(_BEGIN_WRITE)
                await conn.execute(
                    "INSERT INTO write_probe (id, at) VALUES (1, ?)"
                    " ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                    (iso(now),),
                )
                await conn.execute("COMMIT")
            except sqlite3.Error as exc:
                await self._rollback_quietly()
                reason = _UNAVAILABLE.get(getattr(exc, "sqlite_errorcode", 0) & 0xFF)
                return f"{reason or 'database error'} ({exc})"
            except BaseException:
                await self._rollback_quietly()
                raise
        return None

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[aiosqlite.Connection]:
        """Exclusive use of the connection for reads (each statement sees committed data)."""
        async with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise StoreError(f"database error: {exc}") from exc

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[aiosqlite.Connection]:
        """Reads on a second, read-only connection: in WAL mode they see the last committed
        data without waiting for a write transaction (or its checkpoint) on the main one.
        For latency-sensitive reads such as screen pops."""
        async with self._reader_lock:
            conn = self._reader
            if conn is None:
                raise StoreError("the database is closed")
            try:
                yield conn
            except sqlite3.Error as exc:
                raise StoreError(f"database error: {exc}") from exc

    async def ping(self) -> None:
        """Raise :class:`StoreError` unless the database answers a trivial query."""
        async with self.reading() as conn, conn.execute("SELECT 1") as cursor:
            await cursor.fetchone()

    async def _rollback_quietly(self) -> None:
        if self._conn.in_transaction:
            try:
                await self._conn.execute("ROLLBACK")
            except sqlite3.Error:  # pragma: no cover - the connection is already broken
                log.exception("rollback failed")

    # --- migrations ----------------------------------------------------------------------

    async def applied_migrations(self) -> list[int]:
        async with (
            self.reading() as conn,
            conn.execute("SELECT version FROM schema_migrations ORDER BY version") as cursor,
        ):
            return [int(row[0]) for row in await cursor.fetchall()]

    async def migrate(self, migrations: list[Migration]) -> list[int]:
        """Apply each migration not yet recorded in ``schema_migrations``, in version order,
        each in its own transaction. Returns the versions applied now."""
        async with self.reading() as conn:
            await conn.execute(_CREATE_MIGRATIONS_TABLE)
        applied_now: list[int] = []
        for migration in sorted(migrations, key=lambda m: m.version):
            if await self._apply(migration):
                log.info("applied migration %04d_%s", migration.version, migration.name)
                applied_now.append(migration.version)
        return applied_now

    async def _apply(self, migration: Migration) -> bool:
        # A migration that rebuilds a table others reference (SQLite cannot alter a
        # constraint in place) says so with REBUILD_MARKER: foreign-key enforcement is off
        # while it runs (it cannot be switched inside a transaction), and every reference
        # is checked before it commits.
        rebuild = REBUILD_MARKER in migration.sql
        if rebuild:
            await self._conn.execute("PRAGMA foreign_keys = OFF")
        try:
            async with self.transaction() as conn:
                # Re-checked under the write lock: another process may have just applied it.
                async with conn.execute(
                    "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
                ) as cursor:
                    if await cursor.fetchone() is not None:
                        return False
                for statement in split_statements(migration.sql):
                    await conn.execute(statement)
                if rebuild:
                    broken = list(await conn.execute_fetchall("PRAGMA foreign_key_check"))
                    if broken:
                        raise StoreError(
                            f"migration {migration.version:04d} breaks references: {broken[:3]}"
                        )
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, iso(time.time())),
                )
        finally:
            if rebuild:
                await self._conn.execute("PRAGMA foreign_keys = ON")
        return True


def split_statements(script: str) -> list[str]:
    """Split a migration script into statements (SQLite's own notion of a complete statement,
    so a ``;`` inside a string or a trigger body does not cut it)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if _has_code(buffer):
                statements.append(buffer.strip())
            buffer = ""
    if _has_code(buffer):
        raise StoreError(f"migration ends with an incomplete statement: {buffer.strip()[:80]!r}")
    return statements


def _has_code(text: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in text.splitlines())
