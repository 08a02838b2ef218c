"""The house rules docs/architecture.md states, read from the source with `ast` (nothing is imported):
imports between our packages point one way (function-level and type-only imports included), no import circle
between modules of one package, no production module over 500 lines.

A circle counts imports at module level and inside functions (a deferred import hides a circle, it does not
remove it); imports under `if TYPE_CHECKING:` are left out of circles."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[2]

# The floors, lowest first: a package may import the ones below it, never one above.
FLOORS = ("comfyui_client", "node_catalog", "agents", "pipeline", "api")
# Beside the floors: each may import only the packages named here among ours.
ASIDE: dict[str, frozenset[str]] = {
    "comfyui_local": frozenset({"comfyui_client"}),
    "evals": frozenset({"pipeline", "agents", "node_catalog", "comfyui_client", "comfyui_local"}),
    "cli": frozenset({*FLOORS, "comfyui_local", "evals"}),
}
PACKAGES = (*FLOORS, *ASIDE)
MAX_LINES = 500


def allowed(package: str) -> frozenset[str]:
    if package in ASIDE:
        return ASIDE[package]
    floor = FLOORS.index(package)
    # the api may also start the local ComfyUI's smoke-weight checks
    extra = {"comfyui_local"} if package == "api" else set()
    return frozenset({*FLOORS[:floor], *extra})


def modules(package: str) -> Iterator[tuple[str, Path]]:
    """(dotted module name, file) of every module of a package, `__init__` as the package itself."""
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported(module: str, path: Path, *, type_checking: bool) -> Iterator[str]:
    """Dotted names a module imports anywhere in it (`from a import b` gives `a` and `a.b`; relative ones made
    absolute); with `type_checking=False`, not those under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(nodes: list[ast.stmt]) -> Iterator[str]:
        for node in nodes:
            if isinstance(node, ast.Import):
                yield from (alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                yield base
                yield from (f"{base}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                if type_checking:
                    yield from visit(node.body)
                yield from visit(node.orelse)
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    inner = getattr(node, field, None)
                    if isinstance(inner, list):
                        yield from visit([n for n in inner if isinstance(n, ast.stmt)])
                        for handler in inner:
                            if isinstance(handler, ast.ExceptHandler):
                                yield from visit(handler.body)

    yield from visit(tree.body)


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_one_way(package: str) -> None:
    ok = allowed(package) | {package}
    wrong = sorted(
        f"{module} imports {name}"
        for module, path in modules(package)
        for name in set(imported(module, path, type_checking=True))
        if name.split(".")[0] in PACKAGES and name.split(".")[0] not in ok
    )
    assert not wrong, f"{package} may import only {sorted(allowed(package))} among ours:\n" + "\n".join(wrong)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_circle_inside_a_package(package: str) -> None:
    found = dict(modules(package))
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(found)
    for module, path in found.items():
        for name in imported(module, path, type_checking=False):
            # `from pkg import sub` names the submodule; importing a parent package is not counted
            if name in found and name != module and not module.startswith(f"{name}."):
                graph.add_edge(module, name)
    circles = [frozenset(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    new = [sorted(c) for c in circles]
    assert not new, f"import circles in {package}: {new}"


def test_no_production_module_over_500_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for package in PACKAGES
        for _, path in modules(package)
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines (split them by what they hold): {long}"


def test_the_rules_see_imports(tmp_path: Path) -> None:
    """The scanner itself: function-level imports count; type-only ones count for direction only."""
    path = tmp_path / "mod.py"
    path.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "if TYPE_CHECKING:\n"
        "    from pkg.typed import T\n"
        "def f() -> None:\n"
        "    try:\n"
        "        from pkg.deferred import g\n"
        "    except ImportError:\n"
        "        import pkg.fallback\n",
        encoding="utf-8",
    )
    found = set(imported("pkg.mod", path, type_checking=False))
    assert {"pkg.sibling", "pkg.deferred", "pkg.deferred.g", "pkg.fallback"} <= found
    assert "pkg.typed" not in found
    assert "pkg.typed" in set(imported("pkg.mod", path, type_checking=True))
