"""``vidstruct test`` for ``task: detection``: an action detector over a split's keyframes, then frame-mAP@0.5.

:func:`run_detection_test` takes a validated :class:`DetectionExperimentConfig` and a detector checkpoint
(``RUN/detector.pt`` or its run directory) and:

1. reads the split's ground truth (``data.val`` by default, or ``data.train``) against ``data.label_map`` and
   groups it per video and keyframe (each person's rows merged into one multi-label box, as training does);
2. scores every keyframe of every video at the split's keyframe times with detect-actions' parts
   (:func:`score_split`: :mod:`vidstruct.pipeline.detection.actions`' clip dataset, scorer and result): the
   checkpoint's own sampling and preprocessing, batches of ``eval.batch_size`` clips that span videos, memory
   bounded by one batch of clips, AMP as ``train.amp`` says; person boxes are the ground truth's (``boxes="gt"``,
   what training's validation scores) or a person detector's (``boxes="detected"``); a relation head gets
   ``data.objects`` as object tokens;
3. writes ``detections.csv`` (AVA submission rows ``video_id,time_s,x1,y1,x2,y2,action_id,score``: every box x
   every class, boxes normalized, scores sigmoid probabilities: the rows ``vidstruct detect-actions --csv``
   writes for the same video, model and boxes, equal up to float rounding (batches differ; equal with batches of
   one clip on both sides)), video by video;
4. evaluates it with :func:`vidstruct.eval.spatiotemporal.evaluate_ava_files`, the code of ``vidstruct eval
   ava``, and writes ``metrics.json``.

A video that cannot be decoded (missing, corrupt, a keyframe past its end) is reported and skipped: its rows are
not written and its keyframes are excluded from the evaluation (written with ``data.exclusions``' keyframes to
``excluded.csv``, so ``vidstruct eval ava GT detections.csv --labelmap LM --exclusions excluded.csv`` gives the
same numbers); ``metrics.json`` lists it with the reason.
"""

from __future__ import annotations

import logging
import tempfile
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from vidstruct.atomic import atomic_open, write_json_atomic, write_text_atomic
from vidstruct.config.detection import DetectionExperimentConfig
from vidstruct.data.detection import KeyframeRecord, collate_keyframes, keyframe_records, resolve_videos
from vidstruct.data.formats.ava import read_ava, read_ava_excluded, read_ava_label_map
from vidstruct.device import resolve_device
from vidstruct.engine.amp import autocast, check_amp
from vidstruct.errors import CheckpointError, ConfigError, InputError
from vidstruct.eval.spatiotemporal import evaluate_ava_files
from vidstruct.io.errors import VideoDecodeError
from vidstruct.io.reader import VideoReader
from vidstruct.models.checkpoint import sha256_file
from vidstruct.models.detection import DetectorBundle, load_detector
from vidstruct.pipeline.detection import DetectionResult, IouTracker
from vidstruct.pipeline.detection.actions import CHUNK, KeyframeScorer, clip_preprocessor, detection_result
from vidstruct.pipeline.detection.objects import ObjectBoxSource, ObjectsFile
from vidstruct.pipeline.persons import DEFAULT_MIN_SCORE, KeyframeBoxes, PersonBoxSource, person_box_source

__all__ = ["GroundTruthBoxes", "print_detection_test", "run_detection_test", "score_split"]

log = logging.getLogger(__name__)

BoxesFrom = Literal["gt", "detected"]


class GroundTruthBoxes:
    """A :class:`~vidstruct.pipeline.persons.PersonBoxSource` over annotated keyframes: each keyframe's merged
    ground-truth boxes (normalized ``[x1, y1, x2, y2]``, score 1), in the records' order; a time without a
    record has no box."""

    def __init__(self, records: Sequence[KeyframeRecord], name: str = "ground truth") -> None:
        self._name = name
        self._boxes = {(r.path, float(r.time_s)): r.boxes for r in records}

    @property
    def name(self) -> str:
        return self._name

    def boxes_at(self, video_path: str | Path, times_s: Sequence[float]) -> list[KeyframeBoxes]:
        out = []
        for t in times_s:
            boxes = self._boxes.get((str(video_path), float(t)), ())
            out.append(
                KeyframeBoxes(
                    float(t),
                    torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                    torch.ones(len(boxes), dtype=torch.float32),
                    self._name,
                )
            )
        return out


