"""How a ``vidstruct`` command ends: exit codes, one-line reports of failures, a closed stdout.

Exit codes:

- ``0`` success;
- ``1`` the command ran to its end but some inputs failed (``check-data``,
  ``extract-features``: the failed items are listed in their report);
- ``2`` a user error, printed as one line ``error: ...`` on stderr: a bad
  argument, file, config or checkpoint (:class:`~vidstruct.errors.VidstructError`),
  or a path the command cannot use (:data:`USER_ERRNOS`: missing, a file
  where a folder is expected, no permission, a read-only or full file system,
  an exhausted quota), printed as ``error: PATH: <reason>``;
- ``3`` an internal error: any other exception is a bug in vidstruct (a
  tensor of the wrong shape inside a model, :class:`~vidstruct.errors.ShapeError`)
  or a fault below it, printed as one line ``internal error: <type>: <message>;
  this is a bug in vidstruct, rerun with --debug for the traceback``. Not 1,
  which already means "some inputs failed"; 3 is pytest's "internal error" too;
- ``130`` interrupted (Ctrl-C);
- ``141`` stdout was closed before everything was written
  (``vidstruct ... --json | head -c 10``): the command stops quietly, as a
  program ended by ``SIGPIPE`` does; 141 = 128 + 13 is the status a shell
  reports for such a program (``yes | head``), so scripts using
  ``set -o pipefail`` see vidstruct like any other tool, and a reader of the
  status can tell that the output was cut short.

``--debug`` shows the traceback of errors instead (Python then exits 1).
"""

from __future__ import annotations

import errno
import os
import re
import select
import sys
from pathlib import Path

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_SOME_FAILED",
    "EXIT_STDOUT_CLOSED",
    "EXIT_USER",
    "USER_ERRNOS",
    "discard_stdout",
    "flush_stdout",
    "internal_error_line",
    "os_error_line",
    "stdout_closed",
]

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USER = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
EXIT_STDOUT_CLOSED = 141

#: ``errno`` values of file-system errors the user can fix: reported as ``error: PATH: reason``, exit 2.
USER_ERRNOS = frozenset(
    {
        errno.ENOENT,
        errno.EISDIR,
        errno.ENOTDIR,
        errno.EEXIST,
        errno.EACCES,
        errno.EPERM,
        errno.ENOSPC,
        errno.EROFS,
        errno.EDQUOT,
        errno.EFBIG,
        errno.ENAMETOOLONG,
    }
)
_HINTS = {
    errno.EEXIST: " (it exists and is not a folder; a folder was expected here)",
    errno.ENOTDIR: " (a part of this path is a file, not a folder)",
    errno.EISDIR: " (a folder; a file was expected here)",
}
# vidstruct.atomic writes NAME through a temporary ".NAME.<random>.tmp[.suffix]" beside it
_ATOMIC_TEMP = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]+\.tmp(\.[^.]*)?$")


def _display_path(name: str | bytes | os.PathLike[str]) -> str:
    """``name`` as the user knows it: an atomic writer's temporary file is reported as the file it stands for."""
    path = Path(os.fsdecode(name))
    match = _ATOMIC_TEMP.match(path.name)
    return str(path.with_name(match.group("name"))) if match else str(path)


def os_error_line(exc: OSError, output: str | None) -> str:
    """The one-line report ``error: PATH: reason`` of a file-system error in :data:`USER_ERRNOS`.

    ``PATH`` is the exception's (the destination of a rename, else the file).
    A failed ``write`` carries no path (a full disk): it is reported against
    ``output`` (the command's ``--out``) when the command has one, else
    against ``<stdout>``, the only other thing commands write.
    """
    name = exc.filename2 if exc.filename2 is not None else exc.filename
    where = _display_path(name) if name is not None else (output or "<stdout>")
    return f"error: {where}: {exc.strerror or exc}{_HINTS.get(exc.errno, '')}"


def flush_stdout() -> int | None:
    """Flush stdout; None when that worked, else the exit code to end with.

    A closed stdout (its reader is gone) gives :data:`EXIT_STDOUT_CLOSED`
    quietly; another failure (a full disk) is reported as
    ``error: <stdout>: reason`` and gives :data:`EXIT_USER`.
    """
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        discard_stdout()
        return EXIT_STDOUT_CLOSED
    except OSError as exc:
        discard_stdout()
        print(f"error: <stdout>: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USER
    return None


def internal_error_line(exc: BaseException) -> str:
    """``internal error: <type>: <message>; this is a bug ...`` on one line."""
    message = " ".join(str(exc).split())
    kind = type(exc).__name__
    return (
        f"internal error: {kind}: {message}; " if message else f"internal error: {kind}; "
    ) + "this is a bug in vidstruct, rerun with --debug for the traceback"


def stdout_closed() -> bool:
    """True when stdout is a pipe (or socket) whose reading end is gone."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by an object without a descriptor (tests)
        return False
    if not hasattr(select, "poll"):  # Windows: a broken pipe reaching the command there can only be stdout's
        return True
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))


def discard_stdout() -> None:
    """Point stdout's descriptor at the null device, so the interpreter's last flush does not fail again.

    The recipe of Python's documentation (``signal`` module, "Note on SIGPIPE").
    """
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)
