"""Turning the AMI byte stream into typed events, fast and safely.

The AMI wire format: after a one-line greeting (``Asterisk Call Manager/11.0.0``, the AMI
protocol version, not Asterisk's) every message is a block of ``Key: Value`` lines ended by an
empty line, all lines ending in CRLF. A block with ``Event:`` as its first line is an event;
one with ``Response:`` answers an action (correlated by ``ActionID``). List actions
(``CoreShowChannels``, ``QueueStatus``) answer ``Response: Success`` + ``EventList: start``,
then send one event per item carrying the request's ``ActionID``, then a ``...Complete`` event
with ``EventList: Complete``. Beware: ``OriginateResponse`` is an *event* that also carries a
``Response:`` header.

:class:`AmiStreamParser` is network-free (used by replay and benchmarks);
:class:`AmiProtocol` is the asyncio protocol (a panoramisk ``AMIProtocol``) the link connects
with. Why we do not let panoramisk parse:

- panoramisk 1.4 decodes every TCP chunk on its own with ``errors='ignore'``, so a UTF-8
  character split across two reads vanishes ("Müller" -> "Mller"). We cut complete frames on
  bytes (``b"\\r\\n\\r\\n"`` never occurs inside a multibyte sequence) and decode each whole
  frame with ``errors='replace'``: invalid bytes become U+FFFD and the frame survives.
- Half of all traffic is VarSet/Newexten/CEL we never use. The event name is the first line,
  so a frame is kept or skipped on a bytes comparison before any decoding; panoramisk's
  case-insensitive ``Message`` costs about three times more per kept frame than a plain dict.
- Robustness: a frame above ``max_frame_bytes`` (no frame end in sight) is dropped and the
  stream resynchronises at the next frame end; frames without any ``Key: Value`` line are
  dropped; a frame ``parse_event`` rejects is logged and dropped; an exception raised by the
  ``on_event`` callback is logged and never reaches the transport. Warnings about dropped
  frames go through a :class:`~callcenter.log_budget.LogBudget` (a few per minute and kind,
  then a count); the list answer of one action is capped at ``max_reply_bytes``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field

from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol

from callcenter.ami.filters import EventFilter
from callcenter.errors import AmiActionError, AmiConnectionError
from callcenter.log_budget import LogBudget
from callcenter.model.events import Event, parse_event

log = logging.getLogger(__name__)

FRAME_END = b"\r\n\r\n"
GREETING_PREFIX = b"Asterisk Call Manager/"
#: A frame larger than this is dropped (Asterisk's biggest real frames are a few KiB).
MAX_FRAME_BYTES = 1 << 20
#: A list action's answer (all its item events) larger than this is abandoned: an event list
#: that never completes must not buffer until the action's timeout. A real CoreShowChannels
#: item is under 1 KiB, so this is tens of thousands of channels.
MAX_REPLY_BYTES = 32 << 20

_EVENT = b"Event: "
_ACTION_ID = b"\r\nActionID: "

Headers = dict[str, str]


def frame_headers(text: str) -> Headers:
    """``Key: Value`` lines of one decoded frame; repeated keys (``Output:`` of ``Command``,
    ``ChanVariable``) are joined with ``\\n``. Lines without a colon are ignored."""
    headers: Headers = {}
    for line in text.split("\r\n"):
        key, sep, value = line.partition(":")
        if not sep or not key:
            continue
        if value[:1] == " ":
            value = value[1:]
        if key in headers:
            headers[key] = headers[key] + "\n" + value
        else:
            headers[key] = value
    return headers


def _value_at(frame: bytes, header: bytes) -> bytes | None:
    """Value of ``\\r\\n<header>`` in a raw frame (not the first line), or None."""
    start = frame.find(header)
    if start < 0:
        return None
    start += len(header)
    end = frame.find(b"\r\n", start)
    return frame[start:] if end < 0 else frame[start:end]


@dataclass
class ParserStats:
    """Counters for benchmarks and debugging; updated once per ``feed``."""

    frames: int = 0
    events: int = 0
    replies: int = 0
    dropped: int = 0


class AmiStreamParser:
    """Incremental AMI parser: ``feed(bytes)`` in any chunking, typed events out.

    - ``on_event(event)`` receives :func:`parse_event` results for kept event frames.
    - ``on_reply(headers)`` (optional) receives action responses (frames without ``Event:``)
      and event frames whose ``ActionID`` is in ``pending`` (list items of a pending list
      action), whatever their name: the keep filter never hides an answer we wait for.
    - ``keep``: an :class:`EventFilter`, an iterable of filter entries (``AmiSettings.events``
      syntax) or None for "everything parse_event knows".
    """

    def __init__(
        self,
        on_event: Callable[[Event], None],
        keep: EventFilter | Iterable[str] | None = None,
        *,
        on_reply: Callable[[Headers], None] | None = None,
        pending: Container[str] | None = None,
        max_frame_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        if keep is None:
            keep = EventFilter.everything()
        elif not isinstance(keep, EventFilter):
            keep = EventFilter.from_spec(keep)
        self._keep = keep
        self._on_event = on_event
        self._on_reply = on_reply
        self._pending: Container[str] = pending if pending is not None else frozenset()
        self._max = max_frame_bytes
        self._buf = bytearray()
        self._skipping = False
        self._started = False
        self.greeting: str | None = None
        self.stats = ParserStats()
        self.warnings = LogBudget(log)

    # -- bytes -> frames -----------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Consume a chunk; deliver every frame it completes, in stream order."""
        if not data:
            return
        buf = self._buf
        if not self._started:
            buf += data
            if not self._greeting_done():
                self._check_size()
                return
            data = bytes(buf)
            buf.clear()
            if not data:
                return
        if self._skipping:
            buf += data
            end = buf.find(FRAME_END)
            if end < 0:
                del buf[:-3]
                return
            del buf[: end + 4]
            self._skipping = False
            log.warning("AMI stream resynchronised after an oversized frame")
            if not buf:
                return
            data = bytes(buf)
            buf.clear()
        if buf:
            search_from = max(0, len(buf) - 3)
            buf += data
            end = buf.rfind(FRAME_END, search_from)
            if end < 0:
                self._check_size()
                return
            block = bytes(buf[:end])
            del buf[: end + 4]
        else:
            end = data.rfind(FRAME_END)
            if end < 0:
                buf += data
                self._check_size()
                return
            block = data[:end]
            buf += data[end + 4 :]
        frames = block.split(FRAME_END)
        self.stats.frames += len(frames)
        self._frames(frames)
        self._check_size()

    def _greeting_done(self) -> bool:
        """Consume the greeting line if the stream starts with one. False: need more bytes."""
        buf = self._buf
        head = bytes(buf[: len(GREETING_PREFIX)])
        if len(head) < len(GREETING_PREFIX) and GREETING_PREFIX.startswith(head):
            return False
        if head == GREETING_PREFIX:
            nl = buf.find(b"\r\n")
            if nl < 0:
                return False
            self.greeting = buf[:nl].decode("utf-8", "replace")
            log.debug("AMI greeting %r", self.greeting)
            del buf[: nl + 2]
        self._started = True
        return True

    def _check_size(self) -> None:
        if len(self._buf) > self._max:
            log.warning(
                "AMI frame larger than %d bytes without a frame end: dropped, "
                "skipping to the next frame boundary",
                self._max,
            )
            self.stats.dropped += 1
            del self._buf[:-3]
            self._skipping = True

    # -- frames -> events ----------------------------------------------------------------

    def _frames(self, frames: list[bytes]) -> None:
        keep_all = self._keep.names is None
        names = self._keep.names or frozenset()
        values = self._keep.values
        pending = self._pending
        check_pending = self._on_reply is not None and bool(pending)
        deliver = self._deliver
        for frame in frames:
            if not frame.startswith(_EVENT):
                self._slow_frame(frame)
                continue
            nl = frame.find(b"\r\n", 7)
            name = frame[7:nl] if nl >= 0 else frame[7:]
            if check_pending:
                action_id = _value_at(frame, _ACTION_ID)
                if action_id is not None and action_id.decode("utf-8", "replace") in pending:
                    self._reply(frame)
                    continue
            if keep_all or name in names:
                if name in values:
                    value = _value_at(frame, b"\r\nVariable: ")
                    if value not in values[name]:
                        continue
                if len(frame) > self._max:
                    self._oversized(frame)
                    continue
                deliver(frame)

    def _slow_frame(self, frame: bytes) -> None:
        """Greeting, responses, blank padding, garbage and events whose ``Event:`` header is
        not the first line: rare, so handled off the hot loop."""
        frame = frame.strip(b"\r\n")
        if not frame:
            return
        if len(frame) > self._max:
            self._oversized(frame)
            return
        if frame.startswith(_EVENT):
            self._frames([frame])
            return
        headers = frame_headers(frame.decode("utf-8", "replace"))
        if "Event" in headers:
            # Event header not in first position: re-run the filter on a normalised frame.
            self._filter_headers(headers)
        elif "Response" in headers:
            if self._on_reply is not None:
                self.stats.replies += 1
                self._call_reply(headers)
        else:
            self.stats.dropped += 1
            self.warnings.warning(
                "garbage frame", "dropped AMI frame without Event/Response: %r", frame[:120]
            )

    def _filter_headers(self, headers: Headers) -> None:
        name = headers["Event"]
        action_id = headers.get("ActionID")
        if self._on_reply is not None and action_id is not None and action_id in self._pending:
            self.stats.replies += 1
            self._call_reply(headers)
            return
        keep = self._keep
        bname = name.encode("utf-8", "replace")
        if keep.names is not None and bname not in keep.names:
            return
        if bname in keep.values:
            variable = headers.get("Variable", "").encode("utf-8", "replace")
            if variable not in keep.values[bname]:
                return
        self._parse(headers)

    def _oversized(self, frame: bytes) -> None:
        self.stats.dropped += 1
        self.warnings.warning(
            "oversized frame", "dropped an AMI frame of %d bytes (limit %d)", len(frame), self._max
        )

    def _reply(self, frame: bytes) -> None:
        self.stats.replies += 1
        self._call_reply(frame_headers(frame.decode("utf-8", "replace")))

    def _call_reply(self, headers: Headers) -> None:
        assert self._on_reply is not None
        try:
            self._on_reply(headers)
        except Exception:
            log.exception("AMI reply handler failed on %r", headers)

    def _deliver(self, frame: bytes) -> None:
        headers: Headers = {}
        for line in frame.decode("utf-8", "replace").split("\r\n"):
            key, sep, value = line.partition(": ")
            if sep:
                headers[key] = value
            elif line[-1:] == ":":  # a header with an empty value
                headers[line[:-1]] = ""
        self._parse(headers)

    def _parse(self, headers: Mapping[str, str]) -> None:
        try:
            event = parse_event(headers)
        except ValueError as exc:
            self.stats.dropped += 1
            self.warnings.warning(
                "malformed event", "dropped malformed AMI %s event: %s", headers.get("Event"), exc
            )
            return
        if event is None:
            return
        self.stats.events += 1
        try:
            self._on_event(event)
        except Exception:
            log.exception("AMI event handler failed on %r", event)