def _split_file(cfg: DetectionExperimentConfig, split: str | None) -> tuple[str, str]:
    """``(split name, its ground-truth CSV)``: ``data.val`` by default."""
    split = split or "val"
    if split == "test":
        raise ConfigError("--split test: a detection config has data.train and data.val only (use --split val)")
    if split not in ("train", "val"):
        raise ConfigError(f"--split: unknown split {split!r} (expected train or val)")
    path = cfg.data.val if split == "val" else cfg.data.train
    if path is None:
        raise ConfigError("data.val: not set (set it, or test on --split train)")
    return split, path


def _check_classes(bundle: DetectorBundle, label_ids: Sequence[int], label_map: str) -> None:
    """Every label-map class must be one of the detector's outputs (extra outputs are ignored, as the official
    evaluation ignores detections of classes outside the label map)."""
    known = set(bundle.class_ids)
    missing = [i for i in label_ids if i not in known]
    if missing:
        raise CheckpointError(
            f"{bundle.path}: the detector has no output for action id(s) {missing[:5]} of {label_map} "
            f"(its ids: {bundle.class_ids[:10]}{' ...' if len(bundle.class_ids) > 10 else ''})"
        )


def _videos(rows: Sequence[Any], videos_dir: str) -> tuple[dict[str, str], dict[str, str]]:
    """``({video_id: path}, {video_id: why it is missing})`` in first-seen order."""
    found: dict[str, str] = {}
    missing: dict[str, str] = {}
    for vid in dict.fromkeys(r.video_id for r in rows):
        try:
            found.update(resolve_videos([vid], videos_dir))
        except InputError as exc:
            missing[vid] = str(exc)
    return found, missing


def _person_source(
    boxes: BoxesFrom,
    records: Sequence[KeyframeRecord],
    person_detector: str | None,
    min_score: float | None,
    device: str,
) -> PersonBoxSource:
    if boxes == "gt":
        if person_detector is not None or min_score is not None:
            raise InputError("--person-detector / --person-min-score: only apply with --boxes detected")
        return GroundTruthBoxes(records)
    if boxes != "detected":
        raise InputError(f"--boxes: expected gt or detected, got {boxes!r}")
    if person_detector is None:
        raise InputError("--boxes detected: needs --person-detector (a person-detector run or checkpoint)")
    min_score = DEFAULT_MIN_SCORE if min_score is None else min_score
    return person_box_source(detector=person_detector, min_score=min_score, device=device)


@dataclass
class _Video:
    """A video being scored: its keyframes' person boxes, the probabilities scored so far, clips still queued."""

    video_id: str
    path: str
    duration_s: float = 0.0
    found: list[KeyframeBoxes] = field(default_factory=list)
    probs: dict[float, torch.Tensor] = field(default_factory=dict)
    queued: int = 0
    prepared: bool = False
    error: VideoDecodeError | None = None


