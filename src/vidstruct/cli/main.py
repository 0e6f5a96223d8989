"""Entry point of the ``vidstruct`` command.

Subcommands are discovered from :mod:`vidstruct.cli.commands`: every module
there defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Adding a command is adding a file.

How a command ends (:mod:`vidstruct.cli.exits`): errors a user can cause
(:class:`~vidstruct.errors.VidstructError`, a path that is missing, not
writable, a file where a folder is expected, a full disk) print
``error: <one line>`` to stderr and exit 2; any other exception is an internal
error (a bug): one line ``internal error: ...`` with a ``--debug`` hint, exit
3; a stdout closed by its reader (``| head``) ends the command quietly with
exit 141. ``--debug`` re-raises errors to show the traceback.
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
from vidstruct.cli.exits import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_STDOUT_CLOSED,
    EXIT_USER,
    USER_ERRNOS,
    discard_stdout,
    flush_stdout,
    internal_error_line,
    os_error_line,
    stdout_closed,
)
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
    # Alembic logs a dozen INFO lines (plugins, context) whenever a command checks the schema; `db upgrade` prints
    # its own one-line result, so its chatter shows with --debug only
    logging.getLogger("alembic").setLevel(logging.DEBUG if debug else max(level, logging.WARNING))


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
    output = getattr(args, "out", None) or getattr(args, "run_dir", None)
    try:
        code = int(args._run(args) or 0)
    except BrokenPipeError as exc:
        if stdout_closed():
            discard_stdout()
            return EXIT_STDOUT_CLOSED
        if args.debug:
            raise
        print(internal_error_line(exc), file=sys.stderr)
        return EXIT_INTERNAL
    except VidstructError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        if isinstance(exc, OSError) and exc.errno in USER_ERRNOS:
            print(os_error_line(exc, None if output is None else str(output)), file=sys.stderr)
            return EXIT_USER
        print(internal_error_line(exc), file=sys.stderr)
        return EXIT_INTERNAL
    # output is buffered: a closed or full stdout often shows only now
    flushed = flush_stdout()
    return code if flushed is None else flushed


def entry() -> None:
    """Console-script entry point: :func:`main`, then a last flush of stdout that may find it closed."""
    try:
        code = main()
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        code = exc.code
    flushed = flush_stdout()
    sys.exit(code if flushed is None else flushed)


if __name__ == "__main__":
    entry()
