"""Command line: ``callcenter serve | demo | replay | user add|disable|enable|password |
token add|list|revoke | import customers``.

Exit status: 0 success, 1 a runtime failure (database, port in use, ...), 2 bad usage or a bad
configuration (printed as ``config error: <key>: <reason>``).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import getpass
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO

from callcenter import __version__
from callcenter.errors import CallcenterError, ConfigError
from callcenter.settings import Settings, load_settings
from callcenter.store import Accounts, AuditLog, Database, Role
from callcenter.store.accounts import check_extension, check_username, normalize_username, sip_user

if TYPE_CHECKING:
    from callcenter.crm.csv_import import ImportSummary
from callcenter.store.accounts import ApiToken
from callcenter.web.account_admin import AccountAdmin
from callcenter.web.auth import Passwords

log = logging.getLogger("callcenter")

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
        default=None,
        metavar="PATH",
        help="settings file (default: the built-in settings); CALLCENTER_<SECTION>_<KEY> overrides",
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
    replay.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="PATH",
        help="settings file whose [pbx] section says which endpoints are trunks "
        "(default: the built-in [pbx] defaults)",
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
    user_add.add_argument(
        "--sip-password",
        action="store_true",
        help="the extension is a browser phone (PJSIP/w2001): also read its SIP password"
        " (prompted without echo on a terminal, else the next line of stdin)",
    )
    user_add.set_defaults(run=_user_add)
    user_sip = user.add_parser(
        "sip-password",
        parents=[config],
        help="set the SIP password of a user's browser phone (prompted without echo,"
        " or the first line of stdin)",
    )
    user_sip.add_argument("name", metavar="NAME")
    user_sip.set_defaults(run=_user_sip_password)
    for action, helptext in (
        ("disable", "disable a user: their sessions, API tokens and open sockets stop"),
        ("enable", "enable a disabled user again (old sessions stay ended)"),
        ("password", "set a user's password (stdin or prompt); all their sessions end"),
    ):
        command = user.add_parser(action, parents=[config], help=helptext)
        command.add_argument("name", metavar="NAME")
        command.set_defaults(run=_user_account, account_action=action)

    token = commands.add_parser("token", help="manage API tokens").add_subparsers(
        dest="token_command", required=True, metavar="ACTION"
    )
    token_add = token.add_parser(
        "add", parents=[config], help="create an API token for a user and print it (once)"
    )
    token_add.add_argument("name", metavar="USER")
    token_add.add_argument("--label", default="api", help="what the token is for")
    token_add.add_argument(
        "--expires-days",
        type=_positive_int,
        metavar="N",
        help="valid for N days (default: until revoked)",
    )
    token_add.set_defaults(run=_token_add)
    token_list = token.add_parser("list", parents=[config], help="list API tokens (no secrets)")
    token_list.add_argument("name", metavar="USER", nargs="?", help="only this user's")
    token_list.set_defaults(run=_token_list)
    token_revoke = token.add_parser("revoke", parents=[config], help="revoke an API token at once")
    token_revoke.add_argument("token_id", metavar="ID", type=_positive_int)
    token_revoke.set_defaults(run=_token_revoke)

    importing = commands.add_parser("import", help="import data").add_subparsers(
        dest="import_command", required=True, metavar="WHAT"
    )
    import_customers = importing.add_parser(
        "customers",
        parents=[config],
        help="import customers from a CSV file (header row; progress on stderr)",
        description="Columns whose header is a field name are imported; map others with "
        "--map. Fields: name company kind language region time_zone owner tags do_not_call "
        "may_call may_record marketing phone phone.TYPE phones email email.TYPE emails street "
        "postcode city address_region country custom.KEY. Rows sharing a phone number with "
        "an existing customer are skipped as duplicates; bad rows are reported and skipped.",
    )
    import_customers.add_argument("file", type=Path, metavar="FILE.csv")
    import_customers.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=FIELD",
        help="map a column to a field (repeatable); COLUMN= ignores the column",
    )
    import_customers.add_argument(
        "--delimiter", choices=[",", ";", "tab"], help="default: detected from the header"
    )
    import_customers.add_argument(
        "--no-progress", action="store_true", help="no progress bar on stderr"
    )
    import_customers.add_argument(
        "--workers",
        type=int,
        default=min(2, max((os.cpu_count() or 1) - 1, 0)),
        metavar="N",
        help="processes checking rows (phone numbers) while the main one writes;"
        " 0 checks in a thread of the main process (default: CPUs - 1, at most 2)",
    )
    import_customers.set_defaults(run=_import_customers)

    demo = commands.add_parser(
        "demo",
        parents=[config],
        help="run the server against a simulated PBX with live traffic and demo logins",
    )
    demo.add_argument("--port", type=int, metavar="N", help="HTTP port (default: the config's)")
    demo.add_argument("--db", metavar="PATH", help="demo database (default var/demo.db)")
    demo.add_argument("--calls-per-minute", type=_positive_int, metavar="N", help="default 8")
    demo.add_argument("--seed", type=int, metavar="N", help="same seed, same sequence of calls")
    demo.set_defaults(run=_demo)

    transcribe = commands.add_parser(
        "transcribe",
        parents=[config],
        help="print the transcript of WAV files, or work through the queued jobs",
    )
    transcribe.add_argument("files", type=Path, nargs="*", metavar="FILE.wav")
    transcribe.add_argument("--json", action="store_true", help="one JSON object per file")
    transcribe.add_argument(
        "--backlog",
        action="store_true",
        help="transcribe every queued job (progress on stderr); not while the server runs",
    )
    transcribe.set_defaults(run=_transcribe)
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
    path: Path | None = args.config
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


def _demo(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from callcenter.demo.runner import run_demo_command

    return run_demo_command(
        _settings(args, environ),
        port=args.port,
        db_path=args.db,
        calls_per_minute=args.calls_per_minute,
        seed=args.seed,
    )


# --- replay --------------------------------------------------------------------------------


def _transcribe(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from callcenter.transcription.cli import main_transcribe
    from callcenter.transcription.jobs import TranscribeOptions

    settings = _settings(args, environ)
    t = settings.transcribe
    options = TranscribeOptions(t.model_dir, t.workers, t.max_attempts, t.poll_interval_s)
    return main_transcribe(args, options, Path(settings.db.path))


def _replay(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from callcenter.ami.replay import run_replay

    captures: list[Path] = args.captures
    for capture in captures:
        if not capture.is_file():
            raise UsageError(f"no such capture file: {capture}")
    settings = load_settings(args.config, environ)
    return run_replay(captures, args.chunk, sys.stdout, settings.pbx)


# --- users and tokens ----------------------------------------------------------------------


def read_password(
    stdin: TextIO, prompt: Callable[[str], str] = getpass.getpass, *, what: str = "Password"
) -> str:
    """From a terminal: prompted twice, without echo. Otherwise: the next line of stdin."""
    if stdin.isatty():
        password = prompt(f"{what}: ")
        if prompt(f"Repeat {what.lower()}: ") != password:
            raise UsageError(f"the {what.lower()}s do not match")
    else:
        password = stdin.readline().rstrip("\r\n")
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"the {what.lower()} must have at least {MIN_PASSWORD} characters")
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
    if args.sip_password and sip_user(extension) is None:
        raise UsageError("--sip-password needs a PJSIP endpoint as --extension (PJSIP/w2001)")
    password = read_password(sys.stdin)
    sip_password = read_password(sys.stdin, what="SIP password") if args.sip_password else None
    asyncio.run(_create_user(settings, username, role, extension, password, sip_password))
    print(f"created {role.value} {username}" + (f" ({extension})" if extension else ""))
    return 0


async def _create_user(
    settings: Settings,
    username: str,
    role: Role,
    extension: str | None,
    password: str,
    sip_password: str | None = None,
) -> None:
    password_hash = await Passwords().hash(password)
    db = await Database.open(Path(settings.db.path))
    try:
        user = await Accounts(db).add_user(
            username, role, password_hash, extension=extension, now=time.time()
        )
        if sip_password is not None:
            await Accounts(db).set_sip_password(user.id, sip_password, now=time.time())
        await AuditLog(db).audit(
            _cli_actor(),
            "user.create",
            user.username,
            {"role": role.value, "extension": extension},
        )
    finally:
        await db.close()


def _user_sip_password(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = _settings(args, environ)
    sip_password = read_password(sys.stdin, what="SIP password")
    extension = asyncio.run(_set_sip_password(settings, args.name, sip_password))
    print(f"SIP password set for {normalize_username(args.name)}'s browser phone ({extension})")
    return 0


async def _set_sip_password(settings: Settings, username: str, sip_password: str) -> str:
    db = await Database.open(Path(settings.db.path))
    try:
        accounts = Accounts(db)
        user = await accounts.get_user(username)
        if sip_user(user.extension) is None:
            raise UsageError(
                f"{user.username} has no PJSIP browser phone extension ({user.extension})"
            )
        await accounts.set_sip_password(user.id, sip_password, now=time.time())
        await AuditLog(db).audit(
            _cli_actor(), "user.sip_password", user.username, {"extension": user.extension}
        )
    finally:
        await db.close()
    return str(user.extension)


def _token_add(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = _settings(args, environ)
    token = asyncio.run(_create_token(settings, args.name, args.label, args.expires_days))
    print(token)
    return 0


async def _account_admin(settings: Settings) -> tuple[Database, AccountAdmin]:
    db = await Database.open(Path(settings.db.path))
    return db, AccountAdmin(Accounts(db), AuditLog(db), Passwords())


async def _create_token(
    settings: Settings, username: str, label: str, expires_days: int | None = None
) -> str:
    db, admin = await _account_admin(settings)
    try:
        _, secret = await admin.create_token(
            _cli_actor(), username, label, expires_in_days=expires_days
        )
    finally:
        await db.close()
    return secret


def _token_list(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    async def run() -> list[ApiToken]:
        db, admin = await _account_admin(_settings(args, environ))
        try:
            return await admin.tokens(args.name)
        finally:
            await db.close()

    for token in asyncio.run(run()):
        state = f"revoked {token.revoked_at}" if token.revoked_at else "active"
        expires = f"expires {token.expires_at}" if token.expires_at else "no expiry"
        print(f"{token.id}\t{token.username}\t{token.name}\t{token.created_at}\t{expires}\t{state}")
    return 0


def _token_revoke(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    async def run() -> ApiToken:
        db, admin = await _account_admin(_settings(args, environ))
        try:
            return await admin.revoke_token(_cli_actor(), args.token_id)
        finally:
            await db.close()

    token = asyncio.run(run())
    print(f"revoked token {token.id} ({token.name}) of {token.username}")
    return 0


def _user_account(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """``user disable|enable|password NAME`` (the server notices within seconds: see
    :mod:`callcenter.web.account_admin`)."""
    settings = _settings(args, environ)
    action: str = args.account_action
    password = read_password(sys.stdin) if action == "password" else ""

    async def run() -> None:
        db, admin = await _account_admin(settings)
        try:
            if action == "password":
                await admin.set_password(_cli_actor(), args.name, password)
            else:
                await admin.set_active(_cli_actor(), args.name, action == "enable")
        finally:
            await db.close()

    asyncio.run(run())
    done = {"disable": "disabled", "enable": "enabled", "password": "new password set for"}
    print(f"{done[action]} {normalize_username(args.name)}")
    return 0


# --- import --------------------------------------------------------------------------------


class ProgressBar:
    """A progress bar on stderr, by bytes of the input file: redrawn in place at most ten
    times a second on a terminal, a line per 10 % otherwise (logs, CI)."""

    def __init__(
        self, stream: TextIO, total_bytes: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._stream = stream
        self._total = max(total_bytes, 1)
        self._clock = clock
        self._start = clock()
        self._last_draw = 0.0
        self._last_decile = -1
        self._tty = stream.isatty()

    def update(self, done_bytes: int, rows: int, *, final: bool = False) -> None:
        now = self._clock()
        fraction = min(done_bytes / self._total, 1.0)
        elapsed = max(now - self._start, 1e-9)
        line = (
            f"{fraction * 100:5.1f}% |{'#' * int(fraction * 30):<30}| {rows:,} rows"
            f" {rows / elapsed:,.0f} rows/s {elapsed:.0f}s"
        )
        if self._tty:
            if final or now - self._last_draw >= 0.1:
                self._last_draw = now
                self._stream.write("\r" + line + ("\n" if final else ""))
                self._stream.flush()
        else:
            decile = int(fraction * 10)
            if final or decile > self._last_decile:
                self._last_decile = decile
                self._stream.write(line + "\n")
                self._stream.flush()


def _import_customers(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from callcenter.crm.csv_import import parse_mapping
    from callcenter.store import ValidationError

    settings = _settings(args, environ)
    path: Path = args.file
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    try:
        mapping = parse_mapping(args.map)
    except ValidationError as exc:
        raise UsageError(f"--map: {exc.reason}") from None
    delimiter = {None: None, ",": ",", ";": ";", "tab": "\t"}[args.delimiter]
    workers: int = args.workers
    if not 0 <= workers <= 16:
        raise UsageError("--workers: expected 0 to 16")
    bar = None if args.no_progress else ProgressBar(sys.stderr, path.stat().st_size)
    pool = None
    if workers:
        # spawn: a clean interpreter, nothing of this process's threads or open database.
        context = multiprocessing.get_context("spawn")
        pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context)
    try:
        with path.open("rb") as file:
            summary = asyncio.run(
                _run_import(settings, file, str(path), mapping, delimiter, bar, pool, workers)
            )
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    print(
        f"{summary.rows} rows: {summary.imported} imported"
        f" ({summary.stubs_completed} completing stub customers),"
        f" {summary.duplicates} duplicates skipped, {summary.failed} failed"
    )
    if summary.ignored_columns:
        print("ignored columns: " + ", ".join(summary.ignored_columns))
    for row, reason in sorted(summary.errors):
        print(f"row {row}: {reason}")
    if summary.failed > len(summary.errors):
        print(f"... and {summary.failed - len(summary.errors)} more failed rows")
    for row, customer_id, phone in summary.duplicate_rows:
        print(f"row {row}: duplicate of customer {customer_id} ({phone})")
    return 0


async def _run_import(
    settings: Settings,
    file: BinaryIO,
    name: str,
    mapping: dict[str, str],
    delimiter: str | None,
    bar: ProgressBar | None,
    pool: concurrent.futures.Executor | None,
    workers: int,
) -> ImportSummary:
    from callcenter.crm.csv_import import CsvCustomers, import_customers
    from callcenter.crm.phones import PhoneNormalizer
    from callcenter.store import Customers, ValidationError

    numbers = PhoneNormalizer(settings.crm.default_region)
    try:
        reader = CsvCustomers(file, numbers, mapping=mapping, delimiter=delimiter)
    except ValidationError as exc:
        raise UsageError(f"{name}: {exc}") from None

    def show(current: CsvCustomers, *, final: bool = False) -> None:
        if bar is not None:
            bar.update(current.bytes_read, current.summary.rows, final=final)

    db = await Database.open(Path(settings.db.path))
    try:
        summary = await import_customers(
            reader, Customers(db, numbers), progress=show, workers=pool, depth=workers + 1
        )
        show(reader, final=True)
        counts = {
            "file": name,
            "rows": summary.rows,
            "imported": summary.imported,
            "duplicates": summary.duplicates,
            "failed": summary.failed,
        }
        await AuditLog(db).audit(_cli_actor(), "customers.import", name, counts)
    finally:
        await db.close()
    return summary
