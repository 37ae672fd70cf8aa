"""Live benchmark against the real Asterisk kit (not a test): 120 calls in 60 s.

Run: ``.venv/bin/python tests/bench/live_pbx.py [--calls 120] [--seconds 60] [--agents 200]
[--dir DIR]``

Starts the kit of ``../shared/pbx`` with our ``dialplans/`` in a temporary directory (or uses
a running one with ``--dir``), starts our server on it (``create_app``, a call log in a
temporary SQLite file), lets the kit's traffic driver place the calls
(``scenarios.py DIR burst``: 20 agents answering after 1 s, 3-10 s of talk, a few callers
giving up at once) and prints:

- AMI events/s the server received (after the source-side filter; mean and peak second),
- calls the driver placed vs. calls logged, each exactly once (counted where the pump hands
  finished calls to the call-log writer, before the primary key could hide a duplicate),
  and the driver's calls whose row disagrees with what the driver saw,
- latency from the arrival of the AMI event that ends a call (its last Hangup) to the
  committed call-log row: p50/p99/max,
- agent WebSockets: ``--agents`` users ``agent001``… log in over HTTP and open ``/ws/agent``
  (the ``websockets`` client library, session cookie, the server's ``Origin``) before the
  calls start; ``agent001``-``agent020`` are on the kit's desk phones ``PJSIP/2001``-``2020``
  (the burst's agents, so they get the pops), the others on phones the kit does not have
  (``PJSIP/3021``…: connected, never popped). Printed: sockets still open at the end (none
  may drop), pops received,
- screen-pop latency p50/p99/max: from the moment the server's AMI link hands the
  ``AgentCalled`` event to the pump (``time.monotonic`` in a wrapper around the link's
  ``on_event`` callback, i.e. the server's receive time, called from the protocol's
  ``data_received``) to the ``ring`` frame for that call arriving at that agent's socket
  (``time.monotonic`` in the client's reader). Server and clients run in this one process
  and event loop (one clock, no cross-process skew); the client side's work is therefore
  counted in the latency, an upper bound of what the server alone adds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from argon2 import PasswordHasher  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.typing import Origin  # noqa: E402

from callcenter.app import create_app  # noqa: E402
from callcenter.model.events import AgentCalled  # noqa: E402
from callcenter.model.records import CallRecord  # noqa: E402
from callcenter.settings import settings_from_mapping  # noqa: E402
from callcenter.store import Role  # noqa: E402
from callcenter.store.calllog import CallQuery  # noqa: E402
from callcenter.web.auth import LoginLimiter, Passwords  # noqa: E402
from callcenter.web.keys import (  # noqa: E402
    ACCOUNTS_KEY,
    AMI_LINK_KEY,
    CALL_LOG_KEY,
    CALL_LOG_WRITER_KEY,
    PASSWORDS_KEY,
    PUMP_KEY,
)
from tests.pbx.kit import (  # noqa: E402
    Kit,
    kit_missing_reason,
    read_env,
    start_kit,
    start_scenario,
    stop_kit,
)

PASSWORD = "bench-password"
#: The kit's desk phones; the first agents sit on them.
KIT_PHONES = 20


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def extension_of(n: int) -> str:
    return f"PJSIP/{2000 + n}" if n <= KIT_PHONES else f"PJSIP/{3000 + n}"


class AgentSockets:
    """``count`` logged-in agents' ``/ws/agent`` sockets; when each ``ring`` frame arrived."""

    def __init__(self, base: str, count: int) -> None:
        self.base, self.count = base, count
        self.sockets: list[ClientConnection] = []
        self.rings: dict[tuple[str, str], float] = {}  # (call_id, interface) -> monotonic
        self.frames: Counter[str] = Counter()
        self.dropped: list[str] = []
        self._readers: list[asyncio.Task[None]] = []

    async def open_all(self, concurrency: int = 20) -> None:
        slots = asyncio.Semaphore(concurrency)
        ws_url = self.base.replace("http://", "ws://") + "/ws/agent"

        async def one(n: int) -> ClientConnection:
            async with slots:
                jar = aiohttp.CookieJar(unsafe=True)
                async with aiohttp.ClientSession(cookie_jar=jar) as http:
                    response = await http.post(
                        f"{self.base}/api/login",
                        json={"username": f"agent{n:03d}", "password": PASSWORD},
                        headers={"Origin": self.base},
                    )
                    response.raise_for_status()
                    cookie = "; ".join(f"{c.key}={c.value}" for c in jar)
                ws = await connect(
                    ws_url, origin=Origin(self.base), additional_headers={"Cookie": cookie}
                )
                hello = json.loads(await ws.recv())
                assert hello == {"type": "hello", "extension": extension_of(n)}, hello
                return ws

        self.sockets = list(await asyncio.gather(*(one(n) for n in range(1, self.count + 1))))
        self._readers = [
            asyncio.create_task(self._read(ws, extension_of(n)), name=f"agent{n:03d}")
            for n, ws in enumerate(self.sockets, 1)
        ]

    async def _read(self, ws: ClientConnection, interface: str) -> None:
        try:
            async for data in ws:
                arrived = time.monotonic()
                message = json.loads(data)
                self.frames[message["type"]] += 1
                if message["type"] == "ring":
                    self.rings.setdefault((message["call_id"], interface), arrived)
        except Exception as exc:  # a dropped socket: reported, never silent
            self.dropped.append(f"{interface}: {exc!r}")
            return
        self.dropped.append(f"{interface}: closed by the server ({ws.close_code})")

    def open_count(self) -> int:
        return sum(1 for task in self._readers if not task.done())

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)


