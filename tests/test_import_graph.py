"""The shape of the code: the STARK library stands alone, and no two packages import each other.

A package here is a direct sub-package or module of ``zk_pipeline`` (``zk_pipeline.stark``,
``zk_pipeline.hours``, ...) or the top-level ``api`` package. A cycle between packages, direct or
through others, means neither can be read, tested or changed without the other; each failure
lists the module imports that close the cycle, with their lines.
"""

from __future__ import annotations

import textwrap
from collections import deque

import grimp
import pytest

ROOTS = ("zk_pipeline", "api")
LIBRARY = "zk_pipeline.stark"


def package_of(module: str, root: str = "zk_pipeline") -> str | None:
    """``root.x.y`` -> ``root.x``; any other top-level package is a package of its own; ``root`` alone: None."""
    parts = module.split(".")
    if parts[0] == root:
        return ".".join(parts[:2]) if len(parts) > 1 else None
    return parts[0]


def package_edges(graph: grimp.ImportGraph, root: str = "zk_pipeline") -> dict[tuple[str, str], list[tuple[str, str]]]:
    """Package -> package dependencies, each with the module imports behind it."""
    edges: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            a, b = package_of(importer, root), package_of(imported, root)
            if a and b and a != b:
                edges.setdefault((a, b), []).append((importer, imported))
    return edges


def package_cycles(edges) -> list[list[str]]:
    """The groups of packages that reach each other (strongly connected components of two or more)."""
    succ: dict[str, set[str]] = {}
    for a, b in edges:
        succ.setdefault(a, set()).add(b)
        succ.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan; the package graph is small, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(succ[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(succ):
        if v not in index:
            visit(v)
    return sorted(groups)


def cycle_through(group: list[str], edges) -> list[str]:
    """One closed path through a group's first package: ``[p0, p1, ..., p0]``."""
    members = set(group)
    start = group[0]
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for a, b in sorted(edges):
            if a != v or b not in members:
                continue
            if b == start:
                path = [v]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if b not in parent:
                parent[b] = v
                queue.append(b)
    raise AssertionError(f"no cycle through {start} in {group}")


def describe(graph: grimp.ImportGraph, group: list[str], edges) -> str:
    path = cycle_through(group, edges)
    lines = [" -> ".join(path)]
    for a, b in zip(path, path[1:]):
        importer, imported = edges[(a, b)][0]
        detail = (graph.get_import_details(importer=importer, imported=imported) or [{}])[0]
        lines.append(f"    {importer} -> {imported} (line {detail.get('line_number', '?')}: "
                     f"{detail.get('line_contents', '').strip()})")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def project_graph() -> grimp.ImportGraph:
    return grimp.build_graph(*ROOTS, cache_dir=None)


def imports_leaving(graph: grimp.ImportGraph, package: str, roots=ROOTS) -> list[tuple[str, str]]:
    """``(importer, imported)`` for every import from ``package`` into the rest of ``roots``."""
    def inside(m: str) -> bool:
        return m == package or m.startswith(package + ".")

    return sorted((importer, imported)
                  for importer in graph.find_descendants(package) | {package}
                  for imported in graph.find_modules_directly_imported_by(importer)
                  if imported.split(".")[0] in roots and not inside(imported))


def test_the_stark_library_imports_nothing_else_from_the_project(project_graph):
    outside = imports_leaving(project_graph, LIBRARY)
    assert not outside, "zk_pipeline.stark must stand alone; it imports:\n" + "\n".join(
        f"    {a} -> {b}" for a, b in outside)


def test_no_two_packages_import_each_other(project_graph):
    edges = package_edges(project_graph)
    groups = package_cycles(edges)
    assert not groups, "packages that import each other:\n" + "\n".join(
        describe(project_graph, g, edges) for g in groups)


def _write_package(root, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_the_cycle_finder_finds_a_cycle_through_a_third_package(tmp_path, monkeypatch):
    """A tiny package where a -> b -> c -> a (c's import lazy, inside a function) and d only imports a."""
    _write_package(tmp_path, {
        "toy/__init__.py": "",
        "toy/a/__init__.py": "from toy.b import core\n",
        "toy/b/__init__.py": "",
        "toy/b/core.py": "import toy.c\n",
        "toy/c.py": "def late():\n    from toy.a import x\n    return x\n",
        "toy/a/x.py": "",
        "toy/d.py": "import toy.a\n",
    })
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("toy", cache_dir=None)
    edges = package_edges(graph, root="toy")
    groups = package_cycles(edges)
    assert groups == [["toy.a", "toy.b", "toy.c"]]
    text = describe(graph, groups[0], edges)
    assert text.splitlines()[0] == "toy.a -> toy.b -> toy.c -> toy.a"
    assert "toy.c -> toy.a.x (line 2: from toy.a import x)" in text
    assert imports_leaving(graph, "toy.b", roots=("toy",)) == [("toy.b.core", "toy.c")]
    assert imports_leaving(graph, "toy.a.x", roots=("toy",)) == []


def test_the_cycle_finder_accepts_an_acyclic_package(tmp_path, monkeypatch):
    _write_package(tmp_path, {
        "tree/__init__.py": "",
        "tree/a.py": "import tree.b\nimport tree.c\n",
        "tree/b.py": "import tree.c\n",
        "tree/c/__init__.py": "from tree.c import inner\n",  # imports inside one package are no cycle
        "tree/c/inner.py": "import tree.c\n",
    })
    monkeypatch.syspath_prepend(str(tmp_path))
    edges = package_edges(grimp.build_graph("tree", cache_dir=None), root="tree")
    assert set(edges) == {("tree.a", "tree.b"), ("tree.a", "tree.c"), ("tree.b", "tree.c")}
    assert package_cycles(edges) == []
