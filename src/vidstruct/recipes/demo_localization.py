"""The temporal-localization part of ``vidstruct demo``: untrimmed videos → features → BMN → segments.

Given the demo's trained recognition checkpoint (the backbone), :func:`run_localization_demo` writes
under ``out``:

1. ``localize_data/``: a small ``vidstruct synth --task localize`` set (untrimmed videos with several
   actions each; ActivityNet-style ``annotations.json``, ~80/20 training / validation);
2. ``localize_features/``: snippet features and class probabilities of every video from the backbone
   (:func:`vidstruct.pipeline.features.extract_features`; snippets as long as one of the backbone's
   training clips, every ``stride_s`` seconds, default :data:`STRIDE_S`);
3. ``localize_run/`` and ``localizer.pt``: a small BMN trained on the training videos
   (:func:`vidstruct.recipes.localization.run_localization_training`), validated on the held-out ones
   (AR@1/10/100, AUC, mAP@0.5, average mAP over tIoU 0.5:0.05:0.95, via :mod:`vidstruct.eval.temporal`);
4. ``localization.json`` / ``localization.png``: ``vidstruct localize`` on one held-out video
   (:class:`vidstruct.pipeline.localizer.Localizer`), with its ground truth.

The folders are demo folders (:func:`vidstruct.recipes.demo_folder.demo_subdir`: marked, replaced only when marked) and
every file written here is written atomically.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vidstruct.atomic import atomic_path, write_json_atomic
from vidstruct.config import LocalizationExperimentConfig
from vidstruct.data.synth import generate
from vidstruct.pipeline.features import extract_features
from vidstruct.pipeline.localizer import Localizer
from vidstruct.pipeline.segment_timeline import plot_segment_timeline
from vidstruct.recipes.demo_folder import copy_atomic, demo_subdir
from vidstruct.recipes.localization import run_localization_training

#: BMN optimizer steps per second of budget on 2 CPU cores (T = 32, batch 8, the widths below): a BMN step
#: costs ~1/8 of a demo recognition step (16 clips) measured side by side, i.e. ~20 steps/s at 40 clips/s;
#: 8 leaves room for the data loading, targets and validation
_STEPS_PER_S = 8.0
#: snippet step in seconds (the snippet length is the backbone's training clip span)
STRIDE_S = 0.25
TEMPORAL_SCALE = 32
#: the sub-folders of ``out`` this step writes
LOCALIZATION_SUBDIRS = ("localize_data", "localize_features", "localize_run")


def localization_config(
    features: Path, annotations: Path, classes: Path, *, steps: int, seed: int = 0, batch_size: int = 8
) -> dict[str, Any]:
    """The demo's BMN experiment (``task: localization``) as a config dict."""
    return {
        "task": "localization",
        "model": {
            "name": "bmn", "hidden_dim_1d": 64, "hidden_dim_2d": 32, "hidden_dim_3d": 64, "num_sample": 8,
            "num_sample_perbin": 2, "max_duration": 12,
        },
        "data": {
            "format": "activitynet",
            "features": str(features),
            "classes": str(classes),
            "temporal_scale": TEMPORAL_SCALE,
            "train": {"annotations": str(annotations), "subset": "training"},
            "val": {"annotations": str(annotations), "subset": "validation"},
        },
        "optim": {"name": "adamw", "lr": 2e-3, "weight_decay": 1e-4, "warmup_steps": min(20, steps // 5)},
        "train": {
            "max_steps": steps, "batch_size": batch_size, "device": "cpu", "seed": seed, "ckpt_every": steps,
            "log_every": max(1, steps // 5), "tensorboard": False, "eval_every": 0,
        },
        "postprocess": {"fusion": "snippet", "fusion_top_k": 2},
        "eval": {"protocol": "anet", "batch_size": 16},
    }  # fmt: skip


def run_localization_demo(
    out: str | Path,
    backbone: str | Path,
    *,
    seed: int = 0,
    budget_s: float = 60.0,
    steps: int | None = None,
    num_videos: int = 48,
    duration_s: float = 8.0,
    size: int = 64,
    fps: float = 25.0,
    stride_s: float = STRIDE_S,
    quiet: bool = False,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the localization demo with ``backbone`` (a recognition checkpoint) into ``out`` (see module doc).

    ``steps`` (default: from ``budget_s``, the BMN training time) and ``num_videos`` / ``duration_s`` /
    ``size`` / ``stride_s`` (the snippet step, seconds) size the run. Returns a JSON-ready summary (files,
    held-out metrics, segments).
    """
    say = say or (lambda text: None if quiet else print(text, flush=True))
    out = Path(out)
    started = time.perf_counter()
    data_dir = demo_subdir(out, "localize_data")
    data = generate("localize", data_dir, num_videos=num_videos, seed=seed + 2000, size=size, fps=fps,
                    duration=duration_s)  # fmt: skip
    ann_path = Path(data.annotation_files["annotations"])
    database = json.loads(ann_path.read_text())["database"]
    held_out = sorted(v for v, e in database.items() if e["subset"] == "validation")
    n_train = len(database) - len(held_out)
    say(f"      {len(data.videos)} untrimmed videos ({n_train} training, {len(held_out)} held out)")

    feats_dir = demo_subdir(out, "localize_features")
    report = extract_features(
        backbone, {Path(v).stem: v for v in data.videos}, feats_dir, stride_s=stride_s, device="cpu", batch_size=16
    )
    if report.failed:  # the demo's own videos: a failure here is a bug, not a user error
        raise RuntimeError(f"feature extraction failed: {report.failed}")
    window_s = float(json.loads((feats_dir / "manifest.json").read_text())["window_s"])

    steps = int(steps or max(40, min(600, budget_s * _STEPS_PER_S)))
    cfg = LocalizationExperimentConfig.model_validate(
        localization_config(
            feats_dir,
            ann_path,
            Path(data.annotation_files["classes"]),
            steps=steps,
            seed=seed,
            batch_size=min(8, n_train),
        )  # fmt: skip
    )
    run_dir = demo_subdir(out, "localize_run")
    say(f"      training BMN for {steps} steps on snippet features ({window_s:g} s snippets every {stride_s:g} s)")
    t0 = time.perf_counter()
    result = run_localization_training(cfg, run_dir, quiet=True)
    train_s = time.perf_counter() - t0
    ckpt = out / "localizer.pt"
    copy_atomic(run_dir / "localizer.pt", ckpt)
    metrics = {k: float(v) for k, v in result.metrics.items()}
    say("      held out: " + "  ".join(f"{k} {v:.3f}" for k, v in metrics.items()))

    video_id = held_out[0]
    video = data_dir / "videos" / f"{video_id}.mp4"
    localizer = Localizer.from_checkpoint(ckpt, device="cpu")
    found = localizer.localize(video, top_k=10)
    truth = [(a["segment"][0], a["segment"][1], a["label"]) for a in database[video_id]["annotations"]]
    plot = out / "localization.png"
    with atomic_path(plot) as tmp:
        plot_segment_timeline(
            tmp, found.segments, found.duration_s, classes=localizer.classes, truth=truth,
            title=f"{video.name}: detected segments (top row and red dashes: ground truth)",
        )  # fmt: skip
    doc = {**found.to_dict(), "ground_truth": [{"label": lab, "start_s": s, "end_s": e} for s, e, lab in truth]}
    write_json_atomic(out / "localization.json", doc)
    return {
        "videos": {"training": n_train, "held_out": len(held_out)},
        "features": {"dir": str(feats_dir), "window_s": window_s, "stride_s": stride_s},
        "training": {"model": "bmn", "steps": steps, "seconds": round(train_s, 1), "run_dir": str(run_dir)},
        "held_out": metrics,
        "video": str(video),
        "segments": len(found.segments),
        "files": {
            "localizer": str(ckpt),
            "localization": str(out / "localization.json"),
            "localization_png": str(plot),
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
