"""The real Asterisk kit (``../shared/pbx``) for tests: start/stop, its AMIs, its traffic driver.

``pbx start DIR --center-conf dialplans`` runs two Asterisk 22 instances on loopback: *center*
(the call center's PBX, configured with this repository's ``dialplans/``) and *world*
(customers, carrier and the agents' desk phones). ``scenarios.py DIR ...`` makes real SIP
calls and prints one JSON line per call: what really happened, the ground truth our call log
is compared with. See ``../shared/pbx/README.md``.

Python standard library only, so the benchmark can use it too.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import itertools
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DIALPLANS = ROOT / "dialplans"
#: The kit lives beside the repository (in CI as well); PBX_KIT overrides the folder.
KIT_DIR = Path(os.environ.get("PBX_KIT", ROOT.parent / "shared" / "pbx")).resolve()
PBX = KIT_DIR / "pbx"
SCENARIOS = KIT_DIR / "scenarios.py"
AMIREC = KIT_DIR / "amirec.py"

#: Offsets of the ports the kit binds on 127.0.0.1 (AMI, SIP); RTP uses +1000..+1998.
_PORT_OFFSETS = (38, 39, 60, 62, 64)


def kit_missing_reason() -> str | None:
    """Why the pbx tests cannot run here, or None if they can."""
    for needed in (PBX, SCENARIOS):
        if not needed.exists():
            return f"real Asterisk kit not found: {needed} is missing (see DESIGN.md, How we test)"
    if not sys.platform.startswith("linux"):
        return "the Asterisk kit is built for Linux (Debian 12 amd64)"
    return None


def free_port_base(rng: random.Random | None = None) -> int:
    """A port base whose AMI and SIP ports are free on 127.0.0.1 (TCP and UDP), and whose RTP
    range does not overlap the ephemeral ports Linux hands out (32768+)."""
    rng = rng or random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 30000, 100)
        if all(_port_free(base + offset) for offset in _PORT_OFFSETS):
            return base
    raise RuntimeError("no free port base for the Asterisk kit in 20000-30000")


def _port_free(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def read_env(directory: Path) -> dict[str, str]:
    text = (directory / "pbx.env").read_text(encoding="utf-8")
    return dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")
    )


@dataclass
class Kit:
    """A running kit: its directory and ``pbx.env``."""

    directory: Path
    env: dict[str, str]

    @property
    def ami_port(self) -> int:
        return int(self.env["PBX_AMI_PORT"])

    @property
    def world_port(self) -> int:
        return int(self.env["WORLD_AMI_PORT"])

    @property
    def recordings(self) -> Path:
        return Path(self.env["PBX_RECORDINGS_DIR"])

    @property
    def center_log(self) -> Path:
        return self.directory / "center" / "log" / "messages.log"

    async def apbx(self, *args: str) -> str:
        """``pbx ARGS`` without blocking the event loop (the server keeps running)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(PBX),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"pbx {' '.join(args)} failed: {err.decode()[-2000:]}")
        return out.decode()

    @property
    def cdr_file(self) -> Path:
        """Where dialplans/cdr_custom.conf makes the center write its CDRs."""
        return self.directory / "center" / "log" / "cdr-custom" / "callcenter.json"

    def center_ami(self, name: str = "lab") -> Ami:
        return Ami(name, self.ami_port, self.env["PBX_LAB_USERNAME"], self.env["PBX_LAB_SECRET"])

    def world_ami(self, name: str = "world") -> Ami:
        return Ami(
            name, self.world_port, self.env["WORLD_AMI_USERNAME"], self.env["WORLD_AMI_SECRET"]
        )


