"""Training logs: CSV files, TensorBoard and a rich progress bar (main process only).

- ``RUN/log.csv``: ``step,loss,lr,clips_per_s`` at every ``log_every`` steps
  (``loss``: mean over the step's micro-batches and processes; ``lr``: the
  largest group LR used by that step; ``clips_per_s``: all processes together, averaged
  over the logging interval);
- ``RUN/metrics.csv``: ``step,metric,value`` for evaluations;
- ``RUN/tb/``: the same scalars for TensorBoard (``train/loss``, ``train/lr``,
  ``train/clips_per_s``, ``val/<metric>``).

How the CSV files are written (nothing half-written, nothing lost):

- during a run, rows are appended one at a time and flushed, so a crash can cut
  only the last row short;
- on resume from step ``s``, each file is first *replaced atomically*
  (:func:`vidstruct.atomic.atomic_open`: temporary file, fsync, rename) by its
  complete rows with ``step <= s`` (rows after ``s``, written by the interrupted
  run after its last checkpoint, and a row cut short are dropped), then appended
  to. A crash at any moment leaves either the old file or the trimmed one: the
  rows up to the resumed step are never lost;
- a fresh run (no resume) starts both files anew, also atomically.

TensorBoard events after ``s`` are purged on resume, so the logs read as one
uninterrupted run.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from vidstruct.atomic import atomic_open

T = TypeVar("T")

LOG_FIELDS = ["step", "loss", "lr", "clips_per_s"]
METRIC_FIELDS = ["step", "metric", "value"]


def complete_rows(path: Path, fields: list[str]) -> list[dict[str, str]]:
    """The complete rows of a CSV log: a last line without its newline (cut short by a crash), a row with a
    missing field or a non-integer ``step`` is left out."""
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    rows = []
    for row in csv.DictReader(io.StringIO(text, newline="")):
        if any(row.get(name) in (None, "") for name in fields) or not row["step"].strip().isdigit():
            continue
        rows.append({name: row[name] for name in fields})
    return rows


def _open_csv(path: Path, fields: list[str], keep_until: int | None) -> Any:
    """Open ``path`` for appending after replacing it atomically by its complete rows with
    ``step <= keep_until`` (``None``: no rows, a fresh run); see the module doc."""
    rows = []
    if keep_until is not None and path.is_file():
        rows = [r for r in complete_rows(path, fields) if int(r["step"]) <= keep_until]
    with atomic_open(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    f = open(path, "a", newline="", encoding="utf-8")  # closed by RunLogger.close
    return f, csv.DictWriter(f, fieldnames=fields)


class RunLogger:
    """Writes logs of a run; every method is a no-op when ``enabled`` is false (non-main ranks)."""

    def __init__(
        self,
        run_dir: str | Path,
        *,
        enabled: bool = True,
        total_steps: int,
        start_step: int = 0,
        resumed: bool = False,
        tensorboard: bool = True,
        quiet: bool = False,
    ) -> None:
        self.enabled = enabled
        self._tb = None
        self._bar = None
        if not enabled:
            return
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        keep = start_step if resumed else None
        self._log_file, self._log = _open_csv(run_dir / "log.csv", LOG_FIELDS, keep)
        self._metric_file, self._metrics = _open_csv(run_dir / "metrics.csv", METRIC_FIELDS, keep)
        if tensorboard:  # imported only when used: 0.29 s after torch (measured), paid by no run without TensorBoard
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(run_dir / "tb"), purge_step=start_step + 1 if resumed else None)
        if not quiet:  # imported only when shown: rich.progress costs 0.24 s (measured), quiet runs and ranks skip it
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}  lr {task.fields[lr]:.2e}  {task.fields[speed]:.1f} clips/s"),
                TimeRemainingColumn(),
                console=Console(file=sys.stderr),
            )
            self._bar.start()
            self._task = self._bar.add_task(
                "train", total=total_steps, completed=start_step, loss=0.0, lr=0.0, speed=0.0
            )

    def log_step(self, step: int, loss: float, lr: float, clips_per_s: float) -> None:
        """One row of ``log.csv`` (and TensorBoard, progress bar) for optimizer step ``step`` (1-based)."""
        if not self.enabled:
            return
        self._log.writerow(
            {"step": step, "loss": f"{loss:.9g}", "lr": f"{lr:.9g}", "clips_per_s": f"{clips_per_s:.3f}"}
        )
        self._log_file.flush()
        if self._tb is not None:
            self._tb.add_scalar("train/loss", loss, step)
            self._tb.add_scalar("train/lr", lr, step)
            self._tb.add_scalar("train/clips_per_s", clips_per_s, step)
        if self._bar is not None:
            self._bar.update(self._task, completed=step, loss=loss, lr=lr, speed=clips_per_s)

    def advance(self, step: int) -> None:
        """Move the progress bar to ``step`` without logging a row."""
        if self._bar is not None:
            self._bar.update(self._task, completed=step)

    def log_metrics(self, step: int, metrics: dict[str, float], prefix: str = "val") -> None:
        """Scalar metrics (e.g. ``top1``) at ``step`` to ``metrics.csv`` and TensorBoard."""
        if not self.enabled:
            return
        for name, value in metrics.items():
            self._metrics.writerow({"step": step, "metric": f"{prefix}/{name}", "value": f"{value:.9g}"})
            if self._tb is not None:
                self._tb.add_scalar(f"{prefix}/{name}", value, step)
        self._metric_file.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.stop()
        if self._tb is not None:
            self._tb.close()
        self._log_file.close()
        self._metric_file.close()


def progress_bar(items: Iterable[T], *, total: int | None, description: str, enabled: bool) -> Iterator[T]:
    """Iterate ``items`` with a rich progress bar on stderr when ``enabled`` (evaluation loops)."""
    if not enabled:
        yield from items
        return
    from rich.console import Console  # only when shown (see RunLogger)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(file=sys.stderr)) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)
