"""The account commands (#13 item 12) against a running server's database: what the command
line changes, the server obeys (requests at once, open sockets within the guard's interval)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from callcenter import cli
from callcenter.settings import Settings
from callcenter.store import Role
from callcenter.web.socket_guard import CHECK_INTERVAL_S, CLOSE_UNAUTHENTICATED
from tests.test_cli import FakeStdin
from tests.web.webclient import logged_in, login, origin

Client = TestClient[Any, Any]


def run(settings: Settings, *args: str) -> int:
    return cli.main([*args], environ={"CALLCENTER_DB_PATH": settings.db.path})


def audit(settings: Settings) -> list[tuple[str, str]]:
    with sqlite3.connect(settings.db.path) as raw:
        rows = raw.execute("SELECT action, target FROM audit_log ORDER BY id").fetchall()
    return [(str(a), str(t)) for a, t in rows if str(a).startswith(("user.", "token."))]


async def test_user_disable_from_the_command_line_stops_a_running_servers_sessions(
    client: Client, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    await logged_in(client, "alice", Role.AGENT, extension="PJSIP/2001")
    socket = await client.ws_connect("/ws/agent", headers={"Origin": origin(client)})
    assert (await socket.receive_json())["type"] == "hello"
    assert await asyncio.to_thread(run, settings, "user", "disable", "alice") == 0
    assert "disabled alice" in capsys.readouterr().out
    assert (await client.get("/api/me")).status == 401
    closing = await asyncio.wait_for(socket.receive(), CHECK_INTERVAL_S + 3)
    assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, CLOSE_UNAUTHENTICATED)
    assert await asyncio.to_thread(run, settings, "user", "enable", "alice") == 0
    assert (await login(client, "alice")).status == 200
    assert audit(settings) == [("user.disable", "alice"), ("user.enable", "alice")]
    assert await asyncio.to_thread(run, settings, "user", "disable", "nobody") == 1


async def test_password_and_tokens_from_the_command_line(
    client: Client,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await logged_in(client, "alice", Role.SUPERVISOR)
    monkeypatch.setattr(sys, "stdin", FakeStdin("brand new secret\n"))
    assert await asyncio.to_thread(run, settings, "user", "password", "alice") == 0
    assert (await client.get("/api/me")).status == 401  # the session ended
    assert (await login(client, "alice", "brand new secret")).status == 200

    args = ("token", "add", "alice", "--label", "sync", "--expires-days", "30")
    assert await asyncio.to_thread(run, settings, *args) == 0
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    bearer = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/api/me", headers=bearer)).status == 200
    assert await asyncio.to_thread(run, settings, "token", "list", "alice") == 0
    [line] = capsys.readouterr().out.strip().splitlines()
    token_id, user, label, _, expires, state = line.split("\t")
    assert (user, label, state) == ("alice", "sync", "active")
    assert expires.startswith("expires ") and secret not in line
    assert await asyncio.to_thread(run, settings, "token", "revoke", token_id) == 0
    assert (await client.get("/api/me", headers=bearer)).status == 401
    assert await asyncio.to_thread(run, settings, "token", "revoke", token_id) == 1
    assert [a for a, _ in audit(settings)] == ["user.password", "token.create", "token.revoke"]
    with sqlite3.connect(settings.db.path) as raw:
        [(details,)] = raw.execute(
            "SELECT details FROM audit_log WHERE action = 'token.create'"
        ).fetchall()
    assert json.loads(details)["expires_at"] is not None


def test_bad_token_arguments_are_usage_errors(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as info:
        run(settings, "token", "add", "alice", "--expires-days", "0")
    assert info.value.code == 2
