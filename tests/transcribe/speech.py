"""Korean test speech made on the spot with espeak-ng and sox (no recordings in the repo).

``say`` speaks one utterance into a WAV at the rate a caller asks for, going through sox the
way the issue prescribes (``espeak-ng -v ko -w`` then ``sox -r RATE -c 1 -b 16``), with sox's
``-R`` so its dither is seeded and a test sees the same samples on every run. ``compose``
lays utterances out on a timeline: each leg of a call holds only its own speaker's speech,
with a faint seeded noise floor (a phone line is never digitally silent), and the mixed file
is the sum of the legs, as MixMonitor writes it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from callcenter.transcription.audio import Audio, encode_wav, read_wav

TOOLS = ("espeak-ng", "sox")
NOISE_RMS = 6.0  # about -75 dBFS


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def say(text: str, path: Path, rate: int, speed: int = 150) -> Path:
    """``text`` spoken by espeak-ng's Korean voice, as 16-bit mono WAV at ``rate`` Hz."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(
            ["espeak-ng", "-v", "ko", "-s", str(speed), "-w", str(raw), text],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["sox", "-R", str(raw), "-r", str(rate), "-c", "1", "-b", "16", str(path)],
            check=True,
            capture_output=True,
        )
    return path


def sox_convert(source: Path, target: Path, rate: int) -> Path:
    subprocess.run(
        ["sox", "-R", str(source), "-r", str(rate), "-c", "1", "-b", "16", str(target)],
        check=True,
        capture_output=True,
    )
    return target


@dataclass(frozen=True, slots=True)
class Turn:
    speaker: str  # "customer" or "agent"
    text: str
    gap_after_s: float


@dataclass(frozen=True, slots=True)
class Placed:
    speaker: str
    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class Call:
    mixed: Path
    customer: Path
    agent: Path
    placed: list[Placed]
    duration_s: float


def compose(
    turns: Sequence[Turn],
    folder: Path,
    uniqueid: str,
    rate: int = 8000,
    lead_s: float = 1.0,
    seed: int = 7,
) -> Call:
    """Write ``<uniqueid>.wav``, ``<uniqueid>-in.wav`` (customer) and ``-out.wav`` (agent)."""
    folder.mkdir(parents=True, exist_ok=True)
    clips: list[tuple[Turn, np.ndarray]] = []
    for index, turn in enumerate(turns):
        clip = say(turn.text, folder / f".{uniqueid}.{index}.wav", rate)
        clips.append((turn, read_wav(clip).samples.astype(np.float64)))
        clip.unlink()
    total = round(lead_s * rate) + sum(len(c) + round(t.gap_after_s * rate) for t, c in clips)
    legs = {"customer": np.zeros(total), "agent": np.zeros(total)}
    placed: list[Placed] = []
    cursor = round(lead_s * rate)
    for turn, clip in clips:
        legs[turn.speaker][cursor : cursor + len(clip)] += clip
        placed.append(Placed(turn.speaker, turn.text, cursor / rate, (cursor + len(clip)) / rate))
        cursor += len(clip) + round(turn.gap_after_s * rate)
    rng = np.random.default_rng(seed)
    for leg in legs.values():
        leg += rng.normal(0.0, NOISE_RMS, total)
    mixed = legs["customer"] + legs["agent"]
    paths = {
        "mixed": folder / f"{uniqueid}.wav",
        "customer": folder / f"{uniqueid}-in.wav",
        "agent": folder / f"{uniqueid}-out.wav",
    }
    for key, signal in (("mixed", mixed), *legs.items()):
        pcm = np.clip(np.rint(signal), -32768, 32767).astype(np.int16)
        paths[key].write_bytes(encode_wav(Audio(pcm, rate)))
    return Call(paths["mixed"], paths["customer"], paths["agent"], placed, total / rate)
