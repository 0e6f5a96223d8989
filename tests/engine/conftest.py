"""Fixtures of the engine CLI tests: a small synthetic classification dataset and a config for it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml


@pytest.fixture(scope="session")
def synth_classify(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 clips of 10 motion classes, 64 x 64 px, 1 s at 8 fps (train.txt: 16, val.txt: 4, classes.txt)."""
    from vidstruct.data.synth import generate

    out = tmp_path_factory.mktemp("engine_synth")
    generate("classify", out, 20, seed=0, size=64, fps=8, duration=1.0)
    return out


@pytest.fixture()
def recipe_config(synth_classify: Path, tmp_path: Path) -> Path:
    """A tiny R(2+1)D config training 2 steps on :func:`synth_classify` (CPU, no workers)."""
    cfg = {
        "model": {"name": "r2plus1d_tiny", "widths": [8, 8, 8, 8], "dropout": 0.0},
        "data": {
            "train": {"format": "kinetics", "annotations": str(synth_classify / "train.txt")},
            "val": {"format": "kinetics", "annotations": str(synth_classify / "val.txt")},
            "classes": str(synth_classify / "classes.txt"),
            "sampler": {"clip_len": 4, "frame_interval": 2},
            "transform": {"short_side": 64, "crop_size": 56},
            "num_workers": 0,
        },
        "optim": {"name": "adamw", "lr": 0.003, "weight_decay": 0.01},
        "train": {"max_steps": 2, "batch_size": 4, "ckpt_every": 1, "device": "cpu", "log_every": 1,
                  "ema_decay": 0.5, "tensorboard": False},
        "test": {"temporal_views": 2, "spatial_crops": 3, "batch_size": 2},
    }  # fmt: skip
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path
