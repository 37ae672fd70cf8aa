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
import contextlib
import math
import os
import struct
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callcenter.model.attempts import AttemptState
from callcenter.store import Role
from callcenter.web.keys import ACCOUNTS_KEY, CAMPAIGNS_KEY, PASSWORDS_KEY
from callcenter.web.sip_proxy import SIP_PROXY_KEY
from tests.pbx.conftest import Server, ServerFactory
from tests.pbx.kit import Kit, Lab, start_scenario, wait_event
from tests.pbx.test_campaign_live import FAST_CAMPAIGNS, customers_greet

pytestmark = pytest.mark.pbx

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "browser-phone-test"
IN_NETNS = bool(os.environ.get("PBX_NETNS_ADDR"))
_skip_outside_netns = pytest.mark.skipif(
    not IN_NETNS,
    reason="WebRTC media needs the kit's network namespace: run inside ../shared/pbx/netns-run",
)


def needs_netns(test: Any) -> Any:
    """Media tests: skipped outside the namespace, and the only ones ``make test`` runs
    again inside it (``-m webrtc``)."""
    return pytest.mark.webrtc(_skip_outside_netns(test))


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


async def start_phone_server(
    server: ServerFactory, pbx_env: dict[str, str], **environ: str
) -> tuple[Server, str]:
    """Our server with browser phones on the kit's SIP WebSocket; agents ``web1`` (``w2001``)
    and ``web2`` (``w2002``)."""
    srv = await server(
        **{
            "CALLCENTER_PHONE_WEBRTC_WS": pbx_env["PBX_WEBRTC_WS"],
            "CALLCENTER_PHONE_AUDIO_PROCESSING": "false",
            "CALLCENTER_PHONE_ICE_TIMEOUT_S": "3",
            **environ,
        }
    )
    app = srv.app
    for n, ext in ((1, "w2001"), (2, "w2002")):
        password_hash = await app[PASSWORDS_KEY].hash(PASSWORD)
        user = await app[ACCOUNTS_KEY].add_user(
            f"web{n}", Role.AGENT, password_hash, extension=f"PJSIP/{ext}", now=0.0
        )
        await app[ACCOUNTS_KEY].set_sip_password(user.id, f"{ext}-secret", now=0.0)
    return srv, str(srv.client.make_url("/")).rstrip("/")


@pytest.fixture
async def phone_server(server: ServerFactory, pbx_env: dict[str, str]) -> tuple[Server, str]:
    return await start_phone_server(server, pbx_env)


@contextlib.asynccontextmanager
async def launch_chromium(mic: Path, *extra_args: str) -> AsyncIterator[Any]:
    """Debian's Chromium, its fake microphone playing ``mic`` (a loop)."""
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
                *extra_args,
            ],
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def chromium(tmp_path: Path) -> AsyncIterator[Any]:
    async with launch_chromium(tone_wav(tmp_path / "mic-1khz.wav", 1000, 20, rate=16000)) as b:
        yield b


async def open_panel(
    browser: Any, url: str, username: str, init_script: str | None = None
) -> tuple[Any, Any, list[str]]:
    context = await browser.new_context(permissions=["microphone"])
    if init_script is not None:
        await context.add_init_script(init_script)
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


# --- helpers of the call tests -----------------------------------------------------------


def on_browser_phone(name: str, ext: str = "w2001") -> Any:
    """An AMI event ``name`` on a channel of the browser phone ``ext``."""
    return lambda e: e.get("Event") == name and e.get("Channel", "").startswith(f"PJSIP/{ext}-")


def contact(status: str, ext: str = "w2001") -> Any:
    return lambda e: (
        e.get("Event") == "ContactStatus"
        and e.get("EndpointName") == ext
        and e.get("ContactStatus") in status.split("|")
    )


def member_paused(paused: bool, ext: str = "w2001") -> Any:
    return lambda e: (
        e.get("Event") == "QueueMemberPause"
        and e.get("Interface") == f"PJSIP/{ext}"
        and e.get("Paused") == ("1" if paused else "0")
    )


# ``scenarios.py inbound --agent w20xx`` waits ``--talk`` seconds after the answer whatever
# the browser does (then up to 10 s for the call to end): the tests keep it short.


async def answer_in_panel(page: Any, ring_s: float = 0.0) -> None:
    await page.wait_for_selector("#phone-answer:visible", timeout=25000)
    await asyncio.sleep(ring_s)
    await page.click("#phone-answer")
    await page.wait_for_selector("#phone-state[data-state=in-call]")


