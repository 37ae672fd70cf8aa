"""Browser phone latency against the real Asterisk kit, in real Chromium (not a test).

Run: ``.venv/bin/python tests/bench/softphone.py [--calls 50]``

WebRTC media needs the kit's network namespace: started outside one, the benchmark runs
itself again inside ``../shared/pbx/netns-run`` (kit, server, browser and all). It starts the
kit with our ``dialplans/``, our server (``create_app``, browser phones on the kit's SIP
WebSocket through ``/sip``), and headless Chromium (Debian's, fake microphone playing a 1 kHz
tone) logged in as the agent of browser phone ``w2001``, a member of ``support``. Then, one
call at a time, a customer calls ``support`` playing a 700 Hz tone; the panel's answer button
is clicked as soon as it shows; after ``--talk`` seconds the browser hangs up. Printed, p50 /
p99 / max over the calls:

- **AgentCalled -> incoming call**: from the moment the lab's own AMI session receives
  Asterisk's ``AgentCalled`` for ``PJSIP/w2001`` (``time.time()``) to JsSIP's
  ``newRTCSession`` in the page (``performance.timeOrigin + performance.now()``; one machine,
  one clock);
- **answer click -> first audio frame received**: from the click handler to the first
  ``inbound-rtp`` packet counted by ``getStats()`` (polled every 10 ms: up to 10 ms late);
  this includes getUserMedia, ICE gathering, the 200 OK, ICE checks and the DTLS handshake;
- **answer click -> audio in the recording**: from the click to the first 20 ms window of the
  agent leg of the call's recording (``<Uniqueid>-out.wav``: what the customer heard) that
  carries the browser's 1 kHz tone; the file's time zero is the caller's ``QueueCallerJoin``
  (the dialplan starts MixMonitor right before ``Queue``), so this is accurate to a frame.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from aiohttp import web  # noqa: E402
from argon2 import PasswordHasher  # noqa: E402

from callcenter.app import create_app  # noqa: E402
from callcenter.settings import settings_from_mapping  # noqa: E402
from callcenter.store import Role  # noqa: E402
from callcenter.web.auth import Passwords  # noqa: E402
from callcenter.web.keys import ACCOUNTS_KEY, PASSWORDS_KEY  # noqa: E402
from tests.pbx.kit import KIT_DIR, Kit, Lab, kit_missing_reason, start_kit, stop_kit  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
JSSIP = ROOT / "agent_ui/static/agent/vendor/jssip.js"
NETNS_RUN = KIT_DIR / "netns-run"
PASSWORD = "softphone-bench"
AGENT, ENDPOINT = "bench1", "w2001"
WINDOW_S = 0.02


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def tone_wav(path: Path, freq: float, seconds: float, rate: int) -> Path:
    frames = b"".join(
        struct.pack("<h", int(0.4 * 32767 * math.sin(2 * math.pi * freq * n / rate)))
        for n in range(int(seconds * rate))
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return path


def first_tone_s(path: Path, freq: float = 1000) -> float | None:
    """Seconds into a 16-bit mono WAV of the first 20 ms window whose energy is mostly within
    ±50 Hz of ``freq`` and above -40 dBFS (music on hold before the answer is neither)."""
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(float)
    size = int(rate * WINDOW_S)
    bins = np.fft.rfftfreq(size, 1 / rate)
    band = np.abs(bins - freq) <= 50
    for start in range(0, samples.size - size, size):
        window = samples[start : start + size]
        if np.sqrt(np.mean(window**2)) / 32768 < 0.01:
            continue
        spectrum = np.abs(np.fft.rfft(window)) ** 2
        if spectrum[band].sum() > 0.5 * spectrum.sum():
            return start / rate
    return None


def report(name: str, values: list[float]) -> None:
    if not values:
        print(f"{name}: no samples")
        return
    print(
        f"{name}: p50 {percentile(values, 0.5):.1f} ms, p99 {percentile(values, 0.99):.1f} ms, "
        f"max {max(values):.1f} ms, mean {statistics.fmean(values):.1f} ms ({len(values)} calls)"
    )


async def wait_for(predicate: Any, within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.01)
    raise TimeoutError(f"timed out after {within} s waiting for {what}")


async def bench(kit: Kit, calls: int, talk: float, workdir: Path) -> int:
    from playwright.async_api import async_playwright

    settings = settings_from_mapping(
        {"db": {"path": str(workdir / "bench.db")}},
        {
            "CALLCENTER_AMI_HOST": kit.env["PBX_AMI_HOST"],
            "CALLCENTER_AMI_PORT": kit.env["PBX_AMI_PORT"],
            "CALLCENTER_AMI_USERNAME": kit.env["PBX_AMI_USERNAME"],
            "CALLCENTER_AMI_SECRET": kit.env["PBX_AMI_SECRET"],
            "CALLCENTER_PHONE_WEBRTC_WS": kit.env["PBX_WEBRTC_WS"],
            "CALLCENTER_PHONE_AUDIO_PROCESSING": "false",
        },
    )
    app = create_app(
        settings, passwords=Passwords(PasswordHasher(time_cost=1, memory_cost=256, parallelism=1))
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    lab = Lab(kit)
    await lab.open()
    mic = tone_wav(workdir / "mic-1khz.wav", 1000, 30, 16000)
    customer = tone_wav(Path(kit.env["WORLD_SOUNDS_DIR"]) / "bench-700.wav", 700, 30, 8000)
    ringing: list[float] = []
    first_audio: list[float] = []
    recorded: list[float] = []
    failures: list[str] = []
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        user = await app[ACCOUNTS_KEY].add_user(
            AGENT,
            Role.AGENT,
            await app[PASSWORDS_KEY].hash(PASSWORD),
            extension=f"PJSIP/{ENDPOINT}",
            now=0.0,
        )
        await app[ACCOUNTS_KEY].set_sip_password(user.id, f"{ENDPOINT}-secret", now=0.0)
        await lab.logout_all("support", "sales", "retention")
        await lab.login("support", ENDPOINT)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--use-fake-ui-for-media-stream",
                    "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-audio-capture={mic}",
                    "--autoplay-policy=no-user-gesture-required",
                ],
            )
            context = await browser.new_context(permissions=["microphone"])
            context.set_default_timeout(20000)
            page = await context.new_page()
            await page.goto(f"{base}/agent")
            await page.wait_for_url("**/login?next=*")
            await page.fill("#username", AGENT)
            await page.fill("#password", PASSWORD)
            await page.click("#login-form button[type=submit]")
            await page.wait_for_url("**/agent")
            await page.wait_for_selector("#phone-state[data-state=ready]")
            print(f"# browser phone {ENDPOINT} registered through {base}/sip", flush=True)
            for n in range(1, calls + 1):
                try:
                    ring_ms, audio_ms, rec_ms = await one_call(kit, lab, page, n, customer, talk)
                except (TimeoutError, RuntimeError) as exc:
                    failures.append(f"call {n}: {exc}")
                    await lab.hangup_everything()
                    await page.wait_for_selector("#phone-state[data-state=ready]")
                    continue
                ringing.append(ring_ms)
                first_audio.append(audio_ms)
                if rec_ms is not None:
                    recorded.append(rec_ms)
                if n % 10 == 0:
                    print(f"# {n} calls", flush=True)
            await browser.close()
    finally:
        await lab.logout_all("support")
        await lab.close()
        await runner.cleanup()
    report("AgentCalled -> browser incoming call", ringing)
    report("answer click -> first audio frame received (getStats)", first_audio)
    report("answer click -> browser's audio in the recording (agent leg)", recorded)
    print(
        f"calls: {calls} placed, {len(ringing)} measured, failures {len(failures)} {failures[:3]}"
    )
    return 0 if not failures else 1


async def one_call(
    kit: Kit, lab: Lab, page: Any, n: int, customer: Path, talk: float
) -> tuple[float, float, float | None]:
    """One customer call answered in the page: (ring, first audio, recording) in ms."""
    with lab.center.listen() as events:
        await lab.world.send(
            "Originate",
            Channel="PJSIP/4930555100@center",
            Context="caller",
            Exten="s",
            Priority="1",
            CallerID=f'"Bench {n}" <+4930777{n:04d}>',
            Variable=[f"SPEECH={customer.with_suffix('')}"],
            Async="true",
        )
        joined_at: float | None = None
        uniqueid = ""
        called_at: float | None = None
        async with asyncio.timeout(20):
            while called_at is None:
                event = await events.get()
                if event.get("Event") == "QueueCallerJoin":
                    joined_at, uniqueid = time.time(), event["Uniqueid"]
                elif (
                    event.get("Event") == "AgentCalled"
                    and event.get("Interface") == f"PJSIP/{ENDPOINT}"
                ):
                    called_at = time.time()
    await page.wait_for_selector("#phone-answer:visible")
    await page.click("#phone-answer")

    async def audio() -> Any:
        stats = await page.evaluate("window.ccPhone.timings()")
        return stats if stats["firstAudioAt"] else None

    stats = await wait_for(audio, 10, "the first audio frame in the browser")
    await asyncio.sleep(talk)
    await page.click("#phone-hangup")
    await page.wait_for_selector("#phone-state[data-state=ready]")
    ring_ms = stats["incomingAt"] - called_at * 1000
    audio_ms = stats["firstAudioAt"] - stats["answeredAt"]
    rec_ms = None
    leg = kit.recordings / f"{uniqueid}-out.wav"
    for _ in range(100):  # MixMonitor closes the file right after the hangup
        if leg.exists() and leg.stat().st_size > 44:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    offset = first_tone_s(leg) if leg.exists() and joined_at is not None else None
    if offset is not None and joined_at is not None:
        rec_ms = (joined_at + offset) * 1000 - stats["answeredAt"]
    return ring_ms, audio_ms, rec_ms


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--talk", type=float, default=1.5, help="seconds before the browser hangs up")
    a = ap.parse_args()
    reason = kit_missing_reason()
    if reason is None and not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
    if reason is None and not JSSIP.exists():
        reason = "the JsSIP bundle is not built (make)"
    if reason:
        print(f"skipped: {reason}")
        return 0
    if not os.environ.get("PBX_NETNS_ADDR"):
        if not NETNS_RUN.exists() or subprocess.run(["sh", str(NETNS_RUN), "true"]).returncode:
            print(f"skipped: WebRTC media needs a network namespace ({NETNS_RUN} failed)")
            return 0
        return subprocess.run(["sh", str(NETNS_RUN), sys.executable, *sys.argv]).returncode
    with tempfile.TemporaryDirectory(prefix="softphone-") as tmp:
        workdir = Path(tmp)
        kit = start_kit(workdir / "pbx")
        print(f"# kit started in {kit.directory} (port base {kit.env['PBX_PORT_BASE']})")
        try:
            return asyncio.run(bench(kit, a.calls, a.talk, workdir))
        finally:
            stop_kit(kit.directory)


if __name__ == "__main__":
    sys.exit(main())
