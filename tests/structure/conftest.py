"""A hand-written ``vidstruct.structure/1`` document (every value typed here, none computed) and its folder."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

SHA_VIDEO = "a" * 64
SHA_REC = "b" * 64
SHA_LOC = "c" * 64
SHA_DET = "e" * 64
SHA_PROFILE = "d" * 64

DOCUMENT: dict[str, Any] = {
    "format": "vidstruct.structure/1",
    "vidstruct_version": "0.1.0",
    "created": "2024-05-01T12:30:00Z",
    "video": {
        "id": "clip01",
        "path": "videos/clip01.mp4",
        "sha256": SHA_VIDEO,
        "duration_s": 10.0,
        "fps": 25.0,
        "width": 320,
        "height": 240,
        "codec": "h264",
        "rotation": 0,
        "num_frames": 250,
    },
    "profile": {"name": "demo", "sha256": SHA_PROFILE},
    "models": {
        "shots": {
            "name": "hsv-histogram",
            "task": "shots",
            "checkpoint": None,
            "checkpoint_sha256": None,
            "classes": None,
            "settings": {"threshold": 0.3},
        },
        "recognizer": {
            "name": "x3d_xs",
            "task": "recognition",
            "checkpoint": "runs/rec/model.pt",
            "checkpoint_sha256": SHA_REC,
            "classes": ["walk", "run", "jump"],
            "settings": {"window_s": 2.0},
        },
        "localizer": {
            "name": "bmn",
            "task": "localization",
            "checkpoint": "runs/loc/model.pt",
            "checkpoint_sha256": SHA_LOC,
            "classes": ["walk", "run", "jump"],
            "settings": {},
        },
        "detector": {
            "name": "slowfast-ava",
            "task": "action-detection",
            "checkpoint": "runs/det/model.pt",
            "checkpoint_sha256": SHA_DET,
            "classes": ["stand", "sit", "talk to"],
            "settings": {"keyframe_s": 1.0},
        },
    },
    "shots": [
        {
            "index": 0,
            "start_s": 0.0,
            "end_s": 4.0,
            "confidence": 1.0,
            "thumbnail": "thumbs/shot-0000.jpg",
            "model": "shots",
        },
        {
            "index": 1,
            "start_s": 4.0,
            "end_s": 6.5,
            "confidence": 0.875,
            "thumbnail": "thumbs/shot-0001.jpg",
            "model": "shots",
        },
        {"index": 2, "start_s": 6.5, "end_s": 10.0, "confidence": 0.6, "thumbnail": None, "model": "shots"},
    ],
    "segments": [
        {
            "label": "walk",
            "start_s": 1.5,
            "end_s": 3.25,
            "score": 0.9,
            "source": "localizer",
            "model": "localizer",
            "shot": 0,
            "thumbnail": "thumbs/segment-0000.jpg",
        },
        {
            "label": "run",
            "start_s": 4.0,
            "end_s": 6.0,
            "score": 0.75,
            "source": "localizer",
            "model": "localizer",
            "shot": 1,
            "thumbnail": None,
        },
        {
            "label": "jump",
            "start_s": 6.5,
            "end_s": 9.5,
            "score": 0.625,
            "source": "windows",
            "model": "recognizer",
            "shot": 2,
            "thumbnail": None,
        },
        {
            "label": "walk",
            "start_s": 3.5,
            "end_s": 5.0,
            "score": 0.5,
            "source": "localizer",
            "model": "localizer",
            "shot": None,
            "thumbnail": None,
        },
    ],
    "windows": [
        {
            "start_s": 0.0,
            "end_s": 2.0,
            "top": [{"label": "walk", "prob": 0.7}, {"label": "run", "prob": 0.2}],
            "embedding_row": 0,
            "model": "recognizer",
        },
        {
            "start_s": 2.0,
            "end_s": 4.0,
            "top": [{"label": "walk", "prob": 0.6}, {"label": "jump", "prob": 0.3}],
            "embedding_row": 1,
            "model": "recognizer",
        },
        {
            "start_s": 4.0,
            "end_s": 6.0,
            "top": [{"label": "run", "prob": 0.8}, {"label": "walk", "prob": 0.1}],
            "embedding_row": 2,
            "model": "recognizer",
        },
        {
            "start_s": 6.0,
            "end_s": 8.0,
            "top": [{"label": "jump", "prob": 0.9}, {"label": "run", "prob": 0.05}],
            "embedding_row": 3,
            "model": "recognizer",
        },
    ],
    "actors": [
        {
            "track_id": 0,
            "time_s": 1.0,
            "box": [0.1, 0.2, 0.4, 0.9],
            "score": 0.95,
            "actions": [{"label": "stand", "prob": 0.8}, {"label": "talk to", "prob": 0.6}],
            "model": "detector",
        },
        {
            "track_id": 1,
            "time_s": 2.5,
            "box": [0.5, 0.1, 0.9, 0.8],
            "score": 0.85,
            "actions": [{"label": "sit", "prob": 0.7}],
            "model": "detector",
        },
        {"track_id": 0, "time_s": 2.0, "box": [0.12, 0.2, 0.42, 0.9], "score": 0.5, "actions": [], "model": "detector"},
    ],
    "thumbnails": [
        {"path": "thumbs/shot-0000.jpg", "time_s": 2.0, "kind": "shot", "ref": 0},
        {"path": "thumbs/shot-0001.jpg", "time_s": 5.25, "kind": "shot", "ref": 1},
        {"path": "thumbs/segment-0000.jpg", "time_s": 2.375, "kind": "segment", "ref": 0},
    ],
    "embeddings": {"file": "embeddings.npy", "rows": 4, "dim": 8, "model": "recognizer"},
    "timings": {"decode": 1.25, "shots": 0.5, "total": 2.75},
    "warnings": [],
}


@pytest.fixture
def doc() -> dict[str, Any]:
    """A fresh deep copy of :data:`DOCUMENT` (tests may change it)."""
    return copy.deepcopy(DOCUMENT)


@pytest.fixture
def embeddings() -> np.ndarray:
    """float32 [4, 8]: row r holds r + column / 10."""
    return (np.arange(4, dtype=np.float32)[:, None] + np.arange(8, dtype=np.float32)[None, :] / 10).astype(np.float32)


@pytest.fixture
def structure_dir(tmp_path: Path, doc: dict[str, Any], embeddings: np.ndarray) -> Path:
    """A folder with ``structure.json`` (:data:`DOCUMENT`) and ``embeddings.npy``, written without vidstruct code."""
    folder = tmp_path / "clip01"
    folder.mkdir()
    (folder / "structure.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    np.save(folder / "embeddings.npy", embeddings)
    return folder


@pytest.fixture
def save_doc(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    """Write a (changed) document as ``tmp_path/v/structure.json`` with plain ``json``; returns the folder."""

    def save(document: dict[str, Any]) -> Path:
        folder = tmp_path / "v"
        folder.mkdir(exist_ok=True)
        (folder / "structure.json").write_text(json.dumps(document), encoding="utf-8")
        return folder

    return save
