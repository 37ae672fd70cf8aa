"""The pump: AMI events -> call tracker and wallboard -> call log writer and live subscribers.

The AMI link calls :meth:`Pump.on_event` / :meth:`Pump.on_resync` synchronously from the
protocol's data handler, and the pump applies them right there: the tracker and the board
are pure and take microseconds per event (a full 256 KiB TCP read of a burst is a few
milliseconds, far under the 100 ms Asterisk tolerates from a stalled client), and everything
downstream only enqueues — finished calls go to the call-log writer (which batches and
retries: a finished call is never dropped), pauses to the pause log, and every change to the
listeners (screen pops, transcription feed), none of which awaits. Applying in place keeps
the events' order without a queue and a task switch per TCP read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from callcenter.model import events as ev
from callcenter.model.board import Board, PauseInterval
from callcenter.model.calls import CallTracker
from callcenter.model.records import CallFinished, CallRecord, Change

log = logging.getLogger(__name__)


class Pump:
    def __init__(
        self,
        tracker: CallTracker,
        sink: Callable[[CallRecord], None],
        publish: Callable[[Change], None] | None = None,
        board: Board | None = None,
        pause_sink: Callable[[PauseInterval], None] | None = None,
    ) -> None:
        self.tracker = tracker
        self.board = board or Board()
        #: Bumped whenever the wallboard changed: the supervisor feed pushes on a change.
        self.board_version = 0
        self._sink = sink
        self._pause_sink = pause_sink
        self._publish = publish
        self.events_applied = 0
        #: Told about every raw event once applied (e.g. the dialer's OriginateResponse);
        #: each must only enqueue, never block; a failing listener is logged, not fatal.
        self.event_listeners: list[Callable[[ev.Event, float], None]] = []
        #: Told about every resync snapshot once applied (same rules).
        self.resync_listeners: list[Callable[[list[ev.Event], float], None]] = []
        self.last_resync: list[ev.Event] | None = None

    # --- called by the AMI link (synchronous, never blocks) ---------------------------------

    def on_event(self, event: ev.Event, now: float) -> None:
        self._apply(event, now)

    def on_resync(self, snapshot: list[ev.Event], now: float) -> None:
        self._apply(snapshot, now)

    def _apply(self, item: ev.Event | list[ev.Event], now: float) -> None:
        if isinstance(item, list):
            changes = self.tracker.resync(item, now)
            self.last_resync = item
            self.board.resync(item, now)
            self.board_version += 1
            for resync_listener in self.resync_listeners:
                try:
                    resync_listener(item, now)
                except Exception:
                    log.exception("a resync listener failed")
        else:
            changes = self.tracker.apply(item, now)
            if self.board.apply(item, now):
                self.board_version += 1
            self.events_applied += 1
            for listener in self.event_listeners:
                try:
                    listener(item, now)
                except Exception:
                    log.exception("an event listener failed on %s", type(item).__name__)
        for pause in self.board.take_pauses():
            if self._pause_sink is not None:
                self._pause_sink(pause)
        for change in changes:
            if isinstance(change, CallFinished):
                self.board.record(change.record)
                self.board_version += 1
                self._sink(change.record)
            if self._publish is not None:
                try:
                    self._publish(change)
                except Exception:
                    log.exception("a live subscriber failed on %s", type(change).__name__)