async def hears_audio(page: Any, packets: int = 20) -> dict[str, Any]:
    for _ in range(40):
        heard: dict[str, Any] | None = await page.evaluate("window.ccPhone.inboundAudio()")
        if heard is not None and heard["packets"] >= packets:
            return heard
        await asyncio.sleep(0.1)
    raise AssertionError(f"the browser received no audio: {heard}")


# --- campaign calls, lost tabs, lost sockets, transfers, ICE failures ---------------------


@needs_netns
async def test_progressive_campaign_call_is_answered_by_the_browser_itself(
    pbx_kit: Kit, lab: Lab, server: ServerFactory, pbx_env: dict[str, str], chromium: Any
) -> None:
    """The dialer's customer is already on the line: the queue's b() pre-dial adds
    ``Call-Info: answer-after=0`` and ``X-CC-Campaign``, and the panel answers without a click."""
    srv, url = await start_phone_server(server, pbx_env, **FAST_CAMPAIGNS)
    await lab.logout_all("retention", "support", "sales")
    await lab.login("retention", "w2001")
    context, page, errors = await open_panel(chromium, url, "web1")
    await page.wait_for_selector("#phone-state[data-state=ready]")
    origin = url
    body = {
        "name": "browser win-back",
        "queue": "retention",
        "mode": "progressive",
        "callee_start": "00:00",
        "callee_end": "23:59",
        "source": {"csv": "phone\n+4930100201\n"},
        "max_attempts": 1,
    }
    async with customers_greet(pbx_kit, lab):
        with lab.center.listen() as events:
            created = await srv.client.post("/api/campaigns", json=body, headers={"Origin": origin})
            assert created.status == 201, await created.text()
            cid = (await created.json())["id"]
            started = await srv.client.post(
                f"/api/campaigns/{cid}/start", headers={"Origin": origin}
            )
            assert started.status == 200, await started.text()
            await page.wait_for_selector("#phone-state[data-state=in-call]", timeout=40000)
            connect = await wait_event(events, lambda e: e.get("Event") == "AgentConnect")
    assert connect["Interface"] == "PJSIP/w2001"
    assert not await page.is_visible("#phone-answer")  # never offered: answered by itself
    heard = await hears_audio(page)
    print(f"campaign call, browser heard: {heard}")
    await asyncio.sleep(1.0)
    await page.click("#phone-hangup")
    await page.wait_for_selector("#phone-state[data-state=ready]")
    store = srv.app[CAMPAIGNS_KEY]

    async def settled() -> bool:
        return all(a.state is AttemptState.DONE for a in await store.attempts(cid))

    await srv.wait_until(settled, 30, "the campaign attempt to be done")
    [attempt] = await store.attempts(cid)
    assert attempt.done_reason.value == "reached"
    [row] = [r for r in await srv.records(1) if r["dial_id"] == f"{attempt.attempt_id}.1"]
    assert (row["agent"], row["outcome"], row["queue"]) == ("PJSIP/w2001", "answered", "retention")
    assert row["hangup_by"] == "agent"
    assert srv.submissions()[row["call_id"]] == 1
    await context.close()
    await lab.logout_all("retention")
    assert errors == []


@needs_netns
async def test_tab_closed_mid_call_ends_the_call_pauses_and_registers_again(
    pbx_kit: Kit, lab: Lab, phone_server: tuple[Server, str], chromium: Any
) -> None:
    """Asterisk pauses per queue: the agent, on lunch in ``sales``, takes ``support`` calls;
    the phone going away pauses them in ``support`` only, and coming back resumes that one."""
    srv, url = phone_server
    await lab.logout_all("support", "sales", "retention")
    await lab.login("sales", "w2001")
    await lab.center.send(
        "QueuePause", Queue="sales", Interface="PJSIP/w2001", Paused="true", Reason="lunch"
    )
    context, page, errors = await open_panel(chromium, url, "web1")
    await page.wait_for_selector("#phone-state[data-state=ready]")
    with lab.center.listen() as events:
        scenario = await start_scenario(
            pbx_kit, "inbound", "--from", "+4930111333", "--name", "Tab Closer",
            "--agent", "w2001", "--hangup-by", "agent", "--talk", "3",
        )  # fmt: skip
        try:
            await answer_in_panel(page)
            await hears_audio(page)
            closed_at = time.monotonic()
            await page.close()
            # The call ends at once (the page's BYE), not after Asterisk's 30 s RTP timeout.
            await wait_event(events, on_browser_phone("Hangup"), within=10)
            ended_s = time.monotonic() - closed_at
            await wait_event(events, contact("Removed"))
            paused = await wait_event(events, member_paused(True))
            assert (paused["Queue"], paused["PausedReason"]) == ("support", "phone offline")
            [truth] = await scenario.result(30)
        finally:
            await scenario.kill()
        print(f"tab closed: the agent's channel hung up {ended_s * 1000:.0f} ms later")
        assert ended_s < 5
        row = await srv.record(truth["linkedid"])
        assert (row["agent"], row["outcome"]) == ("PJSIP/w2001", "answered")
        await asyncio.sleep(0.5)
        assert srv.submissions()[truth["linkedid"]] == 1
        # The agent opens the panel again: the phone registers and the pause is lifted.
        page = await context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{url}/agent")
        await page.wait_for_selector("#phone-state[data-state=ready]")
        await wait_event(events, contact("Created|Reachable"))
        resumed = await wait_event(events, member_paused(False))
        assert resumed["Queue"] == "support"
    members = await lab.center.items("QueueStatus", Queue="sales")
    [sales] = [m for m in members if m.get("Location") == "PJSIP/w2001"]
    assert (sales["Paused"], sales["PausedReason"]) == ("1", "lunch")
    await context.close()
    await lab.logout_all("sales")
    assert errors == []


