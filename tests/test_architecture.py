"""The package structure keeps the rules of ``docs/architecture.md`` (issue 16, item 5).

Every module under ``bayeskern/`` is parsed with :mod:`ast` (nothing is
imported) and checked for:

(a) no import cycles among bayeskern modules, counting module-level and
    function-level imports alike (``from pkg import name`` imports the
    submodule ``pkg.name`` when that is a module, else ``pkg``);
(b) no private name (``_x``, not a dunder) imported from a different
    top-level sub-package (``bayeskern.X`` into ``bayeskern.Y``), as an
    imported name or as a module below ``bayeskern.X``;
(c) no module that only imports and re-exports (a shim), other than a
    package's ``__init__.py``;
(d) function-level (lazy) imports of bayeskern modules only where
    :data:`LAZY_ALLOWED` lists them, with a reason; an entry that is no
    longer needed fails the test too, so the list only shrinks.

Each checker also runs on a small synthetic package that breaks its rule
(``test_checkers_catch_*``), so none of them passes vacuously.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "bayeskern"

#: Function-level imports of bayeskern modules that are allowed, as
#: ``(importing file relative to the repository root, imported module): reason``.
LAZY_ALLOWED: dict[tuple[str, str], str] = {
    ("bayeskern/__init__.py", "bayeskern.results"): "`import bayeskern` stays cheap: `bk.load` imports the result machinery on first call",
    ("bayeskern/cli.py", "bayeskern"): "issue 16: not yet moved",
    ("bayeskern/cli.py", "bayeskern.demo"): "issue 16: not yet moved",
    ("bayeskern/cli.py", "bayeskern.diagnostics.check"): "issue 16: not yet moved",
    ("bayeskern/cli.py", "bayeskern.infer"): "issue 16: not yet moved",
    ("bayeskern/cox/fit.py", "bayeskern.cox.links"): "issue 16: not yet moved",
    ("bayeskern/cox/fit.py", "bayeskern.cox.models"): "issue 16: not yet moved",
    ("bayeskern/cox/fit.py", "bayeskern.cox.plots"): "issue 16: not yet moved",
    ("bayeskern/cox/fit.py", "bayeskern.cox.summaries"): "issue 16: not yet moved",
    ("bayeskern/cox/fit.py", "bayeskern.cox.windows"): "issue 16: not yet moved",
    ("bayeskern/cox/fit.py", "bayeskern.gp.laplace.draws"): "issue 16: not yet moved",
    ("bayeskern/cox/fit.py", "bayeskern.gp.laplace.kronecker"): "issue 16: not yet moved",
    ("bayeskern/cox/fit.py", "bayeskern.gp.laplace.marginal"): "issue 16: not yet moved",
    ("bayeskern/cox/fit.py", "bayeskern.infer.nuts"): "issue 16: not yet moved",
    ("bayeskern/cox/fit.py", "bayeskern.infer.svi"): "issue 16: not yet moved",
    ("bayeskern/cox/fit.py", "bayeskern.kernels"): "issue 16: not yet moved",
    ("bayeskern/demo.py", "bayeskern"): "issue 16: not yet moved",
    ("bayeskern/demo.py", "bayeskern.cox.fit"): "issue 16: not yet moved",
    ("bayeskern/demo.py", "bayeskern.datasets"): "issue 16: not yet moved",
    ("bayeskern/demo.py", "bayeskern.diagnostics"): "issue 16: not yet moved",
    ("bayeskern/demo.py", "bayeskern.diagnostics.check"): "issue 16: not yet moved",
    ("bayeskern/demo.py", "bayeskern.infer"): "issue 16: not yet moved",
    ("bayeskern/demo.py", "bayeskern.infer.nuts"): "issue 16: not yet moved",
    ("bayeskern/infer/fit.py", "bayeskern.diagnostics.convert"): "issue 16: not yet moved",
    ("bayeskern/infer/fit.py", "bayeskern.diagnostics.plots"): "issue 16: not yet moved",
    ("bayeskern/infer/fit.py", "bayeskern.infer._util"): "issue 16: not yet moved",
    ("bayeskern/infer/fit.py", "bayeskern.infer.loglik"): "issue 16: not yet moved",
    ("bayeskern/quadrature/evidence.py", "bayeskern.quadrature.integrate"): "issue 16: not yet moved",
    ("bayeskern/quadrature/integrate.py", "bayeskern.infer.nuts"): "issue 16: not yet moved",
    ("bayeskern/quadrature/integrate.py", "bayeskern.quadrature.model"): "issue 16: not yet moved",
}


class Import(NamedTuple):
    importer: str  # dotted module name
    target: str  # dotted module the import executes (a bayeskern module)
    names: tuple[str, ...]  # names taken from `target` by a `from` import (empty for `import x`)
    lazy: bool  # inside a function body
    line: int


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def parse_package(root: Path, package: str = PACKAGE) -> dict[str, tuple[Path, ast.Module]]:
    """``{dotted module name: (path, parsed tree)}`` for every module of ``root / package``."""
    return {module_name(p, root): (p, ast.parse(p.read_text(encoding="utf-8"), filename=str(p)))
            for p in sorted((root / package).rglob("*.py"))}


def _resolve(module: str, level: int, importer: str, is_package: bool) -> str:
    if not level:
        return module
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _walk(node: ast.AST, lazy: bool = False):
    """Yield ``(import node, inside a function)``, skipping ``if TYPE_CHECKING:`` blocks."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, lazy
        elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            yield from _walk(ast.Module(body=child.orelse, type_ignores=[]), lazy)
        else:
            yield from _walk(child, lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))


