"""Screen-pop benchmark (not a test): how fast does a ringing phone reach the agent's browser?

Run: ``.venv/bin/python tests/bench/screenpop.py [--agents 500] [--rate 1000] [--seconds 10]
[--mode calls|rings]``

Three parts, two processes:

- **the server** in a subprocess (this file with ``--serve``): the real app from
  ``create_app`` on a fresh SQLite file, its AMI link logged in to the fake PBX, N agent users
  (``bench0001``… on ``PJSIP/10001``…; a cheap argon2 so logging in 500 agents is quick);
- **the fake PBX** (``FakeAmiServer``) in this process, playing AMI events at ``--rate``
  events/s over the one AMI connection;
- **N agent sockets** in this process: each logs in over HTTP (``POST /api/login``, the
  session cookie) and opens ``/ws/agent`` with the ``websockets`` client library, with the
  server's own ``Origin``.

``--mode calls`` (default): each ring is a small queue call, five AMI events: Newchannel and
QueueCallerJoin of the caller, AgentCalled for the next agent's interface (round robin), and
a second later QueueCallerAbandon and Hangup (the agent gets ``ended``). So 1,000 events/s
are 200 rings/s. ``--mode rings``: every event is an AgentCalled (1,000 events/s = 1,000
pops/s), the caller channel new each time and never hung up.

Callers come from a pool of ``--numbers`` numbers; the first ``--warmup`` seconds (not
measured) create their stub customers, so measured pops are lookups of known callers, each
with its card and history read from SQLite.

Options: ``--db-dir /dev/shm`` puts the server's SQLite file on tmpfs (no fsync stalls);
``--no-deflate`` makes the clients not offer permessage-deflate (browsers always offer it,
and aiohttp accepts it: the zlib state is most of a socket's memory).

Latency: from just before the fake PBX writes the AgentCalled frame to its socket to the
``ring`` frame for that call arriving at the agent's socket (``time.monotonic_ns`` in this
process; both ends live here, so no cross-process clocks). Printed: p50, p90, p99, max, and
pops lost. Memory: the server's RSS (``/proc/PID/status``) before the agents log in, after,
and after their sockets are open; per agent = growth / N.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.typing import Origin  # noqa: E402

from callcenter.demo.fake_pbx import FakeAmiServer  # noqa: E402

SECRET = "bench-secret"
PASSWORD = "bench-password"


# --- the server subprocess ---------------------------------------------------------------


async def serve(ami_port: int, db_path: str, agents: int) -> None:
    import logging

    from aiohttp import web
    from argon2 import PasswordHasher

    from callcenter.app import create_app
    from callcenter.settings import settings_from_mapping
    from callcenter.store import Role
    from callcenter.web.auth import LoginLimiter, Passwords
    from callcenter.web.keys import ACCOUNTS_KEY, PASSWORDS_KEY

    logging.basicConfig(level=logging.WARNING)
    settings = settings_from_mapping(
        {"db": {"path": db_path}, "ami": {"port": ami_port, "secret": SECRET}}, {}
    )
    app = create_app(
        settings,
        passwords=Passwords(PasswordHasher(time_cost=1, memory_cost=256, parallelism=1)),
        login_limiter=LoginLimiter(per_address=100_000),
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    password_hash = await app[PASSWORDS_KEY].hash(PASSWORD)
    for n in range(1, agents + 1):
        await app[ACCOUNTS_KEY].add_user(
            f"bench{n:04d}", Role.AGENT, password_hash, extension=f"PJSIP/{10000 + n}", now=0.0
        )
    print(f"READY {runner.addresses[0][1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


# --- the bench process -------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Agents:
    """N logged-in agent sockets; records when each ring frame arrives."""

    def __init__(self, base: str, count: int, *, deflate: bool = True) -> None:
        self.base = base
        self.count = count
        self.deflate = deflate
        self.sockets: list[ClientConnection] = []
        self.sent: dict[str, int] = {}  # call_id -> monotonic ns of the AgentCalled write
        self.latencies_ns: list[int] = []
        self.measuring = False
        self.rings = 0
        self.ended = 0
        self._readers: list[asyncio.Task[None]] = []

    async def login_all(self, concurrency: int = 50) -> list[str]:
        """Log every agent in over HTTP; their session cookies."""
        slots = asyncio.Semaphore(concurrency)

        async def one(n: int) -> str:
            async with slots:
                jar = aiohttp.CookieJar(unsafe=True)
                async with aiohttp.ClientSession(cookie_jar=jar) as http:
                    response = await http.post(
                        f"{self.base}/api/login",
                        json={"username": f"bench{n:04d}", "password": PASSWORD},
                        headers={"Origin": self.base},
                    )
                    response.raise_for_status()
                    return "; ".join(f"{c.key}={c.value}" for c in jar)

        return list(await asyncio.gather(*(one(n) for n in range(1, self.count + 1))))

    async def connect_all(self, cookies: list[str], concurrency: int = 50) -> None:
        """Open every agent's /ws/agent with its cookie and our Origin; wait for hello."""
        slots = asyncio.Semaphore(concurrency)
        ws_url = self.base.replace("http://", "ws://") + "/ws/agent"

        async def one(cookie: str) -> ClientConnection:
            async with slots:
                ws = await connect(
                    ws_url,
                    origin=Origin(self.base),
                    additional_headers={"Cookie": cookie},
                    max_size=2**20,
                    compression="deflate" if self.deflate else None,
                )
                hello = json.loads(await ws.recv())
                assert hello["type"] == "hello", hello
                return ws

        self.sockets = list(await asyncio.gather(*(one(cookie) for cookie in cookies)))
        self._readers = [asyncio.create_task(self._read(ws)) for ws in self.sockets]

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            async for data in ws:
                arrived = time.monotonic_ns()
                message = json.loads(data)
                if message["type"] == "ring":
                    sent = self.sent.pop(message["call_id"], None)
                    if sent is not None and self.measuring:
                        self.latencies_ns.append(arrived - sent)
                        self.rings += 1
                elif message["type"] == "ended":
                    self.ended += 1

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)