@needs_netns
async def test_sip_socket_cut_mid_call_phone_registers_again_and_takes_the_next_call(
    pbx_kit: Kit, lab: Lab, phone_server: tuple[Server, str], chromium: Any
) -> None:
    srv, url = phone_server
    context, page, errors = await open_panel(chromium, url, "web1")
    await page.wait_for_selector("#phone-state[data-state=ready]")
    with lab.center.listen() as events:
        first = await start_scenario(
            pbx_kit, "inbound", "--from", "+4930111444", "--name", "Cut Off",
            "--agent", "w2001", "--hangup-by", "agent", "--talk", "6",
        )  # fmt: skip
        try:
            await answer_in_panel(page)
            await hears_audio(page)
            await srv.app[SIP_PROXY_KEY].close_all()  # our side drops the SIP link
            await wait_event(events, contact("Removed"))
            await page.wait_for_selector("#phone-state:has-text('reconnecting')")
            await wait_event(events, contact("Created|Reachable"), within=20)
            # The media never went through the socket: the call goes on, and is shown again
            # as a plain call once the phone is registered.
            plain_call = "#phone-state[data-state=in-call]:text-is('Phone: in a call')"
            await page.wait_for_selector(plain_call)
            before = (await hears_audio(page))["packets"]
            await asyncio.sleep(1.0)
            assert (await hears_audio(page))["packets"] > before + 20
            # Hanging up now goes through the new socket (BYE in the old dialog).
            await page.click("#phone-hangup")
            await wait_event(events, on_browser_phone("Hangup"), within=10)
            await page.wait_for_selector("#phone-state[data-state=ready]")
            [cut] = await first.result(40)
        finally:
            await first.kill()
        row = await srv.record(cut["linkedid"])
        assert (row["agent"], row["outcome"], row["hangup_by"]) == (
            "PJSIP/w2001",
            "answered",
            "agent",
        )
        assert srv.submissions()[cut["linkedid"]] == 1
    # The next call rings the re-registered phone and carries audio.
    second = await start_scenario(
        pbx_kit, "inbound", "--from", "+4930111555", "--name", "Next Caller",
        "--agent", "w2001", "--hangup-by", "agent", "--talk", "2",
    )  # fmt: skip
    try:
        await answer_in_panel(page)
        await hears_audio(page)
        await page.click("#phone-hangup")
        [truth] = await second.result(30)
    finally:
        await second.kill()
    row = await srv.record(truth["linkedid"])
    assert (row["agent"], row["outcome"], row["hangup_by"]) == ("PJSIP/w2001", "answered", "agent")
    assert srv.submissions()[truth["linkedid"]] == 1
    await context.close()
    assert errors == []


