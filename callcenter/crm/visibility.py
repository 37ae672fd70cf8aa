"""Who may hear and read a call: one rule for every place a call is shown.

A call's transcript and recording are for the agent who talked on it (the call log's
``agent``, the queue-member interface that is the user's ``extension``), supervisors and
admins. Other agents see that the call happened (time, outcome, wait and talk) - the CRM
history they need - but its ``transcription`` comes out as ``None`` and its ``recording`` as
``None`` (``GET /api/calls/{id}/recording`` and ``/transcript`` answer 403 to them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def may_hear(call: dict[str, Any], agent: str | None) -> bool:
    """``agent``: the viewing agent's interface, or None for supervisors and admins."""
    return agent is None or (bool(agent) and call.get("agent") == agent)


def for_viewer(events: Iterable[dict[str, Any]], agent: str | None) -> list[dict[str, Any]]:
    """Timeline events as ``agent`` may see them (see :func:`may_hear`)."""
    shown = []
    for event in events:
        call = event.get("call") if event.get("type") == "call" else None
        if isinstance(call, dict) and not may_hear(call, agent):
            event = {**event, "call": {**call, "transcription": None, "recording": None}}
        shown.append(event)
    return shown
