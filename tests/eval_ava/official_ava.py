"""The official AVA evaluator, loaded from the installed ``pyslowfast`` wheel without importing PySlowFast itself.

PyPI's ``pyslowfast==1.0`` (facebookresearch/SlowFast, Apache-2.0) ships
``slowfast/utils/ava_evaluation/``: the TensorFlow Object Detection API's numpy
evaluation modules (``object_detection_evaluation``, ``per_image_evaluation``,
``metrics``, ``np_box_list*``, ``standard_fields``, ``label_map_util``) with
``tf.logging`` replaced by ``logging``, and ``slowfast/utils/ava_eval_helper.py``,
ActivityNet's ``get_ava_performance.py`` flow (``run_evaluation``: ground truth
and detections per keyframe into ``PascalDetectionEvaluator``, excluded keyframes
skipped, detections on keyframes without ground truth scored against none).

Loaded here through stand-in packages whose ``__path__`` is the installed folder,
so relative and ``slowfast.utils.ava_evaluation`` imports resolve and no
``__init__`` of PySlowFast (torch, detectron2, ...) runs. Two things are not the
package's own code:

- numpy 2 removed ``np.float`` and ``np.NAN``, which ``metrics.py`` uses; each loaded
  module sees numpy through a proxy that adds exactly those two aliases back
  (``float`` and ``nan``, what they were), nothing else changes;
- PySlowFast's ``read_csv`` dropped ActivityNet's reader rule (at most 50
  detections per keyframe by a min-heap, then rows sorted by descending score);
  detections are read with that rule by ``_plain_read`` of ``benchmarks/ava_eval.py``
  (the repository's plain transcription of it), ground truth likewise without a cap.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

_BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "ava_eval.py"


class _Numpy1Aliases(types.ModuleType):
    """numpy with the two aliases numpy 2 removed and ``metrics.py`` uses (``np.float``, ``np.NAN``)."""

    float = float
    NAN = np.nan

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


def _package(name: str, folder: Path) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__path__ = [str(folder)]
    sys.modules[name] = module
    return module


def _module(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    module.np = _Numpy1Aliases("numpy")
    return module


def load() -> types.SimpleNamespace:
    """The installed package's ``ava_eval_helper`` and ``object_detection_evaluation`` (loaded once)."""
    if "slowfast.utils.ava_eval_helper" in sys.modules and hasattr(load, "cached"):
        return load.cached
    spec = importlib.util.find_spec("slowfast")  # finds the folder, runs nothing
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pyslowfast is not installed (the 'test' extra installs pyslowfast==1.0)")
    root = Path(list(spec.submodule_search_locations)[0])
    # ``ava_eval_helper`` imports ``slowfast.utils.ava_evaluation`` by its absolute name
    _package("slowfast", root)
    _package("slowfast.utils", root / "utils")
    _package("slowfast.utils.ava_evaluation", root / "utils" / "ava_evaluation")
    for name in ("standard_fields", "metrics", "np_box_list", "np_box_ops", "np_box_list_ops", "np_mask_ops"):
        _module(f"slowfast.utils.ava_evaluation.{name}", root / "utils" / "ava_evaluation" / f"{name}.py")
    for name in ("np_box_mask_list", "np_box_mask_list_ops", "per_image_evaluation", "label_map_util"):
        _module(f"slowfast.utils.ava_evaluation.{name}", root / "utils" / "ava_evaluation" / f"{name}.py")
    odeval = _module(
        "slowfast.utils.ava_evaluation.object_detection_evaluation",
        root / "utils" / "ava_evaluation" / "object_detection_evaluation.py",
    )
    helper = _module("slowfast.utils.ava_eval_helper", root / "utils" / "ava_eval_helper.py")
    bench_spec = importlib.util.spec_from_file_location("ava_eval_benchmark_reference", _BENCH)
    bench = sys.modules.get("ava_eval_benchmark_reference") or importlib.util.module_from_spec(bench_spec)
    if "ava_eval_benchmark_reference" not in sys.modules:
        bench_spec.loader.exec_module(bench)
    load.cached = types.SimpleNamespace(helper=helper, object_detection_evaluation=odeval, bench=bench, root=root)
    return load.cached


def _as_official(rows: dict[tuple[str, float], list[tuple]]) -> tuple[dict, dict, dict]:
    """``{keyframe: [(score, action, y1, x1, y2, x2)]}`` -> the helper's ``(boxes, labels, scores)`` by image key."""
    boxes, labels, scores = {}, {}, {}
    for (video, ts), entry in rows.items():
        key = f"{video},{int(ts):04d}"  # make_image_key of the official code
        boxes[key] = [list(r[2:]) for r in entry]
        labels[key] = [r[1] for r in entry]
        scores[key] = [r[0] for r in entry]
    return boxes, labels, scores


def official_evaluate(gt_csv: Path, det_csv: Path, labelmap: Path, exclusions: Path | None) -> tuple[float, dict]:
    """``(mAP, {class name: AP})`` of the official code: its label map and exclusion readers and ``run_evaluation``.

    Classes without ground truth (AP ``nan`` in the official output) are left out of the dict, as vidstruct lists
    them apart; the mAP is the official ``np.nanmean`` over classes.
    """
    official = load()
    helper = official.helper
    categories, class_ids = helper.read_labelmap(str(labelmap))
    excluded = helper.read_exclusions(str(exclusions)) if exclusions is not None else set()
    gt = _as_official(official.bench._plain_read(Path(gt_csv), class_ids, 0))
    det = _as_official(official.bench._plain_read(Path(det_csv), class_ids, 50))
    metrics = helper.run_evaluation(categories, gt, det, excluded, verbose=False)
    prefix = "PascalBoxes_PerformanceByCategory/AP@0.5IOU/"
    per_class = {k[len(prefix) :]: float(v) for k, v in metrics.items() if k.startswith(prefix) and not np.isnan(v)}
    return float(metrics["PascalBoxes_Precision/mAP@0.5IOU"]), per_class
