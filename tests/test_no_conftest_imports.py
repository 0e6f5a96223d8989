"""No test module imports ``conftest``, and the importable modules under ``tests/`` have unique basenames.

With pytest's default ``prepend`` import mode (``tests/`` has no ``__init__.py``), every folder's ``conftest.py``
is imported as the one top-level module ``conftest``, each replacing the last in ``sys.modules``: which folder's
``from conftest import X`` gets depends on the collection order (``pytest tests/analyze/x.py tests/service/y.py``
loads both conftests before collecting, so the analyze module got the service conftest). Helpers live in uniquely
named kit modules next to the conftest (``analyzekit``, ``localizekit``, ``detkit``, ``servicekit``, ``webkit``,
...); conftests hold fixtures only. Every ``tests/**/*.py`` is parsed with :mod:`ast`: every ``import`` /
``from ... import`` counts, at module level, inside functions and in ``if TYPE_CHECKING:`` blocks, as does an
``importlib.import_module("conftest")`` / ``__import__("conftest")`` call with a literal name.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def conftest_imports(source: str) -> list[int]:
    """Line numbers (1-based) of the imports of a module named ``conftest`` (or a submodule of it) in ``source``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            # `from conftest import x`; relative `from . import conftest` / `from .conftest import x`
            names = [module] if module else [alias.name for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__"))
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value.lstrip(".")]
        else:
            continue
        if any(name.split(".")[0] == "conftest" for name in names):
            lines.append(node.lineno)
    return sorted(lines)


def test_no_test_module_imports_conftest() -> None:
    offenders = [
        f"{path.relative_to(TESTS.parent)}:{line}"
        for path in sorted(TESTS.rglob("*.py"))
        for line in conftest_imports(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], (
        "these lines import `conftest` (which folder's conftest that is depends on the collection order): "
        f"move the helper into the folder's kit module and import it from there: {offenders}"
    )


def test_module_basenames_are_unique() -> None:
    """Every ``tests/**/*.py`` except the conftests is importable by its basename alone (its folder is put on
    ``sys.path``): two of one name would shadow each other, depending on the order too."""
    folders: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("*.py"):
        if path.name not in ("conftest.py", "__init__.py"):
            folders[path.stem].append(str(path.parent.relative_to(TESTS.parent)))
    duplicates = {name: sorted(where) for name, where in folders.items() if len(where) > 1}
    assert duplicates == {}


def test_the_check_sees_every_form() -> None:
    source = (
        "import os\n"
        "from conftest import Api\n"  # 2
        "import conftest\n"  # 3
        "import conftest as c, json\n"  # 4
        "from conftest.sub import x\n"  # 5
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from conftest import Kit\n"  # 8
        "def f():\n"
        "    from . import conftest\n"  # 10
        "    from .conftest import y\n"  # 11
        "    importlib.import_module('conftest')\n"  # 12
        "    __import__('conftest')\n"  # 13
        "from servicekit import Api\n"
        "import conftest_helpers, myconftest\n"
        "from kit import conftest_path\n"
        "importlib.import_module('vidstruct.conftest')\n"
        "spec = importlib.util.spec_from_file_location('service_tests_conftest', 'conftest.py')\n"
    )
    assert conftest_imports(source) == [2, 3, 4, 5, 8, 10, 11, 12, 13]
    assert conftest_imports("from analyzekit import Kit\n") == []