async def bench(kit: Kit, calls: int, seconds: float, agents: int, workdir: Path) -> int:
    settings = settings_from_mapping(
        {"db": {"path": str(workdir / "bench.db")}},
        {
            "CALLCENTER_AMI_HOST": kit.env["PBX_AMI_HOST"],
            "CALLCENTER_AMI_PORT": kit.env["PBX_AMI_PORT"],
            "CALLCENTER_AMI_USERNAME": kit.env["PBX_AMI_USERNAME"],
            "CALLCENTER_AMI_SECRET": kit.env["PBX_AMI_SECRET"],
        },
    )
    app = create_app(
        settings,
        passwords=Passwords(PasswordHasher(time_cost=1, memory_cost=256, parallelism=1)),
        login_limiter=LoginLimiter(per_address=100_000),
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()  # runs the cleanup contexts: database, writer, AMI link, pump
    sockets: AgentSockets | None = None
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        password_hash = await app[PASSWORDS_KEY].hash(PASSWORD)
        for n in range(1, agents + 1):
            await app[ACCOUNTS_KEY].add_user(
                f"agent{n:03d}", Role.AGENT, password_hash, extension=extension_of(n), now=0.0
            )
        # The server's receive time of every AgentCalled: (call_id, interface) -> monotonic.
        agent_called: dict[tuple[str, str], float] = {}
        link = app[AMI_LINK_KEY]
        on_event = link._on_event

        def stamped(event: Any, received: float) -> None:
            if isinstance(event, AgentCalled):
                key = (event.channel.linkedid, event.interface)
                agent_called.setdefault(key, time.monotonic())
            on_event(event, received)

        link._on_event = stamped
        submitted: list[CallRecord] = []
        latencies: list[float] = []
        writer, call_log, pump = app[CALL_LOG_WRITER_KEY], app[CALL_LOG_KEY], app[PUMP_KEY]
        submit, add_many = writer.submit, call_log.add_many

        def counted(record: CallRecord) -> None:
            submitted.append(record)
            submit(record)

        async def timed(records: Any) -> Any:
            result = await add_many(records)
            committed = time.time()
            latencies.extend(committed - r.ended_at for r in records)
            return result

        writer.submit = counted  # type: ignore[method-assign]
        # The writer bound ``call_log.add_many`` when it was built: wrap what it calls.
        writer._write = timed

        async with asyncio.timeout(30):
            while not app[AMI_LINK_KEY].status.authenticated:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        await asyncio.sleep(1)  # the resync
        sockets = AgentSockets(base, agents)
        opened = time.monotonic()
        await sockets.open_all()
        print(
            f"# {len(sockets.sockets)} agent sockets open in {time.monotonic() - opened:.1f} s "
            f"({min(agents, KIT_PHONES)} on the kit's phones)",
            flush=True,
        )

        per_second: list[int] = []

        async def sample() -> None:
            last = pump.events_applied
            while True:
                await asyncio.sleep(1)
                now = pump.events_applied
                per_second.append(now - last)
                last = now

        sampler = asyncio.create_task(sample(), name="events-per-second")
        events_before, started = pump.events_applied, time.monotonic()
        print(f"# {calls} calls in {seconds:g} s from scenarios.py burst ...", flush=True)
        scenario = await start_scenario(
            kit, "burst", "--calls", str(calls), "--seconds", str(seconds)
        )
        truths = await scenario.result(within=seconds + 180)
        driver_ids = {t["linkedid"] for t in truths if t.get("linkedid")}
        async with asyncio.timeout(60):
            while not driver_ids <= {r.call_id for r in submitted}:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
        await writer.flush()
        await asyncio.sleep(2)  # late duplicates would arrive now
        await writer.flush()
        elapsed = time.monotonic() - started
        events = pump.events_applied - events_before
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler

        counts = Counter(r.call_id for r in submitted)
        duplicated = sum(1 for c in counts.values() if c > 1)
        rows = {r["call_id"]: r for r in await _all_rows(call_log)}
        mismatched = []
        for truth in truths:
            row = rows.get(truth.get("linkedid", ""))
            if row is None:
                continue
            wrong = [
                k for k in ("caller_number", "caller_name", "queue", "outcome")
                if row[k] != truth[k]
            ]  # fmt: skip
            if truth.get("outcome") == "answered" and row["agent"] != truth.get("agent"):
                wrong.append("agent")
            if wrong:
                mismatched.append((truth["linkedid"], wrong))
        busy = [n for n in per_second if n]
        print(f"driver: {scenario.stderr.strip().splitlines()[-1] if scenario.stderr else ''}")
        print(
            f"AMI events received: {events} in {elapsed:.1f} s = {events / elapsed:.0f}/s mean, "
            f"{max(busy, default=0)}/s peak second, "
            f"{statistics.median(busy) if busy else 0:.0f}/s median busy second"
        )
        print(
            f"calls: driver placed {len(truths)} ({len(driver_ids)} with a linkedid), "
            f"logged {len(counts)}, of the driver's logged exactly once "
            f"{sum(1 for i in driver_ids if counts[i] == 1)}, missing "
            f"{len(driver_ids - set(counts))}, duplicated {duplicated}, "
            f"other calls {len(set(counts) - driver_ids)}"
        )
        print(f"rows disagreeing with the driver: {len(mismatched)} {mismatched[:5]}")
        if latencies:
            print(
                "AMI event -> call-log row committed: "
                f"p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
                f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, "
                f"max {max(latencies) * 1000:.1f} ms ({len(latencies)} rows)"
            )
        await asyncio.sleep(1)  # the last frames
        pops = [
            sockets.rings[key] - called
            for key, called in agent_called.items()
            if key in sockets.rings and sockets.rings[key] >= called
        ]
        missed = [
            key for key in agent_called if key[1] in _kit_interfaces(agents)
            and key not in sockets.rings
        ]  # fmt: skip
        still_open = sockets.open_count()
        print(
            f"agent sockets: {len(sockets.sockets)} connected, {still_open} still open, "
            f"dropped {len(sockets.dropped)} {sockets.dropped[:3]}; frames {dict(sockets.frames)}"
        )
        print(
            f"pops: {len(agent_called)} AgentCalled received by the server, "
            f"{len(pops)} ring frames matched, {len(missed)} rung agents without a pop "
            f"{missed[:3]}"
        )
        if pops:
            print(
                "screen-pop latency (server's AMI AgentCalled receive -> agent's ring frame): "
                f"p50 {percentile(pops, 0.5) * 1000:.1f} ms, "
                f"p99 {percentile(pops, 0.99) * 1000:.1f} ms, "
                f"max {max(pops) * 1000:.1f} ms ({len(pops)} pops)"
            )
        ok = (
            len(driver_ids) == len(truths)
            and all(counts[i] == 1 for i in driver_ids)
            and all(c == 1 for c in counts.values())
            and still_open == len(sockets.sockets) == agents
            and not sockets.dropped
            and not missed
        )
        return 0 if ok else 1
    finally:
        if sockets is not None:
            await sockets.close()
        await runner.cleanup()


def _kit_interfaces(agents: int) -> set[str]:
    return {extension_of(n) for n in range(1, min(agents, KIT_PHONES) + 1)}


async def _all_rows(call_log: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    query = CallQuery(limit=500)
    while True:
        page = await call_log.query(query)
        rows.extend(page.items)
        if not page.next_key:
            return rows
        query = CallQuery(limit=500, after=page.next_key)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=120)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--agents", type=int, default=200, help="agent WebSockets (agent001...)")
    ap.add_argument("--dir", type=Path, help="a kit already started with 'pbx start DIR'")
    a = ap.parse_args()
    reason = kit_missing_reason()
    if reason:
        print(f"skipped: {reason}")
        return 0
    with tempfile.TemporaryDirectory(prefix="live-pbx-") as tmp:
        workdir = Path(tmp)
        if a.dir:
            kit = Kit(a.dir.resolve(), read_env(a.dir.resolve()))
        else:
            kit = start_kit(workdir / "pbx")
            print(f"# kit started in {kit.directory} (port base {kit.env['PBX_PORT_BASE']})")
        try:
            return asyncio.run(bench(kit, a.calls, a.seconds, a.agents, workdir))
        finally:
            if not a.dir:
                stop_kit(kit.directory)


if __name__ == "__main__":
    sys.exit(main())
