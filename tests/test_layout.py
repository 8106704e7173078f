"""The shape of the code: import direction, no cycles, modules of a readable size.

These are the rules docs/architecture.md states; an AST walk checks them so
that a change that breaks one fails `make test`, not a later reader.

* `client/` imports nothing from `axd.daemon` (a thin client of the socket);
* `protocol/` imports only the standard library and msgspec (no I/O stack);
* no import cycle among project modules, counting imports inside functions
  (they keep a cycle alive just as well) but not `if TYPE_CHECKING:` blocks;
* no module over MAX_LINES lines unless its docstring says why, on a line
  starting with ``Size:``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"protocol": "axd.protocol", "daemon": "axd.daemon", "client": "axd.client"}
MAX_LINES = 450


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    top, *rest = rel.parts
    name = ".".join([PACKAGES[top], *rest])
    return name.removesuffix(".__init__")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in PACKAGES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path) -> set[str]:
    """Absolute names of every module `module` imports at run time."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            names.add(source)
            # `from pkg import mod` imports the submodule `pkg.mod`.
            names.update(
                f"{source}.{alias.name}"
                for alias in node.names
                if f"{source}.{alias.name}" in MODULES
            )
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _project_edges(module: str) -> set[str]:
    """Project modules `module` depends on, packages resolved to their __init__."""
    return {name for name in GRAPH[module] if name in MODULES and name != module}


def test_client_imports_no_daemon_code() -> None:
    offenders = {
        module: sorted(n for n in names if n.startswith("axd.daemon"))
        for module, names in GRAPH.items()
        if module.startswith("axd.client")
    }
    assert {m: n for m, n in offenders.items() if n} == {}


def test_protocol_imports_only_stdlib_and_msgspec() -> None:
    allowed_third_party = {"msgspec"}
    offenders: dict[str, list[str]] = {}
    for module, names in GRAPH.items():
        if not module.startswith("axd.protocol"):
            continue
        bad = [
            name
            for name in names
            if not name.startswith("axd.protocol")
            and name.split(".")[0] not in sys.stdlib_module_names
            and name.split(".")[0] not in allowed_third_party
            and name != "__future__"
        ]
        if bad:
            offenders[module] = sorted(bad)
    assert offenders == {}


def _find_cycle() -> list[str] | None:
    """One import cycle among project modules, or None (iterative DFS)."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    for start in sorted(MODULES):
        if start in state:
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(_project_edges(start)))]
        path = [start]
        state[start] = 1
        while stack:
            node, todo = stack[-1]
            if not todo:
                stack.pop()
                path.pop()
                state[node] = 2
                continue
            nxt = todo.pop()
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(_project_edges(nxt))))
    return None


def test_no_import_cycle() -> None:
    assert _find_cycle() is None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_size_is_readable(module: str) -> None:
    path = MODULES[module]
    lines = path.read_text().count("\n")
    if lines <= MAX_LINES:
        return
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert any(line.startswith("Size:") for line in docstring.splitlines()), (
        f"{path.relative_to(ROOT)} has {lines} lines (> {MAX_LINES}) and its "
        "docstring gives no reason on a 'Size:' line"
    )


def test_the_checker_sees_a_cycle_and_a_client_import() -> None:
    """The rules above must be able to fail: feed them a known-bad graph."""
    saved = dict(GRAPH)
    try:
        GRAPH["axd.client.cli"] = {*GRAPH["axd.client.cli"], "axd.daemon.config"}
        GRAPH["axd.protocol.errors"] = {
            *GRAPH["axd.protocol.errors"],
            "axd.protocol.types",
        }
        GRAPH["axd.protocol.types"] = {
            *GRAPH["axd.protocol.types"],
            "axd.protocol.errors",
        }
        with pytest.raises(AssertionError):
            test_client_imports_no_daemon_code()
        assert _find_cycle() is not None
    finally:
        GRAPH.clear()
        GRAPH.update(saved)
