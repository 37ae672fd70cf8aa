"""Dial rows for report tests: what the dialer writes (``save_dialing``, then ``settle_dial``)
for dials placed at given moments, without dialing anything."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime

from callcenter.model.attempts import AttemptState, DialOutcome, DoneReason
from callcenter.store.campaigns import Campaigns


async def record_dials(
    store: Campaigns, dials: Sequence[tuple[str, str, DialOutcome | None]]
) -> None:
    """``(attempt_id, dialed_at "YYYY-MM-DDTHH:MM:SSZ", outcome or None for in flight)``,
    dialed in that order (an attempt's dials are numbered 1, 2, …). A settled dial leaves its
    attempt ``done``, so a running dialer has nothing to settle or retry."""
    for attempt_id, dialed_at, outcome in dials:
        attempt, _ = await store.attempt(attempt_id)
        at = datetime.fromisoformat(dialed_at.replace("Z", "+00:00")).astimezone(UTC)
        dialing = dataclasses.replace(
            attempt, state=AttemptState.DIALING, dials=attempt.dials + 1, dialed_at=at
        )
        await store.save_dialing(dialing)
        if outcome is not None:
            assert dialing.dial_id is not None
            await store.settle_dial(dialing.dial_id, outcome, None)
            reason = DoneReason.REACHED if outcome is DialOutcome.COMPLETED else None
            await store.save(
                dataclasses.replace(
                    dialing,
                    state=AttemptState.DONE,
                    last_outcome=outcome,
                    done_reason=reason or DoneReason.MAX_ATTEMPTS,
                )
            )
