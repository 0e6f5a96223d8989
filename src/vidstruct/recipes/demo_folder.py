"""The demo's output folder: what ``vidstruct demo`` may write, replace and delete.

The demo writes a marker file (:data:`MARKER`) into ``--out`` and into every sub-folder it creates
(``data/``, ``run/``, ``test/``, ``untrimmed/``, ``localize_*/``). The rule:

- ``--out`` missing or empty: created and marked; marked by an earlier demo run: used;
  anything else (a file, or a folder with content and no marker): refused with a one-line
  :class:`~vidstruct.errors.ConfigError`, nothing touched;
- a sub-folder the demo needs is replaced (deleted with what it holds, then re-created) only when it carries
  the marker, i.e. an earlier demo run made it; an unmarked one is refused the same way;
- files at the top of ``--out`` are written under the demo's own names (atomically); anything else there
  (a user's notes, other folders) is never touched.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from vidstruct.atomic import atomic_open, write_text_atomic
from vidstruct.errors import ConfigError

__all__ = ["MARKER", "claim_output", "copy_atomic", "demo_subdir"]

#: the file that marks a folder as written by the demo (the demo deletes nothing without it)
MARKER = ".vidstruct-demo"
_MARKER_TEXT = "written by 'vidstruct demo': a rerun of the demo may replace this folder's demo outputs\n"


def claim_output(out: str | Path, subdirs: tuple[str, ...] = ()) -> Path:
    """``out`` as the demo's folder: created (with :data:`MARKER`) if missing or empty, accepted if an earlier
    demo marked it; a :class:`ConfigError` if it is a file or holds content the demo did not write, or if one of
    the ``subdirs`` it will need exists unmarked (checked here, before any work)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file, not a folder")
    if out.is_dir() and not (out / MARKER).is_file():
        foreign = sorted(p.name for p in out.iterdir())
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise ConfigError(
                f"--out {out}: holds {len(foreign)} entries the demo did not write ({shown}); "
                "choose a new or empty folder (the demo never deletes what it did not create)"
            )
    for name in subdirs:
        _check_subdir(out, name)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / MARKER, _MARKER_TEXT)
    return out


def _check_subdir(out: Path, name: str) -> None:
    folder = out / name
    if folder.is_symlink() or (folder.exists() and not (folder.is_dir() and (folder / MARKER).is_file())):
        raise ConfigError(
            f"--out {out}: {name} exists but was not written by the demo (no {MARKER} in it); "
            "move it away or choose another --out"
        )


def demo_subdir(out: Path, name: str) -> Path:
    """A fresh, empty, marked ``out/name`` folder; an earlier demo's one (marked) is replaced, an unmarked one
    is a :class:`ConfigError` (nothing is deleted)."""
    folder = out / name
    _check_subdir(out, name)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    write_text_atomic(folder / MARKER, _MARKER_TEXT)
    return folder


def copy_atomic(src: Path, dst: Path) -> Path:
    """Copy ``src`` to ``dst`` atomically (``dst`` is the old file or the whole copy, never a partial one)."""
    with open(src, "rb") as fin, atomic_open(dst) as fout:
        shutil.copyfileobj(fin, fout)
    return dst
