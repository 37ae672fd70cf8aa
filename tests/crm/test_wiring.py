"""The CRM's settings and its wiring into the app: calls written by the running server's
call-log writer land in customer histories; the retention job is a named task."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from callcenter.app import create_app
from callcenter.errors import ConfigError
from callcenter.settings import Settings, settings_from_mapping
from callcenter.web.keys import CALL_LOG_WRITER_KEY, CUSTOMERS_KEY


def test_crm_settings_from_toml_and_environment() -> None:
    settings = settings_from_mapping(
        {"crm": {"default_region": "AT", "recordings_retention_days": 90}},
        {"CALLCENTER_CRM_RECORDINGS_DIR": "/var/spool/asterisk/monitor"},
    )
    assert settings.crm.default_region == "AT"
    assert settings.crm.recordings_retention_days == 90
    assert settings.crm.recordings_dir == "/var/spool/asterisk/monitor"
    assert settings_from_mapping({}, {}).crm.default_region == "DE"


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"recordings_retention_days": -1}, "crm.recordings_retention_days"),
        ({"import_max_mb": 0}, "crm.import_max_mb"),
        ({"retention_interval_s": 0}, "crm.retention_interval_s"),
        ({"colour": "red"}, "crm.colour"),
    ],
)
def test_bad_crm_settings(table: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_mapping({"crm": table}, {})
    assert info.value.key == key


def test_an_unknown_region_fails_at_start(settings: Settings) -> None:
    bad = dataclasses.replace(settings, crm=dataclasses.replace(settings.crm, default_region="XX"))
    with pytest.raises(ConfigError) as info:
        create_app(bad)
    assert info.value.key == "crm.default_region"


async def test_the_running_server_links_calls_to_customers(
    aiohttp_client: Any, settings: Settings, cheap_passwords: Any, make_call: Any
) -> None:
    client = await aiohttp_client(create_app(settings, passwords=cheap_passwords))
    writer = client.app[CALL_LOG_WRITER_KEY]
    writer.submit(make_call("c1", caller_number="0221 9876543", caller_name="Carla"))
    await writer.flush()
    [stub] = (await client.app[CUSTOMERS_KEY].lookup("+492219876543")).customers
    assert (stub["name"], stub["is_stub"]) == ("Carla", True)
    names = {task.get_name() for task in asyncio.all_tasks()}
    assert {"call-log-writer", "privacy-maintenance"} <= names
