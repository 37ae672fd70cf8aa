"""The AMI link: one long-lived, self-healing session with Asterisk's Manager Interface.

Lifecycle of one session (repeated forever by a named background task):

1. TCP connect to ``host:port``; Asterisk greets with ``Asterisk Call Manager/<AMI version>``.
2. ``Login`` with ``Events: on``. A wrong user or secret is answered ``Response: Error`` /
   ``Message: Authentication failed`` (about a second later) and Asterisk closes the socket;
   we log one ERROR line, record it in :attr:`AmiLink.status` and retry with backoff.
3. ``Filter`` actions (``Operation: Add``, advanced ``MatchCriteria``) so Asterisk only queues
   the events we use (see :mod:`callcenter.ami.filters`). Refused without the ``system`` write
   permission: then we log a warning and rely on the client-side pre-filter.
4. Resync: ``CoreShowChannels`` and ``QueueStatus`` list the live channels, queue members,
   queue parameters and waiting callers. ``on_resync(snapshot, now)`` gets them as typed
   events; every live event that arrived since the login is buffered meanwhile and handed to
   ``on_event`` afterwards, in order, so the model never sees a live event for a channel it
   has not been told about. The ``FullyBooted`` event Asterisk sends to every fresh session
   (it says nothing about a restart) is swallowed: ``on_resync`` is the reset signal.
5. Watch: a ``Ping`` every ``ping_interval_s`` must be answered within ``ping_timeout_s``,
   otherwise the peer is considered dead (a silent network drop can leave a TCP socket open
   for hours). ``Event: Shutdown`` (Asterisk stopping or restarting; delivered to on_event
   first) and a dropped socket end the session too.

Between sessions we wait ``reconnect_min_s`` doubling up to ``reconnect_max_s``; the wait
restarts at ``reconnect_min_s`` after every successful login.

Why we own the connection instead of using panoramisk's ``Manager``: its reconnect delay is a
fixed integer (no backoff, sub-second values truncated to 0, a wrong secret retried at that
fixed pace forever), its pings have no timeout (no dead-peer detection), and after a
reconnect it re-sends actions that never got an answer (a second Originate is a second phone
call). So we run ``loop.create_connection`` with our
:class:`~callcenter.ami.stream.AmiProtocol` (a panoramisk ``AMIProtocol``) and keep the state
machine here, in one coroutine that is easy to follow.

Callbacks (``on_event``, ``on_resync``) are synchronous, called from the protocol's data
handler: they must be fast and must not block; their exceptions are logged, never fatal.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from callcenter.ami.filters import EventFilter, filter_actions
from callcenter.ami.stream import AmiProtocol, Headers, Reply
from callcenter.errors import (
    AmiActionError,
    AmiAuthError,
    AmiConnectionError,
    AmiError,
    AmiTimeoutError,
    ValidationError,
)
from callcenter.model.events import Event, FullyBooted, Shutdown, parse_event
from callcenter.settings import AmiSettings

log = logging.getLogger(__name__)

Fields = Mapping[str, str | list[str]]

#: Successful ``Response:`` values (``Goodbye`` answers ``Logoff``, ``Follows`` old Commands).
_SUCCESS = frozenset({"Success", "Goodbye", "Follows"})
#: Never wait less than this between attempts, whatever the settings say.
_MIN_DELAY_S = 0.01


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """Health of the AMI link for ``GET /health``.

    ``since``: clock time of the last change of connected/authenticated/last_error.
    ``reconnects``: successful logins after the first one (recoveries from a lost session).
    """

    connected: bool
    authenticated: bool
    last_error: str | None
    since: float
    reconnects: int


class AmiLink:
    """One AMI session kept alive in the background; see the module docstring."""

    def __init__(
        self,
        settings: AmiSettings,
        on_event: Callable[[Event, float], None],
        on_resync: Callable[[list[Event], float], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._on_event = on_event
        self._on_resync = on_resync
        self._clock = clock
        self._keep = EventFilter.from_spec(settings.events)
        self._use_filters = bool(settings.events)
        self._status = LinkStatus(False, False, None, clock(), 0)
        self._task: asyncio.Task[None] | None = None
        self._protocol: AmiProtocol | None = None
        self._buffer: list[tuple[Event, float]] | None = None
        self._logged_in = False
        self._shutdown: str | None = None
        self._logins = 0
        self._id_prefix = f"cc-{uuid.uuid4().hex[:8]}"
        self._ids = itertools.count(1)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Run :meth:`run` in a background task named ``ami-link HOST:PORT`` (idempotent).
        Needs a running event loop; :meth:`stop` cancels and awaits it."""
        if self._task is not None and not self._task.done():
            return
        s = self._settings
        self._task = asyncio.get_running_loop().create_task(
            self.run(), name=f"ami-link {s.host}:{s.port}"
        )

    async def stop(self) -> None:
        """Cancel the background task, wait for it, close the socket."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise

    async def run(self) -> None:
        """Connect, log in, resync and reconnect forever, in the calling task, until
        cancelled (for callers that own the task themselves; otherwise use start/stop)."""
        try:
            await self._run()
        finally:
            if self._protocol is not None:
                self._protocol.close()
                self._protocol = None
            self._buffer = None
            self._set_status(connected=False, authenticated=False)

    @property
    def status(self) -> LinkStatus:
        return self._status

    def _set_status(self, **changes: object) -> None:
        current = self._status
        if all(getattr(current, key) == value for key, value in changes.items()):
            return
        self._status = dataclasses.replace(current, since=self._clock(), **changes)  # type: ignore[arg-type]

    async def _run(self) -> None:
        s = self._settings
        delay = s.reconnect_min_s
        previous_error: str | None = None
        while True:
            self._logged_in = False
            self._shutdown = None
            try:
                await self._session()
                error = self._shutdown or "connection closed by Asterisk"
                log.warning("AMI session with %s:%d ended: %s", s.host, s.port, error)
            except asyncio.CancelledError:
                raise
            except AmiAuthError as exc:
                error = str(exc)
                if error != previous_error:
                    log.error(
                        "AMI login to %s:%d as %r failed: %s (check [ami] username/secret "
                        "and manager.conf); retrying with backoff",
                        s.host,
                        s.port,
                        s.username,
                        error,
                    )
            except (AmiError, OSError) as exc:
                error = str(exc) or type(exc).__name__
                level = logging.WARNING if error != previous_error else logging.DEBUG
                log.log(level, "AMI link to %s:%d: %s", s.host, s.port, error)
            previous_error = error
            self._set_status(connected=False, authenticated=False, last_error=error)
            if self._logged_in:
                delay = s.reconnect_min_s
            wait = max(delay, _MIN_DELAY_S)
            log.debug("AMI reconnect in %.2f s", wait)
            await asyncio.sleep(wait)
            delay = min(max(delay, _MIN_DELAY_S) * 2, max(s.reconnect_max_s, _MIN_DELAY_S))

    async def _session(self) -> None:
        s = self._settings
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[Exception | None] = loop.create_future()

        def on_lost(exc: Exception | None) -> None:
            if not lost.done():
                lost.set_result(exc)

        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(
                    lambda: AmiProtocol(self._dispatch, on_lost, self._keep), s.host, s.port
                ),
                s.action_timeout_s,
            )
        except TimeoutError as exc:
            raise AmiConnectionError(f"connecting to {s.host}:{s.port} timed out") from exc
        except OSError as exc:
            raise AmiConnectionError(
                f"cannot connect to {s.host}:{s.port}: {exc.strerror or exc}"
            ) from exc
        assert isinstance(protocol, AmiProtocol)
        self._protocol = protocol
        self._buffer = []
        self._set_status(connected=True)
        try:
            await self._login(protocol)
            if self._use_filters:
                await self._add_filters(protocol)
            await self._resync(protocol)
            await self._watch(protocol, lost)
        finally:
            self._buffer = None
            self._protocol = None
            protocol.close()

    async def _login(self, protocol: AmiProtocol) -> None:
        s = self._settings
        try:
            await self._call(
                protocol,
                {"Action": "Login", "Username": s.username, "Secret": s.secret, "Events": "on"},
            )
        except AmiActionError as exc:
            raise AmiAuthError(str(exc)) from exc
        self._logged_in = True
        self._logins += 1
        reconnects = self._status.reconnects + (1 if self._logins > 1 else 0)
        self._status = dataclasses.replace(self._status, reconnects=reconnects)
        self._set_status(authenticated=True, last_error=None)
        log.info("AMI logged in to %s:%d as %r (%s)", s.host, s.port, s.username, protocol.greeting)

    async def _add_filters(self, protocol: AmiProtocol) -> None:
        actions = filter_actions(self._settings.events)
        results = await asyncio.gather(
            *(self._call(protocol, action) for action in actions), return_exceptions=True
        )
        refused = [r for r in results if isinstance(r, AmiActionError)]
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, AmiActionError):
                raise result
        if not refused:
            log.debug("AMI source-side filter set: %d Filter actions", len(actions))
            return
        if len(refused) == len(actions):
            # The shipped manager.conf: no write=system (it would allow Originate into
            # System()), the eventfilter lines filter at the source instead.
            log.info(
                "no per-session AMI filters (%s): relying on manager.conf's eventfilter "
                "lines (dialplans/manager.conf) and on client-side filtering",
                refused[0],
            )
            return
        # Some include filters are active, others not: Asterisk would now hide events we
        # need, and session filters cannot be removed. Start over without them.
        self._use_filters = False
        raise AmiError(
            f"Asterisk accepted only {len(actions) - len(refused)} of {len(actions)} event "
            f"filters ({refused[0]}); reconnecting without source-side filtering"
        )

    async def _resync(self, protocol: AmiProtocol) -> None:
        names = ("CoreShowChannels", "QueueStatus")
        results = await asyncio.gather(
            *(self._call(protocol, {"Action": name}, is_list=True) for name in names),
            return_exceptions=True,
        )
        snapshot: list[Event] = []
        for name, result in zip(names, results, strict=True):
            if isinstance(result, AmiActionError):
                log.error("AMI resync: Asterisk refused %s: %s", name, result)
                continue
            if isinstance(result, BaseException):
                raise result
            for item in result.items:
                try:
                    event = parse_event(item)
                except ValueError as exc:
                    log.warning("AMI resync: dropped malformed %s: %s", item.get("Event"), exc)
                    continue
                if event is not None:
                    snapshot.append(event)
        buffered, self._buffer = self._buffer or [], None
        try:
            self._on_resync(snapshot, self._clock())
        except Exception:
            log.exception("on_resync failed")
        log.info(
            "AMI resync: %d snapshot items, %d buffered live events", len(snapshot), len(buffered)
        )
        for event, received in buffered:
            self._deliver(event, received)

    async def _watch(self, protocol: AmiProtocol, lost: asyncio.Future[Exception | None]) -> None:
        s = self._settings
        if s.ping_interval_s <= 0:
            await lost
            return
        while True:
            done, _ = await asyncio.wait({lost}, timeout=s.ping_interval_s)
            if done:
                return
            limit = s.ping_timeout_s if s.ping_timeout_s > 0 else s.action_timeout_s
            try:
                await self._call(protocol, {"Action": "Ping"}, limit_s=limit)
            except AmiTimeoutError as exc:
                raise AmiTimeoutError(f"no Pong within {limit:g} s: peer considered dead") from exc

    # -- events ----------------------------------------------------------------------------

    def _dispatch(self, event: Event) -> None:
        received = self._clock()
        if self._buffer is not None:
            if not isinstance(event, FullyBooted):
                self._buffer.append((event, received))
        else:
            self._deliver(event, received)
        if isinstance(event, Shutdown):
            self._shutdown = "Asterisk shut down" + (" to restart" if event.restart else "")
            log.warning("%s; reconnecting", self._shutdown)
            if self._protocol is not None:
                self._protocol.close()

    def _deliver(self, event: Event, received: float) -> None:
        try:
            self._on_event(event, received)
        except Exception:
            log.exception("on_event failed on %r", event)

    # -- actions ---------------------------------------------------------------------------

    def new_action_id(self) -> str:
        """A fresh ActionID, for callers that must know it before the action is sent (to
        correlate an ``OriginateResponse`` event that can arrive right after the reply)."""
        return f"{self._id_prefix}-{next(self._ids)}"

    async def _call(
        self,
        protocol: AmiProtocol,
        fields: Fields,
        *,
        is_list: bool = False,
        limit_s: float | None = None,
    ) -> Reply:
        check_fields(fields)
        fields = dict(fields)
        action_id = fields.get("ActionID")
        if not isinstance(action_id, str) or not action_id:
            action_id = self.new_action_id()
            fields["ActionID"] = action_id
        timeout = self._settings.action_timeout_s if limit_s is None else limit_s
        name = fields.get("Action", "?")
        future = protocol.request(fields, is_list=is_list)
        try:
            reply = await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise AmiTimeoutError(f"{name}: no response within {timeout:g} s") from exc
        finally:
            protocol.forget(action_id)
        if reply.response.get("Response") not in _SUCCESS:
            raise AmiActionError(reply.response.get("Message") or f"{name} failed")
        return reply

    def _session_protocol(self) -> AmiProtocol:
        protocol = self._protocol
        if protocol is None or not self._status.authenticated:
            raise AmiConnectionError("not connected to Asterisk")
        return protocol

    async def send_action(self, fields: Fields) -> Headers:
        """Send one action; return its response headers (repeated headers joined by
        newlines). Raises AmiConnectionError (no session), AmiTimeoutError (no response
        within ``action_timeout_s``) or AmiActionError (``Response: Error``; the message is
        Asterisk's). An ``ActionID`` in ``fields`` is used as given."""
        return (await self._call(self._session_protocol(), fields)).response

    async def send_list_action(self, fields: Fields) -> list[Headers]:
        """Send a list action (``CoreShowChannels``, ``QueueStatus``, ``QueueSummary``...);
        return its item events' headers, without the final ``...Complete`` event."""
        return (await self._call(self._session_protocol(), fields, is_list=True)).items

    # -- typed helpers -------------------------------------------------------------------

    async def originate(
        self,
        channel: str,
        *,
        context: str,
        exten: str,
        priority: int = 1,
        caller_id: str | None = None,
        timeout_s: float = 30.0,
        variables: Mapping[str, str] | None = None,
        action_id: str | None = None,
    ) -> str:
        """Asynchronous ``Originate``: Asterisk dials ``channel`` and, once it answers, runs
        ``context,exten,priority``. The reply only says "successfully queued"; the outcome
        comes later as an ``OriginateResponse`` event carrying the returned ActionID
        (``timeout_s``: how long the channel may ring)."""
        action_id = action_id or self.new_action_id()
        fields: dict[str, str | list[str]] = {
            "Action": "Originate",
            "ActionID": action_id,
            "Channel": channel,
            "Context": context,
            "Exten": exten,
            "Priority": str(priority),
            "Timeout": str(int(timeout_s * 1000)),
            "Async": "true",
        }
        if caller_id:
            fields["CallerID"] = caller_id
        if variables:
            fields["Variable"] = [f"{key}={value}" for key, value in variables.items()]
        await self.send_action(fields)
        return action_id

    async def getvar(self, channel: str, variable: str) -> str | None:
        """A channel variable of a live channel; None when the channel is gone (Asterisk
        answers "No such channel") or the variable is unset."""
        try:
            reply = await self.send_action(
                {"Action": "Getvar", "Channel": channel, "Variable": variable}
            )
        except AmiActionError:
            return None
        return reply.get("Value") or None

    async def originate_application(
        self,
        channel: str,
        *,
        application: str,
        data: str,
        caller_id: str | None = None,
        timeout_s: float = 30.0,
    ) -> str:
        """Asynchronous ``Originate`` that runs one dialplan application (e.g. ``ChanSpy``)
        on ``channel`` once it answers, without a dialplan context. Asterisk refuses
        shell-running applications (System, Exec…) unless the AMI user has ``system``."""
        action_id = self.new_action_id()
        fields: dict[str, str | list[str]] = {
            "Action": "Originate",
            "ActionID": action_id,
            "Channel": channel,
            "Application": application,
            "Data": data,
            "Timeout": str(int(timeout_s * 1000)),
            "Async": "true",
        }
        if caller_id:
            fields["CallerID"] = caller_id
        await self.send_action(fields)
        return action_id

    async def queue_pause(
        self, interface: str, paused: bool, reason: str | None = None, queue: str | None = None
    ) -> None:
        """Pause or unpause a member (``Interface`` as in QueueAdd, e.g. ``PJSIP/2001``) in
        ``queue``, or in all its queues when ``queue`` is None. Emits QueueMemberPause."""
        fields = {"Action": "QueuePause", "Interface": interface, "Paused": _bool(paused)}
        if reason:
            fields["Reason"] = reason
        if queue:
            fields["Queue"] = queue
        await self.send_action(fields)

    async def queue_add(
        self,
        queue: str,
        interface: str,
        *,
        member_name: str | None = None,
        state_interface: str | None = None,
        penalty: int | None = None,
        paused: bool = False,
    ) -> None:
        """Log a dynamic member in. ``state_interface`` is the device whose state tells
        whether the agent is busy (``Custom:1001``, or the phone when the interface is a
        Local channel). Emits QueueMemberAdded."""
        fields = {
            "Action": "QueueAdd",
            "Queue": queue,
            "Interface": interface,
            "Paused": _bool(paused),
        }
        if member_name:
            fields["MemberName"] = member_name
        if state_interface:
            fields["StateInterface"] = state_interface
        if penalty is not None:
            fields["Penalty"] = str(penalty)
        await self.send_action(fields)

    async def queue_remove(self, queue: str, interface: str) -> None:
        """Log a dynamic member out. Emits QueueMemberRemoved."""
        await self.send_action({"Action": "QueueRemove", "Queue": queue, "Interface": interface})

    async def hangup(self, channel: str, cause: int | None = None) -> None:
        """Hang up one channel by name (Q.850 ``cause``, default 16 normal clearing)."""
        fields = {"Action": "Hangup", "Channel": channel}
        if cause is not None:
            fields["Cause"] = str(cause)
        await self.send_action(fields)

    async def redirect(self, channel: str, *, context: str, exten: str, priority: int = 1) -> None:
        """Move a channel to another dialplan location. Asterisk emits no transfer event
        for a Redirect: the model sees the channel leave its bridge and continue."""
        await self.send_action(
            {
                "Action": "Redirect",
                "Channel": channel,
                "Context": context,
                "Exten": exten,
                "Priority": str(priority),
            }
        )

    async def blind_transfer(self, channel: str, *, context: str, exten: str) -> None:
        """Blind-transfer the party bridged with ``channel`` (the agent's channel) to
        ``exten@context``; emits a ``BlindTransfer`` event like a phone's SIP REFER."""
        await self.send_action(
            {"Action": "BlindTransfer", "Channel": channel, "Context": context, "Exten": exten}
        )

    async def atxfer(self, channel: str, exten: str, context: str | None = None) -> None:
        """Start an attended transfer from ``channel`` (the agent) to ``exten``: the agent
        talks to the target first; hanging up completes it (``AttendedTransfer`` event)."""
        fields = {"Action": "Atxfer", "Channel": channel, "Exten": exten}
        if context:
            fields["Context"] = context
        await self.send_action(fields)


def check_fields(fields: Fields) -> None:
    """Refuse CR, LF and NUL in an action's names and values: on the wire a line break ends
    the header (and a blank line the action), so such text would inject headers or whole
    actions of its own. Raised as :class:`ValidationError` (the caller's input was bad)."""
    for key, value in fields.items():
        for text in (key, *([value] if isinstance(value, str) else value)):
            if "\r" in text or "\n" in text or "\0" in text:
                raise ValidationError(key, "contains a line break or NUL")


def _bool(value: bool) -> str:
    return "true" if value else "false"