# -- asyncio protocol ----------------------------------------------------------------------


@dataclass
class Reply:
    """What came back for one action: the ``Response`` frame's headers and, for list actions,
    the item events (the final ``...Complete`` event excluded)."""

    response: Headers
    items: list[Headers] = field(default_factory=list)


@dataclass
class _Pending:
    action: Action
    is_list: bool
    response: Headers | None = None
    items: list[Headers] = field(default_factory=list)
    size: int = 0


class AmiProtocol(AMIProtocol):  # type: ignore[misc]  # panoramisk is untyped
    """panoramisk's ``AMIProtocol`` with our byte-safe, pre-filtering parser and our own
    action correlation.

    panoramisk's ``Action.add_message`` never completes a list action answered with
    ``Response: Error`` (it waits for items that will never come) and folds an
    ``OriginateResponse`` event into the Originate's reply instead of dispatching it. Here a
    plain action completes on its ``Response`` frame (later events with the same ActionID,
    such as ``OriginateResponse``, are ordinary events), a list action on ``Response: Error``
    or on the event carrying ``EventList: Complete``.

    ``on_event`` runs synchronously inside ``data_received``; it must not block.
    """

    def __init__(
        self,
        on_event: Callable[[Event], None],
        on_lost: Callable[[Exception | None], None],
        keep: EventFilter,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ) -> None:
        super().__init__()
        self._on_event_cb = on_event
        self._on_lost = on_lost
        self._pending: dict[str, _Pending] = {}
        self._pending_lists: set[str] = set()
        self._max_reply = max_reply_bytes
        # ActionIDs of abandoned lists: their remaining items are swallowed, not parsed as
        # events (bounded: the oldest are forgotten first).
        self._abandoned: dict[str, int] = {}
        self._parser = AmiStreamParser(
            on_event,
            keep,
            on_reply=self._on_reply,
            pending=self._pending_lists,
            max_frame_bytes=max_frame_bytes,
        )
        self.closed = True
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.encoding = "utf-8"
        self.log = log

    def data_received(self, data: bytes) -> None:
        self._parser.feed(data)

    @property
    def greeting(self) -> str | None:
        return self._parser.greeting

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed and self.transport is None:
            return
        self.closed = True
        self.transport = None
        error = AmiConnectionError(
            f"connection to Asterisk lost: {exc}" if exc else "Asterisk closed the connection"
        )
        for pending in list(self._pending.values()):
            if not pending.action.future.done():
                pending.action.future.set_exception(error)
        self._pending.clear()
        self._pending_lists.clear()
        self._abandoned.clear()
        self._on_lost(exc)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    # -- actions ---------------------------------------------------------------------------

    def request(
        self, fields: Mapping[str, str | list[str]], *, is_list: bool = False
    ) -> asyncio.Future[Reply]:
        """Write one action; the future resolves to a :class:`Reply` (for a ``Response:
        Error`` too: the caller decides) or fails with AmiConnectionError when the
        connection drops first. ``fields`` must contain ``ActionID``."""
        if self.transport is None or self.transport.is_closing():
            raise AmiConnectionError("not connected to Asterisk")
        for key, value in fields.items():
            for item in [value] if isinstance(value, str) else value:
                if "\r" in item or "\n" in item or "\r" in key or "\n" in key:
                    raise ValueError(f"AMI header {key!r} must not contain a line break")
        action = Action(dict(fields), as_list=is_list)
        action_id: str = action.action_id
        self._pending[action_id] = _Pending(action, is_list)
        if is_list:
            self._pending_lists.add(action_id)
        self.transport.write(str(action).encode("utf-8"))
        future: asyncio.Future[Reply] = action.future
        return future

    def forget(self, action_id: str) -> None:
        """Stop waiting for ``action_id`` (its timeout expired)."""
        pending = self._pending.pop(action_id, None)
        self._pending_lists.discard(action_id)
        if pending is not None and not pending.action.future.done():
            pending.action.future.cancel()

    def _on_reply(self, headers: Headers) -> None:
        action_id = headers.get("ActionID")
        pending = self._pending.get(action_id) if action_id is not None else None
        if pending is None and action_id is not None and action_id in self._abandoned:
            self._abandoned[action_id] += 1
            if headers.get("EventList", "").lower() == "complete":
                dropped = self._abandoned.pop(action_id)
                self._pending_lists.discard(action_id)
                log.warning("AMI list %s completed after %d items; all dropped", action_id, dropped)
            return
        if pending is None:
            if "Event" in headers:
                self._parser._parse(headers)
            else:
                log.debug("AMI response for no pending action: %r", headers)
            return
        if "Event" not in headers:
            pending.response = headers
            if not pending.is_list or headers.get("Response") != "Success":
                self._complete(action_id, pending)
            return
        if not pending.is_list:
            self._parser._parse(headers)
            return
        if headers.get("EventList", "").lower() == "complete":
            if pending.response is None:
                pending.response = {"Response": "Success"}
            self._complete(action_id, pending)
        else:
            pending.size += sum(len(k) + len(v) + 4 for k, v in headers.items())
            if pending.size > self._max_reply and action_id is not None:
                self._abandon(action_id, pending)
                return
            pending.items.append(headers)

    def _abandon(self, action_id: str, pending: _Pending) -> None:
        """The list answer outgrew ``max_reply_bytes``: fail the action, free its items and
        swallow the rest of its list as it arrives."""
        name = str(pending.action.get("Action", "?"))
        log.warning(
            "AMI %s answer abandoned: %d items, %d bytes exceed the limit of %d bytes;"
            " its remaining items are dropped",
            name,
            len(pending.items),
            pending.size,
            self._max_reply,
        )
        self._pending.pop(action_id, None)
        self._abandoned[action_id] = len(pending.items)
        while len(self._abandoned) > 64:
            oldest = next(iter(self._abandoned))
            del self._abandoned[oldest]
            self._pending_lists.discard(oldest)
        pending.items.clear()
        if not pending.action.future.done():
            pending.action.future.set_exception(
                AmiActionError(
                    f"the {name} answer exceeded {self._max_reply} bytes and was abandoned"
                )
            )

    def _complete(self, action_id: str | None, pending: _Pending) -> None:
        assert action_id is not None and pending.response is not None
        self._pending.pop(action_id, None)
        self._pending_lists.discard(action_id)
        if not pending.action.future.done():
            pending.action.future.set_result(Reply(pending.response, pending.items))
