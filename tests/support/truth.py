"""Judge a replayed call log against a ``.truth.json`` (what a correct call log holds).

The rules are those of the peer captures' README ("Truth files"): every logged record must
match a different expected record (``optional`` ones may be missing); only the fields a
truth record names are judged; ``caller``/``called`` are endings of the number (letters and
digits only); ``callee_or_agent`` and transfer ``to`` are tokens the party must contain, and
never a Local channel; ``transfers: []`` means none may be logged.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

Record = dict[str, Any]
_UNPAIRED = 100  # an extra or missing record outweighs any number of field differences


def load_truth(path: Path) -> list[Record]:
    records: list[Record] = json.loads(path.read_text(encoding="utf-8"))["records"]
    return records


def _digits(value: object) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", str(value or ""))


def _names(value: object, tokens: list[str]) -> bool:
    text = str(value or "")
    return not text.startswith("Local/") and any(token in text for token in tokens)


def record_differences(got: Record, want: Record) -> list[str]:
    diffs = [
        f"{key} {got.get(key)!r}, expected {want[key]!r}"
        for key in ("direction", "outcome", "hangup_by")
        if key in want and got.get(key) != want[key]
    ]
    if "answered" in want and (got.get("outcome") == "answered") != want["answered"]:
        diffs.append(f"outcome {got.get('outcome')!r}, answered should be {want['answered']}")
    for key, column in (("caller", "caller_number"), ("called", "called_number")):
        if key in want and not any(
            _digits(got.get(column)).endswith(_digits(e)) for e in want[key]
        ):
            diffs.append(f"{column} {got.get(column)!r} does not end with {want[key]}")
    tokens = want.get("callee_or_agent")
    if tokens and not _names(got.get("agent"), tokens):
        diffs.append(f"agent {got.get('agent')!r} is not one of {tokens}")
    if "transfers" in want:
        logged, expected = got.get("transfers") or [], want["transfers"]
        if len(logged) != len(expected):
            diffs.append(f"transfers {logged}, expected {len(expected)}")
        else:
            for n, (g, w) in enumerate(zip(logged, expected, strict=True), 1):
                if "kind" in w and g.get("kind") != w["kind"]:
                    diffs.append(f"transfer {n} kind {g.get('kind')!r}, expected {w['kind']!r}")
                if not _names(g.get("to"), w["to"]):
                    diffs.append(f"transfer {n} to {g.get('to')!r} is not one of {w['to']}")
    return diffs


def judge(logged: list[Record], expected: list[Record]) -> list[str]:
    """The differences of the best pairing of logged and expected records; [] is correct."""
    size = min(len(logged), len(expected))
    best: tuple[int, list[str]] | None = None
    for outs in itertools.combinations(range(len(logged)), size):
        for exps in itertools.permutations(range(len(expected)), size):
            cost, problems = 0, []
            for o, e in zip(outs, exps, strict=True):
                diffs = record_differences(logged[o], expected[e])
                cost += len(diffs)
                problems += [f"{logged[o]['call_id']}: {d}" for d in diffs]
            for o in set(range(len(logged))) - set(outs):
                cost += _UNPAIRED
                problems.append(f"extra record {logged[o]}")
            for e in set(range(len(expected))) - set(exps):
                if not expected[e].get("optional"):
                    cost += _UNPAIRED
                    problems.append(f"missing record {expected[e]}")
            if best is None or cost < best[0]:
                best = (cost, problems)
    assert best is not None
    return best[1]
