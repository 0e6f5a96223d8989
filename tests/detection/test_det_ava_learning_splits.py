"""benchmarks/ava_learning.py's larger held-out set: train on the first N videos' training split, hold out the rest."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "ava_learning.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_ava_learning_splits", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(video: int, second: int, action: int, person: int) -> str:
    return f"synth_{video:05d},{second:04d},0.1,0.1,0.3,0.3,{action},{person}"


def test_split_files_hold_out_every_video_past_the_training_ones(tmp_path: Path) -> None:
    bench = _bench()
    # 12 videos, the synth rule: 4 and 9 are validation; each has 2 keyframes x 2 persons
    train = [_row(v, s, 1 + (v + p) % 3, p) for v in range(12) if v not in (4, 9) for s in (1, 2) for p in (0, 1)]
    val = [_row(v, s, 11, p) for v in (4, 9) for s in (1, 2) for p in (0, 1)]
    (tmp_path / "train.csv").write_text("\n".join(train) + "\n")
    (tmp_path / "val.csv").write_text("\n".join(val) + "\n")
    assert bench.split_files(tmp_path, None) == (tmp_path / "train.csv", tmp_path / "val.csv")
    train_csv, held_csv = bench.split_files(tmp_path, 5)
    trained = train_csv.read_text().splitlines()
    held = held_csv.read_text().splitlines()
    videos = lambda rows: {int(r.split(",")[0][-5:]) for r in rows}  # noqa: E731
    assert videos(trained) == {0, 1, 2, 3}  # the training split of videos 0-4
    assert videos(held) == {4, 5, 6, 7, 8, 9, 10, 11}  # 4's validation rows and everything from video 5 on
    assert sorted(trained + held) == sorted(train + val)  # every row once, none lost
    (tmp_path / "label_map.pbtxt").write_text(
        "".join(f'item {{\n  name: "c{i}"\n  id: {i}\n}}\n' for i in range(1, 15))
    )  # fmt: skip
    counts = bench.box_counts(held_csv, tmp_path)
    assert counts["c11"] == 8 and sum(counts.values()) == len(held)
