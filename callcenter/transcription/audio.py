"""Recorded speech as samples: reading WAV files, resampling, and finding where someone speaks.

What arrives here: Asterisk's MixMonitor writes 8 kHz, 16-bit, mono WAV (``wav``; the legs of
``r()``/``t()`` too); the agents' browser voice notes are 16 kHz, 16-bit mono. Anything else in
a RIFF/WAVE container with 16-bit PCM is accepted too (stereo is averaged to mono, any rate is
resampled); other encodings (8-bit, float, a-law, GSM ``.wav49``) are refused with the reason.

The silence gate (:func:`speech_regions`) is an energy gate on 10 ms frames. It is tuned to
keep speech rather than to save work: each region gets generous padding of real audio on both
sides (the recogniser needs the lead-in and the trailing silence to place word boundaries and
endpoints), and only gaps well over a second are cut. Regions are sample ranges of the
original signal, so timestamps computed from them are true positions in the recording. The gate
runs at the file's own rate and only the regions are resampled to the model's rate
(:func:`resample_regions`): the silence between them is never converted.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt

from callcenter.errors import TranscriptionError

Samples = npt.NDArray[np.int16]


class AudioError(TranscriptionError):
    """The audio file cannot be used: missing, empty, truncated, corrupt or an encoding we do
    not read. Permanent: retrying the same file gives the same answer."""

    error_id = "bad_audio"

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Audio:
    """Mono 16-bit PCM at ``sample_rate`` Hz."""

    samples: Samples
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    def pcm(self, start: int = 0, end: int | None = None) -> bytes:
        """Little-endian 16-bit PCM bytes of ``samples[start:end]`` (what vosk is fed)."""
        return self.samples[start:end].astype("<i2", copy=False).tobytes()


@dataclass(frozen=True, slots=True)
class Region:
    """A half-open range ``[start, end)`` of sample indices."""

    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


# --- WAV ---------------------------------------------------------------------------------

_WAVE_FORMAT_PCM = 0x0001
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE
_MIN_RATE = 4000
_MAX_RATE = 192000


def read_wav(path: str | os.PathLike[str]) -> Audio:
    """Read a 16-bit PCM WAV file as mono. Raises :class:`AudioError` with the reason."""
    name = os.fspath(path)
    try:
        data = Path(name).read_bytes()
    except FileNotFoundError:
        raise AudioError(name, "file not found") from None
    except OSError as exc:
        raise AudioError(name, f"cannot read: {exc.strerror or exc}") from exc
    return decode_wav(data, name)


def decode_wav(data: bytes, name: str = "<wav>") -> Audio:
    """Parse a RIFF/WAVE byte string (chunk by chunk, so LIST/fact chunks and a data size of
    0 or 0xFFFFFFFF left by a recorder that was killed are handled)."""
    if len(data) == 0:
        raise AudioError(name, "empty file (0 bytes)")
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError(name, "not a WAV file (no RIFF/WAVE header)")
    fmt: tuple[int, int, int, int] | None = None
    pcm: bytes | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = pos + 8
        if chunk_id == b"fmt ":
            if size < 16 or body + 16 > len(data):
                raise AudioError(name, "corrupt WAV: truncated fmt chunk")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag == _WAVE_FORMAT_EXTENSIBLE and size >= 40 and body + 26 <= len(data):
                (tag,) = struct.unpack_from("<H", data, body + 24)
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioError(name, "corrupt WAV: data chunk before fmt chunk")
            # A recorder that died leaves the size unpatched: take what is there.
            pcm = data[body : min(len(data), body + size) if size else len(data)]
            break
        pos = body + size + (size & 1)
    if fmt is None:
        raise AudioError(name, "corrupt WAV: no fmt chunk")
    if pcm is None:
        raise AudioError(name, "corrupt WAV: no data chunk")
    tag, channels, rate, bits = fmt
    if tag != _WAVE_FORMAT_PCM:
        raise AudioError(name, f"unsupported WAV encoding (format tag {tag:#06x}); need PCM")
    if bits != 16:
        raise AudioError(name, f"unsupported sample size {bits} bit; need 16-bit PCM")
    if channels < 1:
        raise AudioError(name, "corrupt WAV: 0 channels")
    if not _MIN_RATE <= rate <= _MAX_RATE:
        raise AudioError(name, f"unsupported sample rate {rate} Hz")
    frame = 2 * channels
    usable = len(pcm) - len(pcm) % frame
    if usable == 0:
        raise AudioError(name, "no audio (the data chunk is empty)")
    samples = np.frombuffer(pcm, dtype="<i2", count=usable // 2)
    if channels > 1:
        mixed = samples.reshape(-1, channels).astype(np.int32).sum(axis=1) // channels
        return Audio(mixed.astype(np.int16), rate)
    return Audio(samples.astype(np.int16), rate)


def encode_wav(audio: Audio) -> bytes:
    """The canonical 44-byte-header WAV of ``audio`` (tests, voice-note normalisation)."""
    pcm = audio.pcm()
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(pcm),
        b"WAVE",
        b"fmt ",
        16,
        _WAVE_FORMAT_PCM,
        1,
        audio.sample_rate,
        audio.sample_rate * 2,
        2,
        16,
        b"data",
        len(pcm),
    )
    return header + pcm


# --- resampling --------------------------------------------------------------------------

_TAPS_PER_PHASE = 160
_ROLLOFF = 0.96
_KAISER_BETA = 11.0
_BLOCK = 1 << 16


def resample(audio: Audio, rate: int) -> Audio:
    """``audio`` at ``rate`` Hz: rational polyphase resampling with a Kaiser-windowed sinc.

    The low-pass filter sits at 96 % of the lower Nyquist frequency (3.84 kHz for 8→16 kHz,
    so the spectral image above 4 kHz is suppressed) and has 160 taps per phase.
    Output sample ``k`` is the band-limited signal at input time ``k * from / rate`` (no
    delay), and there are ``round(n * rate / from)`` of them.
    """
    if rate == audio.sample_rate:
        return audio
    up, down = _ratio(audio.sample_rate, rate)
    n_out = round(len(audio.samples) * up / down)
    return Audio(_resample_span(audio.samples, up, down, 0, n_out), rate)


def resample_regions(
    audio: Audio, regions: Sequence[Region], rate: int
) -> tuple[Audio, list[Region]]:
    """``audio`` at ``rate`` Hz computed only inside ``regions`` (zeros elsewhere), and the
    regions as sample ranges at ``rate``. Inside a region the samples are exactly those of
    :func:`resample` (the filter reads the real neighbouring input, not the zeros), so
    skipping the silence between speech regions changes nothing the recogniser is fed."""
    if rate == audio.sample_rate:
        return audio, list(regions)
    up, down = _ratio(audio.sample_rate, rate)
    n_out = round(len(audio.samples) * up / down)
    out = np.zeros(n_out, dtype=np.int16)
    mapped: list[Region] = []
    for region in regions:
        start = max(0, min(n_out, round(region.start * up / down)))
        end = max(0, min(n_out, round(region.end * up / down)))
        if end > start:
            out[start:end] = _resample_span(audio.samples, up, down, start, end)
            mapped.append(Region(start, end))
    return Audio(out, rate), mapped


def _ratio(source: int, target: int) -> tuple[int, int]:
    if target <= 0:
        raise ValueError(f"sample rate must be positive, got {target}")
    ratio = Fraction(target, source)
    return ratio.numerator, ratio.denominator


def _window(x: Samples, lo: int, hi: int) -> npt.NDArray[np.float64]:
    """``x[lo:hi]`` as float, with zeros where the range runs past either end of ``x``."""
    out = np.zeros(hi - lo, dtype=np.float64)
    a, b = max(lo, 0), min(hi, len(x))
    if b > a:
        out[a - lo : b - lo] = x[a:b]
    return out


def _resample_span(x: Samples, up: int, down: int, first: int, last: int) -> Samples:
    """Output samples ``first..last-1`` of ``x`` resampled by ``up/down``: output ``k`` is
    ``sum_t table[p, t] * x[b + half - t]`` with ``k * down = b * up + p`` (``x`` is zero
    outside its range), reading only the input those outputs depend on."""
    table = _polyphase_filter(up, down)
    taps = _TAPS_PER_PHASE
    half = taps // 2
    out = np.empty(last - first, dtype=np.float64)
    if down == 1:
        # Integer upsampling (8 -> 16 kHz): output phase p is one plain convolution over the
        # input positions b = k // up of the span.
        b0, b1 = first // up, -(-last // up)
        window = _window(x, b0 + 1 - half, b1 + half)  # b + half - t for t in 0..taps-1
        for p in range(up):
            conv = np.convolve(window, table[p], mode="valid")  # conv[b - b0]
            k0 = b0 * up + p
            skip = max(0, -(-(first - k0) // up))
            lo = k0 + skip * up - first
            count = len(out[lo::up])
            out[lo::up] = conv[skip : skip + count]
    else:
        for block in range(first, last, _BLOCK):
            k = np.arange(block, min(last, block + _BLOCK), dtype=np.int64)
            base = k * down // up
            phase = k * down - base * up
            lo = int(base[0]) + half - taps + 1
            window = _window(x, lo, int(base[-1]) + half + 1)
            acc = np.zeros(len(k), dtype=np.float64)
            for t in range(taps):
                acc += table[phase, t] * window[base + half - t - lo]
            out[block - first : block - first + len(k)] = acc
    return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


def _polyphase_filter(up: int, down: int) -> npt.NDArray[np.float64]:
    """The prototype low-pass cut into ``up`` phases: ``table[p, t] = h[p + t*up]``, where
    ``h`` is centred on index ``half*up`` (so output and input stay aligned)."""
    length = _TAPS_PER_PHASE * up
    centre = length // 2
    cutoff = _ROLLOFF * 0.5 / max(up, down)  # cycles per sample at the upsampled rate
    n = np.arange(length, dtype=np.float64) - centre
    window = np.i0(_KAISER_BETA * np.sqrt(np.clip(1.0 - (n / centre) ** 2, 0.0, 1.0)))
    h = 2 * cutoff * np.sinc(2 * cutoff * n) * window
    table: npt.NDArray[np.float64] = h.reshape(_TAPS_PER_PHASE, up).T.copy()
    # Unit DC gain for every phase (a constant signal stays exactly constant).
    table /= table.sum(axis=1, keepdims=True)
    return table


# --- silence gate --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gate:
    """Energy gate parameters. Levels are dBFS of a 10 ms frame's RMS.

    A frame is speech when it is ``above_floor_db`` over the noise floor (the 10th percentile
    of the frame levels) and over ``min_level_db``. Speech frames closer than ``bridge_s`` are
    one region, so pauses inside a turn reach the recogniser untouched (its endpointing and
    language-model context depend on them); each region is widened by ``pad_s`` of real audio
    on both sides, so a cut leaves at least ``2 * pad_s`` of silence, enough for the
    recogniser to close the utterance as it would on the uncut recording.

    Region edges fall on multiples of ``grid_s`` from the start of the recording: vosk's
    models compute a feature frame every 10 ms and the network outputs every 30 ms, so on
    that grid the frames of a region are exactly the frames a whole-file run computes.
    """

    frame_s: float = 0.010
    above_floor_db: float = 12.0
    min_level_db: float = -55.0
    bridge_s: float = 2.0
    pad_s: float = 0.5
    min_speech_s: float = 0.05
    grid_s: float = 0.030


def frame_levels(audio: Audio, frame_s: float = 0.010) -> npt.NDArray[np.float64]:
    """RMS level in dBFS of each whole ``frame_s`` frame (the tail shorter than a frame is
    folded into the last one by zero padding)."""
    size = max(1, round(audio.sample_rate * frame_s))
    n_frames = math.ceil(len(audio.samples) / size)
    x = np.zeros(n_frames * size, dtype=np.float64)
    x[: len(audio.samples)] = audio.samples
    power = np.mean(np.square(x.reshape(n_frames, size) / 32768.0), axis=1)
    levels: npt.NDArray[np.float64] = 10.0 * np.log10(power + 1e-12)
    return levels


def speech_regions(audio: Audio, gate: Gate | None = None) -> list[Region]:
    """The sample ranges of ``audio`` that may hold speech, in order, not overlapping."""
    gate = gate or Gate()
    if len(audio.samples) == 0:
        return []
    levels = frame_levels(audio, gate.frame_s)
    floor = float(np.percentile(levels, 10))
    threshold = max(floor + gate.above_floor_db, gate.min_level_db)
    speech = levels > threshold
    size = max(1, round(audio.sample_rate * gate.frame_s))
    bridge = round(gate.bridge_s / gate.frame_s)
    pad = round(gate.pad_s * audio.sample_rate)
    min_frames = max(1, round(gate.min_speech_s / gate.frame_s))

    runs: list[tuple[int, int]] = []  # frame ranges of speech, gaps < bridge merged
    edges = np.flatnonzero(np.diff(np.concatenate([[0], speech.astype(np.int8), [0]])))
    for first, last in zip(edges[::2], edges[1::2], strict=True):
        if runs and first - runs[-1][1] < bridge:
            runs[-1] = (runs[-1][0], int(last))
        else:
            runs.append((int(first), int(last)))
    regions: list[Region] = []
    total = len(audio.samples)
    grid = max(1, round(gate.grid_s * audio.sample_rate))
    for first, last in runs:
        if last - first < min_frames:
            continue
        start = max(0, first * size - pad) // grid * grid
        end = min(total, -(-(last * size + pad) // grid) * grid)
        if regions and start <= regions[-1].end:
            regions[-1] = Region(regions[-1].start, end)
        else:
            regions.append(Region(start, end))
    return regions


def speech_seconds(regions: Sequence[Region], sample_rate: int) -> float:
    return sum(len(region) for region in regions) / sample_rate


def chunks(region: Region, chunk: int) -> Iterator[Region]:
    """``region`` cut into consecutive pieces of at most ``chunk`` samples."""
    for start in range(region.start, region.end, chunk):
        yield Region(start, min(region.end, start + chunk))
