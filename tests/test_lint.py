"""Lints of the package's shape, run with the suite (so by CI):

- ``lint-imports`` keeps the contracts of .importlinter: the layers of the
  package, each importing only from the layers below it, and no import
  cycle between the modules of any subpackage;
- no import circle, lazy imports included: the walk below sees every import
  the interpreter may run, wherever it is written: at the top of a module,
  inside a function, under ``if TYPE_CHECKING:``, or as
  ``importlib.import_module(...)`` (which import-linter does not see). A
  module that calls ``import_module`` with a computed name (the PEP 562
  ``_HOMES`` tables, the registry's ``"module:Class"`` constructors)
  imports every package module that one of its string literals names;
- no module above about 300 lines.

An import names the module it imports: ``import a.b`` and ``from a import
b`` (b a submodule) import ``a.b``; ``from a.b import name`` imports
``a.b``, the package's ``__init__`` if ``a.b`` is a package. The parents
that Python initialises on the way are left out, as import-linter leaves
them out.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set

import pytest

import avalanche_featadapt

PACKAGE = Path(avalanche_featadapt.__file__).resolve().parent
ROOT = PACKAGE.parent


def test_lint_imports_keeps_the_contracts():
    lint = Path(sys.executable).with_name("lint-imports")
    assert (
        lint.exists()
    ), "lint-imports comes with the test extra: pip install -e .[test]"
    res = subprocess.run(
        [str(lint), "--no-cache", "--no-logo", str(ROOT / ".importlinter")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_no_module_above_about_300_lines_and_each_job_named_by_its_file():
    # a reader finds each job from the file names; "about 300"
    # leaves 20 lines of slack
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 320
    }
    assert not long, f"split these modules by job: {long}"
    for where in ("strategies", "benchmarks", "metrics", "compare/cli.py"):
        assert (PACKAGE / where).exists(), where


def module_names(package: Path) -> Dict[str, Path]:
    """Every module of ``package``: dotted name -> file."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = [package.name, *path.relative_to(package).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _resolve(name: str, level: int, here: str, is_package: bool) -> str:
    """The absolute name of ``from {'.' * level}{name} import`` in ``here``."""
    if not level:
        return name
    base = here.split(".")
    drop = level - 1 if is_package else level
    base = base[: len(base) - drop]
    return ".".join(base + ([name] if name else []))


def _literal_module(text: str, here: str, is_package: bool, known) -> Optional[str]:
    """The package module that a string literal names, if any: ``"a.b"``,
    ``"a.b:Class"``, ``"a.b."`` (a prefix), or ``".b"`` relative to here."""
    name = text.partition(":")[0]
    if name.startswith("."):
        level = len(name) - len(name.lstrip("."))
        name = _resolve(name[level:], level, here, is_package)
    name = name.rstrip(".")
    return name if name in known else None


def _is_import_module(call: ast.Call) -> bool:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in ("import_module", "__import__")


def imports_of(module: str, path: Path, known: Set[str]) -> Iterator[tuple]:
    """(imported package module, line) for every import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    computed = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module or "", node.level, module, is_package)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield (sub if sub in known else base), node.lineno
        elif isinstance(node, ast.Call) and _is_import_module(node):
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                yield _resolve_call(arg.value, node, module, is_package), node.lineno
            else:
                computed = True
    if computed:
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                name = _literal_module(node.value, module, is_package, known)
                if name:
                    yield name, node.lineno


def _resolve_call(text: str, call: ast.Call, module: str, is_package: bool) -> str:
    """``import_module(".b", __name__)`` -> the absolute name."""
    if not text.startswith("."):
        return text
    level = len(text) - len(text.lstrip("."))
    return _resolve(text[level:], level, module, is_package)


def import_graph(package: Path = PACKAGE) -> Dict[str, Dict[str, int]]:
    """module -> {imported package module: line of the first such import}."""
    files = module_names(package)
    known = set(files)
    graph: Dict[str, Dict[str, int]] = {}
    for module, path in files.items():
        edges = graph.setdefault(module, {})
        for target, line in imports_of(module, path, known):
            if target in known and target != module:
                edges.setdefault(target, line)
    return graph


def find_cycles(graph: Dict[str, Dict[str, int]]) -> List[List[str]]:
    """One cycle (a list of modules, first == last) per strongly connected
    component of more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    components: List[Set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_in(graph, c) for c in components]


def _cycle_in(graph: Dict[str, Dict[str, int]], component: Set[str]) -> List[str]:
    """A shortest cycle through the first module of ``component`` (BFS)."""
    start = min(component)
    parent = {start: None}
    queue = [start]
    for v in queue:
        for w in sorted(graph[v]):
            if w == start:
                path = [v]
                while parent[path[-1]] is not None:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if w in component and w not in parent:
                parent[w] = v
                queue.append(w)
    raise AssertionError(f"no cycle in {component}")  # pragma: no cover


def describe(graph: Dict[str, Dict[str, int]], cycle: List[str]) -> str:
    steps = [f"{a} -> {b} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:])]
    return "\n  ".join(steps)


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n  " + "\n\n  ".join(
        describe(graph, c) for c in cycles
    )


def test_the_walk_sees_lazy_imports(tmp_path):
    """Function-level, TYPE_CHECKING and import_module imports all count."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "import importlib\n"
        "_HOMES = {'A': '.a'}\n"
        "def __getattr__(n):\n"
        "    return importlib.import_module(_HOMES[n], __name__)\n"
    )
    (pkg / "a.py").write_text("def f():\n    from .sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from ..c import C\n"
    )
    (pkg / "c.py").write_text(
        "import importlib\n"
        "def g():\n"
        "    return importlib.import_module('pkg.a')\n"
    )
    graph = import_graph(pkg)
    assert graph["pkg"] == {"pkg.a": 2}
    assert graph["pkg.a"] == {"pkg.sub.b": 2}
    assert graph["pkg.sub.b"] == {"pkg.c": 3}
    assert graph["pkg.c"] == {"pkg.a": 3}
    (cycle,) = find_cycles(graph)
    assert cycle == ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]


@pytest.mark.parametrize(
    "name, level, here, is_package, expected",
    [
        ("b", 1, "p.a", False, "p.b"),
        ("", 1, "p.a", False, "p"),
        ("b", 1, "p", True, "p.b"),
        ("c", 2, "p.q.a", False, "p.c"),
        ("c", 2, "p.q", True, "p.c"),
        ("x.y", 0, "p.a", False, "x.y"),
    ],
)
def test_relative_imports_resolve_as_python_resolves_them(
    name, level, here, is_package, expected
):
    assert _resolve(name, level, here, is_package) == expected
