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
