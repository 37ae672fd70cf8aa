from __future__ import annotations

import io
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from callcenter import cli
from callcenter.store import token_hash

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "tests" / "fixtures" / "ami"


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def run_cli(
    *args: str, cwd: Path, stdin: str = "", timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callcenter", *args],
        cwd=cwd,
        env=child_env(**env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class FakeStdin(io.StringIO):
    def __init__(self, text: str, *, tty: bool = False) -> None:
        super().__init__(text)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


# --- configuration errors ------------------------------------------------------------------


def test_bad_config_file_exits_2_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[http]\nport = 99999\n", encoding="utf-8")
    result = run_cli("serve", "--config", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("config error: http.port: ")
    assert "99999" in result.stderr


def test_bad_environment_exits_2_naming_the_variable(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("", encoding="utf-8")
    result = run_cli("serve", "--config", str(good), cwd=tmp_path, CALLCENTER_HTTP_PORT="abc")
    assert result.returncode == 2
    assert "config error: CALLCENTER_HTTP_PORT: expected an integer" in result.stderr


def test_a_named_config_file_that_is_missing_is_an_error(tmp_path: Path) -> None:
    result = run_cli("serve", "--config", "nowhere.toml", cwd=tmp_path)
    assert result.returncode == 2
    assert "config error: --config: file not found: nowhere.toml" in result.stderr


def test_without_config_the_built_in_settings_apply(tmp_path: Path) -> None:
    """Run from any folder (a wheel install has no config/ next to it)."""
    db = tmp_path / "elsewhere.db"
    result = run_cli(
        "user",
        "add",
        "alice",
        "--role",
        "agent",
        cwd=tmp_path,
        stdin="a-long-password\n",
        CALLCENTER_DB_PATH=str(db),
    )
    assert result.returncode == 0, result.stderr
    assert sqlite3.connect(db).execute("SELECT username FROM users").fetchall() == [("alice",)]


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["frobnicate"])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        cli.main(["replay", "x.ami", "--chunk", "0"])
    assert "positive integer" in capsys.readouterr().err


# --- serve ---------------------------------------------------------------------------------


def get_json(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_serve_answers_health_while_the_pbx_is_down(tmp_path: Path) -> None:
    config = tmp_path / "callcenter.toml"
    config.write_text("[ami]\nsecret = 'x'\n", encoding="utf-8")
    port, ami_port = free_port(), free_port()  # nothing listens on ami_port
    db = tmp_path / "var" / "cc.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "callcenter", "serve", "--config", str(config)],
        cwd=tmp_path,
        env=child_env(
            CALLCENTER_HTTP_PORT=str(port),
            CALLCENTER_AMI_PORT=str(ami_port),
            CALLCENTER_AMI_RECONNECT_MIN_S="0.1",
            CALLCENTER_DB_PATH=str(db),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        body = None
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                status, body = get_json(f"http://127.0.0.1:{port}/health")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        assert body is not None, process.stderr.read() if process.poll() is not None else ""
        assert status == 200
        assert body["status"] == "degraded"
        assert body["db"] == "ok"
        assert body["ami"]["connected"] is False
        assert body["ami"]["authenticated"] is False
        assert body["ami"]["last_error"]
        assert get_json(f"http://127.0.0.1:{port}/api/calls")[0] == 401
    finally:
        process.terminate()
        try:
            _, stderr = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
    assert process.returncode == 0, stderr
    assert "INFO" in stderr and "serving on" in stderr  # time, level, logger format
    assert db.exists()


def test_port_in_use_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[ami]\nenabled = false\n", encoding="utf-8")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(
            "serve",
            "--config",
            str(config),
            cwd=tmp_path,
            CALLCENTER_HTTP_PORT=str(port),
            CALLCENTER_DB_PATH=str(tmp_path / "cc.db"),
        )
    assert result.returncode == 1
    assert "cannot listen" in result.stderr


# --- replay --------------------------------------------------------------------------------


def test_replay_prints_one_record_per_line(tmp_path: Path) -> None:
    capture = CAPTURES / "sip_inbound_answered.ami"
    result = run_cli("replay", str(capture), "--chunk", "7", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records
    assert all("call_id" in r and "outcome" in r for r in records)


def test_replay_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["replay", str(tmp_path / "nope.ami")]) == 2
    assert "no such capture file" in capsys.readouterr().err


# --- users and tokens ----------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "callcenter.toml"
    path.write_text(f"[db]\npath = '{tmp_path / 'cc.db'}'\n", encoding="utf-8")
    return path


def users(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as raw:
        return raw.execute(
            "SELECT username, role, extension, password_hash FROM users ORDER BY id"
        ).fetchall()


def test_user_add_reads_the_password_from_stdin(tmp_path: Path, config: Path) -> None:
    result = run_cli(
        "user",
        "add",
        "Ann",
        "--role",
        "agent",
        "--extension",
        "PJSIP/2001",
        "--config",
        str(config),
        cwd=tmp_path,
        stdin="a long passphrase\n",
    )
    assert result.returncode == 0, result.stderr
    assert "created agent ann (PJSIP/2001)" in result.stdout
    [(name, role, extension, password_hash)] = users(tmp_path / "cc.db")
    assert (name, role, extension) == ("ann", "agent", "PJSIP/2001")
    assert password_hash.startswith("$argon2id$")
    assert "a long passphrase" not in password_hash

    again = run_cli(
        *("user", "add", "ann", "--role", "admin", "--config", str(config)),
        cwd=tmp_path,
        stdin="another passphrase\n",
    )
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_user_add_is_audited(tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", FakeStdin("s3cret-pass\n"))
    assert cli.main(["user", "add", "boss", "--role", "admin", "--config", str(config)]) == 0
    with sqlite3.connect(tmp_path / "cc.db") as raw:
        rows = raw.execute("SELECT actor, action, target, details FROM audit_log").fetchall()
    assert len(rows) == 1
    actor, action, target, details = rows[0]
    assert actor.startswith("cli")
    assert (action, target) == ("user.create", "boss")
    assert json.loads(details) == {"role": "admin", "extension": None}


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["user", "add", "x", "--role", "agent"], "short\n", "at least 8"),
        (["user", "add", "bad name", "--role", "agent"], "long enough\n", "NAME"),
        (["user", "add", "x", "--role", "agent", "--extension", "2001"], "long\n", "--extension"),
    ],
)
def test_user_add_refuses_bad_input(
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    stdin: str,
    message: str,
) -> None:
    monkeypatch.setattr(sys, "stdin", FakeStdin(stdin))
    assert cli.main([*args, "--config", str(config)]) == 2
    assert message in capsys.readouterr().err


def test_user_add_rejects_an_unknown_role(config: Path) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["user", "add", "x", "--role", "boss", "--config", str(config)])
    assert info.value.code == 2


def test_password_prompt_on_a_terminal() -> None:
    answers = iter(["pass phrase 1", "pass phrase 1"])
    assert cli.read_password(FakeStdin("", tty=True), lambda _: next(answers)) == "pass phrase 1"
    mismatch = iter(["pass phrase 1", "pass phrase 2"])
    with pytest.raises(cli.UsageError, match="do not match"):
        cli.read_password(FakeStdin("", tty=True), lambda _: next(mismatch))
    assert cli.read_password(FakeStdin("with spaces  \r\nrest")) == "with spaces  "


def test_token_add_prints_a_token_stored_hashed(
    tmp_path: Path,
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "stdin", FakeStdin("s3cret-pass\n"))
    assert cli.main(["user", "add", "svc", "--role", "supervisor", "--config", str(config)]) == 0
    capsys.readouterr()
    assert cli.main(["token", "add", "svc", "--label", "crm", "--config", str(config)]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("cc_")
    with sqlite3.connect(tmp_path / "cc.db") as raw:
        stored = raw.execute("SELECT name, token_hash FROM api_tokens").fetchall()
    assert stored == [("crm", token_hash(token))]
    assert cli.main(["token", "add", "nobody", "--config", str(config)]) == 1
