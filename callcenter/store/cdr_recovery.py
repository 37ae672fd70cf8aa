"""Filling the call log's gaps from the PBX's own CDRs (after a restart or an AMI outage).

While the server is down or its AMI link is, calls still end on the PBX, and their events are
gone for good. Asterisk's ``cdr_custom`` (``dialplans/cdr_custom.conf``) appends every CDR to a
JSON-lines file on the PBX's machine; ``[pbx] cdr_path`` names it. On every AMI resync
:class:`CdrRecovery` reads the file's tail and logs, marked ``recovered``, each call

- whose last CDR ended after the last AMI event we saw (the *watermark*, kept in the
  database's ``pbx_watermark`` so it survives a restart, saved every few seconds and on a
  clean stop) and before the resync (later ends are seen live),
- that is not among the resync's live channels (the tracker logs those when they end),
- and that the call log does not have yet (a call seen live just before a crash).

So each call is logged exactly once, live or recovered. Without a watermark (a fresh
database) nothing is recovered: the PBX's older history is not ours to import. A gap longer
than ``[pbx] cdr_max_gap_s`` is cut to that length (and logged).

The file is the PBX's: it is opened only if it is a regular file (a FIFO or device would block
or never end), read backwards from its end at most ``cdr_max_read_mb``, every line is
validated by :meth:`CdrRow.from_json` (bad lines are counted and skipped, never fatal) and
no path inside it is ever used.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from callcenter.model.cdr import CdrRow, recovered_calls
from callcenter.model.endpoints import PbxEndpoints
from callcenter.model.events import ChannelSnapshot, Event
from callcenter.model.records import CallRecord
from callcenter.store.calllog import CallLog
from callcenter.store.database import Database

log = logging.getLogger(__name__)

_BLOCK = 64 * 1024
#: CDRs are appended when a party hangs up, roughly in end order: keep reading this far
#: before the watermark so that rows written a little out of order are not missed.
_SLACK_S = 3600.0


@dataclass(frozen=True, slots=True)
class CdrTail:
    rows: list[CdrRow]
    bad_lines: int
    truncated: bool
    """True if ``max_bytes`` was reached before the watermark (older rows were not read)."""


def read_cdr_tail(path: Path, since: float, *, max_bytes: int) -> CdrTail:
    """The CDRs at the end of ``path`` that ended after ``since - slack`` (blocking: run it
    in a thread). A last line without its newline (being written) is left for next time."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{path} is not a regular file")
        position = info.st_size
        carry = b""
        rows: list[CdrRow] = []
        bad = 0
        read = 0
        first_block = True
        while position > 0:
            if read >= max_bytes:
                return CdrTail(rows[::-1], bad, truncated=True)
            size = min(_BLOCK, position)
            position -= size
            file.seek(position)
            block = file.read(size) + carry
            read += size
            lines = block.split(b"\n")
            carry = lines.pop(0) if position > 0 else b""
            if first_block:
                lines.pop()  # after the final newline: empty, or a line still being written
                first_block = False
            oldest = float("inf")
            for line in reversed(lines):
                if not line.strip():
                    continue
                try:
                    row = CdrRow.from_json(json.loads(line))
                except (ValueError, UnicodeDecodeError):
                    bad += 1
                    continue
                rows.append(row)
                oldest = min(oldest, row.end)
            if oldest < since - _SLACK_S:
                break
            if len(carry) > max_bytes:
                break
    return CdrTail(rows[::-1], bad, truncated=False)


