"""A tiny EPIC recognition config over a synthetic EPIC set (helper of the EPIC training tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

TEMPLATE = "{participant_id}/videos/{video_id}.MP4"


def epic_config(epic_dir: Path, path: Path, **train: Any) -> Path:
    """Write a config training verb + noun heads on a tiny R(2+1)D for ``train`` settings (CPU, no workers)."""
    cfg = {
        "model": {
            "name": "r2plus1d_tiny", "widths": [8, 16, 32, 64], "input_mode": "rgb_diff", "pool": "max",
            "head": {"name": "epic_verb_noun", "dropout": 0.0, "loss_weights": {"verb": 1.0, "noun": 1.0}},
        },
        "data": {
            "train": {"format": "epic_kitchens", "annotations": str(epic_dir / "EPIC_100_train.csv"),
                      "video_template": TEMPLATE},
            "val": {"format": "epic_kitchens", "annotations": str(epic_dir / "EPIC_100_validation.csv"),
                    "video_template": TEMPLATE},
            "verb_classes": str(epic_dir / "EPIC_100_verb_classes.csv"),
            "noun_classes": str(epic_dir / "EPIC_100_noun_classes.csv"),
            "sampler": {"clip_len": 4, "frame_interval": 3, "target_fps": 15},
            "transform": {"short_side": 32, "crop_size": 32},
            "num_workers": 0,
        },
        "optim": {"name": "adamw", "lr": 0.01, "weight_decay": 0.0, "warmup_steps": 5, "schedule": "constant"},
        "train": {"max_steps": 2, "batch_size": 8, "ckpt_every": 1000, "device": "cpu", "log_every": 10,
                  "eval_every": 0, "tensorboard": False, **train},
        "test": {"temporal_views": 1, "batch_size": 16},
    }  # fmt: skip
    path.write_text(yaml.safe_dump(cfg))
    return path
