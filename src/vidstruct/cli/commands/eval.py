"""``vidstruct eval ACTION``: official-grade metrics on result files.

Each action lives in a module ``_eval_*.py`` next to this one that defines
``DESCRIPTION`` (one paragraph for ``--help``) and ``register(subparsers)``,
which adds its subparsers and returns ``{action name: run(args) -> exit code}``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Callable
from types import ModuleType

NAME = "eval"
HELP = "evaluate result files against ground truth (temporal and spatio-temporal localization, recognition)"


def _action_modules() -> list[ModuleType]:
    from vidstruct.cli import commands

    names = sorted(i.name for i in pkgutil.iter_modules(commands.__path__) if i.name.startswith("_eval_"))
    return [importlib.import_module(f"{commands.__name__}.{name}") for name in names]


_RUNNERS: dict[str, Callable[[argparse.Namespace], int]] = {}
DESCRIPTION = "Evaluate result files against ground truth. " + " ".join(m.DESCRIPTION for m in _action_modules())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="eval_action", metavar="ACTION", required=True, parser_class=type(parser))
    for module in _action_modules():
        _RUNNERS.update(module.register(sub))


def run(args: argparse.Namespace) -> int:
    return _RUNNERS[args.eval_action](args)
