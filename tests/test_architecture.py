"""The layering rules of DESIGN.md, kept true by walking every module's imports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "callcenter"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


MODULES = {p.relative_to(PACKAGE.parent).as_posix(): _imports(p) for p in PACKAGE.rglob("*.py")}


def _importers(prefix: str) -> set[str]:
    return {m for m, names in MODULES.items() if any(n.split(".")[0] == prefix for n in names)}


def test_the_model_is_pure_stdlib() -> None:
    for module, names in MODULES.items():
        if module.startswith("callcenter/model/"):
            foreign = {
                n
                for n in names
                if n.split(".")[0] not in sys.stdlib_module_names
                and not n.startswith("callcenter.model")
            }
            assert foreign == set(), module


def test_only_ami_imports_panoramisk() -> None:
    assert {m for m in _importers("panoramisk")} <= {
        m for m in MODULES if m.startswith("callcenter/ami/")
    }
    assert _importers("panoramisk")


def test_only_the_store_talks_sql() -> None:
    assert {m for m in _importers("aiosqlite") | _importers("sqlite3")} <= {
        m for m in MODULES if m.startswith("callcenter/store/")
    }


def test_only_the_transcription_engine_imports_vosk() -> None:
    assert _importers("vosk") <= {"callcenter/transcription/engine.py"}


def test_no_utils_modules() -> None:
    assert not [m for m in MODULES if m.rsplit("/", 1)[-1] in {"utils.py", "helpers.py", "misc.py"}]


def test_only_the_demo_and_the_tests_use_the_fake_pbx() -> None:
    users = {m for m, names in MODULES.items() if "callcenter.demo.fake_pbx" in names}
    assert users <= {m for m in MODULES if m.startswith("callcenter/demo/")}


def test_only_the_composition_root_the_cli_and_the_demo_import_web() -> None:
    users = {
        m
        for m, names in MODULES.items()
        if not m.startswith("callcenter/web/")
        and any(n.startswith("callcenter.web") for n in names)
    }
    allowed = {"callcenter/app.py", "callcenter/cli.py"}
    assert {m for m in users if not m.startswith("callcenter/demo/")} <= allowed


def _handler_modules() -> set[str]:
    from callcenter.web.routes import ROUTES

    return {route.handler.__module__ for route in ROUTES}


def test_handler_modules_never_import_each_other() -> None:
    handlers = _handler_modules()
    for module in handlers:
        path = "/".join(module.split(".")) + ".py"
        others = {n for n in MODULES[path] if n in handlers and n != module}
        assert others == set(), f"{module} imports handler modules {others}: use web/requests.py"


def test_every_app_key_lives_in_web_keys() -> None:
    for module in MODULES:
        if module == "callcenter/web/keys.py":
            continue
        text = (PACKAGE.parent / module).read_text(encoding="utf-8")
        assert "AppKey(" not in text, module


def test_handlers_take_the_time_from_the_apps_clock() -> None:
    for module in _handler_modules():
        text = (PACKAGE.parent / ("/".join(module.split(".")) + ".py")).read_text("utf-8")
        for wall_clock in ("time.time()", "datetime.now(", "date.today("):
            assert wall_clock not in text, f"{module}: {wall_clock} (use CLOCK_KEY)"
