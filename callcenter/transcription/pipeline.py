"""Transcribing one recording: its legs, each leg through vosk, the legs merged by time.

**Recordings.** The shipped dialplan records a queue call with MixMonitor into
``<uniqueid>.wav`` and, with the ``r()``/``t()`` options, each direction separately:
``<uniqueid>-in.wav`` is what the customer said, ``<uniqueid>-out.wav`` what the agent said.
When both legs are there each is transcribed on its own and the segments are merged in time
order with their speaker; a plain mixed recording alone gives speaker ``unknown``. A voice
note is the agent's own voice.

**Pipeline of one leg** (:func:`transcribe_leg`): read the WAV (8 kHz telephony or 16 kHz
notes), find the speech regions (silence gate, at the file's own rate), resample only those
to the model's rate and feed only those to vosk; timestamps stay positions in the recording
(see :mod:`callcenter.transcription.audio` and :mod:`callcenter.transcription.engine`). The
worker-process side (:func:`init_worker`, :func:`work_leg`) keeps one model per process.
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callcenter.store.transcripts import (
    SubjectKind,
)
from callcenter.transcription.audio import (
    AudioError,
    Gate,
    read_wav,
    resample_regions,
    speech_regions,
    speech_seconds,
)
from callcenter.transcription.engine import (
    Engine,
    ModelError,
    Segment,
    load_engine,
)

log = logging.getLogger(__name__)


class Speaker(enum.Enum):
    CUSTOMER = "customer"
    AGENT = "agent"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Leg:
    path: str
    speaker: Speaker


@dataclass(frozen=True, slots=True)
class TranscriptSegment:
    speaker: Speaker
    start_s: float
    end_s: float
    text: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "speaker": self.speaker.value,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "text": self.text,
            "confidence": self.confidence,
        }


@dataclass(frozen=True, slots=True)
class LegResult:
    """One leg transcribed: its segments, its length and how much of it the gate let through."""

    speaker: Speaker
    segments: list[Segment]
    duration_s: float
    speech_s: float


@dataclass(frozen=True, slots=True)
class Transcript:
    segments: list[TranscriptSegment]
    duration_s: float
    speech_s: float
    model: str

    @property
    def text(self) -> str:
        return "\n".join(segment.text for segment in self.segments)

    def to_dict(self) -> dict[str, Any]:
        return {
            "segments": [segment.to_dict() for segment in self.segments],
            "text": self.text,
            "duration_s": self.duration_s,
            "speech_s": self.speech_s,
            "model": self.model,
        }


# --- the pipeline (pure of I/O except reading the WAV) -------------------------------------

LEG_SUFFIXES = {"-in": Speaker.CUSTOMER, "-out": Speaker.AGENT}


def recording_legs(recording: str) -> list[Leg]:
    """The files to transcribe for ``recording`` (filesystem lookups: call off the loop).

    ``X.wav`` with ``X-in.wav`` and ``X-out.wav`` beside it: the two legs. A leg file named
    directly: that leg. Otherwise the file itself, speaker unknown.
    """
    path = Path(recording)
    stem = path.stem
    for suffix, speaker in LEG_SUFFIXES.items():
        if stem.endswith(suffix):
            return [Leg(recording, speaker)]
    legs = [
        Leg(str(path.with_name(f"{stem}{suffix}{path.suffix}")), speaker)
        for suffix, speaker in LEG_SUFFIXES.items()
    ]
    if all(os.path.isfile(leg.path) for leg in legs):
        return legs
    return [Leg(recording, Speaker.UNKNOWN)]


def transcribe_leg(engine: Engine, leg: Leg, gate: Gate | None = None) -> LegResult:
    """Read, gate, resample the speech and recognise one file. Raises :class:`AudioError`."""
    audio = read_wav(leg.path)
    speech, regions = resample_regions(audio, speech_regions(audio, gate), engine.sample_rate)
    segments = engine.recognize(speech.pcm(), speech.sample_rate, regions) if regions else []
    return LegResult(
        leg.speaker, segments, audio.duration_s, speech_seconds(regions, speech.sample_rate)
    )


def merge_legs(results: Sequence[LegResult], model: str) -> Transcript:
    """One time-ordered list of segments from the legs of one recording."""
    order = {speaker: index for index, speaker in enumerate(Speaker)}
    segments = [
        TranscriptSegment(result.speaker, s.start_s, s.end_s, s.text, s.confidence)
        for result in results
        for s in result.segments
    ]
    segments.sort(key=lambda s: (s.start_s, s.end_s, order[s.speaker]))
    return Transcript(
        segments=segments,
        duration_s=round(max((r.duration_s for r in results), default=0.0), 3),
        speech_s=round(sum(r.speech_s for r in results), 3),
        model=model,
    )


def transcribe_recording(
    engine: Engine, recording: str, legs: Sequence[Leg] | None = None
) -> Transcript:
    """The whole recording in this process, leg after leg (the CLI; jobs use the pool)."""
    chosen = recording_legs(recording) if legs is None else legs
    return merge_legs([transcribe_leg(engine, leg) for leg in chosen], engine.name)


# --- worker processes ----------------------------------------------------------------------


@dataclass(slots=True)
class _WorkerState:
    engine: Engine | None = None
    error: ModelError | None = None


# Lives only in pool worker processes (set by their initializer); the server process never
# loads a model.
_WORKER = _WorkerState()


def init_worker(model_dir: str) -> None:
    """Process-pool initializer: load the model once for this process. A failure is kept
    and raised by each task (raising here would break the whole pool)."""
    try:
        _WORKER.engine = load_engine(model_dir)
    except ModelError as exc:
        _WORKER.error = exc


def work_leg(path: str, speaker: str) -> LegResult:
    """Pool task: transcribe one leg with this process's model."""
    if _WORKER.engine is None:
        raise _WORKER.error or ModelError("(none)", "worker has no model loaded")
    return transcribe_leg(_WORKER.engine, Leg(path, Speaker(speaker)))


def legs_for_job(kind: SubjectKind, recording: str) -> list[Leg]:
    """The files of a job, the leg with the most speech first (reads and gates each leg:
    call off the loop).

    The legs go to the pool in this order. Were the customer leg always first, one worker
    would take every customer leg and the other every agent leg, and whichever side talks
    more would keep its worker busy while the other idles; longest first (the LPT rule)
    pairs one call's long leg with the previous call's short one instead.
    """
    if not os.path.isfile(recording):
        raise AudioError(recording, "file not found")
    if kind is SubjectKind.VOICE_NOTE:
        return [Leg(recording, Speaker.AGENT)]
    legs = recording_legs(recording)
    if len(legs) < 2:
        return legs
    work = {leg: _speech_in(leg) for leg in legs}
    return sorted(legs, key=work.__getitem__, reverse=True)


def _speech_in(leg: Leg) -> float:
    """Seconds the gate lets through: what the recogniser's work on the leg grows with."""
    audio = read_wav(leg.path)
    return speech_seconds(speech_regions(audio), audio.sample_rate)
