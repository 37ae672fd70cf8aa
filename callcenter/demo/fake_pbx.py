"""A fake Asterisk Manager Interface server speaking the real wire protocol over TCP.

It powers the AMI integration tests and the ``demo`` mode (a newcomer sees the product work
without a PBX). It is deliberately small: it knows the AMI framing, Login/Logoff/Ping, the
session ``Filter`` and ``Events`` actions, the two list actions used for resync
(``CoreShowChannels``, ``QueueStatus``) answered from a small live state (channels, queues,
queue members, waiting callers), and the call-control actions the product sends
(Originate, QueuePause/QueueAdd/QueueRemove, Hangup, Redirect, BlindTransfer, Atxfer). Every
other action is answered like Asterisk answers an unknown one.

Asterisk behaviour reproduced (see tests/fixtures/ami/README.md):

- greeting ``Asterisk Call Manager/11.0.0`` (the AMI protocol version), CRLF line endings,
  frames ended by an empty line;
- a good Login is answered ``Authentication accepted`` followed by ``Event: FullyBooted``;
  a bad one, after a delay, ``Response: Error`` / ``Authentication failed``, then the server
  closes the socket;
- list actions: ``Response: Success`` + ``EventList: start``, items carrying the ActionID,
  then ``...Complete`` with ``EventList: Complete`` and ``ListItems``;
- ``Filter`` (advanced ``MatchCriteria`` or legacy regex) restricts the events broadcast to
  that session; list items and responses are never filtered;
- state-changing actions emit the events Asterisk emits (QueueMemberAdded/Removed/Pause,
  Hangup, BlindTransfer); ``Redirect`` emits none, as in Asterisk.

Test hooks: :attr:`FakeAmiServer.actions` records every action received; :meth:`play` writes
raw bytes (a capture) to the logged-in clients; :meth:`broadcast_event`,
:meth:`drop_clients`, :meth:`shutdown_event`; :attr:`silent_actions` names actions left
unanswered (``{"Ping"}`` simulates a dead peer), :attr:`response_delays` slows some down;
:attr:`filter_allowed` = False answers
``Filter`` with ``Permission denied`` like a user without ``write=system``;
:attr:`strict_channels` makes call-control actions on unknown channels fail as in Asterisk;
:attr:`action_listeners` are told about every handled action (the demo traffic reacts to them).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

GREETING = b"Asterisk Call Manager/11.0.0\r\n"
FRAME_END = b"\r\n\r\n"

ActionFields = dict[str, str | list[str]]
#: Called for every Originate after its "successfully queued" reply; may return an
#: awaitable (run as a task, cancelled on stop) to emit the call's events over time.
OriginateHandler = Callable[["FakeAmiServer", ActionFields], Awaitable[None] | None]
#: Called with every action after its reply was written and its state change applied (a
#: paused member, a channel hung up): how a traffic simulator reacts to what clients do.
ActionListener = Callable[["FakeAmiServer", ActionFields], None]

_STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}


def encode_frame(headers: Mapping[str, str | list[str]]) -> bytes:
    """One AMI frame: ``Key: Value`` CRLF lines (a list value repeats the key) + CRLF."""
    lines = []
    for key, value in headers.items():
        for item in [value] if isinstance(value, str) else value:
            lines.append(f"{key}: {item}\r\n")
    return ("".join(lines) + "\r\n").encode("utf-8")


def decode_frame(frame: bytes) -> ActionFields:
    """Parse one received frame; a repeated key (``Variable:``) becomes a list."""
    fields: ActionFields = {}
    for line in frame.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.removeprefix(" ")
        existing = fields.get(key)
        if existing is None:
            fields[key] = value
        elif isinstance(existing, list):
            existing.append(value)
        else:
            fields[key] = [existing, value]
    return fields


def strip_login_preamble(capture: bytes) -> bytes:
    """The events of a recorded ``.ami`` stream without what belongs to its own login: the
    greeting line, the Login response and the FullyBooted/SuccessfulAuth events right after
    it. The rest (events, responses to the recorder's actions) is replayed as is."""
    data = capture
    if data.startswith(b"Asterisk Call Manager/"):
        data = data.split(b"\r\n", 1)[1] if b"\r\n" in data else b""
    frames = data.split(FRAME_END)
    index = 0
    if frames and frames[0].startswith(b"Response:"):
        index = 1
    while index < len(frames) and frames[index].startswith(
        (b"Event: FullyBooted\r\n", b"Event: SuccessfulAuth\r\n")
    ):
        index += 1
    return FRAME_END.join(frames[index:])


def _text(value: str | list[str] | None, default: str = "") -> str:
    if value is None:
        return default
    return value if isinstance(value, str) else (value[-1] if value else default)


def _true(value: str | list[str] | None) -> bool:
    return _text(value).strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class _Filter:
    """One session filter: advanced criteria or, when ``legacy``, a regex on the event text."""

    include: bool
    name: str | None = None
    header: str | None = None
    method: str = "none"
    expression: str = ""
    legacy: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, criteria: str, expression: str) -> _Filter:
        if not criteria:
            include = not expression.startswith("!")
            return cls(include, legacy=re.compile(expression.removeprefix("!")))
        parts = dict(re.findall(r"(\w+)\(([^)]*)\)", criteria))
        unknown = set(parts) - {"action", "name", "header", "method"}
        action = parts.get("action", "include")
        method = parts.get("method", "none" if not expression else "regex")
        if unknown or action not in {"include", "exclude"}:
            raise ValueError(criteria)
        if method not in {"regex", "exact", "starts_with", "ends_with", "contains", "none"}:
            raise ValueError(criteria)
        return cls(action == "include", parts.get("name"), parts.get("header"), method, expression)

    def matches(self, headers: Mapping[str, str | list[str]], text: str) -> bool:
        if self.legacy is not None:
            return self.legacy.search(text) is not None
        if self.name is not None and _text(headers.get("Event")) != self.name:
            return False
        if self.header is not None:
            if self.header not in headers:
                return False
            data = _text(headers[self.header])
        else:
            data = text
        expr = self.expression
        match self.method:
            case "none":
                return True
            case "exact":
                return data == expr
            case "starts_with":
                return data.startswith(expr)
            case "ends_with":
                return data.endswith(expr)
            case "contains":
                return expr in data
            case _:
                return re.search(expr, data) is not None


