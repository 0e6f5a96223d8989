"""Atomic file writes: a reader sees the old file or the whole new one, never a half-written one.

Every file vidstruct writes for a user or for a later stage (checkpoints, logs,
feature arrays, manifests, submissions, exported models, frames, videos, JSON
outputs) goes through this module. The recipe is the same everywhere:

1. write to a temporary file **in the destination's folder** (same file system,
   so the rename is atomic) with a unique name (``.NAME.<random>.tmp``: two
   writers of one path never share a temporary file);
2. flush and ``fsync`` it, so the data is on disk before the name is;
3. ``os.replace`` it onto the destination, then ``fsync`` the folder so the
   rename itself survives a crash (where the platform allows it);
4. on any error (including ``KeyboardInterrupt``) remove the temporary file and
   re-raise: nothing is left behind and the old file is untouched. A file-system
   error on the temporary file is re-raised naming the destination (the path the
   user asked for), not the temporary name.

A destination that exists and is not a regular file (``/dev/null``, a named pipe,
a terminal) is written in place: renaming a file onto it would replace the device
node (as root) instead of writing to it, and such targets have no half-written
state to protect.

Use :func:`atomic_open` for code that writes to a file object, :func:`atomic_path`
for libraries that insist on writing to a path (ONNX export, PyAV muxing, PIL),
and the ``write_*_atomic`` shorthands for whole values.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_open",
    "atomic_path",
    "fsync_dir",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]


def fsync_dir(folder: str | os.PathLike) -> None:
    """``fsync`` a folder so a rename inside it is durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows, or a file system that does not allow it
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (e.g. certain network mounts) refuse fsync on a folder; the data is still renamed
    finally:
        os.close(fd)


def _current_umask() -> int:
    """The process umask (read once; ``os.umask`` can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _temp_name(path: Path, suffix: str = ".tmp") -> Path:
    """A new empty file beside ``path`` with a unique name and the permissions ``open(path, "w")`` would give.

    ``mkstemp`` creates files readable by their owner only (0600); the result
    should not be: an existing destination keeps its mode, a new one gets
    ``0666 & ~umask`` like any file the process creates.
    """
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            mode = 0o666 & ~_UMASK
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return Path(name)


def _commit(tmp: Path, path: Path) -> None:
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _is_special(path: Path) -> bool:
    """True when ``path`` exists and is neither a regular file nor a folder (a device, FIFO, socket)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _name_destination(exc: OSError, tmp: Path, path: Path) -> None:
    """Make an error about the temporary file name the destination instead."""
    for attr in ("filename", "filename2"):
        value = getattr(exc, attr, None)
        if value is not None and os.fsdecode(value) == str(tmp):
            setattr(exc, attr, str(path))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a unique temporary path beside ``path``; on success it is fsynced and renamed onto ``path``.

    For libraries that write by path. ``suffix`` (default: ``path``'s own suffix)
    is kept at the end of the temporary name because some writers choose the
    format from it (PyAV's muxer, PIL). The parent folder is created if needed.
    """
    path = Path(path)
    if _is_special(path):
        yield path
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    keep = path.suffix if suffix is None else suffix
    tmp = _temp_name(path, suffix=f".tmp{keep}")
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        _commit(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            _name_destination(exc, tmp, path)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", *, encoding: str | None = None) -> Iterator[IO[Any]]:
    """``open(path, mode)`` whose content appears under ``path`` only if the block completes.

    ``mode`` is ``"w"``/``"wb"`` (text mode defaults to UTF-8). To extend a file
    atomically, read the old content and write old + new.
    """
    if mode not in ("w", "wb", "wt"):
        raise ValueError(f"atomic_open: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    text = "b" not in mode
    kwargs: dict[str, Any] = {"encoding": encoding or "utf-8", "newline": ""} if text else {}
    if _is_special(path):
        with open(path, mode, **kwargs) as fh:
            yield fh
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    try:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _commit(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            _name_destination(exc, tmp, path)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes | Callable[[IO[bytes]], Any]) -> Path:
    """Write ``data`` (bytes, or a function that writes to a binary file object) to ``path`` atomically."""
    with atomic_open(path, "wb") as fh:
        if callable(data):
            data(fh)
        else:
            fh.write(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode(encoding))


def write_json_atomic(path: str | os.PathLike, value: Any, *, indent: int | None = 2, **dumps_kwargs: Any) -> Path:
    """Write ``value`` as JSON (UTF-8, trailing newline) to ``path`` atomically."""
    text = json.dumps(value, indent=indent, **dumps_kwargs) + "\n"
    return write_text_atomic(path, text)
