"""No import cycles in addon/crosswire: the modules form a layered graph (ir → protocols →
pipeline → convert → engine), so any module can be imported first and read on its own.

The graph is read from the sources: every ``import crosswire…`` / ``from crosswire… import``,
at module level or inside a function (a lazy import that closes a cycle is still one), except
those under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ADDON = Path(__file__).resolve().parents[2] / "addon"


def modules(root: Path) -> dict[str, Path]:
    found = {}
    for path in (root / "crosswire").rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The crosswire modules ``name`` imports (a ``from pkg import sub`` names the submodule)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in _nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                head = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*head, *([node.module] if node.module else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in known else base)
    return {m for m in out if m in known and m != name}


def _nodes(tree: ast.AST) -> list[ast.AST]:
    found: list[ast.AST] = []
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            found.append(child)
        else:
            found.extend(_nodes(child))
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def test_addon_has_no_import_cycles() -> None:
    known = modules(ADDON)
    graph = {name: imports(name, path, known) for name, path in known.items()}
    assert len(graph) > 100 and graph["crosswire.convert"]
    assert cycles(graph) == []


def test_the_check_finds_a_cycle_through_a_lazy_import(tmp_path: Path) -> None:
    package = tmp_path / "crosswire"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from crosswire import b\n")
    (package / "b.py").write_text("def f():\n    from crosswire.c import x\n")
    (package / "c.py").write_text("import crosswire.a\nx = 1\n")
    (package / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from crosswire import a\n"
    )
    known = modules(tmp_path)
    graph = {name: imports(name, path, known) for name, path in known.items()}
    assert cycles(graph) == [["crosswire.a", "crosswire.b", "crosswire.c"]]