def score_split(
    videos: Sequence[tuple[str, str, Sequence[float]]],
    bundle: DetectorBundle,
    persons: PersonBoxSource,
    *,
    objects: ObjectBoxSource | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    amp: str = "none",
) -> Iterator[tuple[str, DetectionResult | VideoDecodeError]]:
    """``(video_id, result)`` for each ``(video_id, path, keyframe times in seconds)`` of ``videos``, in order:
    what :func:`~vidstruct.pipeline.detection.detect_actions` finds at those keyframes (the same person boxes,
    clips, preprocessing and object tokens), or the :class:`VideoDecodeError` that stopped the video.

    Unlike one ``detect_actions`` per video, a batch of ``batch_size`` clips (``float32 [B, C, T, S, S]``) spans
    videos (AVA-Kinetics has one keyframe per video), so probabilities may differ from detect-actions' in float
    rounding only. Memory: one batch of clips, one chunk (:data:`CHUNK` keyframes) of person boxes being found,
    and the boxes and probabilities of the videos whose clips are still queued. ``amp``: ``train.amp``'s modes.
    """
    scorer = KeyframeScorer(bundle, device=device)
    started: deque[_Video] = deque()
    batch: list[tuple[_Video, dict[str, Any]]] = []
    device = torch.device(device)

    def flush() -> None:
        if not batch:
            return
        b = collate_keyframes([item for _, item in batch])
        extra = (b["objects"], b["object_mask"]) if objects is not None else ()
        with autocast(amp, device):
            out = scorer.probabilities(b["clip"], b["boxes"], b["mask"], *extra)
        for (video, item), p in zip(batch, out):
            video.probs[float(item["time_s"])] = p
            video.queued -= 1
        batch.clear()

    def done() -> Iterator[tuple[str, DetectionResult | VideoDecodeError]]:
        while started and started[0].prepared and (started[0].error is not None or started[0].queued == 0):
            v = started.popleft()
            if v.error is not None:
                yield v.video_id, v.error
                continue
            scorer.tracker = IouTracker()  # track ids per video, as detect-actions numbers them
            keyframes = [scorer.keyframe(kf, v.probs.get(float(kf.time_s))) for kf in v.found]
            yield v.video_id, detection_result(v.path, bundle, persons, 0.0, v.duration_s, keyframes, objects)

    for video_id, path, times in videos:
        v = _Video(video_id, path)
        started.append(v)
        try:
            with VideoReader(path, threads=1) as reader:  # as detect_actions: a file that does not open fails here
                v.duration_s = float(reader.duration_s)
            for start in range(0, len(times), CHUNK):
                part = [float(t) for t in times[start : start + CHUNK]]
                found = persons.boxes_at(path, part)
                v.found.extend(found)
                object_boxes = None
                if objects is not None:
                    object_boxes = {
                        (video_id, float(kf.time_s)): kf.boxes.tolist() for kf in objects.boxes_at(path, part)
                    }
                records = [
                    KeyframeRecord(
                        video_id,
                        path,
                        float(kf.time_s),
                        tuple(tuple(float(x) for x in b) for b in kf.boxes.tolist()),
                        tuple(() for _ in range(len(kf))),
                        tuple(-1 for _ in range(len(kf))),
                        tuple(float(x) for x in kf.scores.tolist()),
                    )  # fmt: skip
                    for kf in found
                    if len(kf)
                ]
                clips = clip_preprocessor(bundle, records, object_boxes)
                v.queued += len(clips)
                for i in range(len(clips)):
                    batch.append((v, clips[i]))
                    if len(batch) >= batch_size:
                        flush()
                        yield from done()
        except VideoDecodeError as exc:
            v.error = exc
            batch[:] = [item for item in batch if item[0] is not v]
        v.prepared = True
        yield from done()
    flush()
    yield from done()