@dataclass(eq=False)
class _Session:
    writer: asyncio.StreamWriter
    authenticated: bool = False
    events: bool = True
    filters: list[_Filter] = field(default_factory=list)

    def wants(self, headers: Mapping[str, str | list[str]], text: str) -> bool:
        if not (self.authenticated and self.events):
            return False
        includes = [f for f in self.filters if f.include]
        excludes = [f for f in self.filters if not f.include]
        if includes and not any(f.matches(headers, text) for f in includes):
            return False
        return not any(f.matches(headers, text) for f in excludes)

    def send(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)


class FakeAmiServer:
    """See the module docstring. ``port=0`` picks a free port (read :attr:`port` after
    :meth:`start`)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "callcenter",
        secret: str = "secret",
        *,
        auth_fail_delay_s: float = 0.05,
        originate_handler: OriginateHandler | None = None,
    ) -> None:
        self.host = host
        self._port = port
        self.username = username
        self.secret = secret
        self.auth_fail_delay_s = auth_fail_delay_s
        self.originate_handler = originate_handler
        #: Told about every action that has a handler here, once it was handled.
        self.action_listeners: list[ActionListener] = []
        #: Every action received, in order, from every connection.
        self.actions: list[ActionFields] = []
        #: loop.time() of every accepted TCP connection.
        self.connect_times: list[float] = []
        #: Action names (any case) recorded but never answered.
        self.silent_actions: set[str] = set()
        #: Action name (any case) -> seconds to wait before answering it; the connection
        #: reads nothing meanwhile, like a busy Asterisk.
        self.response_delays: dict[str, float] = {}
        self.filter_allowed = True
        #: False (default): Hangup/Redirect/BlindTransfer/Atxfer of a channel not in
        #: :attr:`channels` just succeed; True: Asterisk's "No such channel" error.
        self.strict_channels = False
        #: Live state answered by CoreShowChannels / QueueStatus, keyed as Asterisk spells.
        self.channels: dict[str, dict[str, str]] = {}
        #: Channel name -> its variables, as ``Getvar`` reads them.
        self.channel_variables: dict[str, dict[str, str]] = {}
        self.queues: dict[str, dict[str, str]] = {}
        self.members: list[dict[str, str]] = []
        self.entries: list[dict[str, str]] = []
        self._server: asyncio.Server | None = None
        self._sessions: list[_Session] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiters: list[asyncio.Future[None]] = []
        self._ids = itertools.count(1)
        self._started_at = time.time()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self._port)
        self._port = self._server.sockets[0].getsockname()[1]
        self._started_at = time.time()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self.drop_clients()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def connections(self) -> int:
        """Number of TCP connections accepted so far."""
        return len(self.connect_times)

    @property
    def clients(self) -> int:
        """Number of logged-in connections still open."""
        return sum(1 for s in self._sessions if s.authenticated)

    # -- test and demo hooks -------------------------------------------------------------

    def broadcast_event(self, headers: Mapping[str, str | list[str]]) -> None:
        """Send one event (``Event`` first) to every logged-in session whose filters want it."""
        data = encode_frame(headers)
        text = data.decode("utf-8")
        for session in self._sessions:
            if session.wants(headers, text):
                session.send(data)

    async def play(
        self, data: bytes, *, chunk_size: int | None = None, delay_s: float = 0.0
    ) -> None:
        """Write raw bytes (a capture, see :func:`strip_login_preamble`) to every logged-in
        session, in ``chunk_size`` pieces with ``delay_s`` between them. Unfiltered."""
        size = chunk_size or len(data) or 1
        for start in range(0, len(data), size):
            chunk = data[start : start + size]
            for session in self._sessions:
                if session.authenticated:
                    session.send(chunk)
            for session in list(self._sessions):
                with contextlib.suppress(ConnectionError):
                    await session.writer.drain()
            if delay_s:
                await asyncio.sleep(delay_s)

    async def drop_clients(self) -> None:
        """Close every client connection (a network drop as the client sees it)."""
        sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.writer.close()
        for session in sessions:
            with contextlib.suppress(ConnectionError):
                await session.writer.wait_closed()

    async def shutdown_event(self, restart: bool = False) -> None:
        """What Asterisk does on ``core stop/restart``: ``Event: Shutdown``, then close."""
        self.broadcast_event(
            {
                "Event": "Shutdown",
                "Privilege": "system,all",
                "Shutdown": "Cleanly",
                "Restart": "True" if restart else "False",
            }
        )
        await self.drop_clients()

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
        """Wait until ``predicate()`` holds; it is re-checked whenever an action arrives or a
        connection opens or closes. Raises TimeoutError."""
        async with asyncio.timeout(timeout_s):
            while not predicate():
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                try:
                    await waiter
                finally:
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(waiter)

    def actions_named(self, name: str) -> list[ActionFields]:
        lowered = name.lower()
        return [a for a in self.actions if _text(a.get("Action")).lower() == lowered]

    async def wait_for_action(
        self, name: str, count: int = 1, timeout_s: float = 5.0
    ) -> ActionFields:
        """Wait until ``count`` actions called ``name`` were received; return the last."""
        await self.wait_for(lambda: len(self.actions_named(name)) >= count, timeout_s)
        return self.actions_named(name)[count - 1]

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- live state helpers --------------------------------------------------------------

    def new_uniqueid(self) -> str:
        return f"{int(self._started_at)}.{next(self._ids)}"

    def add_queue(self, name: str, strategy: str = "rrmemory", **params: str) -> None:
        self.queues[name] = {
            "Queue": name,
            "Max": "0",
            "Strategy": strategy,
            "Calls": "0",
            "Holdtime": "0",
            "TalkTime": "0",
            "Completed": "0",
            "Abandoned": "0",
            "ServiceLevel": "20",
            "ServicelevelPerf": "0.0",
            "ServicelevelPerf2": "0.0",
            "Weight": "0",
            **params,
        }

    def add_member(
        self,
        queue: str,
        interface: str,
        member_name: str = "",
        state_interface: str = "",
        penalty: int = 0,
        paused: bool = False,
        paused_reason: str = "",
    ) -> dict[str, str]:
        member = {
            "Queue": queue,
            "MemberName": member_name or interface,
            "Interface": interface,
            "StateInterface": state_interface or interface,
            "Membership": "dynamic",
            "Penalty": str(penalty),
            "CallsTaken": "0",
            "LastCall": "0",
            "LastPause": "0",
            "LoginTime": str(int(time.time())),
            "InCall": "0",
            "Status": "1",
            "Paused": "1" if paused else "0",
            "PausedReason": paused_reason,
            "Ringinuse": "0",
            "Wrapuptime": "0",
        }
        self.members.append(member)
        return member

    def add_channel(
        self,
        name: str,
        uniqueid: str | None = None,
        linkedid: str | None = None,
        *,
        state: int = 6,
        caller_num: str = "",
        caller_name: str = "",
        context: str = "default",
        exten: str = "s",
        application: str = "",
        application_data: str = "",
        bridge_id: str = "",
    ) -> dict[str, str]:
        uniqueid = uniqueid or self.new_uniqueid()
        channel = {
            "Channel": name,
            "ChannelState": str(state),
            "ChannelStateDesc": _STATE_DESC.get(state, "Unknown"),
            "CallerIDNum": caller_num or "<unknown>",
            "CallerIDName": caller_name or "<unknown>",
            "ConnectedLineNum": "<unknown>",
            "ConnectedLineName": "<unknown>",
            "Language": "en",
            "AccountCode": "",
            "Context": context,
            "Exten": exten,
            "Priority": "1",
            "Uniqueid": uniqueid,
            "Linkedid": linkedid or uniqueid,
            "Application": application,
            "ApplicationData": application_data,
            "Duration": "00:00:00",
            "BridgeId": bridge_id,
        }
        self.channels[name] = channel
        return channel

    def add_entry(self, queue: str, channel: Mapping[str, str], wait_s: int = 0) -> None:
        position = 1 + sum(1 for e in self.entries if e["Queue"] == queue)
        self.entries.append(
            {
                "Queue": queue,
                "Position": str(position),
                "Channel": channel["Channel"],
                "Uniqueid": channel["Uniqueid"],
                "CallerIDNum": channel.get("CallerIDNum", "<unknown>"),
                "CallerIDName": channel.get("CallerIDName", "<unknown>"),
                "ConnectedLineNum": "<unknown>",
                "ConnectedLineName": "<unknown>",
                "Wait": str(wait_s),
                "Priority": "0",
            }
        )

    # -- connection handling -----------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        session = _Session(writer)
        self._sessions.append(session)
        self.connect_times.append(asyncio.get_running_loop().time())
        self._notify()
        try:
            writer.write(GREETING)
            while not writer.is_closing():
                try:
                    frame = await reader.readuntil(FRAME_END)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    break
                action = decode_frame(frame[: -len(FRAME_END)])
                if not action:
                    continue
                self.actions.append(action)
                self._notify()
                await self._dispatch(session, action)
        finally:
            self._tasks.discard(task)
            if session in self._sessions:
                self._sessions.remove(session)
            session.authenticated = False
            self._notify()
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _dispatch(self, session: _Session, action: ActionFields) -> None:
        name = _text(action.get("Action"))
        lowered = name.lower()
        if lowered in {n.lower() for n in self.silent_actions}:
            return
        delay = {n.lower(): d for n, d in self.response_delays.items()}.get(lowered)
        if delay:
            await asyncio.sleep(delay)
        if not session.authenticated and lowered not in {"login", "logoff", "challenge"}:
            self._respond(session, action, "Error", "Permission denied")
            return
        handler = _HANDLERS.get(lowered)
        if handler is None:
            self._respond(
                session,
                action,
                "Error",
                f"Invalid/unknown command: {name}. Use Action: ListCommands to show "
                "available commands.",
            )
            return
        result = handler(self, session, action)
        if inspect.isawaitable(result):
            await result
        for listener in list(self.action_listeners):
            listener(self, action)

    def _respond(
        self,
        session: _Session,
        action: ActionFields,
        response: str,
        message: str | None = None,
        **extra: str,
    ) -> None:
        headers: dict[str, str] = {"Response": response}
        if "ActionID" in action:
            headers["ActionID"] = _text(action["ActionID"])
        if message is not None:
            headers["Message"] = message
        headers.update(extra)
        session.send(encode_frame(headers))

    def _send_list(
        self,
        session: _Session,
        action: ActionFields,
        message: str,
        complete: str,
        items: Iterable[tuple[str, Mapping[str, str]]],
    ) -> None:
        self._respond(session, action, "Success", EventList="start", Message=message)
        action_id = _text(action.get("ActionID"))
        count = 0
        for event, fields in items:
            if complete == "CoreShowChannelsComplete":
                headers = {"Event": event, "ActionID": action_id, **fields}
            else:
                headers = {"Event": event, **fields, "ActionID": action_id}
            session.send(encode_frame(headers))
            count += 1
        session.send(
            encode_frame(
                {
                    "Event": complete,
                    "ActionID": action_id,
                    "EventList": "Complete",
                    "ListItems": str(count),
                }
            )
        )

    def _spawn(self, awaitable: Awaitable[None]) -> None:
        async def run() -> None:
            await awaitable

        task = asyncio.get_running_loop().create_task(run(), name="fake-ami originate")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- action handlers -------------------------------------------------------------------

    async def _login(self, session: _Session, action: ActionFields) -> None:
        if (
            _text(action.get("Username")) == self.username
            and _text(action.get("Secret")) == self.secret
        ):
            session.authenticated = True
            session.events = _text(action.get("Events"), "on").lower() not in {"off", "no"}
            self._respond(session, action, "Success", "Authentication accepted")
            uptime = str(int(time.time() - self._started_at))
            session.send(
                encode_frame(
                    {
                        "Event": "FullyBooted",
                        "Privilege": "system,all",
                        "Uptime": uptime,
                        "LastReload": uptime,
                        "Status": "Fully Booted",
                    }
                )
            )
            return
        await asyncio.sleep(self.auth_fail_delay_s)
        self._respond(session, action, "Error", "Authentication failed")
        with contextlib.suppress(ConnectionError):
            await session.writer.drain()
        session.writer.close()

    def _logoff(self, session: _Session, action: ActionFields) -> None:
        self._respond(session, action, "Goodbye", "Thanks for all the fish.")
        session.writer.close()

    def _ping(self, session: _Session, action: ActionFields) -> None:
        self._respond(session, action, "Success", Ping="Pong", Timestamp=f"{time.time():.6f}")

    def _events(self, session: _Session, action: ActionFields) -> None:
        session.events = _text(action.get("EventMask"), "on").lower() not in {"off", "no"}
        session_state = "On" if session.events else "Off"
        self._respond(session, action, "Success", Events=session_state)

    def _filter(self, session: _Session, action: ActionFields) -> None:
        if not self.filter_allowed:
            self._respond(session, action, "Error", "Permission denied")
            return
        if _text(action.get("Operation")).lower() != "add":
            self._respond(session, action, "Error", "Unknown operation")
            return
        try:
            parsed = _Filter.parse(_text(action.get("MatchCriteria")), _text(action.get("Filter")))
        except (ValueError, re.error):
            self._respond(
                session,
                action,
                "Error",
                "Filter was formatted incorrectly.  Check the syntax of the filter given.",
            )
            return
        session.filters.append(parsed)
        self._respond(session, action, "Success", "Success")

    def _core_show_channels(self, session: _Session, action: ActionFields) -> None:
        self._send_list(
            session,
            action,
            "Channels will follow",
            "CoreShowChannelsComplete",
            (("CoreShowChannel", channel) for channel in list(self.channels.values())),
        )

    def _queue_status(self, session: _Session, action: ActionFields) -> None:
        wanted = _text(action.get("Queue"))
        items: list[tuple[str, Mapping[str, str]]] = []
        for name, params in self.queues.items():
            if wanted and name != wanted:
                continue
            waiting = [e for e in self.entries if e["Queue"] == name]
            items.append(("QueueParams", {**params, "Calls": str(len(waiting))}))
            for m in self.members:
                if m["Queue"] != name:
                    continue
                item = {"Queue": name, "Name": m["MemberName"], "Location": m["Interface"]}
                item.update(
                    (k, v)
                    for k, v in m.items()
                    if k not in {"Queue", "MemberName", "Interface", "Ringinuse"}
                )
                items.append(("QueueMember", item))
            items.extend(("QueueEntry", e) for e in waiting)
        self._send_list(session, action, "Queue status will follow", "QueueStatusComplete", items)

    def _originate(self, session: _Session, action: ActionFields) -> None:
        self._respond(session, action, "Success", "Originate successfully queued")
        handler = self.originate_handler or _default_originate
        result = handler(self, action)
        if result is not None:
            self._spawn(result)

    def _member_event(self, event: str, member: Mapping[str, str]) -> None:
        self.broadcast_event({"Event": event, "Privilege": "agent,all", **member})

    def _queue_pause(self, session: _Session, action: ActionFields) -> None:
        interface = _text(action.get("Interface"))
        queue = _text(action.get("Queue"))
        paused = _true(action.get("Paused"))
        found = [
            m
            for m in self.members
            if m["Interface"] == interface and (not queue or m["Queue"] == queue)
        ]
        if not found:
            self._respond(session, action, "Error", "Interface not found")
            return
        verb = "paused" if paused else "unpaused"
        self._respond(session, action, "Success", f"Interface {verb} successfully")
        for member in found:
            member["Paused"] = "1" if paused else "0"
            member["PausedReason"] = _text(action.get("Reason")) if paused else ""
            if paused:
                member["LastPause"] = str(int(time.time()))
            self._member_event("QueueMemberPause", member)

    def _queue_add(self, session: _Session, action: ActionFields) -> None:
        queue = _text(action.get("Queue"))
        interface = _text(action.get("Interface"))
        if queue not in self.queues:
            self._respond(
                session, action, "Error", "Unable to add interface to queue: No such queue"
            )
            return
        if any(m["Queue"] == queue and m["Interface"] == interface for m in self.members):
            self._respond(session, action, "Error", "Unable to add interface: Already there")
            return
        member = self.add_member(
            queue,
            interface,
            member_name=_text(action.get("MemberName")),
            state_interface=_text(action.get("StateInterface")),
            penalty=int(_text(action.get("Penalty"), "0") or 0),
            paused=_true(action.get("Paused")),
            paused_reason=_text(action.get("Reason")),
        )
        self._respond(session, action, "Success", "Added interface to queue")
        self._member_event("QueueMemberAdded", member)

    def _queue_remove(self, session: _Session, action: ActionFields) -> None:
        queue = _text(action.get("Queue"))
        interface = _text(action.get("Interface"))
        if queue not in self.queues:
            self._respond(
                session, action, "Error", "Unable to remove interface from queue: No such queue"
            )
            return
        for member in self.members:
            if member["Queue"] == queue and member["Interface"] == interface:
                self.members.remove(member)
                self._respond(session, action, "Success", "Removed interface from queue")
                self._member_event("QueueMemberRemoved", member)
                return
        self._respond(session, action, "Error", "Unable to remove interface: Not there")

    def _channel(
        self, session: _Session, action: ActionFields, message: str, error: str = "No such channel"
    ) -> dict[str, str] | None:
        """The channel an action names. Unknown: answered with Asterisk's error when
        :attr:`strict_channels`, else with plain success (nothing else happens); None then."""
        channel = self.channels.get(_text(action.get("Channel")))
        if channel is None:
            if self.strict_channels:
                self._respond(session, action, "Error", error)
            else:
                self._respond(session, action, "Success", message)
        return channel

    def _getvar(self, session: _Session, action: ActionFields) -> None:
        # Asterisk answers an unknown channel with an error, an unset variable with "".
        name = _text(action.get("Channel"))
        if name not in self.channels:
            self._respond(session, action, "Error", "No such channel")
            return
        variable = _text(action.get("Variable"))
        value = self.channel_variables.get(name, {}).get(variable, "")
        self._respond(session, action, "Success", None, Variable=variable, Value=value)

    def _hangup(self, session: _Session, action: ActionFields) -> None:
        channel = self._channel(session, action, "Channel Hungup")
        if channel is None:
            return
        del self.channels[channel["Channel"]]
        self.entries = [e for e in self.entries if e["Uniqueid"] != channel["Uniqueid"]]
        self._respond(session, action, "Success", "Channel Hungup")
        cause = _text(action.get("Cause"), "16") or "16"
        self.broadcast_event(
            {
                "Event": "Hangup",
                "Privilege": "call,all",
                **_channel_headers(channel),
                "Cause": cause,
                "Cause-txt": "Normal Clearing" if cause == "16" else "Unknown",
            }
        )

    def _redirect(self, session: _Session, action: ActionFields) -> None:
        channel = self._channel(
            session, action, "Redirect successful", "Channel specified does not exist"
        )
        if channel is None:
            return
        channel["Context"] = _text(action.get("Context"), channel["Context"])
        channel["Exten"] = _text(action.get("Exten"), channel["Exten"])
        channel["Priority"] = _text(action.get("Priority"), "1")
        channel["BridgeId"] = ""
        self._respond(session, action, "Success", "Redirect successful")

    def _blind_transfer(self, session: _Session, action: ActionFields) -> None:
        channel = self._channel(session, action, "Transfer succeeded")
        if channel is None:
            return
        self._respond(session, action, "Success", "Transfer succeeded")
        headers: dict[str, str] = {"Event": "BlindTransfer", "Privilege": "call,all"}
        headers["Result"] = "Success"
        headers.update(_channel_headers(channel, "Transferer"))
        bridge = channel.get("BridgeId", "")
        peer = next(
            (
                c
                for c in self.channels.values()
                if bridge and c is not channel and c.get("BridgeId") == bridge
            ),
            None,
        )
        if peer is not None:
            headers.update(_channel_headers(peer, "Transferee"))
        headers["BridgeUniqueid"] = bridge
        headers["IsExternal"] = "Yes"
        headers["Context"] = _text(action.get("Context"))
        headers["Extension"] = _text(action.get("Exten"))
        self.broadcast_event(headers)

    def _atxfer(self, session: _Session, action: ActionFields) -> None:
        if self._channel(session, action, "Atxfer successfully queued") is not None:
            self._respond(session, action, "Success", "Atxfer successfully queued")


def _channel_headers(channel: Mapping[str, str], prefix: str = "") -> dict[str, str]:
    keys = (
        "Channel",
        "ChannelState",
        "ChannelStateDesc",
        "CallerIDNum",
        "CallerIDName",
        "ConnectedLineNum",
        "ConnectedLineName",
        "Language",
        "AccountCode",
        "Context",
        "Exten",
        "Priority",
        "Uniqueid",
        "Linkedid",
    )
    return {prefix + key: channel.get(key, "") for key in keys}


def _default_originate(server: FakeAmiServer, action: ActionFields) -> None:
    """Without a handler every Originate "answers" at once (Reason 4)."""
    caller = _text(action.get("CallerID"))
    match = re.match(r'\s*"?([^"<]*)"?\s*<([^>]*)>', caller)
    name, number = (match.group(1).strip(), match.group(2)) if match else ("", caller)
    server.broadcast_event(
        {
            "Event": "OriginateResponse",
            "Privilege": "call,all",
            "ActionID": _text(action.get("ActionID")),
            "Response": "Success",
            "Channel": _text(action.get("Channel")),
            "Context": _text(action.get("Context")),
            "Exten": _text(action.get("Exten")),
            "Reason": "4",
            "Uniqueid": server.new_uniqueid(),
            "CallerIDNum": number or "<unknown>",
            "CallerIDName": name or "<unknown>",
        }
    )


_Handler = Callable[[FakeAmiServer, _Session, ActionFields], Awaitable[None] | None]

_HANDLERS: dict[str, _Handler] = {
    "login": FakeAmiServer._login,
    "logoff": FakeAmiServer._logoff,
    "ping": FakeAmiServer._ping,
    "events": FakeAmiServer._events,
    "filter": FakeAmiServer._filter,
    "coreshowchannels": FakeAmiServer._core_show_channels,
    "queuestatus": FakeAmiServer._queue_status,
    "originate": FakeAmiServer._originate,
    "queuepause": FakeAmiServer._queue_pause,
    "queueadd": FakeAmiServer._queue_add,
    "queueremove": FakeAmiServer._queue_remove,
    "getvar": FakeAmiServer._getvar,
    "hangup": FakeAmiServer._hangup,
    "redirect": FakeAmiServer._redirect,
    "blindtransfer": FakeAmiServer._blind_transfer,
    "atxfer": FakeAmiServer._atxfer,
}
