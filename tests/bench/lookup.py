"""Caller-lookup benchmark (not a test): how long does the screen pop wait for "who is this"?

Run: ``.venv/bin/python tests/bench/lookup.py [--customers 1000000] [--lookups 20000]``
(``--keep DIR`` keeps the database and reuses it on the next run).

It builds a real SQLite file through the normal migrations with ``--customers`` customers and
1.5 numbers each (every customer a landline, every other one a mobile, every 500th landline
shared with the next customer, as families and switchboards do), stored with the raw text in
a mix of formats, the E.164 form and the ``(e164, customer_id)`` index - with ``executemany``
straight into the tables, which takes a few seconds per million rows. Then it asks
``Customers.lookup`` (the screen pop's call: phonenumbers normalisation of whatever Asterisk
sent, the index lookup, loading the full customer objects of every candidate) for random
existing numbers in random formats (``+4930…``, ``004930…``, ``030 …``, ``4930…``) and 10 %
unknown numbers, one at a time through aiosqlite as the server does, and prints p50, p99 and
max. Target: p99 <= 1 ms. Also prints the query plan, which must search the covering index
and never scan.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from callcenter.crm.phones import PhoneNormalizer  # noqa: E402
from callcenter.store import Customers, Database  # noqa: E402

# (prefix after +49, digits after it): valid German landline and mobile ranges.
LANDLINES = [("30", 8), ("40", 8), ("89", 8), ("221", 8), ("69", 9)]
MOBILES = [("151", 8), ("160", 8), ("170", 7)]
NOW = "2024-05-01T08:00:00Z"


def landline(i: int) -> str:
    prefix, digits = LANDLINES[i % len(LANDLINES)]
    return f"+49{prefix}{i % 10**digits:0{digits}d}"


def mobile(i: int) -> str:
    prefix, digits = MOBILES[i % len(MOBILES)]
    return f"+49{prefix}{(i * 7919) % 10**digits:0{digits}d}"


def written(e164: str, style: int) -> str:
    """The E.164 number as Asterisk or a person might write it."""
    national = e164[3:]
    if style == 0:
        return e164
    if style == 1:
        return "0049" + national
    if style == 2:
        return f"0{national[:3]} {national[3:6]} {national[6:]}"
    return "49" + national


def build(path: Path, customers: int) -> int:
    """Fill the customer tables; returns the number of phone rows."""
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA synchronous = OFF")
    start = time.perf_counter()
    with raw:
        raw.executemany(
            "INSERT INTO customers (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
            ((i, f"Customer {i}", NOW, NOW) for i in range(1, customers + 1)),
        )

        def phones() -> object:
            for i in range(1, customers + 1):
                home = landline(i - 1 if i % 500 == 0 else i)  # every 500th shares
                yield (i, 0, written(home, i % 4), home, "home")
                if i % 2 == 0:
                    cell = mobile(i)
                    yield (i, 1, written(cell, (i // 2) % 4), cell, "mobile")

        raw.executemany(
            "INSERT INTO customer_phones (customer_id, position, number, e164, type)"
            " VALUES (?, ?, ?, ?, ?)",
            phones(),
        )
    count = int(raw.execute("SELECT COUNT(*) FROM customer_phones").fetchone()[0])
    raw.execute("ANALYZE")
    raw.close()
    print(
        f"built {customers:,} customers, {count:,} numbers in {time.perf_counter() - start:.1f} s"
    )
    return count


def plan(path: Path) -> str:
    raw = sqlite3.connect(path)
    rows = raw.execute(
        "EXPLAIN QUERY PLAN SELECT p.e164, p.customer_id FROM customer_phones p"
        " JOIN customers c ON c.id = p.customer_id"
        " WHERE p.e164 IN (?, ?) AND c.merged_into IS NULL",
        ("+4930123", "+4930124"),
    ).fetchall()
    raw.close()
    return "; ".join(str(row[-1]) for row in rows)


async def measure(path: Path, customers: int, lookups: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    db = await Database.open(path)
    repo = Customers(db, PhoneNormalizer("DE"))
    asked: list[str] = []
    for _ in range(lookups):
        if rng.random() < 0.1:
            asked.append(written(f"+4933{rng.randrange(10**8):08d}", rng.randrange(4)))
        else:
            i = rng.randrange(1, customers + 1)
            number = mobile(i) if i % 2 == 0 and rng.random() < 0.5 else landline(i)
            asked.append(written(number, rng.randrange(4)))
    found = 0
    times: list[float] = []
    try:
        for number in asked[:200]:  # warm-up: imports, statement cache, page cache
            await repo.lookup(number)
        for number in asked:
            start = time.perf_counter()
            result = await repo.lookup(number)
            times.append(time.perf_counter() - start)
            found += bool(result.customers)
    finally:
        await db.close()
    print(f"lookups: {lookups:,}, found a customer: {found:,}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the database in this folder")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="cc-bench-lookup-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"lookup-{args.customers}.db"
    if not path.exists():
        asyncio.run(_create(path))
        build(path, args.customers)
    print("plan:", plan(path))
    times = sorted(asyncio.run(measure(path, args.customers, args.lookups, args.seed)))
    p50 = statistics.median(times) * 1000
    p99 = times[int(len(times) * 0.99) - 1] * 1000
    print(
        f"p50: {p50:.3f} ms  p99: {p99:.3f} ms  max: {times[-1] * 1000:.3f} ms"
        "  (target p99 <= 1 ms)"
    )
    if args.keep is None:
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()


async def _create(path: Path) -> None:
    db = await Database.open(path)
    await db.close()


if __name__ == "__main__":
    main()
