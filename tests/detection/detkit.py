"""Helpers of the action-detection tests (the ``detect_data`` fixture lives in ``conftest.py``; test modules
import helpers from here, never from ``conftest``: every test folder's conftest is a module named ``conftest``)."""

from __future__ import annotations

from pathlib import Path


def detection_overrides(data: Path, *extra: str) -> list[str]:
    """Overrides that point a configs/detection/*.yaml file at ``data`` with a tiny, fast model."""
    return [
        f"data.videos={data / 'videos'}", f"data.label_map={data / 'label_map.pbtxt'}",
        f"data.train={data / 'train.csv'}", f"data.val={data / 'val.csv'}", "model.backbone.widths=[8,8,16,16]",
        "model.relation.dim=16", "model.relation.heads=2", "model.relation.layers=1", "train.batch_size=4",
        "train.tensorboard=false", "data.transform.size=32", *extra,
    ]  # fmt: skip
