"""What ``GET /health`` says about the AMI link.

The app stores a :data:`LinkStatusProvider` under ``LINK_STATUS_KEY``: a callable returning
the link's current status (anything with the attributes of :class:`LinkStatusLike`, such as
``AmiLink.status``), or None while no link is running.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from callcenter.model.records import iso


class LinkStatusLike(Protocol):
    @property
    def connected(self) -> bool: ...
    @property
    def authenticated(self) -> bool: ...
    @property
    def last_error(self) -> object: ...
    @property
    def since(self) -> object: ...
    @property
    def reconnects(self) -> int: ...


LinkStatusProvider = Callable[[], LinkStatusLike | None]


def no_link() -> LinkStatusLike | None:
    """The provider until a link is started."""
    return None


def _when(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return iso(moment.timestamp())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return iso(float(value))
    return str(value)


def link_report(status: LinkStatusLike | None, *, enabled: bool) -> dict[str, Any]:
    """The ``ami`` object of ``/health``. ``state`` sums it up: ``up`` (logged in),
    ``connected`` (socket up, not logged in), ``down``, ``not_started`` or ``disabled``."""
    if not enabled:
        return {
            "enabled": False,
            "state": "disabled",
            "connected": False,
            "authenticated": False,
            "last_error": "AMI is disabled in the settings (ami.enabled = false)",
            "since": None,
            "reconnects": 0,
        }
    if status is None:
        return {
            "enabled": True,
            "state": "not_started",
            "connected": False,
            "authenticated": False,
            "last_error": "the AMI link has not connected yet",
            "since": None,
            "reconnects": 0,
        }
    if status.connected and status.authenticated:
        state = "up"
    elif status.connected:
        state = "connected"
    else:
        state = "down"
    return {
        "enabled": True,
        "state": state,
        "connected": bool(status.connected),
        "authenticated": bool(status.authenticated),
        "last_error": None if status.last_error is None else str(status.last_error),
        "since": _when(status.since),
        "reconnects": int(status.reconnects),
    }
