"""The package works outside the checkout: a wheel, installed elsewhere, run from an empty
folder, serves the panel, the wallboard and their static files (agent_ui/ is package data)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import closed_port

ROOT = Path(__file__).resolve().parents[1]


def _declared_packages() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return set(project["tool"]["setuptools"]["packages"])


def test_every_package_of_the_source_tree_is_in_the_wheel() -> None:
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "callcenter").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found | {"callcenter.agent_ui"} == _declared_packages()


def _fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _build_and_install(tmp_path: Path) -> Path:
    """Build the wheel from a copy of the source (offline, no build isolation) and install it
    into a folder of its own; returns that folder."""
    source = _mkdir(tmp_path / "source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("callcenter", "agent_ui"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    wheels = tmp_path / "wheels"
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = wheels.glob("callcenter-*.whl")
    target = tmp_path / "site"
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def test_a_wheel_serves_the_ui_from_an_empty_folder(tmp_path: Path) -> None:
    site = _build_and_install(tmp_path)
    assert (site / "callcenter" / "agent_ui" / "templates" / "agent.html").is_file()
    empty = _mkdir(tmp_path / "elsewhere")
    # The installed copy first; the dependencies from this venv (no .pth: not the checkout).
    env = {
        "PYTHONPATH": f"{site}:{sysconfig.get_paths()['purelib']}",
        "PATH": "/usr/bin:/bin",
        "CALLCENTER_HTTP_PORT": str(port := closed_port()),
        "CALLCENTER_DB_PATH": str(empty / "var" / "cc.db"),
        "CALLCENTER_AMI_ENABLED": "false",
    }
    where = subprocess.run(
        [sys.executable, "-c", "import callcenter.web.pages as p; print(p.UI_DIR)"],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout
    server = subprocess.Popen(
        [sys.executable, "-m", "callcenter", "serve"],
        cwd=empty,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and server.poll() is None:
            try:
                status, body = _fetch(f"{base}/login")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        else:
            raise AssertionError(server.stderr.read() if server.stderr else "no server")
        assert status == 200 and b"<form" in body
        for page in ("/agent", "/wallboard"):
            status, body = _fetch(base + page)  # a shell page, or the login page it sends to
            assert status == 200 and b"<html" in body.lower(), page
        status, script = _fetch(f"{base}/static/agent/main.js")
        assert status == 200
        assert script == (ROOT / "agent_ui" / "static" / "agent" / "main.js").read_bytes()
    finally:
        server.terminate()
        try:
            _, stderr = server.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            _, stderr = server.communicate()
    assert "Traceback" not in stderr, stderr