class Player:
    """Writes AMI events to the server's session at a fixed rate."""

    def __init__(self, pbx: FakeAmiServer, agents: Agents, mode: str, numbers: int) -> None:
        self.pbx = pbx
        self.agents = agents
        self.mode = mode
        self.numbers = [f"+4930{5550000 + n}" for n in range(numbers)]
        self._ids = itertools.count(1)
        self._agent = itertools.cycle(range(1, agents.count + 1))
        self._number = itertools.cycle(self.numbers)
        self._hangups: list[tuple[float, dict[str, str]]] = []
        self.events = 0
        self.rings_sent = 0

    def _write(self, headers: dict[str, str]) -> None:
        self.pbx.broadcast_event(headers)
        self.events += 1

    def _channel(self, number: str) -> dict[str, str]:
        uniqueid = f"1795000000.{next(self._ids)}"
        return {
            "Channel": f"PJSIP/carrier-{uniqueid.split('.')[1]:>08}",
            "ChannelState": "6",
            "ChannelStateDesc": "Up",
            "CallerIDNum": number,
            "CallerIDName": f"Caller {number[-4:]}",
            "ConnectedLineNum": "<unknown>",
            "ConnectedLineName": "<unknown>",
            "Language": "en",
            "AccountCode": "",
            "Context": "inbound",
            "Exten": "enter",
            "Priority": "4",
            "Uniqueid": uniqueid,
            "Linkedid": uniqueid,
        }

    def _ring(self, now: float) -> int:
        """One ring (and its call's other events); returns the events written."""
        agent = next(self._agent)
        caller = self._channel(next(self._number))
        before = self.events
        if self.mode == "calls":
            self._write({"Event": "Newchannel", "Privilege": "call,all", **caller})
            self._write(
                {"Event": "QueueCallerJoin", "Privilege": "call,all", **caller}
                | {"Queue": "support", "Position": "1", "Count": "1"}
            )
        self.agents.sent[caller["Linkedid"]] = time.monotonic_ns()
        self._write(
            {"Event": "AgentCalled", "Privilege": "agent,all", **caller}
            | {"Queue": "support", "Interface": f"PJSIP/{10000 + agent}"}
            | {"MemberName": f"Agent {10000 + agent}"}
        )
        self.rings_sent += 1
        if self.mode == "calls":
            self._hangups.append((now + 1.0, caller))
        return self.events - before

    def _due_hangups(self, now: float) -> int:
        written = 0
        while self._hangups and self._hangups[0][0] <= now:
            _, caller = self._hangups.pop(0)
            self._write(
                {"Event": "QueueCallerAbandon", "Privilege": "agent,all", **caller}
                | {"Queue": "support", "Position": "1", "OriginalPosition": "1", "HoldTime": "1"}
            )
            self._write(
                {"Event": "Hangup", "Privilege": "call,all", **caller}
                | {"Cause": "16", "Cause-txt": "Normal Clearing"}
            )
            written += 2
        return written

    async def play(self, rate: float, seconds: float) -> float:
        """Play for ``seconds`` at ``rate`` events/s; returns the events/s achieved."""
        assert self.pbx.clients == 1, "expected the server's one AMI session"
        loop = asyncio.get_running_loop()
        start = loop.time()
        written = 0
        while (now := loop.time()) - start < seconds:
            due = int((now - start) * rate)
            written += self._due_hangups(now)
            while written < due:
                written += self._ring(now)
            await asyncio.sleep(0.001)
        return written / (loop.time() - start)


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index] / 1e6


