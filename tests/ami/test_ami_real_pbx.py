"""AmiLink and our filter syntax against a real Asterisk 22 (the kit in ../shared/pbx)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from callcenter.ami import AmiLink, filter_actions
from callcenter.demo.fake_pbx import decode_frame, encode_frame
from callcenter.model.events import Event, QueueMemberChanged
from callcenter.settings import DEFAULT_AMI_EVENTS, AmiSettings
from tests.pbx.conftest import shared_kit
from tests.pbx.kit import kit_missing_reason

pytestmark = [
    pytest.mark.pbx,
    pytest.mark.skipif(kit_missing_reason() is not None, reason=str(kit_missing_reason())),
]


@pytest.fixture
def pbx_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """``pbx.env`` of the session's one kit, shared with tests/pbx (started once, with our
    dialplans, stopped when the session ends)."""
    return shared_kit(request).env


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
    """A user with write=system (the kit's ``lab``): the Filter actions are accepted."""
    with caplog.at_level(logging.WARNING, logger="callcenter.ami"):
        link, log = link_factory(_settings(pbx_env, "PBX_LAB"))
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
    """A raw session (as ``lab``: the Filter action needs write=system) with exactly the
    Filter actions the link sends: QueueAdd's DeviceStateChange noise must not arrive,
    QueueMemberAdded must."""
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
                    "Username": pbx_env["PBX_LAB_USERNAME"],
                    "Secret": pbx_env["PBX_LAB_SECRET"],
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


async def test_least_privileged_user_relies_on_manager_conf_filters(
    pbx_env: dict[str, str],
    link_factory: Callable[[AmiSettings], tuple[AmiLink, list[object]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The ``callcenter`` user of dialplans/manager.conf has no write=system: the Filter
    actions are refused (one warning per login), the link carries on, and the manager.conf
    eventfilter lines keep the noise out anyway."""
    with caplog.at_level(logging.INFO, logger="callcenter.ami"):
        link, log = link_factory(_settings(pbx_env))
        await eventually(lambda: any(isinstance(item, tuple) for item in log))
        await link.queue_add("support", "PJSIP/2017")
        await link.queue_remove("support", "PJSIP/2017")
        await eventually(
            lambda: (
                [e.kind for e in log if isinstance(e, QueueMemberChanged)] == ["added", "removed"]
            )
        )
    assert link.status.authenticated
    # The shipped least-privilege user cannot add session filters: that is expected, not
    # worth a warning (manager.conf's eventfilter lines filter at the source).
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("no per-session AMI filters" in r.getMessage() for r in caplog.records)


async def test_wrong_secret_reported(
    pbx_env: dict[str, str],
    link_factory: Callable[[AmiSettings], tuple[AmiLink, list[object]]],
) -> None:
    settings = _settings(pbx_env)
    link, _ = link_factory(dataclasses.replace(settings, secret="wrong"))
    await eventually(lambda: link.status.last_error is not None)
    assert link.status.last_error == "Authentication failed"
    assert not link.status.authenticated
