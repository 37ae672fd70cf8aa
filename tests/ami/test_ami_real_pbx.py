"""AmiLink and our filter syntax against a real Asterisk 22 (the kit in ../shared/pbx)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import socket
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from callcenter.ami import AmiLink, filter_actions
from callcenter.fake_pbx import decode_frame, encode_frame
from callcenter.model.events import Event, QueueMemberChanged
from callcenter.settings import DEFAULT_AMI_EVENTS, AmiSettings

KIT = Path(__file__).resolve().parents[2].parent / "shared" / "pbx" / "pbx"

pytestmark = [
    pytest.mark.pbx,
    pytest.mark.skipif(not KIT.exists(), reason=f"real Asterisk kit not found at {KIT}"),
]


def _free_port_base() -> int:
    rng = random.Random()
    for _ in range(50):
        base = rng.randrange(20000, 58000, 100)
        try:
            for offset in (38, 39, 60, 62, 64):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port base for the Asterisk kit")


@pytest.fixture(scope="module")
def pbx_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    directory = tmp_path_factory.mktemp("pbx")
    base = _free_port_base()
    started = subprocess.run(
        [str(KIT), "start", str(directory), "--port-base", str(base)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    try:
        if started.returncode != 0:
            pytest.fail(f"pbx start failed: {started.stderr[-2000:]}")
        env = dict(
            line.split("=", 1)
            for line in (directory / "pbx.env").read_text().splitlines()
            if "=" in line and not line.startswith("#")
        )
        yield env
    finally:
        subprocess.run(
            [str(KIT), "stop", str(directory)], capture_output=True, timeout=120, check=False
        )


def _settings(env: dict[str, str], user: str = "PBX_AMI") -> AmiSettings:
    return AmiSettings(
        host=env["PBX_AMI_HOST"],
        port=int(env["PBX_AMI_PORT"]),
        username=env[f"{user}_USERNAME"],
        secret=env[f"{user}_SECRET"],
        reconnect_min_s=0.1,
        reconnect_max_s=0.5,
        ping_interval_s=0.5,
        ping_timeout_s=2.0,
        action_timeout_s=3.0,
    )


async def eventually(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 - polling state owned by the link
            await asyncio.sleep(0.01)


@pytest.fixture
async def link_factory() -> AsyncIterator[Callable[[AmiSettings], tuple[AmiLink, list[object]]]]:
    links: list[AmiLink] = []

    def make(settings: AmiSettings) -> tuple[AmiLink, list[object]]:
        log: list[object] = []

        def on_event(event: Event, received: float) -> None:
            log.append(event)

        def on_resync(snapshot: list[Event], now: float) -> None:
            log.append(("resync", snapshot))

        link = AmiLink(settings, on_event, on_resync)
        links.append(link)
        link.start()
        return link, log

    yield make
    for link in links:
        await link.stop()


async def test_filters_accepted_and_queue_actions_round_trip(
    pbx_env: dict[str, str],
    link_factory: Callable[[AmiSettings], tuple[AmiLink, list[object]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="callcenter.ami"):
        link, log = link_factory(_settings(pbx_env))
        await eventually(lambda: any(isinstance(item, tuple) for item in log))
        assert link.status.authenticated
        await link.queue_add("support", "PJSIP/2019", member_name="Real Test")
        await link.queue_pause("PJSIP/2019", True, "lunch", queue="support")
        await link.queue_remove("support", "PJSIP/2019")
        await eventually(
            lambda: (
                [e.kind for e in log if isinstance(e, QueueMemberChanged)]
                == ["added", "pause", "removed"]
            )
        )
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_asterisk_applies_our_session_filters(pbx_env: dict[str, str]) -> None:
    """A raw session with exactly the Filter actions the link sends: QueueAdd's
    DeviceStateChange noise must not arrive, QueueMemberAdded must."""
    reader, writer = await asyncio.open_connection(
        pbx_env["PBX_AMI_HOST"], int(pbx_env["PBX_AMI_PORT"])
    )

    async def frame() -> dict[str, str | list[str]]:
        return decode_frame(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5))

    try:
        assert (await reader.readline()).startswith(b"Asterisk Call Manager/")
        writer.write(
            encode_frame(
                {
                    "Action": "Login",
                    "ActionID": "l",
                    "Username": pbx_env["PBX_AMI_USERNAME"],
                    "Secret": pbx_env["PBX_AMI_SECRET"],
                }
            )
        )
        actions = filter_actions(DEFAULT_AMI_EVENTS)
        for n, action in enumerate(actions):
            writer.write(encode_frame({**action, "ActionID": f"f{n}"}))
        writer.write(
            encode_frame(
                {"Action": "QueueAdd", "ActionID": "q", "Queue": "support", "Interface": "Local/7"}
            )
        )
        writer.write(
            encode_frame(
                {
                    "Action": "QueueRemove",
                    "ActionID": "r",
                    "Queue": "support",
                    "Interface": "Local/7",
                }
            )
        )
        seen: list[dict[str, str | list[str]]] = []
        while not any(f.get("Event") == "QueueMemberRemoved" for f in seen):
            seen.append(await frame())
    finally:
        writer.close()
        await writer.wait_closed()
    filter_replies = [f for f in seen if str(f.get("ActionID", "")).startswith("f")]
    assert len(filter_replies) == len(actions)
    assert {f["Response"] for f in filter_replies} == {"Success"}
    events = [f["Event"] for f in seen if "Event" in f]
    assert "DeviceStateChange" not in events
    assert "QueueMemberAdded" in events


async def test_viewer_without_system_write_falls_back_to_client_filter(
    pbx_env: dict[str, str],
    link_factory: Callable[[AmiSettings], tuple[AmiLink, list[object]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="callcenter.ami"):
        link, log = link_factory(_settings(pbx_env, "PBX_VIEWER"))
        await eventually(lambda: any(isinstance(item, tuple) for item in log))
    assert link.status.authenticated
    assert any("refused the AMI Filter" in r.getMessage() for r in caplog.records)


async def test_wrong_secret_reported(
    pbx_env: dict[str, str],
    link_factory: Callable[[AmiSettings], tuple[AmiLink, list[object]]],
) -> None:
    settings = _settings(pbx_env)
    link, _ = link_factory(dataclasses.replace(settings, secret="wrong"))
    await eventually(lambda: link.status.last_error is not None)
    assert link.status.last_error == "Authentication failed"
    assert not link.status.authenticated