class CdrRecovery:
    """See the module docstring. ``on_event``/``on_resync`` are pump listeners (synchronous,
    they only note times and enqueue); :meth:`run` does the reading and writing; ``record``
    gets each recovered call (the call-log writer's ``submit``)."""

    def __init__(
        self,
        db: Database,
        call_log: CallLog,
        record: Callable[[CallRecord], None],
        endpoints: PbxEndpoints,
        path: Path,
        *,
        pbx: str = "default",
        max_gap_s: float = 7 * 86400.0,
        max_read_bytes: int = 64 * 1024 * 1024,
        save_interval_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._call_log = call_log
        self._record = record
        self._endpoints = endpoints
        self._path = path
        self._pbx = pbx
        self._max_gap_s = max_gap_s
        self._max_read_bytes = max_read_bytes
        self._save_interval_s = save_interval_s
        self._clock = clock
        self._seen_until: float | None = None
        self._saved: float | None = None
        self._gaps: asyncio.Queue[tuple[float | None, float, frozenset[str]]] = asyncio.Queue()
        #: Calls recovered and gaps looked at since start (for tests and the log).
        self.recovered = 0
        self.passes = 0

    @property
    def seen_until(self) -> float | None:
        return self._seen_until

    async def load(self) -> None:
        """Read the watermark the previous run left (call before the AMI link starts)."""
        async with (
            self._db.reading() as conn,
            conn.execute(
                "SELECT seen_until FROM pbx_watermark WHERE pbx = ?", (self._pbx,)
            ) as cursor,
        ):
            row = await cursor.fetchone()
        self._seen_until = self._saved = float(row[0]) if row else None

    # --- pump listeners (synchronous, never block) ------------------------------------------

    def on_event(self, event: Event, now: float) -> None:
        self._saw(now)

    def on_resync(self, snapshot: list[Event], now: float) -> None:
        live = frozenset(e.channel.linkedid for e in snapshot if isinstance(e, ChannelSnapshot))
        self._gaps.put_nowait((self._seen_until, now, live))
        self._saw(now)

    def _saw(self, now: float) -> None:
        if self._seen_until is None or now > self._seen_until:
            self._seen_until = now

    # --- the task -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Recover each gap the resyncs report; save the watermark every few seconds."""
        while True:
            try:
                gap = await asyncio.wait_for(self._gaps.get(), self._save_interval_s)
            except TimeoutError:
                await self.save()
                continue
            try:
                await self.recover(*gap)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("recovering calls from the CDRs in %s failed", self._path)
            self.passes += 1
            await self.save()

    async def close(self, *, connected: bool) -> None:
        """Save the watermark; ``connected``: the link was up until now, so every event up to
        now was seen."""
        if connected:
            self._saw(self._clock())
        await self.save()

    async def save(self) -> None:
        seen = self._seen_until
        if seen is None or seen == self._saved:
            return
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO pbx_watermark (pbx, seen_until) VALUES (?, ?) "
                "ON CONFLICT (pbx) DO UPDATE SET seen_until = excluded.seen_until",
                (self._pbx, seen),
            )
        self._saved = seen

    async def recover(self, since: float | None, until: float, live: Collection[str]) -> int:
        """Log the calls that ended in ``(since, until]``; returns how many."""
        if since is None:
            log.info("CDR recovery: no earlier AMI session recorded, nothing to recover")
            return 0
        if until - since > self._max_gap_s:
            log.warning(
                "CDR recovery: the gap is %.0f s, only its last %.0f s (pbx.cdr_max_gap_s) "
                "are recovered",
                until - since,
                self._max_gap_s,
            )
            since = until - self._max_gap_s
        try:
            tail = await asyncio.to_thread(
                read_cdr_tail, self._path, since, max_bytes=self._max_read_bytes
            )
        except OSError as exc:
            log.error("CDR recovery: cannot read %s (pbx.cdr_path): %s", self._path, exc)
            return 0
        if tail.bad_lines:
            log.warning(
                "CDR recovery: skipped %d malformed lines in %s", tail.bad_lines, self._path
            )
        if tail.truncated:
            log.warning(
                "CDR recovery: read the last %d MiB of %s only (pbx.cdr_max_read_mb)",
                self._max_read_bytes // (1024 * 1024),
                self._path,
            )
        calls = recovered_calls(
            tail.rows, self._endpoints, ended_after=since, ended_before=until, live=live
        )
        known = await self._call_log.existing([c.call_id for c in calls])
        new = [c for c in calls if c.call_id not in known]
        for call in new:
            self._record(call)
        self.recovered += len(new)
        log.info(
            "CDR recovery: %d calls ended while we were not listening (%.0f s gap), "
            "%d of them were already logged",
            len(calls),
            until - since,
            len(calls) - len(new),
        )
        return len(new)


__all__ = ["CdrRecovery", "CdrTail", "read_cdr_tail"]
