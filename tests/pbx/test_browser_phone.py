"""The agent panel as the agent's phone, in real Chromium against the real Asterisk kit.

The panel's JsSIP registers the agent's browser phone ``w2001`` through our ``/sip`` proxy to
the kit's SIP WebSocket (``PBX_WEBRTC_WS``). Registration alone works on loopback; calls with
media need the kit's network namespace (ICE never uses loopback), so the call tests run only
inside ``../shared/pbx/netns-run`` (``PBX_NETNS_ADDR`` set) and are skipped elsewhere:

    ../shared/pbx/netns-run .venv/bin/pytest -q tests/pbx/test_browser_phone.py

Audio both ways: the browser's fake microphone plays a 1 kHz tone, which must be in the agent
leg of the recording (``<Uniqueid>-out.wav``); the customer plays a 700 Hz tone, which the
browser must receive (``getStats`` inbound audio energy while the page's ``<audio>`` plays).
"""

from __future__ import annotations

import asyncio
import math
import os
import struct
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callcenter.store import Role
from callcenter.web.keys import ACCOUNTS_KEY, PASSWORDS_KEY
from tests.pbx.conftest import Server, ServerFactory
from tests.pbx.kit import Kit, Lab, start_scenario, wait_event

pytestmark = pytest.mark.pbx

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "browser-phone-test"
IN_NETNS = bool(os.environ.get("PBX_NETNS_ADDR"))
needs_netns = pytest.mark.skipif(
    not IN_NETNS,
    reason="WebRTC media needs the kit's network namespace: run inside ../shared/pbx/netns-run",
)

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
playwright_async = pytest.importorskip("playwright.async_api", reason="playwright missing")
JSSIP = Path(__file__).resolve().parents[2] / "agent_ui/static/agent/vendor/jssip.js"
if not JSSIP.exists():
    pytest.skip("the JsSIP bundle is not built (make installs it)", allow_module_level=True)


