"""Live benchmark against the real Asterisk kit (not a test): 120 calls in 60 s.

Run: ``.venv/bin/python tests/bench/live_pbx.py [--calls 120] [--seconds 60] [--dir DIR]``

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
  committed call-log row: p50/p99/max. Screen-pop latency (AMI event to the agent's
  WebSocket frame) needs the agent WebSockets, which do not exist yet.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from callcenter.app import create_app  # noqa: E402
from callcenter.model.records import CallRecord  # noqa: E402
from callcenter.settings import settings_from_mapping  # noqa: E402
from callcenter.store.calllog import CallQuery  # noqa: E402
from callcenter.web.keys import (  # noqa: E402
    AMI_LINK_KEY,
    CALL_LOG_KEY,
    CALL_LOG_WRITER_KEY,
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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def bench(kit: Kit, calls: int, seconds: float, workdir: Path) -> int:
    settings = settings_from_mapping(
        {"db": {"path": str(workdir / "bench.db")}},
        {
            "CALLCENTER_AMI_HOST": kit.env["PBX_AMI_HOST"],
            "CALLCENTER_AMI_PORT": kit.env["PBX_AMI_PORT"],
            "CALLCENTER_AMI_USERNAME": kit.env["PBX_AMI_USERNAME"],
            "CALLCENTER_AMI_SECRET": kit.env["PBX_AMI_SECRET"],
        },
    )
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()  # runs the cleanup contexts: database, writer, AMI link, pump
    try:
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
        call_log.add_many = timed  # type: ignore[method-assign]

        async with asyncio.timeout(30):
            while not app[AMI_LINK_KEY].status.authenticated:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        await asyncio.sleep(1)  # the resync

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
        print("screen-pop latency (AMI event -> agent WebSocket frame): n/a, no agent sockets yet")
        ok = (
            len(driver_ids) == len(truths)
            and all(counts[i] == 1 for i in driver_ids)
            and all(c == 1 for c in counts.values())
        )
        return 0 if ok else 1
    finally:
        await runner.cleanup()


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
            return asyncio.run(bench(kit, a.calls, a.seconds, workdir))
        finally:
            if not a.dir:
                stop_kit(kit.directory)


if __name__ == "__main__":
    sys.exit(main())
