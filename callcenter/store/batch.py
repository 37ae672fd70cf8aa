"""Write-behind batching for rows produced on the event loop's hot path.

``submit(item)`` never blocks; a named task (``run``) writes whatever has accumulated with one
``write(batch)`` call (one transaction), retries a failed batch after a pause with the same
items, and on cancellation (shutdown) still writes everything submitted.

A row the schema refuses (an integrity error: it will never be written, however often we
retry) must not hold back the rows behind it: the batch is then written row by row, and only
the refused row is dropped, logged with its whole content.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from callcenter.errors import StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")


class BatchWriter(Generic[T]):
    def __init__(
        self,
        write: Callable[[Sequence[T]], Awaitable[object]],
        *,
        name: str,
        max_batch: int = 500,
        retry_delay_s: float = 1.0,
    ) -> None:
        self._write = write
        self._name = name
        self._queue: asyncio.Queue[T] = asyncio.Queue()
        self._max_batch = max_batch
        self._retry_delay_s = retry_delay_s
        self._in_flight: list[T] = []

    def submit(self, item: T) -> None:
        self._queue.put_nowait(item)

    @property
    def backlog(self) -> int:
        """Items submitted but not yet committed."""
        return self._queue.qsize() + len(self._in_flight)

    async def flush(self) -> None:
        """Wait until everything submitted so far is committed (needs :meth:`run`)."""
        await self._queue.join()

    async def run(self) -> None:
        try:
            while True:
                self._in_flight = [await self._queue.get()]
                self._in_flight += self._take(self._max_batch - 1)
                while True:
                    try:
                        await self._write(self._in_flight)
                        break
                    except StoreError as exc:
                        if _refused(exc):
                            await self._write_one_by_one()
                            break
                        log.exception(
                            "%s: writing %d rows failed; retrying", self._name, len(self._in_flight)
                        )
                        await asyncio.sleep(self._retry_delay_s)
                done, self._in_flight = len(self._in_flight), []
                for _ in range(done):
                    self._queue.task_done()
        finally:
            await self._write_remaining()

    async def _write_one_by_one(self) -> None:
        for item in self._in_flight:
            while True:
                try:
                    await self._write([item])
                    break
                except StoreError as exc:
                    if _refused(exc):
                        log.error("%s: row refused by the database, dropped: %r", self._name, item)
                        break
                    log.exception("%s: writing a row failed; retrying", self._name)
                    await asyncio.sleep(self._retry_delay_s)

    async def _write_remaining(self) -> None:
        remaining = self._in_flight + self._take(None)
        self._in_flight = []
        for start in range(0, len(remaining), self._max_batch):
            try:
                await self._write(remaining[start : start + self._max_batch])
            except StoreError:
                log.exception(
                    "%s: %d rows could not be written", self._name, len(remaining) - start
                )
                return

    def _take(self, limit: int | None) -> list[T]:
        taken: list[T] = []
        while not self._queue.empty() and (limit is None or len(taken) < limit):
            taken.append(self._queue.get_nowait())
        return taken


def _refused(exc: StoreError) -> bool:
    """The database refused the data itself (a constraint), not the moment (locked, full)."""
    return isinstance(exc.__cause__, sqlite3.IntegrityError)
