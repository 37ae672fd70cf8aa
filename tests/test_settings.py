from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from callcenter.errors import ConfigError
from callcenter.settings import (
    DEFAULT_AMI_EVENTS,
    Settings,
    load_settings,
    settings_from_mapping,
)

TOML = """
[http]
host = "0.0.0.0"
port = 9000

[db]
path = "data/cc.db"

[ami]
host = "pbx.local"
port = 5039
username = "cc"
secret = "s3cret"
reconnect_max_s = 10
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "callcenter.toml"
    path.write_text(TOML, encoding="utf-8")
    return path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_toml_values(config: Path) -> None:
    settings = load_settings(config, {})
    assert settings.http.host == "0.0.0.0"
    assert settings.http.port == 9000
    assert settings.http.secure_cookies is False
    assert settings.db.path == "data/cc.db"
    assert (settings.ami.host, settings.ami.port) == ("pbx.local", 5039)
    assert (settings.ami.username, settings.ami.secret) == ("cc", "s3cret")
    assert settings.ami.reconnect_max_s == 10.0
    assert settings.ami.events == DEFAULT_AMI_EVENTS


def test_environment_wins_over_the_file(config: Path) -> None:
    env = {
        "CALLCENTER_HTTP_HOST": "127.0.0.2",
        "CALLCENTER_HTTP_PORT": "9100",
        "CALLCENTER_HTTP_SECURE_COOKIES": "yes",
        "CALLCENTER_DB_PATH": "/tmp/other.db",
        "CALLCENTER_AMI_HOST": "10.0.0.5",
        "CALLCENTER_AMI_PORT": "6038",
        "CALLCENTER_AMI_USERNAME": "admin",
        "CALLCENTER_AMI_SECRET": "from-env",
        "CALLCENTER_AMI_ENABLED": "false",
        "CALLCENTER_AMI_PING_TIMEOUT_S": "2.5",
        "CALLCENTER_AMI_EVENTS": "Newchannel, Hangup,,",
        "UNRELATED": "x",
    }
    settings = load_settings(config, env)
    assert settings.http.host == "127.0.0.2"
    assert settings.http.port == 9100
    assert settings.http.secure_cookies is True
    assert settings.db.path == "/tmp/other.db"
    assert (settings.ami.host, settings.ami.port) == ("10.0.0.5", 6038)
    assert (settings.ami.username, settings.ami.secret) == ("admin", "from-env")
    assert settings.ami.enabled is False
    assert settings.ami.ping_timeout_s == 2.5
    assert settings.ami.events == ("Newchannel", "Hangup")


def test_no_file_means_defaults_plus_environment() -> None:
    settings = load_settings(None, {"CALLCENTER_HTTP_PORT": "8081"})
    assert settings == dataclasses.replace(
        Settings(), http=dataclasses.replace(Settings().http, port=8081)
    )


def test_settings_are_frozen(config: Path) -> None:
    settings = load_settings(config, {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.http.port = 1  # type: ignore[misc]


def test_shipped_config_loads() -> None:
    shipped = Path(__file__).resolve().parents[1] / "config" / "callcenter.toml"
    settings = load_settings(shipped, {})
    assert settings.http.port > 0


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"CALLCENTER_HTTP_PORT": "abc"}, "CALLCENTER_HTTP_PORT"),
        ({"CALLCENTER_HTTP_PORT": "70000"}, "CALLCENTER_HTTP_PORT"),
        ({"CALLCENTER_AMI_PORT": ""}, "CALLCENTER_AMI_PORT"),
        ({"CALLCENTER_AMI_ENABLED": "maybe"}, "CALLCENTER_AMI_ENABLED"),
        ({"CALLCENTER_AMI_PING_TIMEOUT_S": "soon"}, "CALLCENTER_AMI_PING_TIMEOUT_S"),
        ({"CALLCENTER_AMI_PING_TIMEOUT_S": "-1"}, "CALLCENTER_AMI_PING_TIMEOUT_S"),
    ],
)
def test_bad_environment_values_name_the_variable(
    config: Path, env: dict[str, str], key: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(config, env)
    assert info.value.key == key
    assert info.value.reason
    assert str(info.value).startswith(f"{key}: ")


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("[http]\nport = 70000\n", "http.port", "range"),
        ('[http]\nport = "8080"\n', "http.port", "integer"),
        ("[http]\nport = true\n", "http.port", "integer"),
        ("[http]\nbogus = 1\n", "http.bogus", "unknown setting"),
        ("[nope]\nx = 1\n", "nope", "unknown section"),
        ("http = 5\n", "http", "table"),
        ('[ami]\nenabled = "yes"\n', "ami.enabled", "true or false"),
        ("[ami]\nhost = 5\n", "ami.host", "string"),
        ("[ami]\nreconnect_min_s = -0.5\n", "ami.reconnect_min_s", "non-negative"),
        ("[ami]\nevents = [1, 2]\n", "ami.events", "list of strings"),
        ("[http\nport = 1\n", "--config", "not valid TOML"),
    ],
)
def test_bad_file_values_name_the_key(tmp_path: Path, text: str, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), {})
    assert info.value.key == key
    assert reason in info.value.reason


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "absent.toml", {})
    assert info.value.key == "--config"
    assert "not found" in info.value.reason


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"cdr_path": "relative/cdr.json"}, "pbx.cdr_path"),
        ({"cdr_path": "/var/log/\0x"}, "pbx.cdr_path"),
        ({"cdr_max_read_mb": 0}, "pbx.cdr_max_read_mb"),
    ],
)
def test_a_bad_cdr_setting_is_refused(raw: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        settings_from_mapping({"pbx": raw}, {})
