"""Checkpoint files: atomic writes, discovery, safe loading, class checks, RNG capture."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from enginekit import TinyVideoNet

from vidstruct.engine.checkpoint import (
    check_classes,
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    load_model_weights,
    prune_checkpoints,
    save_atomic,
)
from vidstruct.engine.rng import capture_rng, restore_rng
from vidstruct.errors import CheckpointError


def test_save_atomic_keeps_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_atomic({"model": {"w": torch.ones(2)}}, path)
    with pytest.raises(Exception):  # noqa: B017 - any pickling failure
        save_atomic({"model": {"w": torch.zeros(2)}, "bad": lambda: None}, path)
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temporary file left behind


def test_latest_and_prune(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        latest_checkpoint(tmp_path)
    for step in (5, 10, 15):
        save_atomic({"model": {}}, checkpoint_path(tmp_path, step))
    assert latest_checkpoint(tmp_path).name == "step_00000015.pt"
    prune_checkpoints(tmp_path, keep=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [10, 15]


def test_load_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt: not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a vidstruct checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_check_classes_names_counts_and_first_difference():
    check_classes(["a", "b"], ["a", "b"], "x.pt")
    check_classes(None, ["a"], "x.pt")  # nothing to compare
    with pytest.raises(CheckpointError, match=r"x.pt: checkpoint has 3 classes but the dataset has 3; .*index 1: 'b'"):
        check_classes(["a", "b", "c"], ["a", "z", "c"], "x.pt")
    with pytest.raises(CheckpointError, match=r"checkpoint has 2 classes but the dataset has 3; .*continues with 'c'"):
        check_classes(["a", "b"], ["a", "b", "c"], "x.pt")


def test_load_model_weights_reports_mismatch():
    model = TinyVideoNet(num_classes=4)
    other = TinyVideoNet(num_classes=5)
    with pytest.raises(CheckpointError, match=r"x\.pt: .*shape mismatches.*head\.weight: \[5, 16\] vs \[4, 16\]"):
        load_model_weights(model, {"model": other.state_dict()}, "x.pt")
    src = TinyVideoNet(num_classes=4)
    assert load_model_weights(model, {"model": src.state_dict(), "ema": None}, "x.pt") == "model"
    assert torch.equal(model.head.weight, src.head.weight)


def test_rng_round_trip_through_weights_only_file(tmp_path):
    g = torch.Generator().manual_seed(3)
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    np.random.randn()  # leave a cached gaussian in numpy's state
    save_atomic({"model": {}, "rng": capture_rng({"g": g})}, tmp_path / "rng.pt")
    expected = (random.random(), np.random.randn(), torch.rand(2), torch.rand(1, generator=g))
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    g.manual_seed(9)
    restore_rng(torch.load(tmp_path / "rng.pt", weights_only=True)["rng"], {"g": g})
    got = (random.random(), np.random.randn(), torch.rand(2), torch.rand(1, generator=g))
    assert got[:2] == expected[:2]
    assert torch.equal(got[2], expected[2]) and torch.equal(got[3], expected[3])