async def bench(args: argparse.Namespace) -> None:
    pbx = FakeAmiServer(username="callcenter", secret=SECRET)
    await pbx.start()
    tmp = tempfile.TemporaryDirectory(prefix="screenpop-bench-", dir=args.db_dir)
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve",
        "--ami-port",
        str(pbx.port),
        "--db",
        str(Path(tmp.name) / "bench.db"),
        "--agents",
        str(args.agents),
        stdout=asyncio.subprocess.PIPE,
    )
    agents: Agents | None = None
    try:
        assert server.stdout is not None
        line = (await server.stdout.readline()).decode()
        if not line.startswith("READY"):
            raise SystemExit(f"server did not start: {line!r}")
        base = f"http://127.0.0.1:{line.split()[1]}"
        await pbx.wait_for(lambda: pbx.clients > 0, 10)
        await asyncio.sleep(0.5)  # the link's resync
        rss_start = rss_kib(server.pid)
        agents = Agents(base, args.agents, deflate=not args.no_deflate)
        started = time.monotonic()
        cookies = await agents.login_all()
        await asyncio.sleep(0.5)
        rss_logged_in = rss_kib(server.pid)
        await agents.connect_all(cookies)
        connect_s = time.monotonic() - started
        await asyncio.sleep(0.5)
        rss_connected = rss_kib(server.pid)
        player = Player(pbx, agents, args.mode, args.numbers)
        await player.play(args.rate, args.warmup)
        await asyncio.sleep(1.5)
        agents.sent.clear()
        agents.measuring = True
        rings_before = player.rings_sent
        achieved = await player.play(args.rate, args.seconds)
        await asyncio.sleep(2.0)
        lost = len(agents.sent)
        lat = agents.latencies_ns
        rss_end = rss_kib(server.pid)
        print(
            f"screenpop bench: {args.agents} agent sockets "
            f"({'no compression' if args.no_deflate else 'permessage-deflate, as browsers'}), "
            "server in a subprocess "
            f"(pid {server.pid}), fake PBX and clients in this process"
        )
        print(
            f"mode {args.mode}: {achieved:,.0f} AMI events/s for {args.seconds:g} s "
            f"({player.rings_sent - rings_before} rings: {len(lat)} pops measured, {lost} lost; "
            f"{args.numbers} caller numbers)"
        )
        if lat:
            print(
                f"latency AMI write -> pop frame: p50 {percentile(lat, 0.50):.2f} ms, "
                f"p90 {percentile(lat, 0.90):.2f} ms, p99 {percentile(lat, 0.99):.2f} ms, "
                f"max {max(lat) / 1e6:.2f} ms, mean {statistics.fmean(lat) / 1e6:.2f} ms"
            )
        print(
            f"server RSS: {rss_start / 1024:.1f} MiB before the agents log in, "
            f"{rss_logged_in / 1024:.1f} MiB logged in, {rss_connected / 1024:.1f} MiB with "
            f"their sockets open ({connect_s:.1f} s for all), {rss_end / 1024:.1f} MiB after "
            "the run"
        )
        print(
            f"memory per connected agent: {(rss_connected - rss_start) / args.agents:.1f} KiB "
            f"(the socket alone: {(rss_connected - rss_logged_in) / args.agents:.1f} KiB)"
        )
    finally:
        if agents is not None:
            await agents.close()
        server.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(server.wait(), 20)
        except TimeoutError:
            server.kill()
            await server.wait()
        await pbx.stop()
        tmp.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--rate", type=float, default=1000.0, help="AMI events per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--mode", choices=("calls", "rings"), default="calls")
    parser.add_argument("--numbers", type=int, default=200, help="distinct caller numbers")
    parser.add_argument(
        "--no-deflate",
        action="store_true",
        help="clients do not offer permessage-deflate (browsers always do)",
    )
    parser.add_argument("--db-dir", help="where the server's SQLite file goes (default: $TMPDIR)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ami-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.ami_port, args.db, args.agents))
    else:
        asyncio.run(bench(args))


if __name__ == "__main__":
    main()