def imports(modules: dict[str, tuple[Path, ast.Module]], package: str = PACKAGE) -> list[Import]:
    """Every import of a module of ``package`` made by a module of ``package``."""

    def existing(name: str) -> str | None:  # the longest prefix of `name` that is a module
        parts = name.split(".")
        while parts and ".".join(parts) not in modules:
            parts.pop()
        return ".".join(parts) or None

    found = []
    for importer, (path, tree) in modules.items():
        is_package = path.name == "__init__.py"
        for node, lazy in _walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == package and (target := existing(alias.name)):
                        found.append(Import(importer, target, (), lazy, node.lineno))
                continue
            source = _resolve(node.module or "", node.level, importer, is_package)
            if source.split(".")[0] != package:
                continue
            plain = []
            for alias in node.names:
                if f"{source}.{alias.name}" in modules:
                    found.append(Import(importer, f"{source}.{alias.name}", (), lazy, node.lineno))
                else:
                    plain.append(alias.name)
            if plain and (target := existing(source)):
                found.append(Import(importer, target, tuple(plain), lazy, node.lineno))
    return found


def import_cycles(found: list[Import]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for imp in found:
        if imp.target != imp.importer:
            graph.setdefault(imp.importer, set()).add(imp.target)
            graph.setdefault(imp.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(cycles)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_cross_package(found: list[Import]) -> list[str]:
    """Private names or modules taken from another top-level sub-package."""
    bad = []
    for imp in found:
        src = imp.importer.split(".")
        dst = imp.target.split(".")
        if len(dst) < 2 or (len(src) > 1 and src[1] == dst[1]):
            continue
        private = [n for n in imp.names if _private(n)] + [p for p in dst[2:] if _private(p)]
        if private:
            bad.append(f"{imp.importer}:{imp.line} imports {', '.join(private)} from {imp.target}")
    return bad


def shims(modules: dict[str, tuple[Path, ast.Module]]) -> list[str]:
    """Modules (not ``__init__.py``) whose body is only imports, ``__all__`` and aliases of imported names."""

    def passive(stmt: ast.stmt) -> bool:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            return True
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            return True  # docstring
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if all(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                return True
            return isinstance(stmt.value, (ast.Name, ast.Attribute))  # `name = imported.name`
        return False

    return [name for name, (path, tree) in modules.items()
            if path.name != "__init__.py"
            and any(isinstance(s, (ast.Import, ast.ImportFrom)) for s in tree.body)
            and all(passive(s) for s in tree.body)]


def lazy_imports(found: list[Import], modules: dict[str, tuple[Path, ast.Module]], root: Path) -> set[tuple[str, str]]:
    return {(modules[imp.importer][0].relative_to(root).as_posix(), imp.target) for imp in found if imp.lazy}


# --------------------------------------------------------------------------------------------------
# The rules on bayeskern itself.

MODULES = parse_package(ROOT)
IMPORTS = imports(MODULES)


def test_no_import_cycles():
    assert import_cycles(IMPORTS) == []


def test_no_private_names_across_packages():
    assert private_cross_package(IMPORTS) == []


def test_no_reexport_shims():
    assert shims(MODULES) == []


def test_function_level_imports_only_where_allowed():
    found = lazy_imports(IMPORTS, MODULES, ROOT)
    assert sorted(found - set(LAZY_ALLOWED)) == [], "new function-level imports: import at module level"
    assert sorted(set(LAZY_ALLOWED) - found) == [], "allow-list entries no longer needed: remove them"
    assert all(reason.strip() for reason in LAZY_ALLOWED.values())


def test_the_parse_sees_the_whole_package():
    assert {"bayeskern", "bayeskern.gp", "bayeskern.gp.laplace.marginal", "bayeskern.infer.fit"} <= set(MODULES)
    assert any(imp.importer == "bayeskern.gp" and imp.target == "bayeskern.gp.laplace.marginal" for imp in IMPORTS)


# --------------------------------------------------------------------------------------------------
# The checkers fail on a package that breaks each rule.

def _fake(tmp_path: Path, files: dict[str, str]) -> dict[str, tuple[Path, ast.Module]]:
    for rel, text in files.items():
        path = tmp_path / "pkg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return parse_package(tmp_path, "pkg")


def test_checkers_catch_cycles_including_lazy_and_from_imports(tmp_path):
    modules = _fake(tmp_path, {
        "__init__.py": "",
        "a/__init__.py": "",
        "a/one.py": "from pkg.b import two\n",  # `from pkg import module` is an edge to the module
        "b/__init__.py": "",
        "b/two.py": "def f():\n    from pkg.a.one import g\n",  # lazy edge closes the cycle
        "c.py": "import pkg.a.one\n",
    })
    found = imports(modules, "pkg")
    assert import_cycles(found) == [["pkg.a.one", "pkg.b.two"]]
    assert lazy_imports(found, modules, tmp_path) == {("pkg/b/two.py", "pkg.a.one")}
    acyclic = [imp for imp in found if not imp.lazy]
    assert import_cycles(acyclic) == []


def test_checkers_catch_relative_imports_and_type_checking(tmp_path):
    modules = _fake(tmp_path, {
        "__init__.py": "",
        "a/__init__.py": "from .one import x\n",
        "a/one.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import y\nfrom .. import a\n",
    })
    found = imports(modules, "pkg")
    assert import_cycles(found) == [["pkg.a", "pkg.a.one"]]
    assert all(imp.line != 3 for imp in found)  # TYPE_CHECKING imports do not run


def test_checkers_catch_private_names_across_packages(tmp_path):
    modules = _fake(tmp_path, {
        "__init__.py": "",
        "a/__init__.py": "",
        "a/one.py": "_hidden = 1\n__dunder__ = 2\n",
        "a/_inner.py": "x = 1\n",
        "a/two.py": "from pkg.a.one import _hidden\n",  # same sub-package: allowed
        "b.py": "from pkg.a.one import _hidden, __dunder__\nfrom pkg.a._inner import x\n",
    })
    bad = private_cross_package(imports(modules, "pkg"))
    assert bad == ["pkg.b:1 imports _hidden from pkg.a.one", "pkg.b:2 imports _inner from pkg.a._inner"]


def test_checkers_catch_shims(tmp_path):
    modules = _fake(tmp_path, {
        "__init__.py": "from pkg.real import f\n",  # a package __init__ may re-export
        "real.py": "import math\n\ndef f():\n    return math.pi\n",
        "shim.py": '"""Old path."""\nfrom pkg.real import f\ng = f\n__all__ = ["f", "g"]\n',
        "constants.py": "import math\nTAU = 2 * math.pi\n",
    })
    assert shims(modules) == ["pkg.shim"]
