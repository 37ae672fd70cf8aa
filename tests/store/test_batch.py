"""The write-behind batch writer: a row the database refuses does not hold back the rows
behind it; a transient failure is retried with the same rows."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence

import pytest

from callcenter.errors import StoreError
from callcenter.store.batch import BatchWriter


class Table:
    def __init__(self, transient_failures: int = 0) -> None:
        self.rows: list[int] = []
        self.transient_failures = transient_failures

    async def write(self, batch: Sequence[int]) -> None:
        if self.transient_failures:
            self.transient_failures -= 1
            raise StoreError("database error: locked") from sqlite3.OperationalError("locked")
        if any(row < 0 for row in batch):  # one transaction: all or nothing
            raise StoreError("database error: CHECK") from sqlite3.IntegrityError("CHECK")
        self.rows.extend(batch)


async def _run(writer: BatchWriter[int], rows: Sequence[int]) -> None:
    task = asyncio.create_task(writer.run())
    for row in rows:
        writer.submit(row)
    await asyncio.wait_for(writer.flush(), 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_refused_row_is_dropped_and_logged_the_others_are_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    table = Table()
    writer = BatchWriter(table.write, name="t", retry_delay_s=0.01)
    with caplog.at_level(logging.ERROR):
        await _run(writer, [1, 2, -3, 4])
    assert table.rows == [1, 2, 4]
    assert "row refused by the database, dropped: -3" in caplog.text
    assert writer.backlog == 0


async def test_a_transient_failure_is_retried_with_the_same_rows() -> None:
    table = Table(transient_failures=2)
    writer = BatchWriter(table.write, name="t", retry_delay_s=0.01)
    await _run(writer, [1, 2, 3])
    assert table.rows == [1, 2, 3]
