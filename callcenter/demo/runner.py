"""``callcenter demo``: the whole product on one machine, with a simulated PBX instead of Asterisk.

:class:`Demo` composes, in this order: the fake AMI server (:class:`FakeAmiServer`, on a free
port of 127.0.0.1) with its traffic (:class:`DemoTraffic`), the real server
(:func:`~callcenter.app.create_app`) with the settings redirected to them (AMI pointed at the
fake PBX, the database at ``var/demo.db`` so a configured production database is never
touched), the demo users (created if missing, all with :data:`DEMO_PASSWORD`), the sample data
hook :func:`seed_sample_data`, and finally the stream of calls, once the server's AMI link has
logged in. :meth:`Demo.stop` takes it down in reverse order, every task cancelled and awaited.

The demo logins are well known: the HTTP listener stays on the configured host, and a warning
is printed when that is not a loopback address.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from aiohttp import web

from callcenter.app import create_app
from callcenter.demo.fake_pbx import FakeAmiServer
from callcenter.demo.sample_data import seed_sample_data
from callcenter.demo.traffic import AGENT_EXTENSIONS, DemoTraffic, TrafficConfig
from callcenter.errors import ConfigError
from callcenter.settings import Settings
from callcenter.store import ConflictError, Role
from callcenter.web.auth import Passwords
from callcenter.web.keys import (
    ACCOUNTS_KEY,
    AUDIT_KEY,
    PASSWORDS_KEY,
    SETTINGS_KEY,
    SIMULATED_PHONES_KEY,
)

log = logging.getLogger(__name__)

#: The password of every demo login (printed on start).
DEMO_PASSWORD = "demo-password"
DEMO_DB = "var/demo.db"
#: How long the call stream waits for the server's AMI link before starting anyway.
LINK_WAIT_S = 10.0
_AMI_USER = "callcenter"
_AMI_SECRET = "demo-secret"


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    role: Role
    extension: str | None = None


def demo_users(extensions: Sequence[str] = AGENT_EXTENSIONS) -> tuple[DemoUser, ...]:
    """``admin``, ``supervisor`` and ``agent1``… on ``PJSIP/<ext>`` (the queue interfaces)."""
    agents = tuple(
        DemoUser(f"agent{n}", Role.AGENT, f"PJSIP/{ext}") for n, ext in enumerate(extensions, 1)
    )
    return (DemoUser("admin", Role.ADMIN), DemoUser("supervisor", Role.SUPERVISOR), *agents)


@dataclass(frozen=True)
class DemoOptions:
    """``http_port`` None keeps the configured port (0 picks a free one)."""

    http_port: int | None = None
    db_path: str = DEMO_DB
    password: str = DEMO_PASSWORD
    traffic: TrafficConfig = dataclasses.field(default_factory=TrafficConfig)

    def __post_init__(self) -> None:
        if self.http_port is not None and not 0 <= self.http_port <= 65535:
            raise ConfigError("--port", f"port out of range 0-65535: {self.http_port}")
        if not self.db_path:
            raise ConfigError("--db", "empty path")


def demo_settings(settings: Settings, ami_port: int, options: DemoOptions) -> Settings:
    """``settings`` with the AMI link pointed at the fake PBX and the demo database."""
    ami = dataclasses.replace(
        settings.ami,
        enabled=True,
        host="127.0.0.1",
        port=ami_port,
        username=_AMI_USER,
        secret=_AMI_SECRET,
    )
    http = settings.http
    if options.http_port is not None:
        http = dataclasses.replace(http, port=options.http_port)
    db = dataclasses.replace(settings.db, path=options.db_path)
    return dataclasses.replace(settings, ami=ami, http=http, db=db)


async def ensure_demo_users(
    app: web.Application, users: Sequence[DemoUser], password: str
) -> list[str]:
    """Create the users that do not exist yet (existing ones are left as they are); returns
    the names created. One argon2 hash serves them all: hashing is the slow part."""
    accounts = app[ACCOUNTS_KEY]
    missing = [u for u in users if await accounts.credentials(u.username) is None]
    if not missing:
        return []
    password_hash = await app[PASSWORDS_KEY].hash(password)
    created = []
    for user in missing:
        try:
            await accounts.add_user(
                user.username,
                user.role,
                password_hash,
                extension=user.extension,
                now=time.time(),
            )
        except ConflictError:  # exists but deactivated: leave it so
            continue
        await app[AUDIT_KEY].audit(
            "demo",
            "user.create",
            user.username,
            {"role": user.role.value, "extension": user.extension},
        )
        created.append(user.username)
    return created


class Demo:
    """See the module docstring. ``passwords`` overrides the hasher (cheap ones in tests)."""

    def __init__(
        self,
        settings: Settings,
        options: DemoOptions | None = None,
        *,
        passwords: Passwords | None = None,
    ) -> None:
        self.options = options or DemoOptions()
        self.users = demo_users()
        self.pbx = FakeAmiServer("127.0.0.1", 0, _AMI_USER, _AMI_SECRET)
        self.traffic = DemoTraffic(self.pbx, self.options.traffic)
        self._base_settings = settings
        self._passwords = passwords
        self._app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0
        self.created_users: list[str] = []

    @property
    def app(self) -> web.Application:
        if self._app is None:
            raise RuntimeError("the demo is not started")
        return self._app

    @property
    def settings(self) -> Settings:
        return self.app[SETTINGS_KEY]

    @property
    def url(self) -> str:
        host = self.settings.http.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self._port}/"

    async def start(self) -> None:
        await self.pbx.start()
        try:
            self.traffic.install()
            settings = demo_settings(self._base_settings, self.pbx.port, self.options)
            self._app = create_app(settings, passwords=self._passwords)
            self._app[SIMULATED_PHONES_KEY] = True  # the fake PBX has no SIP and no media
            self._runner = web.AppRunner(self._app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, settings.http.host, settings.http.port)
            await site.start()
            self._port = _bound_port(self._runner, settings.http.port)
            self.created_users = await ensure_demo_users(
                self._app, self.users, self.options.password
            )
            if self.created_users:
                log.info("created demo users: %s", ", ".join(self.created_users))
            await seed_sample_data(self._app)
            with contextlib.suppress(TimeoutError):
                await self.pbx.wait_for(lambda: self.pbx.clients > 0, LINK_WAIT_S)
            self.traffic.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop the call stream, the server (AMI link, pump, database) and the fake PBX. Each
        step runs even when the calling task is being cancelled (the AMI link re-raises the
        cancellation when it is stopped from a cancelled task); the cancellation is passed on
        at the end."""
        cancelled = False
        for step in (self.traffic.stop, self._stop_server, self.pbx.stop):
            try:
                await step()
            except asyncio.CancelledError:
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError

    async def _stop_server(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def banner(self) -> str:
        """What ``callcenter demo`` prints: where to go and how to log in."""
        agents = [u for u in self.users if u.role is Role.AGENT]
        others = [u for u in self.users if u.role is not Role.AGENT]
        config = self.options.traffic
        queues = ", ".join(q.name for q in config.queues)
        lines = [
            f"callcenter demo: open {self.url}",
            "",
            f"  password for every demo login: {self.options.password}",
        ]
        lines += [f"    {u.username:<12} {u.role.value}" for u in others]
        if agents:
            first, last = agents[0], agents[-1]
            lines.append(
                f"    {first.username} … {last.username:<3} agents on "
                f"{first.extension} … {last.extension}"
            )
        lines += [
            "",
            f"  simulated PBX: AMI on 127.0.0.1:{self.pbx.port}, about "
            f"{config.calls_per_minute:g} calls a minute into {queues}",
            f"  database: {self.settings.db.path}",
        ]
        if not _is_loopback(self.settings.http.host):
            lines.append(
                f"  WARNING: listening on {self.settings.http.host}: anyone who can reach it "
                "can log in with the demo password"
            )
        lines.append("Press Ctrl-C to stop.")
        return "\n".join(lines)


def _bound_port(runner: web.AppRunner, configured: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return configured


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def run_demo(settings: Settings, options: DemoOptions, out: TextIO) -> None:
    """Start the demo, print the banner and run until Ctrl-C or SIGTERM (or cancellation).
    The signals only set an event, so the shutdown runs in a task that is not cancelled."""
    demo = Demo(settings, options)
    await demo.start()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stopped.set)
    try:
        print(demo.banner(), file=out, flush=True)
        await stopped.wait()
    finally:
        for signum in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
        await demo.stop()
        print("callcenter demo stopped", file=out, flush=True)


def run_demo_command(
    settings: Settings,
    *,
    port: int | None = None,
    db_path: str | None = None,
    calls_per_minute: float | None = None,
    seed: int | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """``callcenter demo``: exit status 0 after Ctrl-C, 1 if the HTTP port is taken."""
    traffic = TrafficConfig(seed=seed)
    if calls_per_minute is not None:
        traffic = dataclasses.replace(traffic, calls_per_minute=calls_per_minute)
    options = DemoOptions(http_port=port, db_path=db_path or DEMO_DB, traffic=traffic)
    try:
        asyncio.run(run_demo(settings, options, out))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"error: cannot start the demo: {exc}", file=sys.stderr)
        return 1
    return 0
