"""CSV import benchmark (not a test): how fast does ``callcenter import customers`` load a big
file into an empty database?

Run: ``.venv/bin/python tests/bench/csv_import.py [--rows 1000000] [--workers N] [--keep DIR]``

It writes a CSV of ``--rows`` customers (name, company, email, one valid German phone number
in a mix of formats: ``+49…``, ``0049 …``, ``0… …`` national, digits only; tags, city; every
500th row has a bad phone number, every 1000th repeats an earlier one), then runs the same
code path as the CLI: raw rows read in a thread, checked (phone numbers above all) in
``--workers`` processes - default as the CLI: CPUs - 1, at most 2; 0 checks in a thread -
and batches of 5000 rows written with ``executemany``, one transaction each, search index
included, into a fresh SQLite file. It prints the time and rows/s. Target: 1,000,000 rows in
60 s or less. Writing the CSV is not timed (``--keep DIR`` reuses it).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import multiprocessing
import os
import random
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from callcenter.crm.csv_import import CsvCustomers, import_customers  # noqa: E402
from callcenter.crm.phones import PhoneNormalizer  # noqa: E402
from callcenter.store import Customers, Database  # noqa: E402

FIRST = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hans", "Ida", "Jonas"]
LAST = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker"]
CITIES = ["Berlin", "Hamburg", "München", "Köln", "Frankfurt", "Stuttgart", "Leipzig"]
AREAS = ["30", "40", "89", "221", "69", "711", "341", "151", "160", "170"]


def phone_formats(serial: int) -> str:
    area = AREAS[serial % len(AREAS)]
    # Valid German numbers: landlines 7 digits from 2, mobiles 8.
    subscriber = str((20_000_000 if area[0] == "1" else 2_000_000) + serial % 7_000_000)
    national = f"{area}{subscriber}"
    style = serial % 4
    if style == 0:
        return f"+49{national}"
    if style == 1:
        return f"0049 {area} {subscriber}"
    if style == 2:
        return f"0{area} {subscriber[:3]} {subscriber[3:]}"
    return f"49{national}"


def write_csv(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as file:
        out = csv.writer(file)
        out.writerow(["Name", "Company", "Email", "Phone", "Tags", "City"])
        for i in range(rows):
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)} {i}"
            phone = phone_formats(i if i % 1000 else max(i - 7, 0))
            email = f"user{i}@example.com"
            if i % 500 == 499:
                phone = "not a number"
            out.writerow([name, f"Firma {i % 5000}", email, phone, "lead;de", rng.choice(CITIES)])


async def run_import(csv_path: Path, db_path: Path, workers: int) -> tuple[float, object]:
    numbers = PhoneNormalizer("DE")
    db = await Database.open(db_path)
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context) if workers else None
    try:
        with csv_path.open("rb") as file:
            start = time.perf_counter()
            reader = CsvCustomers(file, numbers, mapping={"Name": "name", "Company": "company"})
            summary = await import_customers(
                reader, Customers(db, numbers), workers=pool, depth=workers + 1
            )
            elapsed = time.perf_counter() - start
    finally:
        await db.close()
        if pool is not None:
            pool.shutdown()
    return elapsed, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the CSV and database here")
    parser.add_argument("--workers", type=int, default=min(2, max((os.cpu_count() or 1) - 1, 0)))
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="cc-bench-import-"))
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / "customers.csv"
    db_path = folder / "import.db"
    for stale in (db_path, db_path.with_name("import.db-wal"), db_path.with_name("import.db-shm")):
        stale.unlink(missing_ok=True)
    print(f"writing {args.rows:,} rows to {csv_path} ...", flush=True)
    if not csv_path.exists() or args.keep is None:
        write_csv(csv_path, args.rows)
    size_mb = csv_path.stat().st_size / 1e6
    elapsed, summary = asyncio.run(run_import(csv_path, db_path, args.workers))
    print(f"file: {size_mb:.1f} MB, {args.rows:,} rows, {args.workers} worker processes")
    print(
        f"imported {summary.imported:,}, duplicates {summary.duplicates:,},"  # type: ignore[attr-defined]
        f" failed {summary.failed:,}"  # type: ignore[attr-defined]
    )
    print(f"time: {elapsed:.1f} s (target <= 60 s for 1,000,000 rows)")
    print(f"rows/s: {args.rows / elapsed:,.0f}")
    if args.keep is None:
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