def tone_wav(path: Path, freq: float, seconds: float, rate: int = 8000, amp: float = 0.4) -> Path:
    frames = b"".join(
        struct.pack("<h", int(amp * 32767 * math.sin(2 * math.pi * freq * n / rate)))
        for n in range(int(seconds * rate))
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return path


def band_share(path: Path, freq: float) -> tuple[float, float]:
    """(RMS in dBFS, share of the energy within ±50 Hz of ``freq``) of a 16-bit mono WAV."""
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(float)
    if samples.size == 0:
        return -120.0, 0.0
    rms = float(np.sqrt(np.mean(samples**2))) / 32768
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    bins = np.fft.rfftfreq(samples.size, 1 / rate)
    share = float(spectrum[np.abs(bins - freq) <= 50].sum() / max(spectrum.sum(), 1e-9))
    return 20 * math.log10(max(rms, 1e-6)), share


@pytest.fixture
async def phone_server(
    server: ServerFactory, pbx_env: dict[str, str]
) -> AsyncIterator[tuple[Server, str]]:
    srv = await server(
        CALLCENTER_PHONE_WEBRTC_WS=pbx_env["PBX_WEBRTC_WS"],
        CALLCENTER_PHONE_AUDIO_PROCESSING="false",
        CALLCENTER_PHONE_ICE_TIMEOUT_S="3",
    )
    app = srv.app
    for n, ext in ((1, "w2001"), (2, "w2002")):
        password_hash = await app[PASSWORDS_KEY].hash(PASSWORD)
        user = await app[ACCOUNTS_KEY].add_user(
            f"web{n}", Role.AGENT, password_hash, extension=f"PJSIP/{ext}", now=0.0
        )
        await app[ACCOUNTS_KEY].set_sip_password(user.id, f"{ext}-secret", now=0.0)
    yield srv, str(srv.client.make_url("/")).rstrip("/")


@pytest.fixture
async def chromium(tmp_path: Path) -> AsyncIterator[Any]:
    mic = tone_wav(tmp_path / "mic-1khz.wav", 1000, 20, rate=16000)
    async with playwright_async.async_playwright() as playwright:
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
        try:
            yield browser
        finally:
            await browser.close()


async def open_panel(browser: Any, url: str, username: str) -> tuple[Any, Any, list[str]]:
    context = await browser.new_context(permissions=["microphone"])
    context.set_default_timeout(15000)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{url}/agent")
    await page.wait_for_url("**/login?next=*")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_url("**/agent")
    return context, page, errors


async def test_browser_phone_registers_through_the_proxy(
    pbx_kit: Kit, lab: Lab, phone_server: tuple[Server, str], chromium: Any
) -> None:
    _, url = phone_server
    with lab.center.listen() as events:
        context, page, errors = await open_panel(chromium, url, "web1")
        await page.wait_for_selector("#phone-state[data-state=ready]")
        status = await wait_event(
            events,
            lambda e: (
                e.get("Event") == "ContactStatus"
                and e.get("EndpointName") == "w2001"
                and e.get("ContactStatus") in ("Created", "Reachable")
            ),
        )
        assert status["AOR"] == "w2001"
        assert "Phone: ready" in await page.text_content("#phone-state")
        # A second tab of the same agent does not steal the phone: it offers to take over.
        second = await context.new_page()
        second.on("pageerror", lambda error: errors.append(str(error)))
        await second.goto(f"{url}/agent")
        await second.wait_for_selector("#phone-state[data-state=standby]")
        await lab.login("support", "w2001")
        await second.click("#phone-takeover")
        await second.wait_for_selector("#phone-state[data-state=ready]")
        await page.wait_for_selector("#phone-state[data-state=standby]")
        assert "another tab" in await page.text_content("#phone-state")
        # Closing the active tab drops the contact at once (the proxy closes Asterisk's
        # socket); the tab left over takes the phone back by itself.
        await second.close()
        await wait_event(
            events,
            lambda e: (
                e.get("Event") == "ContactStatus"
                and e.get("EndpointName") == "w2001"
                and e.get("ContactStatus") == "Removed"
            ),
        )
        # Our server pauses the agent whose phone went away, and resumes them when it is back.
        paused = await wait_event(
            events,
            lambda e: (
                e.get("Event") == "QueueMemberPause"
                and e.get("Interface") == "PJSIP/w2001"
                and e.get("Paused") == "1"
            ),
        )
        assert paused["PausedReason"] == "phone offline"
        await page.wait_for_selector("#phone-state[data-state=ready]")
        await wait_event(
            events,
            lambda e: (
                e.get("Event") == "QueueMemberPause"
                and e.get("Interface") == "PJSIP/w2001"
                and e.get("Paused") == "0"
            ),
        )
        await context.close()
        await lab.logout_all("support")
    assert errors == []


@needs_netns
async def test_inbound_queue_call_answered_in_the_browser(
    pbx_kit: Kit, lab: Lab, phone_server: tuple[Server, str], chromium: Any
) -> None:
    srv, url = phone_server
    sounds = Path(pbx_kit.env["WORLD_SOUNDS_DIR"])
    tone_wav(sounds / "tone700.wav", 700, 20)
    context, page, errors = await open_panel(chromium, url, "web1")
    await page.wait_for_selector("#phone-state[data-state=ready]")
    with lab.center.listen() as events:
        scenario = await start_scenario(
            pbx_kit, "inbound", "--from", "+4930111222", "--name", "Browser Caller",
            "--agent", "w2001", "--hangup-by", "agent", "--talk", "12", "--speech", "tone700",
        )  # fmt: skip
        try:
            await page.wait_for_selector("#phone-answer:visible", timeout=20000)
            assert await page.get_attribute("#phone-state", "data-state") == "ringing"
            await page.click("#phone-answer")
            await page.wait_for_selector("#phone-state[data-state=in-call]")
            await asyncio.sleep(2.0)
            heard = await page.evaluate("window.ccPhone.inboundAudio()")
            assert heard is not None and heard["packets"] > 50, heard
            assert heard["energy"] > 0.01, heard
            print(f"browser heard the customer: {heard}")
            # Hold and resume: Asterisk sees Hold / Unhold on the browser phone's channel.
            await page.click("#phone-hold")
            await wait_event(
                events,
                lambda e: (
                    e.get("Event") == "Hold" and e.get("Channel", "").startswith("PJSIP/w2001-")
                ),
            )
            await page.wait_for_selector("#phone-state:has-text('on hold')")
            await asyncio.sleep(1.0)
            await page.click("#phone-hold")
            await wait_event(
                events,
                lambda e: (
                    e.get("Event") == "Unhold" and e.get("Channel", "").startswith("PJSIP/w2001-")
                ),
            )
            # DTMF (RFC 4733) reaches Asterisk on the agent's channel.
            for digit in "123":
                await page.click(f"#phone-keypad button[data-digit='{digit}']")
                dtmf = await wait_event(
                    events,
                    lambda e: (
                        e.get("Event") == "DTMFEnd"
                        and e.get("Channel", "").startswith("PJSIP/w2001-")
                        and e.get("Direction") == "Received"
                    ),
                )
                assert dtmf["Digit"] == digit
            await asyncio.sleep(1.5)
            await page.click("#phone-hangup")
            await page.wait_for_selector("#phone-state[data-state=ready]")
            [truth] = await scenario.result(60)
        finally:
            await scenario.kill()
    row = await srv.record(truth["linkedid"])
    assert row["agent"] == "PJSIP/w2001"
    assert row["outcome"] == "answered" and row["hangup_by"] == "agent"
    assert srv.submissions() == {truth["linkedid"]: 1}
    stem = truth["recording"].removesuffix(".wav")
    agent_leg = pbx_kit.recordings / f"{stem}-out.wav"
    for _ in range(50):
        if agent_leg.exists() and agent_leg.stat().st_size > 44:
            break
        await asyncio.sleep(0.1)
    level_db, share = band_share(agent_leg, 1000)
    print(f"agent leg: {level_db:.1f} dBFS, {share:.0%} of the energy at 1 kHz")
    assert level_db > -40 and share > 0.3, (level_db, share)
    await context.close()
    assert errors == []