def start_kit(directory: Path, *, attempts: int = 3, center_conf: Path = DIALPLANS) -> Kit:
    """``pbx start`` with our dialplans (or another ``--center-conf`` folder) on a free port
    base (retried if a port was taken between the check and the start). Raises RuntimeError
    with the kit's output."""
    errors = []
    for _ in range(attempts):
        base = free_port_base()
        started = subprocess.run(
            [
                sys.executable,
                str(PBX),
                "start",
                str(directory),
                "--port-base",
                str(base),
                "--center-conf",
                str(center_conf),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if started.returncode == 0:
            return Kit(directory, read_env(directory))
        errors.append(started.stderr[-3000:])
        stop_kit(directory)
    raise RuntimeError("pbx start failed:\n" + "\n---\n".join(errors))


def stop_kit(directory: Path) -> None:
    subprocess.run(
        [sys.executable, str(PBX), "stop", str(directory)],
        capture_output=True,
        timeout=120,
        check=False,
    )


# --- a minimal AMI client for the lab side (the server under test has its own) ------------

Event = dict[str, str]


class Ami:
    """Actions answered by ActionID; events fanned out to listeners. Repeated headers are
    joined with newlines (only ``Output`` repeats in what we read)."""

    _ids = itertools.count(1)

    def __init__(self, name: str, port: int, username: str, secret: str) -> None:
        self.name, self.port, self.username, self.secret = name, port, username, secret
        self._pending: dict[str, asyncio.Future[Event]] = {}
        self._lists: dict[str, list[Event]] = {}
        self._listeners: list[asyncio.Queue[Event]] = []
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    async def __aenter__(self) -> Ami:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self, events: bool = True) -> None:
        reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        await reader.readline()  # banner
        self._reader_task = asyncio.create_task(self._read(reader), name=f"lab-ami {self.name}")
        reply = await self.send(
            "Login", Username=self.username, Secret=self.secret, Events="on" if events else "off"
        )
        if reply.get("Response") != "Success":
            raise RuntimeError(f"{self.name}: AMI login failed: {reply}")

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                block = await reader.readuntil(b"\r\n\r\n")
                msg: Event = {}
                for line in block.decode("utf-8", "replace").split("\r\n"):
                    key, sep, value = line.partition(": ")
                    if sep:
                        msg[key] = f"{msg[key]}\n{value}" if key in msg else value
                self._route(msg)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.closed.set()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"{self.name}: AMI closed"))

    def _route(self, msg: Event) -> None:
        action_id = msg.get("ActionID", "")
        if "Response" in msg and "Event" not in msg:  # OriginateResponse has both: an event
            future = self._pending.get(action_id)
            if future is not None and not future.done():
                if msg.get("EventList") == "start":
                    self._lists[action_id] = []
                else:
                    self._pending.pop(action_id)
                    future.set_result(msg)
            return
        if action_id in self._lists:
            if msg.get("EventList") == "Complete":
                items = self._lists.pop(action_id)
                future = self._pending.pop(action_id)
                if not future.done():
                    future.set_result({"Response": "Success", "Items": json.dumps(items)})
            else:
                self._lists[action_id].append(msg)
            return
        for queue in self._listeners:
            queue.put_nowait(msg)

    async def send(self, action: str, within: float = 10, **headers: str | list[str]) -> Event:
        assert self._writer is not None
        action_id = f"{self.name}-{next(self._ids)}"
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = future
        lines = [f"Action: {action}", f"ActionID: {action_id}"]
        for key, value in headers.items():
            for item in value if isinstance(value, list) else [value]:
                lines.append(f"{key}: {item}")
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        return await asyncio.wait_for(future, within)

    async def items(self, action: str, **headers: str) -> list[Event]:
        """A list action's item events (``CoreShowChannels``, ``QueueStatus``...)."""
        reply = await self.send(action, **headers)
        if reply.get("Response") != "Success":
            raise RuntimeError(f"{action}: {reply}")
        items: list[Event] = json.loads(reply.get("Items", "[]"))
        return items

    async def command(self, command: str) -> str:
        reply = await self.send("Command", Command=command)
        return reply.get("Output", "")

    async def channels(self) -> list[Event]:
        return await self.items("CoreShowChannels")

    @contextlib.contextmanager
    def listen(self) -> Iterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._listeners.append(queue)
        try:
            yield queue
        finally:
            self._listeners.remove(queue)


async def wait_event(
    queue: asyncio.Queue[Event], predicate: Callable[[Event], bool], within: float = 15
) -> Event:
    async with asyncio.timeout(within):
        while True:
            event = await queue.get()
            if predicate(event):
                return event


# --- the lab: phones, queues, a quiet PBX between tests ------------------------------------


