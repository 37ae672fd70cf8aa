"""Recording paths from the PBX are confined to ``crm.recordings_dir`` (issue 13, item 1):
a PBX-supplied ``/etc/passwd`` is neither served nor deleted, links cannot lead out, NUL is a
clean refusal, and the PBX's folder maps to ours where the machines differ."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from callcenter.crm.customers import parse_customer
from callcenter.crm.privacy import RecordingFiles
from callcenter.crm.recordings import RecordingPaths
from callcenter.settings import Settings
from callcenter.store import Role
from callcenter.web.keys import AUDIT_KEY, CALL_LOG_KEY, CUSTOMERS_KEY, PHONES_KEY
from tests.web.conftest import client, make_client  # noqa: F401
from tests.web.webclient import logged_in, origin


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "monitor"
    root.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0")
    (root / "ok.wav").write_bytes(b"RIFF")
    (root / "link.wav").symlink_to(secret)
    return {"root": root, "secret": secret}


def test_paths_are_confined_and_mapped(tree: dict[str, Path]) -> None:
    root, secret = tree["root"], tree["secret"]
    paths = RecordingPaths(str(root))
    assert paths.local(str(root / "ok.wav")) == root / "ok.wav"
    for refused in (
        str(secret),
        "/etc/passwd",
        str(root / ".." / "secret.txt"),
        str(root / "link.wav"),
        str(root / "a\0.wav"),
        "relative.wav",
        "",
        str(root),
    ):
        assert paths.local(refused) is None, refused
    assert RecordingPaths("").local(str(root / "ok.wav")) is None  # no folder: nothing
    mapped = RecordingPaths(str(root), "/var/spool/asterisk/monitor")
    assert mapped.local("/var/spool/asterisk/monitor/ok.wav") == root / "ok.wav"
    assert mapped.local(str(root / "ok.wav")) is None  # not a path the PBX would give
    assert mapped.local("/var/spool/asterisk/monitor/../../../etc/passwd") is None


def test_deletion_refuses_files_outside_and_without_a_folder(tree: dict[str, Path]) -> None:
    root, secret = tree["root"], tree["secret"]
    result = RecordingFiles("").delete([str(secret)])
    assert result.deleted == [] and secret.exists()
    assert RecordingFiles(str(root)).delete([str(secret), str(root / "link.wav")]).deleted == []
    assert secret.exists()
    nul = RecordingFiles(str(root)).delete([str(root / "x\0.wav")])
    assert nul.failed and nul.failed[0][1] == "contains NUL"
    assert RecordingFiles(str(root)).delete([str(root / "ok.wav")]).deleted == [
        str(root / "ok.wav")
    ]


def _with_dir(settings: Settings, root: str) -> Settings:
    return dataclasses.replace(settings, crm=dataclasses.replace(settings.crm, recordings_dir=root))


async def _call(app_client: Any, make_call: Any, recording: str) -> dict[str, Any]:
    parsed = parse_customer(
        {"name": "Anna", "phones": [{"number": "+4930123456"}]}, app_client.app[PHONES_KEY]
    )
    customer: dict[str, Any] = await app_client.app[CUSTOMERS_KEY].create(parsed)
    await app_client.app[CALL_LOG_KEY].add_many([make_call("c1", recording=recording)])
    return customer


@pytest.mark.parametrize("configured", [False, True])
async def test_a_pbx_supplied_path_outside_is_not_served_nor_erased(
    make_client: Any,  # noqa: F811
    settings: Settings,
    make_call: Any,
    tree: dict[str, Path],
    configured: bool,
) -> None:
    secret = tree["secret"]
    app_client = await make_client(
        settings=_with_dir(settings, str(tree["root"]) if configured else "")
    )
    customer = await _call(app_client, make_call, str(secret))
    await logged_in(app_client, "root", Role.ADMIN)
    response = await app_client.get("/api/calls/c1/recording")
    assert response.status == 404
    assert (await response.json())["error"]["id"] == "not_found"
    erased = await app_client.delete(
        f"/api/customers/{customer['id']}", headers={"Origin": origin(app_client)}
    )
    assert erased.status == 200
    assert secret.exists()
    assert (await erased.json())["recording_files"]["deleted"] == []


async def test_a_nul_in_a_recording_path_is_a_clean_4xx_and_erasure_is_audited(
    make_client: Any,  # noqa: F811
    settings: Settings,
    make_call: Any,
    tree: dict[str, Path],
) -> None:
    app_client = await make_client(settings=_with_dir(settings, str(tree["root"])))
    customer = await _call(app_client, make_call, str(tree["root"] / "c1\0.wav"))
    await logged_in(app_client, "root", Role.ADMIN)
    response = await app_client.get("/api/calls/c1/recording")
    assert response.status == 404
    erased = await app_client.delete(
        f"/api/customers/{customer['id']}", headers={"Origin": origin(app_client)}
    )
    assert erased.status == 200, await erased.text()
    entries = await app_client.app[AUDIT_KEY].recent(action="customer.erase")
    assert len(entries) == 1


async def test_a_recording_inside_the_folder_is_served(
    make_client: Any,  # noqa: F811
    settings: Settings,
    make_call: Any,
    tree: dict[str, Path],
) -> None:
    app_client = await make_client(settings=_with_dir(settings, str(tree["root"])))
    await _call(app_client, make_call, str(tree["root"] / "ok.wav"))
    await logged_in(app_client, "root", Role.ADMIN)
    response = await app_client.get("/api/calls/c1/recording")
    assert response.status == 200
    assert await response.read() == b"RIFF"
