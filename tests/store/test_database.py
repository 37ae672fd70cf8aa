from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from callcenter.errors import StoreError
from callcenter.store.database import Database, Migration, bundled_migrations, split_statements


def exists(path: Path) -> bool:
    return path.exists()


async def test_open_creates_folder_and_applies_every_migration_once(db_path: Path) -> None:
    assert not exists(db_path.parent)
    db = await Database.open(db_path)
    try:
        versions = [m.version for m in bundled_migrations()]
        assert versions[:2] == [1, 2]
        assert await db.applied_migrations() == versions
    finally:
        await db.close()
    assert exists(db_path)

    again = await Database.open(db_path)
    try:
        assert await again.applied_migrations() == versions
        assert await again.migrate(bundled_migrations()) == []
    finally:
        await again.close()
    with sqlite3.connect(db_path) as raw:
        rows = raw.execute("SELECT version, name FROM schema_migrations").fetchall()
    assert rows == [(m.version, m.name) for m in bundled_migrations()]


async def test_sqlite_settings(db_path: Path) -> None:
    db = await Database.open(db_path)
    try:
        async with db.reading() as conn:
            pragmas = {}
            for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous"):
                async with conn.execute(f"PRAGMA {name}") as cursor:
                    row = await cursor.fetchone()
                    assert row is not None
                    pragmas[name] = row[0]
    finally:
        await db.close()
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 5000,
        "synchronous": 1,
    }


async def test_new_migrations_apply_on_reopen_in_order(db_path: Path) -> None:
    base = bundled_migrations()
    db = await Database.open(db_path, migrations=base)
    await db.close()
    extra = [
        Migration(9101, "second", "INSERT INTO t (v) VALUES ('b');"),
        Migration(9100, "first", "CREATE TABLE t (v TEXT);\nINSERT INTO t (v) VALUES ('a');"),
    ]
    db = await Database.open(db_path, migrations=base + extra)
    try:
        assert (await db.applied_migrations())[-2:] == [9100, 9101]
        async with db.reading() as conn, conn.execute("SELECT v FROM t ORDER BY rowid") as cur:
            assert [r[0] for r in await cur.fetchall()] == ["a", "b"]
    finally:
        await db.close()


async def test_a_failing_migration_is_rolled_back_whole(db_path: Path) -> None:
    bad = Migration(
        9100, "broken", "CREATE TABLE half (v TEXT);\nINSERT INTO missing_table VALUES (1);"
    )
    with pytest.raises(StoreError, match="missing_table"):
        await Database.open(db_path, migrations=[*bundled_migrations(), bad])
    db = await Database.open(db_path)
    try:
        assert 9100 not in await db.applied_migrations()
        async with (
            db.reading() as conn,
            conn.execute("SELECT name FROM sqlite_master WHERE name = 'half'") as cursor,
        ):
            assert await cursor.fetchone() is None
    finally:
        await db.close()


async def test_transaction_rolls_back_on_error(db_path: Path) -> None:
    db = await Database.open(db_path)
    try:
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO audit_log (at, actor, action, target, details)"
                    " VALUES ('x', 'a', 'b', NULL, '{}')"
                )
                raise RuntimeError("boom")
        async with db.reading() as conn, conn.execute("SELECT COUNT(*) FROM audit_log") as cur:
            row = await cur.fetchone()
        assert row is not None and row[0] == 0
        await db.ping()
    finally:
        await db.close()


def test_split_statements_keeps_semicolons_inside_strings_and_skips_comments() -> None:
    script = (
        "-- header comment\n"
        "CREATE TABLE a (v TEXT);\n"
        "INSERT INTO a VALUES ('x;y');\n"
        "-- trailing comment\n"
    )
    assert split_statements(script) == [
        "-- header comment\nCREATE TABLE a (v TEXT);",
        "INSERT INTO a VALUES ('x;y');",
    ]
    with pytest.raises(StoreError, match="incomplete"):
        split_statements("CREATE TABLE b (v TEXT)")


async def test_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot open database"):
        await Database.open(blocker / "sub" / "db.sqlite")
