"""Asterisk Manager Interface adapter: the only package that imports panoramisk.

- :class:`AmiLink` keeps one authenticated AMI session alive (backoff, pings, resync) and
  hands typed events (:mod:`callcenter.model.events`) to the model.
- :class:`AmiStreamParser` turns raw AMI bytes into typed events without a network (replay,
  benchmarks).
- :func:`manager_conf_eventfilters` renders the manager.conf ``eventfilter`` lines matching
  ``AmiSettings.events``.

Library errors leave this package as :class:`callcenter.errors.AmiError` subclasses.
"""

from callcenter.ami.filters import EventFilter, filter_actions, manager_conf_eventfilters
from callcenter.ami.link import AmiLink, LinkStatus
from callcenter.ami.stream import AmiStreamParser

__all__ = [
    "AmiLink",
    "AmiStreamParser",
    "EventFilter",
    "LinkStatus",
    "filter_actions",
    "manager_conf_eventfilters",
]
