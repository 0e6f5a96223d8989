"""The layering of ``src/vidstruct``, checked on the source: imports go only downward, and no import cycles.

Every module is parsed with :mod:`ast`; every ``import`` / ``from ... import`` counts, at module level and
inside functions, classes and ``if TYPE_CHECKING:`` blocks (a lazy or type-only import is still a dependency),
relative ones (``from . import x``) resolved against the module's package.

The rule (``LAYER_ORDER``, bottom first; a layer may import the layers listed in ``MAY_IMPORT``):

- foundation modules (``vidstruct`` itself, ``errors``, ``registry``, ``atomic``, ``device``): anyone may import
  them; they import only each other;
- ``io`` → ``data`` → ``models``: each may import the ones before it;
- ``ssl``, ``eval`` and ``engine`` sit side by side above ``models``. Decided here: ``engine`` may import
  ``eval`` (its evaluator reports ``eval``'s metrics); ``ssl`` and ``eval`` import neither each other nor
  ``engine`` (the MoSI recipe that drives the engine lives in ``recipes``);
- ``structure`` (the ``vidstruct.structure/1`` document: schema, builders, files, exports) sits above them: it may
  import ``io``, ``data``, ``models`` and ``eval`` (its ActivityNet export uses ``eval``'s submission format),
  never ``engine`` / ``ssl``;
- ``pipeline`` may import all of the above (the analysis pipeline writes structure documents);
- ``config`` (schemas and loading) may import all of the above (its ``optim`` / ``train`` sections *are* the
  engine's settings classes) and may be imported only by ``recipes``, ``service`` and ``cli``;
- ``recipes`` → ``service`` → ``cli`` on top (``vidstruct.__main__`` belongs to ``cli``).

Cycles: the graph of module-level imports (function-level and ``TYPE_CHECKING`` imports excluded: they do not
run at import time) between vidstruct modules must have no cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "vidstruct"

FOUNDATION = {"vidstruct", "vidstruct.errors", "vidstruct.registry", "vidstruct.atomic", "vidstruct.device"}
LAYER_ORDER = [
    "io", "data", "models", "ssl", "eval", "engine", "structure", "pipeline", "config", "recipes", "service", "cli"
]  # fmt: skip
_BELOW_SIDE_BY_SIDE = {"io", "data", "models"}
MAY_IMPORT: dict[str, set[str]] = {
    "io": set(),
    "data": {"io"},
    "models": {"io", "data"},
    "ssl": set(_BELOW_SIDE_BY_SIDE),
    "eval": set(_BELOW_SIDE_BY_SIDE),
    "engine": _BELOW_SIDE_BY_SIDE | {"eval"},
    "structure": _BELOW_SIDE_BY_SIDE | {"eval"},
    "pipeline": _BELOW_SIDE_BY_SIDE | {"ssl", "eval", "engine", "structure"},
    "config": _BELOW_SIDE_BY_SIDE | {"ssl", "eval", "engine", "structure", "pipeline"},
    "recipes": _BELOW_SIDE_BY_SIDE | {"ssl", "eval", "engine", "structure", "pipeline", "config"},
    "service": _BELOW_SIDE_BY_SIDE | {"ssl", "eval", "engine", "structure", "pipeline", "config", "recipes"},
    "cli": set(LAYER_ORDER) - {"cli"},
}
CONFIG_IMPORTERS = {"config", "recipes", "service", "cli"}


@dataclass(frozen=True)
class Import:
    """``module`` (file ``path``) imports ``target`` at ``line``; ``top``: at import time (module level)."""

    module: str
    path: str
    line: int
    target: str
    top: bool

    def where(self) -> str:
        return f"{self.path}:{self.line}: {self.module} imports {self.target}"


def all_modules(src: Path = SRC) -> dict[str, Path]:
    """Module name → file of every module under ``src/vidstruct``."""
    out = {}
    for path in sorted((src / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def layer_of(module: str) -> str:
    """``"foundation"``, one of :data:`LAYER_ORDER`, or ``"unknown"`` (a top-level module not in the table)."""
    if module in FOUNDATION:
        return "foundation"
    if module == "vidstruct.__main__":
        return "cli"
    top = module.split(".")[1]
    return top if top in MAY_IMPORT else "unknown"


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, path: str, is_package: bool, known: set[str]) -> None:
        self.module, self.path, self.known = module, path, known
        self.package = module if is_package else module.rpartition(".")[0]
        self.depth = 0  # > 0 inside a function body or an ``if TYPE_CHECKING:`` block
        self.found: list[Import] = []

    def _add(self, node: ast.AST, target: str) -> None:
        found = Import(self.module, self.path, node.lineno, target, self.depth == 0)
        if (target == PACKAGE or target.startswith(PACKAGE + ".")) and found not in self.found:
            self.found.append(found)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")
            base = base[: len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        for alias in node.names:
            sub = f"{source}.{alias.name}"
            self._add(node, sub if sub in self.known else source)

    def _nested(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _nested

    def visit_If(self, node: ast.If) -> None:
        test = ast.unparse(node.test)
        if test in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            self._nested(node)
        else:
            self.generic_visit(node)


def collect_imports(src: Path = SRC) -> list[Import]:
    """Every import of a vidstruct module by a module under ``src/vidstruct``."""
    modules = all_modules(src)
    known = set(modules)
    out: list[Import] = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        rel = str(path.relative_to(src.parent))
        collector = _Collector(name, rel, path.name == "__init__.py", known)
        collector.visit(tree)
        out.extend(collector.found)
    return out


def layering_violations(imports: list[Import]) -> Iterator[str]:
    for imp in imports:
        src, dst = layer_of(imp.module), layer_of(imp.target)
        if "unknown" in (src, dst):
            unknown = imp.module if src == "unknown" else imp.target
            yield f"{imp.where()} (module {unknown} has no layer: add it to tests/test_layering.py)"
        elif dst == "foundation" or src == dst:
            continue
        elif src == "foundation":
            yield f"{imp.where()} (a foundation module imports only foundation modules)"
        elif dst == "config" and src not in CONFIG_IMPORTERS:
            yield f"{imp.where()} (vidstruct.config is imported only by recipes, service and cli)"
        elif dst not in MAY_IMPORT[src]:
            yield f"{imp.where()} ({src} may import only {', '.join(sorted(MAY_IMPORT[src])) or 'foundation modules'})"


def _resolve(target: str, known: set[str]) -> str | None:
    """The vidstruct module an import executes (``from a.b import c`` with ``a.b.c`` a module: ``a.b.c``)."""
    while target and target not in known:
        target = target.rpartition(".")[0]
    return target or None


def import_cycles(imports: list[Import], src: Path = SRC) -> list[list[Import]]:
    """Strongly connected components (of more than one module) of the module-level import graph, each as the
    edges inside it."""
    known = set(all_modules(src))
    edges: dict[str, list[Import]] = {}
    for imp in imports:
        dst = _resolve(imp.target, known)
        if imp.top and dst is not None and dst != imp.module:
            edges.setdefault(imp.module, []).append(Import(imp.module, imp.path, imp.line, dst, True))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for e in edges.get(v, []):
            w = e.target
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(comp)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return [[e for m in sorted(c) for e in edges.get(m, []) if e.target in c] for c in components]


# ------------------------------------------------------------------------------------------------ the tests
def test_every_import_goes_down_the_layers() -> None:
    bad = list(layering_violations(collect_imports()))
    assert not bad, f"{len(bad)} import(s) against the layering:\n" + "\n".join(bad)


def test_no_import_cycles() -> None:
    cycles = import_cycles(collect_imports())
    text = "\n\n".join("cycle:\n" + "\n".join(f"  {e.where()}" for e in c) for c in cycles)
    assert not cycles, f"{len(cycles)} import cycle(s) between modules (module-level imports):\n{text}"


def test_every_package_has_a_layer() -> None:
    packages = {p.name for p in (SRC / PACKAGE).iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert packages <= set(MAY_IMPORT), f"packages without a layer: {sorted(packages - set(MAY_IMPORT))}"


# ------------------------------------------------------------------------ the checker itself, on known code
def _imports_of(tmp_path: Path, files: dict[str, str]) -> tuple[list[str], list[list[Import]]]:
    """Run the checker on a fake ``vidstruct`` tree (``files``: module path → source)."""
    root = tmp_path / "src"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    imports = collect_imports(root)
    return list(layering_violations(imports)), import_cycles(imports, root)


def test_checker_flags_upward_sideways_function_level_relative_and_config_imports(tmp_path: Path) -> None:
    bad, _ = _imports_of(
        tmp_path,
        {
            "vidstruct/__init__.py": "",
            "vidstruct/errors.py": "",
            "vidstruct/models/__init__.py": "",
            "vidstruct/models/a.py": "from vidstruct.errors import X\n\n\ndef f():\n    import vidstruct.engine\n",
            "vidstruct/ssl/__init__.py": "",
            "vidstruct/ssl/b.py": "from ..eval import metrics\n",
            "vidstruct/engine/__init__.py": "from . import c\nfrom vidstruct.eval import m\n",
            "vidstruct/engine/c.py": "import vidstruct.config.schema\n",
            "vidstruct/eval/__init__.py": "",
            "vidstruct/config/__init__.py": "",
            "vidstruct/config/schema.py": "from vidstruct.engine.c import S\n",
            "vidstruct/recipes/__init__.py": "from vidstruct.config import schema\n",
        },
    )
    assert sorted(bad) == [
        "src/vidstruct/engine/c.py:1: vidstruct.engine.c imports vidstruct.config.schema "
        "(vidstruct.config is imported only by recipes, service and cli)",
        "src/vidstruct/models/a.py:5: vidstruct.models.a imports vidstruct.engine (models may import only data, io)",
        "src/vidstruct/ssl/b.py:1: vidstruct.ssl.b imports vidstruct.eval (ssl may import only data, io, models)",
    ]


def test_checker_finds_module_level_cycles_only(tmp_path: Path) -> None:
    _, cycles = _imports_of(
        tmp_path,
        {
            "vidstruct/__init__.py": "",
            "vidstruct/models/__init__.py": "",
            "vidstruct/models/a.py": "from vidstruct.models.b import x\n",
            "vidstruct/models/b.py": "from vidstruct.models import a\n",
            "vidstruct/models/c.py": "def f():\n    from vidstruct.models import d\n",
            "vidstruct/models/d.py": (
                "from typing import TYPE_CHECKING\n\nfrom vidstruct.models.c import f\n\n"
                "if TYPE_CHECKING:\n    from vidstruct.models import c\n"
            ),
        },
    )
    assert [sorted((e.module, e.target) for e in c) for c in cycles] == [
        [("vidstruct.models.a", "vidstruct.models.b"), ("vidstruct.models.b", "vidstruct.models.a")]
    ]


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("vidstruct", "foundation"),
        ("vidstruct.device", "foundation"),
        ("vidstruct.__main__", "cli"),
        ("vidstruct.recipes.demo", "recipes"),
        ("vidstruct.config.tasks", "config"),
    ],
)
def test_layer_of(module: str, layer: str) -> None:
    assert layer_of(module) == layer
