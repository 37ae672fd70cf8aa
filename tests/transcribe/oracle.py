"""The oracle of the transcription tests: what plain vosk hears on a file by itself.

Our pipeline (WAV reader, resampler, silence gate, chunked feeding, legs) is held to the words
one ``KaldiRecognizer`` gets when fed the whole 16 kHz file in 4000-byte chunks, with Kaldi's
dither reseeded as our engine does, so every run sees the same words.
"""

from __future__ import annotations

import json
import wave
from collections import Counter
from pathlib import Path

import vosk

from callcenter.transcription.engine import Engine, reseed_dither


def plain_vosk_words(engine: Engine, wav16k: Path) -> Counter[str]:
    """What vosk gets on its own: the whole file, 4000-byte chunks, one new recogniser."""
    reseed_dither()
    recognizer = vosk.KaldiRecognizer(engine.model, 16000.0)
    recognizer.SetWords(True)
    texts: list[str] = []
    with wave.open(str(wav16k), "rb") as source:
        assert source.getframerate() == 16000
        while data := source.readframes(2000):
            if recognizer.AcceptWaveform(data):
                texts.append(json.loads(recognizer.Result())["text"])
    texts.append(json.loads(recognizer.FinalResult())["text"])
    return Counter(word for text in texts for word in text.split())
