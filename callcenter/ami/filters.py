"""Which AMI events we want, expressed three ways from one list (``AmiSettings.events``).

The list holds plain event names (``"Newchannel"``) plus ``"VarSet:NAME"`` entries meaning
"VarSet frames, but only for channel variable NAME" (MixMonitor announces its file through
``VarSet MIXMONITOR_FILENAME``; every other VarSet is dialplan noise).

1. **manager.conf** ``eventfilter`` lines for the AMI user, so Asterisk drops the rest before it
   ever queues them for our session (:func:`manager_conf_eventfilters`).
2. AMI ``Filter`` actions sent after every login, doing the same per session when manager.conf
   was not edited (:func:`filter_actions`). They need the ``system`` write permission; without
   it Asterisk answers ``Permission denied`` and we continue unfiltered.
3. The client-side pre-filter (:class:`EventFilter`) used by the stream parser, so whatever
   Asterisk still sends (old versions, missing permission, another user's config) costs a
   bytes comparison instead of a parse.

Asterisk filter syntax (advanced filters, Asterisk 20.7 / 21.2 and later, so 22 included)::

    eventfilter(action(include),name(Newchannel)) =
    eventfilter(action(include),name(VarSet),header(Variable),method(exact)) = MIXMONITOR_FILENAME

and the same criteria in the ``Filter`` action's ``MatchCriteria`` header, the expression in
its ``Filter`` header. ``name()`` is an exact, case-sensitive, hashed event-name match (cheap
for Asterisk, unlike the legacy ``eventfilter=Event: Newchannel`` regex over the whole event
text, which would also let ``HangupRequest`` through a ``Hangup`` filter). With include filters
only, an event is sent when ANY include filter matches.

Filters apply to events Asterisk queues for sessions. Action responses and the list items of
``CoreShowChannels``/``QueueStatus`` are written straight to the requesting session and are
never filtered, which is why the resync works with any filter set.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from callcenter.model.events import PARSED_EVENTS

#: "Event:Value" filter entries name the header holding the value for that event.
_VALUE_HEADERS = {"VarSet": "Variable"}


def _split(entry: str) -> tuple[str, str | None]:
    name, sep, value = entry.partition(":")
    name = name.strip()
    if not name:
        raise ValueError(f"empty event name in AMI event filter entry {entry!r}")
    if not sep:
        return name, None
    if name not in _VALUE_HEADERS:
        raise ValueError(
            f"AMI event filter entry {entry!r}: only "
            f"{', '.join(f'{n}:<{h}>' for n, h in _VALUE_HEADERS.items())} take a value"
        )
    value = value.strip()
    if not value:
        raise ValueError(f"AMI event filter entry {entry!r} has an empty value")
    return name, value


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Client-side keep set, compared on raw bytes before any decoding.

    ``names``: event names to keep (``None`` keeps every event :func:`parse_event` knows).
    ``values``: for events listed in ``_VALUE_HEADERS`` (VarSet), the header values to keep;
    an event present in ``names`` but absent here is kept whatever the value.
    Events that ``parse_event`` does not understand are never kept: they would parse to None.
    """

    names: frozenset[bytes] | None
    values: dict[bytes, frozenset[bytes]]

    @classmethod
    def from_spec(cls, events: Iterable[str]) -> EventFilter:
        """Build from ``AmiSettings.events``; an empty list keeps everything we can parse."""
        names: set[str] = set()
        values: dict[str, set[str]] = {}
        whole: set[str] = set()
        for entry in events:
            name, value = _split(entry)
            names.add(name)
            if value is None:
                whole.add(name)
            else:
                values.setdefault(name, set()).add(value)
        if not names:
            return cls(None, {})
        kept = names & PARSED_EVENTS
        return cls(
            frozenset(n.encode() for n in kept),
            {
                n.encode(): frozenset(v.encode() for v in vals)
                for n, vals in values.items()
                if n in kept and n not in whole
            },
        )

    @classmethod
    def everything(cls) -> EventFilter:
        return cls(None, {})


def manager_conf_eventfilters(events: Iterable[str]) -> list[str]:
    """``eventfilter`` lines for the AMI user's section of manager.conf (Asterisk >= 20.7).

    ``["Hangup", "VarSet:MIXMONITOR_FILENAME"]`` gives (the second line wrapped here)::

        eventfilter(action(include),name(Hangup)) =
        eventfilter(action(include),name(VarSet),header(Variable),method(exact)) =
            MIXMONITOR_FILENAME
    """
    lines = []
    for criteria, expression in _criteria(events):
        lines.append(f"eventfilter({criteria}) = {expression}".rstrip())
    return lines


def filter_actions(events: Iterable[str]) -> list[dict[str, str]]:
    """The AMI ``Filter`` actions (without ActionID) equivalent to the eventfilter lines.

    ``Operation: Add`` with ``MatchCriteria`` selects Asterisk's advanced filter syntax; the
    ``Filter`` header is the match expression (empty when only the name matters).
    """
    return [
        {"Action": "Filter", "Operation": "Add", "MatchCriteria": criteria, "Filter": expression}
        for criteria, expression in _criteria(events)
    ]


def _criteria(events: Iterable[str]) -> list[tuple[str, str]]:
    result: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for entry in events:
        name, value = _split(entry)
        if value is None:
            item = (f"action(include),name({name})", "")
        else:
            header = _VALUE_HEADERS[name]
            item = (f"action(include),name({name}),header({header}),method(exact)", value)
        if item not in seen:
            seen.add(item)
            result.append(item)
    return result
