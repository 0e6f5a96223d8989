"""Entry point of the ``vidstruct`` command.

Subcommands are discovered from :mod:`vidstruct.cli.commands`: every module
there defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Adding a command is adding a file.

Errors a user can cause (:class:`~vidstruct.errors.VidstructError`, missing
files) print ``error: <one line>`` to stderr and exit non-zero without a
traceback; ``--debug`` re-raises to show it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from vidstruct import __version__
from vidstruct.errors import VidstructError


def _command_modules() -> list[ModuleType]:
    from vidstruct.cli import commands

    modules = []
    for info in pkgutil.iter_modules(commands.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "run"):
            modules.append(module)
    return sorted(modules, key=lambda m: m.NAME)


def _common_flags(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else False
    parser.add_argument("--quiet", "-q", action="store_true", default=default, help="no progress bars or info logs")
    parser.add_argument("--debug", action="store_true", default=default, help="show tracebacks and debug logs")


class _OneLineErrorParser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line (plus the usage hint)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineErrorParser(
        prog="vidstruct",
        description="Turn video into structured, searchable action data.",
    )
    parser.add_argument("--version", action="version", version=f"vidstruct {__version__}")
    _common_flags(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_OneLineErrorParser)
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP))
        _common_flags(p, suppress=True)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _setup_logging(quiet: bool, debug: bool) -> None:
    level = logging.DEBUG if debug else (logging.WARNING if quiet else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # dotted overrides may follow options (`train cfg.yaml --out d optim.lr=0.1`): argparse leaves them over
    overrides = [a for a in extra if "=" in a and not a.startswith("-")]
    if extra and (len(overrides) != len(extra) or not isinstance(getattr(args, "overrides", None), list)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if overrides:
        args.overrides = [*args.overrides, *overrides]
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 0
    _setup_logging(args.quiet, args.debug)
    try:
        return int(args._run(args) or 0)
    except VidstructError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        if args.debug:
            raise
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
