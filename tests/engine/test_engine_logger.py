"""Run logs (``log.csv`` / ``metrics.csv``): a resume keeps every complete row up to the resumed step, and the
rewrite that trims the file is atomic (a crash during it leaves the old file, and no temporary file)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from vidstruct.engine.logger import LOG_FIELDS, RunLogger, complete_rows

HEADER = "step,loss,lr,clips_per_s\n"


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def logger(run_dir: Path, *, start_step: int, resumed: bool) -> RunLogger:
    return RunLogger(run_dir, total_steps=10, start_step=start_step, resumed=resumed, tensorboard=False, quiet=True)


def test_resume_keeps_rows_up_to_the_step_and_drops_later_and_cut_rows(tmp_path: Path) -> None:
    # an interrupted run: rows 1..5 logged, checkpoint at step 3, and the crash cut row 6 short
    (tmp_path / "log.csv").write_text(HEADER + "".join(f"{s},0.{s},0.1,10.000\n" for s in range(1, 6)) + "6,0.")
    (tmp_path / "metrics.csv").write_text("step,metric,value\n2,val/top1,0.5\n4,val/top1,0.75\n")
    run = logger(tmp_path, start_step=3, resumed=True)
    run.log_step(4, 0.25, 0.1, 12.0)
    run.log_metrics(4, {"top1": 0.5})
    run.close()
    assert [(r["step"], r["loss"]) for r in rows(tmp_path / "log.csv")] == [
        ("1", "0.1"),
        ("2", "0.2"),
        ("3", "0.3"),
        ("4", "0.25"),
    ]
    assert [(r["step"], r["value"]) for r in rows(tmp_path / "metrics.csv")] == [("2", "0.5"), ("4", "0.5")]


def test_fresh_run_starts_new_logs(tmp_path: Path) -> None:
    (tmp_path / "log.csv").write_text(HEADER + "1,0.5,0.1,10.000\n")
    run = logger(tmp_path, start_step=0, resumed=False)
    run.log_step(1, 0.75, 0.1, 12.0)
    run.close()
    assert [(r["step"], r["loss"]) for r in rows(tmp_path / "log.csv")] == [("1", "0.75")]


def test_a_crash_while_trimming_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = HEADER + "".join(f"{s},0.{s},0.1,10.000\n" for s in range(1, 6))
    (tmp_path / "log.csv").write_text(old)

    def crash(self: csv.DictWriter, rows: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(csv.DictWriter, "writerows", crash)
    with pytest.raises(OSError, match="No space left"):
        logger(tmp_path, start_step=3, resumed=True)
    assert (tmp_path / "log.csv").read_text() == old  # not truncated: the rows up to step 3 (and more) survive
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv"]  # no temporary file left behind


def test_complete_rows_skips_rows_with_missing_fields_or_bad_steps(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(HEADER + "1,0.5,0.1,10.000\n2,0.4\nx,0.3,0.1,9.000\n3,0.2,0.1,8.000\n")
    assert [r["step"] for r in complete_rows(path, LOG_FIELDS)] == ["1", "3"]
