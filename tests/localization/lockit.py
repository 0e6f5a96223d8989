"""Helpers of the localization tests: small BMN configs, feature stores of given arrays, ActivityNet files.

The deterministic synthetic store (``write_synthetic_store``, ``CLASSES``) lives in
:mod:`vidstruct.data.synth.snippet_features` (the benchmark uses it too) and is re-exported here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from vidstruct.data.features import new_manifest, save_array_atomic, write_manifest
from vidstruct.data.synth.snippet_features import CLASSES, write_synthetic_store  # noqa: F401  (re-exported)


def bmn_config(paths: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A small BMN localization config (as a dict) over ``write_synthetic_store`` output."""
    cfg: dict[str, Any] = {
        "task": "localization",
        "model": {
            "name": "bmn", "hidden_dim_1d": 32, "hidden_dim_2d": 32, "hidden_dim_3d": 64, "num_sample": 8,
            "num_sample_perbin": 2, "max_duration": 16,
        },
        "data": {
            "format": "activitynet",
            "features": str(paths["features"]),
            "temporal_scale": 40,
            "train": {"annotations": str(paths["annotations"]), "subset": "training"},
            "val": {"annotations": str(paths["annotations"]), "subset": "validation"},
        },
        "optim": {"name": "adamw", "lr": 3e-3, "weight_decay": 1e-4, "warmup_steps": 10},
        "train": {
            "max_steps": 120, "batch_size": 8, "device": "cpu", "ckpt_every": 1000, "log_every": 1000,
            "tensorboard": False,
        },
        "eval": {"batch_size": 16},
    }  # fmt: skip
    for key, value in extra.items():
        section, _, name = key.partition(".")
        cfg[section][name] = value
    return cfg


def write_store(
    directory: Path,
    videos: dict[str, tuple[np.ndarray, np.ndarray | None, float]],
    *,
    window_s: float,
    stride_s: float,
    classes: list[str] | None = None,
    failed: dict[str, str] | None = None,
) -> Path:
    """A feature store of given arrays: ``videos[id] = (features [N, C], probs [N, K] or None, duration_s)``."""
    dim = next(iter(videos.values()))[0].shape[1]
    manifest = new_manifest(
        checkpoint=directory / "backbone.pt", sha256="0" * 64, model="synthetic", config_hash="beef", window_s=window_s,
        stride_s=stride_s, feature_dim=dim, classes=classes,
    )  # fmt: skip
    for vid, (f, p, duration) in videos.items():
        save_array_atomic(directory / f"{vid}.npy", f)
        if p is not None:
            save_array_atomic(directory / f"{vid}.probs.npy", p)
        manifest["videos"][vid] = {
            "features": f"{vid}.npy", "probs": f"{vid}.probs.npy" if p is not None else None,
            "num_snippets": int(f.shape[0]), "duration_s": duration, "video_fps": 25.0,
        }  # fmt: skip
    manifest["failed"] = dict(failed or {})
    write_manifest(directory, manifest)
    return directory


def anet_json(path: Path, database: dict[str, Any], classes: list[str] | None = None) -> Path:
    """An ActivityNet-style annotation file (taxonomy of ``classes`` when given)."""
    doc: dict[str, Any] = {"database": database}
    if classes:
        doc["taxonomy"] = [{"nodeId": 0, "nodeName": "Root", "parentId": None}] + [
            {"nodeId": i + 1, "nodeName": c, "parentId": 0} for i, c in enumerate(classes)
        ]
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path
