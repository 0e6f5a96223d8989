"""Shared CLI output helpers: JSON printing and progress bars."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def print_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON on stdout (numpy scalars/arrays converted)."""
    print(json.dumps(obj, indent=2, default=_default))


def _default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "__fspath__"):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def progress(
    items: Iterable[T], *, total: int | None = None, description: str = "", quiet: bool = False
) -> Iterator[T]:
    """Iterate ``items`` with a rich progress bar on stderr unless ``quiet``."""
    if quiet or not sys.stderr.isatty() and total is None:
        yield from items
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)
