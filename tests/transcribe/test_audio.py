"""WAV reading, resampling and the silence gate, on synthetic signals (no model needed)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from callcenter.errors import CallcenterError
from callcenter.transcription.audio import (
    Audio,
    AudioError,
    Gate,
    Region,
    chunks,
    decode_wav,
    encode_wav,
    read_wav,
    resample,
    resample_regions,
    speech_regions,
)


def _sine(freq: float, rate: int, seconds: float, amplitude: float = 8000.0) -> Audio:
    t = np.arange(round(rate * seconds)) / rate
    return Audio(np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16), rate)


def _peak_hz(audio: Audio) -> float:
    spectrum = np.abs(
        np.fft.rfft(audio.samples.astype(np.float64) * np.hanning(len(audio.samples)))
    )
    freqs = np.fft.rfftfreq(len(audio.samples), 1.0 / audio.sample_rate)
    return float(freqs[int(np.argmax(spectrum))])


@pytest.mark.parametrize(
    ("source", "target", "freq"),
    [(8000, 16000, 1000.0), (8000, 16000, 3000.0), (16000, 8000, 440.0), (22050, 16000, 1234.0)],
)
def test_resampling_keeps_a_sines_frequency(source: int, target: int, freq: float) -> None:
    out = resample(_sine(freq, source, 1.0), target)
    assert out.sample_rate == target
    assert len(out.samples) == target
    assert abs(_peak_hz(out) - freq) <= 2.0
    # and the waveform itself, away from the edges
    ideal = 8000.0 * np.sin(2 * np.pi * freq * np.arange(target) / target)
    assert np.max(np.abs(out.samples[200:-200] - ideal[200:-200])) < 0.01 * 8000


def test_upsampling_leaves_no_image_above_the_old_nyquist() -> None:
    out = resample(_sine(3000.0, 8000, 1.0), 16000)
    spectrum = np.abs(np.fft.rfft(out.samples.astype(np.float64) * np.hanning(len(out.samples))))
    freqs = np.fft.rfftfreq(len(out.samples), 1 / 16000)
    image = spectrum[np.abs(freqs - 5000.0) < 50].max()
    assert 20 * np.log10(image / spectrum.max()) < -60


def test_resampling_the_same_rate_is_the_identity() -> None:
    audio = _sine(500.0, 16000, 0.1)
    assert resample(audio, 16000) is audio


@pytest.mark.parametrize(("source", "target"), [(8000, 16000), (22050, 16000), (48000, 16000)])
def test_resampling_only_the_regions_gives_the_same_samples_there(source: int, target: int) -> None:
    rng = np.random.default_rng(3)
    audio = Audio(rng.normal(0.0, 3000.0, source * 3).astype(np.int16), source)
    whole = resample(audio, target).samples
    regions = [
        Region(0, source // 10),
        Region(source, source + source // 2),
        Region(2 * source, 3 * source),
    ]
    speech, mapped = resample_regions(audio, regions, target)
    assert speech.sample_rate == target and len(speech.samples) == len(whole)
    assert [(r.start, r.end) for r in mapped] == [
        (round(r.start * target / source), round(r.end * target / source)) for r in regions
    ]
    inside = np.zeros(len(whole), dtype=bool)
    for region in mapped:
        inside[region.start : region.end] = True
    assert np.array_equal(speech.samples[inside], whole[inside])
    assert not speech.samples[~inside].any()  # the silence between them was never computed


def test_wav_round_trip_and_stereo_becomes_mono() -> None:
    audio = _sine(700.0, 8000, 0.25)
    assert np.array_equal(decode_wav(encode_wav(audio)).samples, audio.samples)
    left = np.full(100, 1000, dtype=np.int16)
    right = np.full(100, 3000, dtype=np.int16)
    frames = np.column_stack([left, right]).astype("<i2").tobytes()
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        *(b"RIFF", 36 + len(frames), b"WAVE", b"fmt ", 16, 1, 2, 16000, 64000, 4, 16),
        *(b"data", len(frames)),
    )
    mono = decode_wav(header + frames)
    assert mono.sample_rate == 16000
    assert set(mono.samples.tolist()) == {2000}


def test_bad_files_fail_with_a_reason(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(encode_wav(Audio(np.zeros(0, dtype=np.int16), 8000)))
    assert empty.stat().st_size == 44
    garbage = tmp_path / "corrupt.wav"
    garbage.write_bytes(bytes(range(256)) * 8)
    eight_bit = tmp_path / "u8.wav"
    eight_bit.write_bytes(
        struct.pack(
            "<4sI4s4sIHHIIHH4sI",
            *(b"RIFF", 36 + 4, b"WAVE", b"fmt ", 16, 1, 1, 8000, 8000, 1, 8, b"data", 4),
        )
        + b"\x80\x80\x80\x80"
    )
    cases = {
        empty: "no audio",
        garbage: "not a WAV file",
        eight_bit: "8 bit",
        tmp_path / "missing.wav": "file not found",
    }
    for path, reason in cases.items():
        with pytest.raises(AudioError) as caught:
            read_wav(path)
        assert reason in caught.value.reason
        assert caught.value.path == str(path)
        assert isinstance(caught.value, CallcenterError)
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(encode_wav(_sine(300.0, 8000, 0.1))[:30])
    with pytest.raises(AudioError, match="fmt"):
        read_wav(truncated)


def test_a_recorder_killed_mid_file_still_reads() -> None:
    data = bytearray(encode_wav(_sine(300.0, 8000, 0.5)))
    data[40:44] = b"\x00\x00\x00\x00"  # data size never patched
    assert len(decode_wav(bytes(data)).samples) == 4000


def test_the_gate_finds_speech_at_its_offsets_on_the_frame_grid() -> None:
    rate = 16000
    rng = np.random.default_rng(1)
    signal = rng.normal(0.0, 5.0, rate * 12)
    bursts = [(1.0, 2.5), (6.0, 7.0), (7.8, 8.4)]  # the last two are 0.8 s apart: one region
    for start, end in bursts:
        a, b = round(start * rate), round(end * rate)
        signal[a:b] += 6000 * np.sin(2 * np.pi * 300 * np.arange(b - a) / rate)
    audio = Audio(signal.astype(np.int16), rate)
    gate = Gate()
    regions = speech_regions(audio, gate)
    assert len(regions) == 2
    grid = round(gate.grid_s * rate)
    for region, (start, end) in zip(regions, [(1.0, 2.5), (6.0, 8.4)], strict=True):
        assert region.start % grid == 0
        assert region.start / rate <= start - gate.pad_s + 0.05
        assert region.end / rate >= end + gate.pad_s - 0.05
        assert region.end / rate <= end + gate.pad_s + 0.1
    assert sum(len(r) for r in regions) < 0.6 * len(audio.samples)


def test_the_gate_on_silence_and_chunks() -> None:
    silence = Audio(np.zeros(16000, dtype=np.int16), 16000)
    assert speech_regions(silence) == []
    assert [(c.start, c.end) for c in chunks(Region(10, 35), 10)] == [(10, 20), (20, 30), (30, 35)]