@needs_netns
async def test_blind_transfer_from_the_panel_during_a_browser_call(
    pbx_kit: Kit, lab: Lab, phone_server: tuple[Server, str], chromium: Any
) -> None:
    """Also: the call rings longer than the ICE cut-off before it is answered (the cut-off
    runs from the answer, not from the first ring)."""
    srv, url = phone_server
    await lab.logout_all("support", "sales", "retention")
    await lab.phone("2002", "answer", 0.5)
    await lab.login("support", "w2001")
    context, page, errors = await open_panel(chromium, url, "web1")
    await page.wait_for_selector("#phone-state[data-state=ready]")
    with lab.center.listen() as events:
        await lab.call_in("4930555100", "+4930111666", "Transfer Me")
        await answer_in_panel(page, ring_s=4.0)  # > ice_timeout_s = 3
        await hears_audio(page)
        await page.wait_for_selector("#call-active:visible")  # the screen pop knows the call
        await page.fill("#transfer-to", "2002")
        await page.click("#transfer-form button[data-kind=blind]")
        transfer = await wait_event(events, lambda e: e.get("Event") == "BlindTransfer")
        await page.wait_for_selector("#phone-state[data-state=ready]")
        await wait_event(
            events,
            lambda e: (
                e.get("Event") == "BridgeEnter" and e.get("Channel", "").startswith("PJSIP/2002-")
            ),
        )
        linkedid = transfer.get("TransfereeLinkedid") or transfer["TransfererLinkedid"]
        await asyncio.sleep(1.0)
        await lab.hangup_everything()
    row = await srv.record(linkedid)
    assert [(t["kind"], t["from_agent"]) for t in row["transfers"]] == [("blind", "PJSIP/w2001")]
    assert row["agent"] == "PJSIP/2002" and "PJSIP/w2001" in row["agents_offered"]
    assert srv.submissions()[linkedid] == 1
    assert await page.text_content("#phone-error") == ""
    await context.close()
    await lab.logout_all("support")
    assert errors == []


async def ring_and_fail(lab: Lab, page: Any) -> tuple[str, float]:
    """A customer's call rings the browser, the agent answers: the words shown when the
    call fails for want of a media path, and how long after the answer."""
    await lab.logout_all("support", "sales", "retention")
    await lab.login("support", "w2001")
    await lab.call_in("4930555100", "+4930111777", "No Media")
    await page.wait_for_selector("#phone-answer:visible", timeout=25000)
    clicked = time.monotonic()
    await page.click("#phone-answer")
    await page.wait_for_selector("#phone-error:visible", timeout=15000)
    failed_s = time.monotonic() - clicked
    words = await page.text_content("#phone-error") or ""
    await page.wait_for_selector("#phone-state[data-state=ready], #phone-state[data-state=ringing]")
    await lab.logout_all("support")
    return words, failed_s


#: A browser that gathers no ICE candidate whatever the machine's addresses: every peer
#: connection relay-only, with no TURN server (what a machine without a usable address gets).
NO_CANDIDATES = """
(() => {
  const Native = window.RTCPeerConnection;
  function RelayOnly(config, ...rest) {
    return new Native({ ...(config || {}), iceServers: [], iceTransportPolicy: "relay" }, ...rest);
  }
  RelayOnly.prototype = Native.prototype;
  window.RTCPeerConnection = RelayOnly;
})();
"""


async def test_no_ice_candidate_fails_the_call_with_words(
    pbx_kit: Kit, lab: Lab, server: ServerFactory, pbx_env: dict[str, str], chromium: Any
) -> None:
    """No candidate at all: the phone gives up after ``ice_timeout_s`` (1 s here) and says why (the
    signalling is on loopback: no namespace needed)."""
    _, url = await start_phone_server(server, pbx_env, CALLCENTER_PHONE_ICE_TIMEOUT_S="1")
    context, page, errors = await open_panel(chromium, url, "web1", NO_CANDIDATES)
    await page.wait_for_selector("#phone-state[data-state=ready]")
    words, failed_s = await ring_and_fail(lab, page)
    await context.close()
    print(f"no candidate: {failed_s:.1f} s after the answer: {words}")
    assert "no ICE candidates" in words
    assert failed_s < 4
    assert errors == []


@pytest.mark.skipif(IN_NETNS, reason="inside the namespace the media path exists")
async def test_call_without_a_media_path_fails_with_words(
    pbx_kit: Kit, lab: Lab, server: ServerFactory, pbx_env: dict[str, str], chromium: Any
) -> None:
    """Outside the namespace Asterisk offers no candidate (the kit's ``ice_permit``): with an
    address of its own Chromium's ICE never connects, without one it gathers nothing. Either
    way the phone hangs up by itself and says why, instead of a silent call."""
    _, url = await start_phone_server(server, pbx_env, CALLCENTER_PHONE_ICE_TIMEOUT_S="1")
    context, page, errors = await open_panel(chromium, url, "web1")
    await page.wait_for_selector("#phone-state[data-state=ready]")
    words, failed_s = await ring_and_fail(lab, page)
    await context.close()
    print(f"no media path: {failed_s:.1f} s after the answer: {words}")
    assert "ICE" in words
    assert failed_s < 5
    assert errors == []
