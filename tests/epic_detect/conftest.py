"""Fixtures of the EPIC detection tests: a tiny synthetic EPIC-100 set and the whole chain run once on it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from vidstruct.cli.main import main
from vidstruct.data.synth import generate

ROOT = Path(__file__).resolve().parents[2]
LOCALIZER = ROOT / "configs/localization/synth_epic_bmn_relation.yaml"


@dataclass(frozen=True)
class EpicChain:
    """Paths of one chain run: data, backbone run, feature dir, localizer run, submission."""

    data: Path
    backbone: Path
    features: Path
    localizer: Path
    submission: Path


def _backbone_config(data: Path, path: Path, steps: int) -> Path:
    cfg = {
        "model": {
            "name": "r2plus1d_tiny", "widths": [8, 16, 32, 64], "input_mode": "rgb_diff", "pool": "max",
            "head": {"name": "epic_verb_noun", "dropout": 0.0, "loss_weights": {"verb": 1.0, "noun": 1.0}},
        },
        "data": {
            "train": {"format": "epic_kitchens", "annotations": str(data / "EPIC_100_train.csv"),
                      "video_template": "{participant_id}/videos/{video_id}.MP4"},
            "verb_classes": str(data / "EPIC_100_verb_classes.csv"),
            "noun_classes": str(data / "EPIC_100_noun_classes.csv"),
            "sampler": {"clip_len": 4, "frame_interval": 3, "target_fps": 15},
            "transform": {"short_side": 32, "crop_size": 32},
            "num_workers": 0,
        },
        "optim": {"name": "adamw", "lr": 0.01, "weight_decay": 0.0, "warmup_steps": 5, "schedule": "constant"},
        "train": {"max_steps": steps, "batch_size": 8, "ckpt_every": 1000, "device": "cpu", "log_every": 10,
                  "eval_every": 0, "tensorboard": False},
    }  # fmt: skip
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="session")
def epic_chain(tmp_path_factory: pytest.TempPathFactory) -> EpicChain:
    """8 videos (P01, P02; the 4th of each held out) of 64 px, 10 s at 15 fps; a 40-step backbone, features every
    0.2 s, a 30-step BMN + relation localizer, and the C2 submission of the held-out videos."""
    root = tmp_path_factory.mktemp("epic_detect")
    data = generate("epic", root / "data", 8, seed=0, size=64, fps=15, duration=10.0).out_dir
    bb, feats, loc = root / "backbone", root / "features", root / "localizer"
    cfg = _backbone_config(data, root / "backbone.yaml", 40)
    assert main(["train", str(cfg), "--run-dir", str(bb), "--quiet"]) == 0
    videos = root / "videos.txt"
    videos.write_text("".join(f"{p}\n" for p in sorted(data.glob("P*/videos/*.MP4"))))
    assert main(["extract-features", "--checkpoint", str(bb), "--videos", str(videos), "--out", str(feats),
                 "--window-s", "0.8", "--stride-s", "0.2", "--device", "cpu", "--quiet"]) == 0  # fmt: skip
    assert main([
        "train", str(LOCALIZER), f"data.features={feats}", f"data.classes={data / 'EPIC_100_verb_classes.csv'}",
        f"data.train.annotations={data / 'EPIC_100_train.csv'}",
        f"data.val.annotations={data / 'EPIC_100_validation.csv'}",
        "train.max_steps=30", "train.batch_size=4", "train.ckpt_every=1000", "train.device=cpu",
        "train.tensorboard=false", "--run-dir", str(loc), "--quiet",
    ]) == 0  # fmt: skip
    sub = root / "submission.json"
    val = str(data / "EPIC_100_validation.csv")
    assert main(["detect-epic", "--checkpoint", str(loc), "--features", str(feats), "--labels", val,
                 "--out", str(sub), "--sls-tl", "2", "--quiet"]) == 0  # fmt: skip
    return EpicChain(data, bb, feats, loc, sub)
