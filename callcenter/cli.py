"""Command line: ``callcenter serve | replay | user add | token add``.

Exit status: 0 success, 1 a runtime failure (database, port in use, ...), 2 bad usage or a bad
configuration (printed as ``config error: <key>: <reason>``).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from callcenter import __version__
from callcenter.errors import CallcenterError, ConfigError
from callcenter.settings import Settings, load_settings
from callcenter.store import Accounts, AuditLog, Database, Role, token_hash
from callcenter.store.accounts import check_extension, check_username
from callcenter.web.auth import API_TOKEN_PREFIX, Passwords, new_token

log = logging.getLogger("callcenter")

DEFAULT_CONFIG = Path("config/callcenter.toml")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MIN_PASSWORD = 8


class UsageError(Exception):
    """Bad command-line input that argparse could not catch (exit status 2)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callcenter", description="Self-hosted contact-center server for Asterisk."
    )
    parser.add_argument("--version", action="version", version=f"callcenter {__version__}")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging threshold (default INFO)",
    )
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        metavar="PATH",
        help=f"settings file (default {DEFAULT_CONFIG}); CALLCENTER_<SECTION>_<KEY> overrides",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve", parents=[config], help="run the server (HTTP API and the AMI link)"
    )
    serve.set_defaults(run=_serve)

    replay = commands.add_parser(
        "replay", help="print the call log of a recorded AMI stream, one JSON object per line"
    )
    replay.add_argument(
        "captures",
        type=Path,
        nargs="+",
        metavar="CAPTURE",
        help="an .ami or .ami.gz file; several = consecutive connections (foo.ami foo.2.ami)",
    )
    replay.add_argument(
        "--chunk", type=_positive_int, default=None, metavar="N", help="feed N bytes at a time"
    )
    replay.set_defaults(run=_replay)

    user = commands.add_parser("user", help="manage users").add_subparsers(
        dest="user_command", required=True, metavar="ACTION"
    )
    user_add = user.add_parser(
        "add",
        parents=[config],
        help="create a user; the password is read from stdin (or prompted on a terminal)",
    )
    user_add.add_argument("name", metavar="NAME")
    user_add.add_argument("--role", required=True, choices=["admin", "supervisor", "agent"])
    user_add.add_argument(
        "--extension", metavar="EXT", help="the agent's device / queue interface, e.g. PJSIP/2001"
    )
    user_add.set_defaults(run=_user_add)

    token = commands.add_parser("token", help="manage API tokens").add_subparsers(
        dest="token_command", required=True, metavar="ACTION"
    )
    token_add = token.add_parser(
        "add", parents=[config], help="create an API token for a user and print it (once)"
    )
    token_add.add_argument("name", metavar="USER")
    token_add.add_argument("--label", default="api", help="what the token is for")
    token_add.set_defaults(run=_token_add)
    # Room for: demo, import (issue 3), each a parser with set_defaults(run=...).
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format=LOG_FORMAT, stream=sys.stderr)
    run: Callable[[argparse.Namespace, Mapping[str, str]], int] = args.run
    try:
        return run(args, os.environ if environ is None else environ)
    except ConfigError as exc:
        print(f"config error: {exc.key}: {exc.reason}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CallcenterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _settings(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    path: Path = args.config
    return load_settings(path, environ)


# --- serve ---------------------------------------------------------------------------------


def _serve(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from aiohttp import web

    from callcenter.app import create_app

    settings = _settings(args, environ)
    app = create_app(settings)
    log.info(
        "serving on http://%s:%d (AMI %s)",
        settings.http.host,
        settings.http.port,
        f"{settings.ami.host}:{settings.ami.port}" if settings.ami.enabled else "disabled",
    )
    try:
        web.run_app(app, host=settings.http.host, port=settings.http.port, print=None)
    except OSError as exc:
        print(
            f"error: cannot listen on {settings.http.host}:{settings.http.port}: {exc}",
            file=sys.stderr,
        )
        return 1
    return 0


# --- replay --------------------------------------------------------------------------------


def _replay(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from callcenter.replay import run_replay

    captures: list[Path] = args.captures
    for capture in captures:
        if not capture.is_file():
            raise UsageError(f"no such capture file: {capture}")
    return run_replay(captures, args.chunk, sys.stdout)


# --- users and tokens ----------------------------------------------------------------------


def read_password(stdin: TextIO, prompt: Callable[[str], str] = getpass.getpass) -> str:
    """From a terminal: prompted twice, without echo. Otherwise: the first line of stdin."""
    if stdin.isatty():
        password = prompt("Password: ")
        if prompt("Repeat password: ") != password:
            raise UsageError("the passwords do not match")
    else:
        password = stdin.readline().rstrip("\r\n")
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"the password must have at least {MIN_PASSWORD} characters")
    return password


def _cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _user_add(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = _settings(args, environ)
    try:
        username = check_username(args.name)
    except ValueError as exc:
        raise UsageError(f"NAME: {exc}") from None
    extension: str | None = args.extension
    if extension is not None:
        try:
            check_extension(extension)
        except ValueError as exc:
            raise UsageError(f"--extension: {exc}") from None
    role = Role(args.role)
    password = read_password(sys.stdin)
    asyncio.run(_create_user(settings, username, role, extension, password))
    print(f"created {role.value} {username}" + (f" ({extension})" if extension else ""))
    return 0


async def _create_user(
    settings: Settings, username: str, role: Role, extension: str | None, password: str
) -> None:
    password_hash = await Passwords().hash(password)
    db = await Database.open(Path(settings.db.path))
    try:
        user = await Accounts(db).add_user(
            username, role, password_hash, extension=extension, now=time.time()
        )
        await AuditLog(db).audit(
            _cli_actor(),
            "user.create",
            user.username,
            {"role": role.value, "extension": extension},
        )
    finally:
        await db.close()


def _token_add(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = _settings(args, environ)
    token = asyncio.run(_create_token(settings, args.name, args.label))
    print(token)
    return 0


async def _create_token(settings: Settings, username: str, label: str) -> str:
    db = await Database.open(Path(settings.db.path))
    try:
        accounts = Accounts(db)
        user = await accounts.get_user(username)
        token = new_token(API_TOKEN_PREFIX)
        token_id = await accounts.create_api_token(
            user.id, label, token_hash(token), now=time.time()
        )
        await AuditLog(db).audit(
            _cli_actor(), "token.create", user.username, {"token_id": token_id, "label": label}
        )
    finally:
        await db.close()
    return token
