"""``callcenter user add … --extension PJSIP/w2001 --sip-password`` and ``user sip-password``:
the browser phone's SIP password is read like the login password (never echoed, never an
argument) and stored with the user, apart from every listing."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from callcenter import cli
from tests.test_cli import FakeStdin


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "callcenter.toml"
    path.write_text(f"[db]\npath = '{tmp_path / 'cc.db'}'\n", encoding="utf-8")
    return path


def phones(db: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as raw:
        return raw.execute(
            "SELECT u.username, u.extension, p.sip_password FROM browser_phones p"
            " JOIN users u ON u.id = p.user_id ORDER BY u.id"
        ).fetchall()


def test_user_add_with_a_browser_phone(
    tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", FakeStdin("login passphrase\nw2001-secret\n"))
    args = ["user", "add", "ann", "--role", "agent", "--extension", "PJSIP/w2001"]
    assert cli.main([*args, "--sip-password", "--config", str(config)]) == 0
    assert phones(tmp_path / "cc.db") == [("ann", "PJSIP/w2001", "w2001-secret")]


def test_sip_password_is_prompted_without_echo() -> None:
    answers = iter(["w2001-secret", "w2001-secret"])
    prompts: list[str] = []

    def prompt(text: str) -> str:
        prompts.append(text)
        return next(answers)

    tty = FakeStdin("", tty=True)
    assert cli.read_password(tty, prompt, what="SIP password") == "w2001-secret"
    assert prompts == ["SIP password: ", "Repeat sip password: "]


def test_sip_password_set_later_and_replaced(
    tmp_path: Path,
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "stdin", FakeStdin("login passphrase\n"))
    args = ["user", "add", "bob", "--role", "agent", "--extension", "PJSIP/w2002"]
    assert cli.main([*args, "--config", str(config)]) == 0
    for secret in ("first-secret", "second-secret"):
        monkeypatch.setattr(sys, "stdin", FakeStdin(f"{secret}\n"))
        assert cli.main(["user", "sip-password", "bob", "--config", str(config)]) == 0
    assert phones(tmp_path / "cc.db") == [("bob", "PJSIP/w2002", "second-secret")]
    assert "second-secret" not in capsys.readouterr().out
    with sqlite3.connect(tmp_path / "cc.db") as raw:
        audit = raw.execute("SELECT action, details FROM audit_log").fetchall()
    assert ("user.sip_password", '{"extension": "PJSIP/w2002"}') in audit
    assert "secret" not in str(audit)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["user", "add", "x", "--role", "agent", "--sip-password"], "passphrase\n", "PJSIP"),
        (
            ["user", "add", "x", "--role", "agent", "--extension", "Local/1@a", "--sip-password"],
            "passphrase\n",
            "PJSIP",
        ),
        (
            ["user", "add", "x", "--role", "agent", "--extension", "PJSIP/w1", "--sip-password"],
            "passphrase\nshort\n",
            "sip password must have at least 8",
        ),
    ],
)
def test_bad_browser_phone_input(
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
