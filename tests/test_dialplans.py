"""The shipped Asterisk configuration matches what the server expects."""

from __future__ import annotations

from pathlib import Path

from callcenter.ami.filters import manager_conf_eventfilters
from callcenter.settings import DEFAULT_AMI_EVENTS

DIALPLANS = Path(__file__).resolve().parent.parent / "dialplans"


def test_manager_conf_eventfilters_match_the_default_event_list() -> None:
    text = (DIALPLANS / "manager.conf").read_text(encoding="utf-8")
    shipped = [line for line in text.splitlines() if line.startswith("eventfilter")]
    assert shipped == manager_conf_eventfilters(DEFAULT_AMI_EVENTS)
