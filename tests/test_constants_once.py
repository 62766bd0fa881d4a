"""Each shared string is defined once in vxdeploy/ (aliases, label keys, container names,
metric types, the emulator's admin prefix, host and file names, environment variable names):
two modules that each spell it drift apart on the first rename. Other modules import it, or
alias it (`HOST = LOOPBACK_HOST`), which the scan does not count as a second definition."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from vxdeploy import names

ROOT = Path(__file__).resolve().parents[1] / "vxdeploy"

# The same text with a different meaning: each group is allowed exactly these places.
UNRELATED = {
    # Vertex label prefix, the managed-by value, the staging bucket folder, a Docker label.
    "'vxdeploy'": {"staging.py:PREFIX", "names.py:LABEL_PREFIX", "desired.py:TOOL",
                   "emulator/runtime/docker_engine.py:LABEL"},
    # Vertex's default alias; the profile loader's name for its built-in defaults.
    "'default'": {"names.py:DEFAULT_ALIAS", "profile/loader.py:DEFAULT_SOURCE"},
    # The machine catalog and its prices were checked on the same day, separately.
    "'2026-11-21'": {"catalog.py:CHECKED_ON", "catalog.py:PRICES_CHECKED_ON"},
}


def _value(node: ast.expr, known: dict[str, object]) -> object:
    """A module-level constant's value: a literal, or an f-string / `+` over the module's
    own constants (so `METRIC_PREFIX = f"{DOMAIN}prediction/online"` is seen too)."""
    if isinstance(node, ast.Name) and node.id in known:
        return known[node.id]
    if isinstance(node, ast.JoinedStr):
        parts = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                parts.append(str(part.value))
            elif isinstance(part, ast.FormattedValue) and part.format_spec is None:
                parts.append(str(_value(part.value, known)))
            else:
                raise ValueError("not a plain f-string")
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _value(node.left, known), _value(node.right, known)
        if isinstance(left, str) and isinstance(right, str):
            return left + right
        raise ValueError("not a string sum")
    return ast.literal_eval(node)


def _literal_constants() -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted(ROOT.rglob("*.py")):
        known: dict[str, object] = {}
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                target, value = node.target, node.value
            else:
                continue
            if not (isinstance(target, ast.Name) and target.id.isupper()):
                continue
            if isinstance(value, ast.Name):
                continue  # an alias of another constant: that is the import we want
            try:
                literal = _value(value, known)
            except (ValueError, TypeError, SyntaxError):
                continue
            known[target.id] = literal
            long_text = isinstance(literal, str) and len(literal) > 3
            if long_text or (isinstance(literal, tuple) and literal):
                where = f"{path.relative_to(ROOT).as_posix()}:{target.id}"
                found[repr(literal)].add(where)
    return found


def test_shared_strings_are_defined_once() -> None:
    repeated = {value: places for value, places in _literal_constants().items()
                if len(places) > 1 and not places <= UNRELATED.get(value, set())}
    assert repeated == {}


def test_the_scan_sees_the_known_constants() -> None:
    constants = _literal_constants()
    assert constants["'stable'"] == {"names.py:STABLE_ALIAS"}
    assert constants["'/_emulator'"] == {"emulator/constants.py:ADMIN_PREFIX"}
    assert constants["'127.0.0.1'"] == {"emulator/constants.py:LOOPBACK_HOST"}
    assert constants["('flask', 'torchserve', 'tensorrt')"] == {"names.py:BUNDLED_CONTAINERS"}
    assert constants[repr(names.ENDPOINT_RESOURCE_TYPE)] == {"names.py:ENDPOINT_RESOURCE_TYPE"}
    assert constants[repr(names.LATENCY_METRIC)] == {"names.py:LATENCY_METRIC"}


def _string_literals(path: Path) -> set[str]:
    return {node.value for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def test_vertex_metric_names_are_spelled_only_in_names() -> None:
    """The metric prefix and the Endpoint resource type appear in no other string, not even
    inside a filter or a message (the emulator's metric table and the alert filters used to
    spell them)."""
    spelled = (names.METRIC_PREFIX, names.ENDPOINT_RESOURCE_TYPE)
    offenders = sorted(
        f"{path.relative_to(ROOT).as_posix()}: {text!r}"
        for path in ROOT.rglob("*.py") if path.name != "names.py"
        for text in _string_literals(path) if any(name in text for name in spelled))
    assert offenders == []
