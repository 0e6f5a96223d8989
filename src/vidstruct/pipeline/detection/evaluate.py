"""Score keyframes with an action detector and measure frame-mAP@0.5 (AVA protocol).

:func:`predict_keyframes` runs a model over a :class:`~vidstruct.data.detection.KeyframeClipDataset` (its boxes:
ground truth, or proposals) and returns AVA detection rows, one per ``(box, class)`` with the sigmoid
probability as score. :func:`evaluate_detector` compares them with the dataset's own ground truth through
:func:`vidstruct.eval.spatiotemporal.evaluate_ava` (the official ActivityNet protocol: PASCAL VOC AP at IoU 0.5
per class over keyframes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from vidstruct.data.detection import KeyframeClipDataset, collate_keyframes
from vidstruct.data.records import BoxAnnotation

__all__ = ["evaluate_detector", "ground_truth_rows", "predict_keyframes"]


@torch.no_grad()
def predict_keyframes(
    model: nn.Module, dataset: KeyframeClipDataset, *, device: torch.device | str = "cpu", batch_size: int = 8
) -> list[BoxAnnotation]:
    """Detection rows (``score`` = sigmoid probability) for every box and class of every keyframe of ``dataset``."""
    was_training = model.training
    model.eval()
    device = torch.device(device)
    rows: list[BoxAnnotation] = []
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_keyframes)
    try:
        for batch in loader:
            if "clip" not in batch:
                continue
            objects = {}
            if batch["object_mask"].any():
                objects = {"objects": batch["objects"].to(device), "object_mask": batch["object_mask"].to(device)}
            probs = torch.sigmoid(
                model(batch["clip"].to(device), batch["boxes"].to(device), batch["mask"].to(device), **objects).float()
            ).cpu()
            for b, (vid, t) in enumerate(zip(batch["video_id"], batch["time_s"])):
                for n in range(int(batch["mask"][b].sum())):
                    box = tuple(float(v) for v in batch["boxes"][b, n])
                    for k, class_id in enumerate(dataset.class_ids):
                        rows.append(BoxAnnotation(vid, t, box, class_id, -1, float(probs[b, n, k])))  # type: ignore[arg-type]
    finally:
        model.train(was_training)
    return rows


def ground_truth_rows(dataset: KeyframeClipDataset) -> list[BoxAnnotation]:
    """The dataset's boxes and actions as AVA ground-truth rows (one per box and action)."""
    return [
        BoxAnnotation(r.video_id, r.time_s, box, action, person)
        for r in dataset.records
        for box, actions, person in zip(r.boxes, r.actions, r.person_ids)
        for action in actions
    ]


def evaluate_detector(
    model: nn.Module,
    dataset: KeyframeClipDataset,
    labels: Mapping[int, Any],
    *,
    excluded: set[tuple[str, float]] | None = None,
    device: torch.device | str = "cpu",
    batch_size: int = 8,
) -> dict[str, float]:
    """``{"mAP": frame-mAP@0.5, "AP/<class>": ...}`` of ``model`` on ``dataset`` (its boxes scored against its own
    ground truth); ``labels``: the label map ``{action_id: AvaLabel}``."""
    from vidstruct.eval.spatiotemporal import evaluate_ava

    result = evaluate_ava(ground_truth_rows(dataset), predict_keyframes(model, dataset, device=device,
                          batch_size=batch_size), labels, excluded=excluded)  # fmt: skip
    metrics = {"mAP": float(result.mAP)}
    metrics.update({f"AP/{name}": float(ap) for name, ap in result.per_class_AP.items()})
    return metrics
