"""The package's imports run one way: every module's imports are parsed (ast) and checked.

Layers, lowest first (docs/architecture.md): a module may import from its own package and from
any lower layer; packages on the same layer (extract, normalize, load) do not import each other.
Facade modules re-export for users (and for dlt's import paths) and may import anything, but no
layered module may import a facade.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "quiver"

#: Top-level unit (a package under ``quiver/`` or a top-level module) → layer.
LAYERS: dict[str, int] = {
    "errors": 0,
    "atomic_files": 0,
    "configuration": 1,
    "settings": 2,
    "settings_catalog": 3,  # the docs catalog of the settings: above them, used by no layer
    "progress": 2,
    "schema": 3,
    "package": 4,
    "destinations": 5,
    "extract": 6,
    "normalize": 6,
    "load": 6,
    "scaleout": 7,
    "pipeline": 8,
}

#: Modules that only re-export (or sit on top of everything): they may import any layer.
FACADES = {
    "quiver",
    "quiver.current",
    "quiver.mark",
    "quiver.sources",
    "quiver.maintenance",
    "quiver.destinations.adapters",
    "quiver.__main__",
    "quiver.cli",
    "quiver.cli.pipeline_command",
}

#: Packages whose every module is a facade (dlt's import paths: ``quiver.common.json``, ...).
FACADE_PACKAGES = ("quiver.common", "quiver.sources")


def _is_facade(module: str) -> bool:
    if module in FACADES or module in FACADE_PACKAGES:
        return True
    return module.startswith(tuple(f"{p}." for p in FACADE_PACKAGES))


#: ``load`` drives the table formats; ``extract`` and ``normalize`` never touch a destination.
EXTRA_FORBIDDEN = {("extract", "destinations"), ("normalize", "destinations")}


def _module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, src: Path = SRC) -> list[tuple[str, int]]:
    """Absolute ``quiver...`` module names imported by ``path``, with line numbers."""
    module = _module_name(path, src)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            # ``from quiver.x import y`` may import the submodule ``quiver.x.y``
            found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]
    return [(name, line) for name, line in found if name == "quiver" or name.startswith("quiver.")]


def _unit(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _all_modules(src: Path = SRC) -> dict[str, Path]:
    return {_module_name(p, src): p for p in src.rglob("*.py")}


def _violations(src: Path = SRC) -> list[str]:
    modules = _all_modules(src)
    problems = []
    for module, path in sorted(modules.items()):
        if _is_facade(module):
            continue
        own = _unit(module)
        if own not in LAYERS:
            problems.append(f"{module}: not in a layer (add it to LAYERS or FACADES)")
            continue
        for target, line in _imports(path, src):
            if target not in modules and target.rsplit(".", 1)[0] in modules:
                continue  # ``from quiver.x import name``: the name, not a module
            if _is_facade(target):
                problems.append(f"{module}:{line} imports the facade {target}")
                continue
            other = _unit(target)
            if other is None or other == own:
                continue
            if other not in LAYERS:
                problems.append(f"{module}:{line} imports {target}, which is in no layer")
            elif LAYERS[other] >= LAYERS[own] or (own, other) in EXTRA_FORBIDDEN:
                problems.append(
                    f"{module}:{line} imports {target}: {own} (layer {LAYERS[own]}) may not "
                    f"import {other} (layer {LAYERS[other]})"
                )
    return problems


def test_every_import_runs_down_the_layers() -> None:
    assert _violations() == []


def test_no_cycle_between_packages() -> None:
    modules = _all_modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        own = _unit(module)
        if own is None:
            continue
        for target, _line in _imports(path):
            other = _unit(target)
            if other and other != own and target in modules:
                graph.setdefault(own, set()).add(other)
    seen: set[str] = set()
    stack: list[str] = []

    def visit(node: str) -> None:
        if node in stack:
            cycle = [*stack[stack.index(node) :], node]
            pytest.fail("import cycle between packages: " + " -> ".join(cycle))
        if node in seen:
            return
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            visit(nxt)
        stack.pop()
        seen.add(node)

    for node in sorted(graph):
        visit(node)


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """The parser resolves relative imports, so a wrong-way import cannot hide behind one."""
    # a copy of the tree: the other tests (maybe on another xdist worker) read the real one
    copy = tmp_path / "quiver"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "schema" / "_layer_probe.py").write_text("from ..pipeline import factory\n")
    assert any("_layer_probe" in v and "pipeline" in v for v in _violations(copy))
    assert not any("_layer_probe" in v for v in _violations())


def test_no_module_over_600_lines() -> None:
    long = {
        _module_name(p): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 600
    }
    assert long == {}
