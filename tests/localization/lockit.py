"""Deterministic synthetic snippet features + ActivityNet annotations for localization tests.

A video of ``duration_s`` seconds has snippets every ``stride_s`` (window = stride, so snippet ``i``
is centred on ``(i + ½)·stride_s``) and 1-3 non-overlapping action segments of the classes
``CLASSES``. Feature of a snippet: ``proto[class]`` inside a segment, ``proto[background]`` outside,
plus a boundary marker on the first and last snippet of each segment and Gaussian noise. The
backbone "probabilities" are a softmax of a noisy one-hot of the snippet's class over
``CLASSES + ["background"]``. Written as a real ``vidstruct.features/1`` store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from vidstruct.data.features import new_manifest, save_array_atomic, write_manifest

CLASSES = ["jump", "spin", "wave"]
BACKBONE_CLASSES = ["wave", "background", "jump", "spin"]  # another order on purpose: fusion maps by name


def make_video(rng: np.random.Generator, n: int, stride_s: float, dim: int, protos: np.ndarray, noise: float):
    """``(features [n, dim], probs [n, 4], segments [(start_s, end_s, class)])``."""
    cls = np.full(n, -1)
    segments = []
    cursor = int(rng.integers(1, 5))
    for _ in range(int(rng.integers(1, 4))):
        length = int(rng.integers(3, 9))
        if cursor + length + 1 > n:
            break
        c = int(rng.integers(len(CLASSES)))
        cls[cursor : cursor + length] = c
        segments.append((cursor * stride_s, (cursor + length) * stride_s, c))
        cursor += length + int(rng.integers(2, 7))
    feats = protos[np.where(cls < 0, len(CLASSES), cls)] + noise * rng.standard_normal((n, dim))
    for s, e, _ in segments:
        feats[round(s / stride_s), -2] += 2.0  # start marker
        feats[round(e / stride_s) - 1, -1] += 2.0  # end marker
    logits = np.zeros((n, len(BACKBONE_CLASSES)))
    names = [CLASSES[c] if c >= 0 else "background" for c in cls]
    logits[np.arange(n), [BACKBONE_CLASSES.index(x) for x in names]] = 2.5
    logits += 0.8 * rng.standard_normal(logits.shape)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return feats.astype(np.float32), probs.astype(np.float32), segments


def write_synthetic_store(
    root: Path,
    *,
    num_train: int = 48,
    num_val: int = 16,
    duration_s: float = 20.0,
    stride_s: float = 0.5,
    dim: int = 16,
    noise: float = 0.6,
    seed: int = 0,
    failed: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Write ``root/feats`` (store) and ``root/annotations.json``; returns their paths and the database."""
    rng = np.random.default_rng(seed)
    protos = rng.standard_normal((len(CLASSES) + 1, dim))
    protos[:, -2:] = 0.0
    feats_dir = root / "feats"
    manifest = new_manifest(
        checkpoint=root / "backbone.pt", sha256="0" * 64, model="synthetic", config_hash="cafe", window_s=stride_s,
        stride_s=stride_s, feature_dim=dim, classes=BACKBONE_CLASSES,
    )  # fmt: skip
    n = int(round(duration_s / stride_s))
    database = {}
    for i in range(num_train + num_val):
        vid = f"v{i:03d}"
        f, p, segs = make_video(rng, n, stride_s, dim, protos, noise)
        database[vid] = {
            "duration": duration_s,
            "subset": "training" if i < num_train else "validation",
            "annotations": [{"segment": [s, e], "label": CLASSES[c]} for s, e, c in segs],
        }
        if vid in failed:
            manifest["failed"][vid] = "synthetic failure"
            continue
        save_array_atomic(feats_dir / f"{vid}.npy", f)
        save_array_atomic(feats_dir / f"{vid}.probs.npy", p)
        manifest["videos"][vid] = {
            "features": f"{vid}.npy", "probs": f"{vid}.probs.npy", "num_snippets": n, "duration_s": duration_s,
            "video_fps": 25.0,
        }  # fmt: skip
    write_manifest(feats_dir, manifest)
    ann = root / "annotations.json"
    taxonomy = [{"nodeId": 0, "nodeName": "Root", "parentId": None}] + [
        {"nodeId": i + 1, "nodeName": c, "parentId": 0} for i, c in enumerate(CLASSES)
    ]
    ann.write_text(json.dumps({"taxonomy": taxonomy, "database": database}), encoding="utf-8")
    return {"features": feats_dir, "annotations": ann, "database": database}


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
