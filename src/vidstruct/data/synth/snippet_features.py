"""Deterministic synthetic snippet features + ActivityNet annotations: a localization task without videos.

For tests and the ``--source features`` mode of ``benchmarks/localization_learning.py``: seconds instead of the
minutes that synthesizing videos and extracting features take, with a known answer.

A video of ``duration_s`` seconds has snippets every ``stride_s`` (window = stride, so snippet ``i``
is centred on ``(i + ½)·stride_s``) and 1-3 non-overlapping action segments of the classes
``CLASSES``. Feature of a snippet: ``proto[class]`` inside a segment, ``proto[background]`` outside,
plus a boundary marker on the first and last snippet of each segment and Gaussian noise. The
backbone "probabilities" are a softmax of a noisy one-hot of the snippet's class over
``CLASSES + ["background"]`` (in another order, ``BACKBONE_CLASSES``). Written as a real
``vidstruct.features/1`` store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from vidstruct.data.features import new_manifest, save_array_atomic, write_manifest

CLASSES = ["jump", "spin", "wave"]
BACKBONE_CLASSES = ["wave", "background", "jump", "spin"]  # another order on purpose: fusion maps by name


def make_video(
    rng: np.random.Generator, n: int, stride_s: float, dim: int, protos: np.ndarray, noise: float
) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float, int]]]:
    """One video of ``n`` snippets: ``(features [n, dim] float32, probs [n, 4] float32, segments)``, each
    segment ``(start_s, end_s, class index into CLASSES)``."""
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
