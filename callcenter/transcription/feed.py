"""Finished calls with a recording (and the customer's consent) become transcription jobs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from callcenter.crm.recordings import RecordingPaths
from callcenter.model.records import CallFinished, CallRecord, Change, Direction
from callcenter.store.batch import BatchWriter
from callcenter.store.customers import Customers
from callcenter.transcription.jobs import (
    TranscriptionService,
)

log = logging.getLogger(__name__)


class CallTranscriptionFeed:
    """Finished calls become transcription jobs when they have a recording and a customer of
    theirs consented to being recorded (``consent.may_record``); without consent the audio
    is never transcribed. ``on_change`` is the pump's synchronous listener; the consent
    lookup and the enqueueing run in a background writer."""

    def __init__(
        self,
        service: TranscriptionService,
        customers: Customers,
        paths: RecordingPaths | None = None,
    ) -> None:
        self._service = service
        self._customers = customers
        self._paths = paths
        self.writer: BatchWriter[CallRecord] = BatchWriter(self._enqueue, name="transcribe feed")

    def on_change(self, change: Change) -> None:
        if isinstance(change, CallFinished) and change.record.recording:
            self.writer.submit(change.record)

    async def _enqueue(self, records: Sequence[CallRecord]) -> None:
        for record in records:
            number = (
                record.called_number
                if record.direction is Direction.OUTBOUND
                else record.caller_number
            )
            found = (await self._customers.lookup(number)).customers if number else []
            if not any(customer["consent"]["may_record"] for customer in found):
                log.info("call %s: no consent to record, not transcribed", record.call_id)
                continue
            recording = str(record.recording)
            if self._paths is not None:  # the PBX's path, confined and mapped to ours
                local = await asyncio.to_thread(self._paths.local, recording)
                if local is None:
                    continue
                recording = str(local)
            await self._service.enqueue_call(record.call_id, recording)
