"""Customers-page benchmark (not a test): server time of the first page of ``/customers`` with
a million customers.

Run: ``.venv/bin/python tests/bench/customers_list.py [--customers 1000000] [--repeat 20]``
(``--keep DIR`` keeps the database and reuses it on the next run).

It builds a real SQLite file through the normal migrations (customers with a phone each,
names from a small vocabulary, 10 % tagged ``vip``, 0.01 % tagged ``rare``, an owner on every
tenth, a last contact spread over two years on 80 %, 2 % do-not-call, open complaints on 0.1 %)
with ``executemany`` straight into the tables, and fills the full-text index. Then it asks
the running app (``create_app``, an admin's session, aiohttp's test server on loopback: the
middleware, the audit entry and the JSON included) for ``GET /api/customers/browse`` with the
page's typical queries and prints, per query, the median and the worst of ``--repeat`` runs
of the whole request, and the rows and count it answered. Target: first page < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402
from argon2 import PasswordHasher  # noqa: E402

from callcenter.app import create_app  # noqa: E402
from callcenter.settings import settings_from_mapping  # noqa: E402
from callcenter.store import ConflictError, Database, Role  # noqa: E402
from callcenter.web.auth import Passwords  # noqa: E402
from callcenter.web.keys import ACCOUNTS_KEY, PASSWORDS_KEY  # noqa: E402

FIRST = ["Anna", "Bernd", "Clara", "Dieter", "Eva", "Frank", "Greta", "Hans", "Ida", "Jonas"]
LAST = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker"]
NOW = time.time()

QUERIES = [
    ("default (oldest first)", ""),
    ("newest first", "sort=-id"),
    ("by name", "sort=name"),
    ("recent contact first", "sort=-last_contact"),
    ("tag=vip (10 %)", "tag=vip"),
    ("tag=vip by name", "tag=vip&sort=name"),
    ("tag=rare (0.01 %)", "tag=rare"),
    ("no contact 90 days", "no_contact_days=90"),
    ("do_not_call=true (2 %)", "do_not_call=true"),
    ("open complaint (0.1 %)", "open_ticket=complaint"),
    ("owner=owner3", "owner=owner3"),
    ("search 'schmidt'", "q=schmidt"),
    ("page 201 (offset 10000)", "offset=10000"),
]


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def build(path: Path, customers: int) -> None:
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA synchronous = OFF")
    rng = random.Random(16)
    created = iso(NOW - 3 * 365 * 86400)
    start = time.perf_counter()

    def rows() -> Any:
        for i in range(1, customers + 1):
            tags = '["vip"]' if i % 10 == 0 else '["rare"]' if i % 10000 == 7 else "[]"
            contact = iso(NOW - rng.random() * 730 * 86400) if i % 5 else None
            yield (
                i,
                f"{rng.choice(FIRST)} {rng.choice(LAST)} {i}",
                tags,
                f"owner{i % 7}" if i % 10 == 3 else None,
                i % 50 == 0,
                created,
                created,
                contact,
            )

    with raw:
        raw.executemany(
            "INSERT INTO customers (id, name, tags, owner, do_not_call, created_at, updated_at,"
            " last_contact_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows(),
        )
        raw.executemany(
            "INSERT INTO customer_phones (customer_id, position, number, e164, type)"
            " VALUES (?, 0, ?, ?, 'main')",
            ((i, f"+4930{i:08d}", f"+4930{i:08d}") for i in range(1, customers + 1)),
        )
        raw.executemany(
            "INSERT INTO tickets (customer_id, kind, subject, status, created_by, created_at,"
            " updated_at) VALUES (?, 'complaint', 'Broken', 'open', 'bench', ?, ?)",
            ((i, created, created) for i in range(1, customers + 1, 1000)),
        )
        raw.execute("DELETE FROM customer_search")
        raw.execute(
            "INSERT INTO customer_search (rowid, name, company, emails)"
            " SELECT id, name, company, '' FROM customers"
        )
    raw.execute("ANALYZE")
    raw.close()
    print(f"built {customers:,} customers in {time.perf_counter() - start:.1f} s", flush=True)


async def measure(path: Path, repeat: int) -> None:
    settings = settings_from_mapping(
        {"db": {"path": str(path)}, "ami": {"enabled": False}, "campaigns": {"enabled": False}},
        {},
    )
    cheap = Passwords(PasswordHasher(time_cost=1, memory_cost=256, parallelism=1))
    app = create_app(settings, passwords=cheap)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        password_hash = await app[PASSWORDS_KEY].hash("bench-password")
        with contextlib.suppress(ConflictError):  # a kept database has the user
            await app[ACCOUNTS_KEY].add_user(
                "bench", Role.ADMIN, password_hash, extension=None, now=NOW
            )
        origin = str(client.make_url("/")).rstrip("/")
        response = await client.post(
            "/api/login",
            json={"username": "bench", "password": "bench-password"},
            headers={"Origin": origin},
        )
        assert response.status == 200, await response.text()
        print(f"{'query':<28} {'median ms':>10} {'max ms':>8} {'rows':>5} {'count':>8}")
        for label, query in QUERIES:
            times = []
            body: dict[str, Any] = {}
            for _ in range(repeat):
                start = time.perf_counter()
                response = await client.get(f"/api/customers/browse?{query}")
                body = await response.json()
                times.append((time.perf_counter() - start) * 1000)
                assert response.status == 200, body
            count = f"{body['total']}{'+' if body['total_capped'] else ''}"
            print(
                f"{label:<28} {statistics.median(times):>10.1f} {max(times):>8.1f}"
                f" {len(body['items']):>5} {count:>8}",
                flush=True,
            )
    finally:
        await client.close()


async def prepare(path: Path, customers: int) -> None:
    db = await Database.open(path)
    await db.close()
    build(path, customers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="folder for the database (reused if there)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"customers-{args.customers}.db"
        if not path.exists():
            asyncio.run(prepare(path, args.customers))
        asyncio.run(measure(path, args.repeat))


if __name__ == "__main__":
    main()