class Lab:
    """Lab-side control of both PBXs (the ``lab`` and ``world`` AMI accounts)."""

    def __init__(self, kit: Kit) -> None:
        self.kit = kit
        self.center = kit.center_ami()
        self.world = kit.world_ami()

    async def open(self) -> None:
        await self.center.connect()
        await self.world.connect()

    async def reopen_center(self, within: float = 30) -> None:
        """Log in again after the center restarted."""
        await self.center.close()
        async with asyncio.timeout(within):
            while True:
                self.center = self.kit.center_ami()
                try:
                    await self.center.connect()
                    return
                except (OSError, RuntimeError, asyncio.IncompleteReadError):
                    await asyncio.sleep(0.3)

    async def close(self) -> None:
        await self.center.close()
        await self.world.close()

    async def cdr_file(self) -> Path:
        """Make the center write dialplans/cdr_custom.conf's CDR file, as a site's installer
        does (README step "Call detail records"): the folder exists and cdr_custom is loaded.
        The kit's own modules.conf (which --center-conf cannot replace) has ``noload =>
        cdr_custom.so``, so it is loaded here, again after any ``core restart``."""
        path = self.kit.cdr_file
        path.parent.mkdir(parents=True, exist_ok=True)
        if "custom" not in await self.center.command("cdr show status"):
            reply = await self.center.send("ModuleLoad", Module="cdr_custom.so", LoadType="load")
            if reply.get("Response") != "Success":
                raise RuntimeError(f"loading cdr_custom failed: {reply}")
        status = await self.center.command("cdr show status")
        if "custom" not in status:
            raise RuntimeError(f"cdr_custom did not register a CDR backend:\n{status}")
        return path

    async def phone(self, ext: str, mode: str = "answer", delay: float = 1) -> None:
        """How desk phone ``ext`` behaves (``answer`` after ``delay`` s, ``noanswer``, ``busy``)."""
        for key, value in (("mode", mode), ("delay", str(delay)), ("speech", '""')):
            await self.world.send("DBPut", Family="phone", Key=f"{ext}/{key}", Val=value)

    async def members(self, queue: str) -> list[str]:
        items = await self.center.items("QueueStatus", Queue=queue)
        return [i.get("Location", "") for i in items if i.get("Event") == "QueueMember"]

    async def logout_all(self, *queues: str) -> None:
        for queue in queues:
            for interface in await self.members(queue):
                await self.center.send("QueueRemove", Queue=queue, Interface=interface)

    async def login(self, queue: str, *exts: str) -> None:
        for ext in exts:
            await self.center.send(
                "QueueAdd", Queue=queue, Interface=f"PJSIP/{ext}", MemberName=f"Agent {ext}"
            )

    async def call_in(self, did: str, number: str, name: str) -> None:
        """A customer calls ``did`` through the carrier and stays on the line."""
        await self.world.send(
            "Originate",
            Channel=f"PJSIP/{did}@center",
            Context="caller",
            Exten="s",
            Priority="1",
            CallerID=f'"{name}" <{number}>',
            Async="true",
        )

    async def dial_from_phone(self, ext: str, number: str, seconds: float = 20) -> None:
        """Desk phone ``ext`` dials ``number`` itself (through the center's ``from-phones``)
        and hangs up after ``seconds`` unless the other side does first."""
        await self.world.send(
            "Originate",
            Channel=f"Local/{number}@dialout",
            Application="Wait",
            Data=str(seconds),
            Variable=[f"PHONE={ext}"],
            CallerID=ext,
            Async="true",
        )

    async def hangup_everything(self) -> None:
        for ami in (self.world, self.center):
            for channel in await ami.channels():
                await ami.send("Hangup", Channel=channel["Channel"])

    async def quiet(self, within: float = 15) -> None:
        """No channel left on either PBX: the next test starts from an idle call center."""
        async with asyncio.timeout(within):
            while await self.center.channels() or await self.world.channels():
                await self.hangup_everything()
                await asyncio.sleep(0.3)

    async def channel(self, ami: Ami, predicate: Callable[[Event], bool]) -> Event | None:
        return next((c for c in await ami.channels() if predicate(c)), None)


# --- the traffic driver -------------------------------------------------------------------


@dataclass
class Scenario:
    """``scenarios.py`` running in a subprocess; its JSON lines are the truth."""

    args: tuple[str, ...]
    process: asyncio.subprocess.Process
    lines: list[dict[str, Any]] = field(default_factory=list)
    stderr: str = ""
    _task: asyncio.Task[None] | None = None

    async def _collect(self) -> None:
        assert self.process.stdout is not None and self.process.stderr is not None
        errors = asyncio.create_task(self.process.stderr.read())
        async for raw in self.process.stdout:
            line = raw.decode("utf-8").strip()
            if line.startswith("{"):
                self.lines.append(json.loads(line))
        self.stderr = (await errors).decode("utf-8", "replace")
        await self.process.wait()

    async def result(self, within: float = 120) -> list[dict[str, Any]]:
        assert self._task is not None
        async with asyncio.timeout(within):
            await asyncio.shield(self._task)
        if self.process.returncode != 0:
            raise AssertionError(
                f"scenarios.py {' '.join(self.args)} exited {self.process.returncode}:\n"
                f"{self.stderr[-3000:]}"
            )
        return self.lines

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def start_scenario(kit: Kit, *args: str) -> Scenario:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCENARIOS),
        str(kit.directory),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    scenario = Scenario(args, process)
    scenario._task = asyncio.create_task(scenario._collect(), name=f"scenario {args[0]}")
    return scenario


async def run_scenario(kit: Kit, *args: str, within: float = 120) -> list[dict[str, Any]]:
    scenario = await start_scenario(kit, *args)
    try:
        return await scenario.result(within)
    finally:
        await scenario.kill()


def epoch(iso_z: str) -> float:
    """``2026-11-23T08:11:30Z`` (the driver's and the call log's format) -> epoch seconds."""
    return float(calendar.timegm(time.strptime(iso_z, "%Y-%m-%dT%H:%M:%SZ")))