def run_detection_test(
    cfg: DetectionExperimentConfig,
    checkpoint: str | Path,
    *,
    split: str | None = None,
    boxes: BoxesFrom = "gt",
    person_detector: str | None = None,
    person_min_score: float | None = None,
    out_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Score the split's keyframes with ``checkpoint`` and evaluate frame-mAP@0.5 (see the module doc).

    Returns (and with ``out_dir`` writes as ``metrics.json``, beside ``detections.csv``)::

        {"task": "detection", "split", "checkpoint", "model": {"name", "checkpoint", "sha256", "head",
         "backbone"}, "boxes": "ground truth" | the person detector, "metrics": {"mAP"},
         "per_class_AP": {class name: AP}, "classes_without_ground_truth", "classes", "num_videos", "evaluated",
         "num_keyframes", "num_boxes", "num_detections", "skipped": [{"video_id", "path", "error"}],
         "evaluation": (what ``vidstruct eval ava --json`` prints for these files), "files"}

    ``person_min_score``: the person probability a detected box needs (default
    :data:`~vidstruct.pipeline.persons.DEFAULT_MIN_SCORE`). ``num_keyframes`` / ``num_boxes``: the keyframes
    scored and the person boxes scored on them (evaluated videos only); APs are fractions in [0, 1].
    """
    split, gt_csv = _split_file(cfg, split)
    device = resolve_device(cfg.train.device, where="train.device")
    check_amp(cfg.train.amp, device)
    labels = read_ava_label_map(cfg.data.label_map)
    bundle = load_detector(checkpoint, device=device)
    _check_classes(bundle, sorted(labels), cfg.data.label_map)
    rows = read_ava(gt_csv, label_map=labels, duplicates="keep")
    paths, skipped_ids = _videos(rows, cfg.data.videos)
    records = keyframe_records([r for r in rows if r.video_id in paths], paths)
    persons = _person_source(boxes, records, person_detector, person_min_score, str(device))
    objects = None
    if cfg.data.objects is not None and bundle.builder.get("head") == "relation":  # the RoI head has no objects
        objects = ObjectsFile(cfg.data.objects)
    excluded = read_ava_excluded(cfg.data.exclusions) if split == "val" and cfg.data.exclusions else set()

    skipped = [{"video_id": v, "path": None, "error": why} for v, why in skipped_ids.items()]
    times: dict[str, list[float]] = {}
    for r in records:
        times.setdefault(r.video_id, []).append(float(r.time_s))
    for r in rows:  # every keyframe of a skipped video leaves the evaluation
        if r.video_id in skipped_ids:
            excluded.add((r.video_id, float(r.timestamp_s)))

    work = tempfile.TemporaryDirectory(prefix="vidstruct_dettest_") if out_dir is None else None
    out = Path(out_dir) if out_dir is not None else Path(work.name)  # type: ignore[union-attr]
    out.mkdir(parents=True, exist_ok=True)
    num_keyframes = num_boxes = num_rows = 0
    try:
        with atomic_open(out / "detections.csv", "w") as csv_file:
            videos = [(vid, paths[vid], video_times) for vid, video_times in times.items()]
            scored = score_split(
                videos, bundle, persons, objects=objects, device=device, batch_size=cfg.eval.batch_size,
                amp=cfg.train.amp,
            )  # fmt: skip
            for vid, result in scored:
                if isinstance(result, VideoDecodeError):
                    log.warning("skipped %s: %s", vid, result)
                    skipped.append({"video_id": vid, "path": paths[vid], "error": str(result)})
                    excluded.update((vid, t) for t in times[vid])
                    continue
                lines = list(result.ava_rows())
                csv_file.write("".join(line + "\n" for line in lines))
                num_rows += len(lines)
                num_keyframes += len(result.keyframes)
                num_boxes += sum(len(kf.actors) for kf in result.keyframes)
        evaluated = len(times) - sum(1 for s in skipped if s["path"] is not None)
        if evaluated == 0:
            first = skipped[0]["error"] if skipped else "no keyframes"
            raise InputError(f"{gt_csv}: no video of the split could be evaluated (first: {first})")
        exclusions: str | None = None
        if excluded:
            exclusions = str(out / "excluded.csv")
            text = "".join(f"{v},{t!r}\n" for v, t in sorted(excluded))
            write_text_atomic(exclusions, text)
        ava = evaluate_ava_files(gt_csv, out / "detections.csv", cfg.data.label_map, exclusions).to_dict()
    finally:
        if work is not None:
            work.cleanup()

    files = {"detections": str(out / "detections.csv"), "metrics": str(out / "metrics.json")}
    if exclusions is not None:
        files["exclusions"] = exclusions
    report: dict[str, Any] = {
        "task": "detection",
        "split": split,
        "ground_truth": gt_csv,
        "checkpoint": bundle.path,
        "model": {
            "name": bundle.name,
            "checkpoint": bundle.path,
            "sha256": sha256_file(bundle.path),
            "head": bundle.builder.get("head"),
            "backbone": bundle.builder.get("backbone"),
        },
        "boxes": persons.name,
        "scores": "sigmoid probabilities (multi-label: each action independent)",
        "metrics": {"mAP": ava["mAP"]},
        "per_class_AP": ava["per_class_AP"],
        "classes_without_ground_truth": ava["classes_without_ground_truth"],
        "classes": [labels[i].name for i in sorted(labels)],
        "num_videos": len(times) + len(skipped_ids),
        "evaluated": evaluated,
        "num_keyframes": num_keyframes,
        "num_boxes": num_boxes,
        "num_detections": num_rows,
        "skipped": skipped,
        "evaluation": ava,
        "files": files if out_dir is not None else {},
    }
    if out_dir is not None:
        write_json_atomic(out / "metrics.json", report)
    return report


def print_detection_test(report: dict[str, Any]) -> None:
    """The CLI's text output of :func:`run_detection_test`: one summary line (per-class AP and the skipped videos
    are in ``--json`` / ``metrics.json``; each skipped video is also logged on stderr)."""
    skipped = len(report["skipped"])
    print(
        f"{report['split']}: {report['evaluated']} of {report['num_videos']} videos, {report['num_keyframes']} "
        f"keyframes, {report['num_boxes']} boxes ({report['boxes']}); model {report['model']['name']}; "
        f"frame-mAP@0.5 {report['metrics']['mAP']:.4f} over {len(report['per_class_AP'])} classes"
        + (f"; skipped {skipped} video(s)" if skipped else "")
        + (f"; wrote {', '.join(report['files'].values())}" if report["files"] else "")
    )
