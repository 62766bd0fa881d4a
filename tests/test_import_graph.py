"""The import graph of vxdeploy/: no cycle, and no arrow pointing up the declared layers.

Read from the source with `ast` (nothing is imported), counting only the imports that run
when a module loads: module-level statements, not those under `if TYPE_CHECKING:` and not
those inside functions (the CLI imports heavy things lazily, on purpose). The layers are
the picture in docs/architecture.md; a new module must be given its place here, so the
picture and the code cannot drift apart silently.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vxdeploy"

# Lowest first: a module may import its own layer or any layer below it, never above.
# A key names a module or a package (the package covers everything under it).
LAYERS: list[tuple[str, ...]] = [
    # 0: constants and plain helpers any layer may use ("" is vxdeploy/__init__: __version__)
    ("", "names", "errors", "paths", "output", "catalog", "resources", "waiting", "textfile"),
    # 1: the profile and the pure math and records over it
    ("profile", "traffic", "rollout_state"),
    # 2: what the profile asks for, what is there, the stable/candidate rule
    ("roles", "desired", "live", "cost", "modelcheck", "images", "scaffold", "staging",
     "packaging"),
    # 3: planning (pure) and the Vertex seam (the only code that speaks GAPIC)
    ("plan", "verbs", "render", "saved_plan", "vertex"),
    # 4: executing plans and rollouts, building images
    ("apply", "destroy", "rollout", "build"),
    # 5: load, connect, read, plan: what the commands share
    ("workflow",),
    # 6: the commands
    ("cli", "__main__"),
]
# The local Vertex is its own tree beside the layers: it may use layer 0 only (it serves
# the same API Vertex does and must not know the tool that calls it), and only the
# commands may import it.
EMULATOR = "emulator"
EMULATOR_MAY_USE = 0
MAY_USE_EMULATOR = ("cli",)


def module_name(path: Path) -> str:
    """`vxdeploy/emulator/core.py` -> `emulator.core`; the package itself is ``""``."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py") if "_bundled" not in p.parts}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _load_time_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements that run at load: descends into if/try/with, not into defs."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _load_time_imports(node.body)
            yield from _load_time_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody,
                          *(handler.body for handler in node.handlers)):
                yield from _load_time_imports(block)
        elif isinstance(node, ast.With):
            yield from _load_time_imports(node.body)


def _internal(dotted: str) -> str | None:
    """`vxdeploy.emulator.core` -> `emulator.core` when it is a module of ours."""
    if dotted == "vxdeploy":
        return ""
    if not dotted.startswith("vxdeploy."):
        return None
    name = dotted.removeprefix("vxdeploy.")
    return name if name in MODULES else None


def imports_of(name: str) -> set[str]:
    """The modules of ours `name` imports at load time. `from pkg import sub` is an arrow
    to `pkg.sub` when `sub` is a module (Python loads the submodule, not the whole
    package's namespace first)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _load_time_imports(ast.parse(path.read_text(), str(path)).body):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = package.split(".") if package else []
                base = base[:len(base) - node.level + 1]
                origin = ".".join(["vxdeploy", *base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            targets = [f"{origin}.{alias.name}" if _internal(f"{origin}.{alias.name}") is not None
                       else origin for alias in node.names]
        for target in targets:
            internal = _internal(target)
            if internal is not None and internal != name:
                found.add(internal)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def layer_of(name: str) -> int:
    for index, keys in enumerate(LAYERS):
        if _top(name) in keys:
            return index
    raise LookupError(name)


def test_every_module_has_a_declared_place():
    unplaced = []
    for name in MODULES:
        if _top(name) == EMULATOR:
            continue
        try:
            layer_of(name)
        except LookupError:
            unplaced.append(f"vxdeploy/{name.replace('.', '/')}")
    assert not unplaced, (f"give these modules a layer in tests/test_import_graph.py and "
                          f"docs/architecture.md: {unplaced}")


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle():
    assert _cycles(GRAPH) == []


def test_a_cycle_is_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_arrow_points_up_the_layers():
    upward = []
    for source, targets in sorted(GRAPH.items()):
        for target in sorted(targets):
            if _top(source) == EMULATOR and _top(target) == EMULATOR:
                continue
            if _top(source) == EMULATOR:
                if _top(target) == EMULATOR or layer_of(target) <= EMULATOR_MAY_USE:
                    continue
                upward.append(f"{source} -> {target} (the emulator may use layer 0 only)")
                continue
            if _top(target) == EMULATOR:
                if _top(source) not in MAY_USE_EMULATOR:
                    upward.append(f"{source} -> {target} (only {MAY_USE_EMULATOR} may)")
                continue
            if layer_of(target) > layer_of(source):
                upward.append(f"{source} (layer {layer_of(source)}) -> {target} "
                              f"(layer {layer_of(target)})")
    assert upward == []


# The checker itself must be able to fail: each case is a graph it has to refuse.
@pytest.mark.parametrize(("source", "code", "expected"), [
    ("emulator.x", "from vxdeploy.emulator import y\n", {"emulator.y"}),
    ("emulator.x", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                   "    from vxdeploy import apply\n", set()),
    ("emulator.x", "def f():\n    import vxdeploy.apply\n", set()),
    ("emulator.x", "try:\n    from vxdeploy.apply import Applier\nexcept ImportError:\n"
                   "    pass\n", {"apply"}),
    ("emulator.x", "from . import y\n", {"emulator.y"}),
    ("emulator.x", "from ..names import STABLE_ALIAS\n", {"names"}),
])
def test_the_reader_sees_load_time_imports_only(monkeypatch, tmp_path, source, code, expected):
    fake = tmp_path / "vxdeploy" / "emulator"
    fake.mkdir(parents=True)
    for module in ("x", "y"):
        (fake / f"{module}.py").write_text("")
    (tmp_path / "vxdeploy" / "apply.py").write_text("")
    (tmp_path / "vxdeploy" / "names.py").write_text("")
    (fake / "x.py").write_text(code)
    monkeypatch.setattr(__import__(__name__, fromlist=["_"]), "PACKAGE", tmp_path / "vxdeploy")
    monkeypatch.setattr(__import__(__name__, fromlist=["_"]), "MODULES", {
        "emulator.x": fake / "x.py", "emulator.y": fake / "y.py",
        "apply": tmp_path / "vxdeploy" / "apply.py", "names": tmp_path / "vxdeploy" / "names.py"})
    assert imports_of(source) == expected


# Inside the emulator: the services are written against their own contexts
# (vxdeploy/emulator/context.py), so they name neither the object that composes them nor
# the HTTP server, not even for type checking or inside a function.
SERVICES = ("emulator.models_service", "emulator.endpoints_service", "emulator.prediction",
            "emulator.deployments", "emulator.context")
COMPOSERS = ("emulator.core", "emulator.server", "emulator.admin")


def every_import_of(name: str) -> set[str]:
    """All modules of ours `name` mentions in any import statement, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {internal for target in found if (internal := _internal(target)) is not None}


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_does_not_know_the_emulator_that_composes_it(service):
    assert every_import_of(service) & set(COMPOSERS) == set()
