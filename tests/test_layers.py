"""Imports point one way: the command line -> tabular benchmarks -> reports -> the study loop -> strategies -> storage
-> the four packages.

Every import counts, also one inside a function (those keep ``dse --help`` light, but are dependencies all the
same). The four packages below ``dse`` import none of each other, and none of ``dse``.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("dse.cli", "dse.tabular", "dse.reports", "dse.study", "dse.strategies", "dse.storage")
"""top to bottom: a layer imports only from the layers after it (and from itself)"""
PACKAGES = ("training", "synthesis", "objectives", "search_spaces")


def _modules() -> dict[str, Path]:
    found = {}
    for package in ("dse", *PACKAGES):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(module: str) -> set[str]:
    """The project's modules ``module`` imports (``from a import b`` counts as a.b where a.b is a module, else a)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names)
    return {name for name in names if name in MODULES}


def _layer(module: str) -> str:
    for layer in (*LAYERS, *PACKAGES):
        if module == layer or module.startswith(layer + "."):
            return layer
    return module  # dse itself: its __init__ imports nothing


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_from_its_layer_and_below(module):
    layer = _layer(module)
    if layer in PACKAGES:
        allowed = {layer}
    elif layer in LAYERS:
        allowed = set(LAYERS[LAYERS.index(layer):]) | set(PACKAGES)
    else:
        allowed = set()
    upward = sorted(name for name in _imports(module) if _layer(name) not in allowed)
    assert not upward, f"{module} ({layer}) imports {upward}"


def test_no_import_cycles():
    graph = {module: _imports(module) - {module} for module in MODULES}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for name in sorted(graph[module]):
            if state.get(name) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(name):] + [module, name]))
            if name not in state:
                visit(name, path + [module])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


def test_the_layers_cover_every_module_of_dse():
    assert all(_layer(module) in LAYERS for module in MODULES if module.startswith("dse.")), (
        sorted(module for module in MODULES if module.startswith("dse.") and _layer(module) not in LAYERS))
