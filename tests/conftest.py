"""Shared fixtures: settings on a temporary database, call records, a cheap password hasher."""

from __future__ import annotations

import dataclasses
import logging
import socket
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from callcenter.model.records import CallRecord, Direction, HangupBy, Outcome, Transfer
from callcenter.settings import Settings, settings_from_mapping

# 2024-05-01T08:00:00Z
T0 = 1714550400.0


@pytest.fixture(autouse=True)
def _no_unexpected_model_drops(request: pytest.FixtureRequest, caplog: Any) -> Any:
    """The call model logs and drops an event it cannot apply instead of crashing the pump;
    in a test that did not ask for it, such a drop is a bug in the model."""
    yield
    if request.node.get_closest_marker("drops_events"):
        return
    drops = [
        r.getMessage()
        for r in caplog.get_records("call")
        if r.name == "callcenter.model.calls" and r.levelno >= logging.ERROR
    ]
    assert drops == [], f"the call model dropped events: {drops}"


def _make_call(call_id: str, started_at: float = T0, **changes: Any) -> CallRecord:
    """An answered inbound queue call; override any field by keyword."""
    base = CallRecord(
        call_id=call_id,
        direction=Direction.INBOUND,
        caller_number="+4930123456",
        caller_name="Müller",
        called_number="100",
        queue="support",
        agents_offered=("PJSIP/2001", "PJSIP/2002"),
        agent="PJSIP/2002",
        started_at=started_at,
        answered_at=started_at + 12,
        ended_at=started_at + 72,
        wait_s=12.0,
        talk_s=60.0,
        outcome=Outcome.ANSWERED,
        hangup_by=HangupBy.CALLER,
        transfers=(Transfer("blind", "PJSIP/2002", "200"),),
        recording="/var/spool/asterisk/monitor/x.wav",
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture
def make_call() -> Any:
    """Factory: ``make_call("c1", started_at=T0 + 60, queue="sales")``."""
    return _make_call


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "callcenter.db"


def closed_port() -> int:
    """A TCP port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def settings(db_path: Path) -> Settings:
    """Defaults with the database in tmp_path; AMI enabled, as in production, but pointed at
    a closed port (never at a PBX that may run on this machine's 5038)."""
    return settings_from_mapping(
        {
            "db": {"path": str(db_path)},
            "ami": {"port": closed_port()},
            # The worker pool of the transcription tests is theirs alone.
            "transcribe": {"enabled": False},
        },
        {},
    )


@pytest.fixture
def cheap_passwords() -> Any:
    """argon2id with minimal cost: same code paths, milliseconds instead of ~100 ms."""
    from callcenter.web.auth import Passwords

    return Passwords(PasswordHasher(time_cost=1, memory_cost=256, parallelism=1))
