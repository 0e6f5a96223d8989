"""Learning evidence in small: after a short CPU run the noun head beats the majority class of the held-out
segments by a margin; the same run on label-shuffled training CSVs stays near it (the verb needs longer runs:
benchmarks/epic_learning.py)."""

from __future__ import annotations

import csv
import json
from collections import Counter

import numpy as np
import pytest
from epic_cfg import epic_config

from vidstruct.cli.main import main

pytestmark = pytest.mark.xdist_group(name="epic_train")
STEPS = 240


def _rows(path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def _shuffled_copy(epic_dir, out_dir, seed: int = 0) -> None:
    """``out_dir``: the same dataset (videos and class tables via absolute paths) with the training segments'
    (verb, noun) labels permuted among the segments."""
    header, rows = _rows(epic_dir / "EPIC_100_train.csv")
    order = np.random.default_rng(seed).permutation(len(rows))
    cols = ("verb", "verb_class", "noun", "noun_class", "all_nouns", "all_noun_classes", "narration")
    shuffled = [{**row, **{c: rows[j][c] for c in cols}} for row, j in zip(rows, order)]
    out_dir.mkdir()
    with open(out_dir / "EPIC_100_train.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, header)
        writer.writeheader()
        writer.writerows(shuffled)
    for name in ("EPIC_100_validation.csv", "EPIC_100_verb_classes.csv", "EPIC_100_noun_classes.csv"):
        (out_dir / name).write_bytes((epic_dir / name).read_bytes())
    for participant in epic_dir.glob("P*"):
        (out_dir / participant.name).symlink_to(participant)


def _train_and_test(epic_dir, tmp_path, name: str, capsys) -> dict[str, float]:
    cfg = epic_config(epic_dir, tmp_path / f"{name}.yaml", max_steps=STEPS)
    assert main(["train", str(cfg), "--run-dir", str(tmp_path / name), "--json"]) == 0
    capsys.readouterr()
    assert main(["test", str(cfg), "--checkpoint", str(tmp_path / name), "--json"]) == 0
    return json.loads(capsys.readouterr().out)["metrics"]


def test_heads_learn_and_shuffled_labels_do_not(epic_set, tmp_path, capsys) -> None:
    _, val = _rows(epic_set.annotation_files["val"])
    majority = {h: Counter(r[f"{h}_class"] for r in val).most_common(1)[0][1] / len(val) for h in ("verb", "noun")}
    real = _train_and_test(epic_set.out_dir, tmp_path, "real", capsys)
    _shuffled_copy(epic_set.out_dir, tmp_path / "shuffled")
    control = _train_and_test(tmp_path / "shuffled", tmp_path, "control", capsys)
    print(f"majority {majority}; real {real}; shuffled {control}")
    # measured at 240 steps (the test's own run: majority 27.1%, real 66.1%, shuffled 28.8% noun top-1 on 59
    # segments; training seeds 0-2 x 3 shuffles: real 66-81%, shuffled 12-31%). At 120 steps the gap was too
    # noisy to test: real 49-63%, shuffled 12-36% depending on the CPU's kernels and the seed.
    assert real["noun_top1"] >= majority["noun"] + 0.25  # the noun shows in one frame: learned quickly
    assert control["noun_top1"] <= majority["noun"] + 0.12  # no label signal: about the majority rate
    assert real["noun_top1"] >= control["noun_top1"] + 0.25
