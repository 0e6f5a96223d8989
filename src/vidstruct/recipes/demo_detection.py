"""The spatio-temporal action detection step of ``vidstruct demo``: who does what, where.

:func:`run_detection_demo` writes under ``out``:

1. ``detect_data/``: a small ``vidstruct synth --task detect`` set (two or three actors per video, AVA-style
   ``train.csv`` / ``val.csv``, ~80/20 split, 1 Hz keyframes; 14 classes of which 4 are interactions);
2. ``persons_run/`` and ``person_detector.pt``: the person detector (``fcos_tiny``,
   ``configs/person_detection/synth_fcos_tiny.yaml``) trained from scratch on the training keyframes, validated
   on the held-out ones (box AP@0.5, ``person_ap50``);
3. ``detect_run/`` and ``detector.pt``: the action detector with the relation head
   (``configs/detection/synth_relation_tiny.yaml``) trained on the training keyframes, validated on the held-out
   ones with their ground-truth boxes (frame-mAP@0.5, :func:`vidstruct.pipeline.detection.evaluate.evaluate_detector`);
4. ``actions.json``, ``actions.csv``, ``actions.mp4``: ``vidstruct detect-actions`` on one held-out video with the
   trained person detector as the box source (the JSON document, the AVA submission CSV, the rendered preview),
   and ``actions_truth.csv``, that video's ground truth (AVA rows, for ``vidstruct eval ava``).

Both trainings are sized by time budgets (seconds of training on 2 idle CPU cores), turned into optimizer steps
by measured throughputs (:data:`PERSON_STEPS_PER_S`, :data:`ACTION_STEPS_PER_S`) as the recognition step does,
so a seeded run repeats its steps whatever the machine's load. The folders are demo folders
(:func:`vidstruct.recipes.demo_folder.demo_subdir`: marked, replaced only when marked); every file is written
atomically.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidstruct.atomic import write_json_atomic, write_text_atomic
from vidstruct.config import load_task_config
from vidstruct.data.synth import generate
from vidstruct.errors import ConfigError
from vidstruct.models.detection import load_detector
from vidstruct.pipeline.detection import detect_actions
from vidstruct.pipeline.detection.render import render_detections
from vidstruct.pipeline.persons import person_box_source
from vidstruct.recipes.demo_folder import copy_atomic, demo_subdir
from vidstruct.recipes.detection import run_detection_training
from vidstruct.recipes.person_detection import run_person_detection_training

__all__ = [
    "ACTION_STEPS_PER_S",
    "DETECTION_SUBDIRS",
    "FILES",
    "PERSON_STEPS_PER_S",
    "DetectionDemoSize",
    "run_detection_demo",
]

_CONFIGS = Path(__file__).resolve().parents[3] / "configs"
ACTION_CONFIG = _CONFIGS / "detection" / "synth_relation_tiny.yaml"
PERSON_CONFIG = _CONFIGS / "person_detection" / "synth_fcos_tiny.yaml"
#: the sub-folders of ``out`` this step writes
DETECTION_SUBDIRS = ("detect_data", "persons_run", "detect_run")
#: the files this step writes at the top of ``out`` (role → name)
FILES = {
    "person_detector": "person_detector.pt",
    "action_detector": "detector.pt",
    "actions_json": "actions.json",
    "actions_csv": "actions.csv",
    "actions_truth": "actions_truth.csv",
    "actions_mp4": "actions.mp4",
}
#: optimizer steps per second of budget (batch 8, data loading and the final validation included) on 2 idle CPU
#: cores, measured inside a whole demo run (load average 1.4-3.4, the demo's own included): fcos_tiny on 64 px
#: keyframes upscaled to 128, 200 steps in 10.4 s (19/s); the relation detector on 8-frame 64 px clips, 225 steps
#: in 32.2 s (7/s); rounded down so that a budget is an upper bound
PERSON_STEPS_PER_S = 15.0
ACTION_STEPS_PER_S = 6.5
#: person boxes kept by detect-actions (the person probability); actions reported from this probability on
PERSON_MIN_SCORE = 0.5
MIN_PROB = 0.3


@dataclass(frozen=True)
class DetectionDemoSize:
    """How big the detection step is: ``videos`` synthetic videos of ``size`` px and ``duration_s`` s; the
    person detector's ``person_image_size``; ``person_steps`` / ``action_steps`` optimizer steps (``None``:
    from the budgets); ``widths`` of the action detector's backbone (``None``: the config's)."""

    videos: int = 60
    size: int = 64
    duration_s: float = 4.0
    person_image_size: int = 128
    person_steps: int | None = None
    action_steps: int | None = None
    widths: tuple[int, ...] | None = None


def _config(path: Path) -> Path:
    if not path.is_file():
        raise ConfigError(f"{path}: demo config not found (run the demo from a source checkout: make demo)")
    return path


def _steps(given: int | None, budget_s: float, per_s: float) -> int:
    return int(given or max(20, round(budget_s * per_s)))


def run_detection_demo(
    out: str | Path,
    *,
    seed: int = 0,
    person_budget_s: float = 20.0,
    action_budget_s: float = 45.0,
    size: DetectionDemoSize = DetectionDemoSize(),
    quiet: bool = False,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the detection step into ``out`` (see module doc); returns a JSON-ready summary (files, steps,
    seconds, held-out person AP@0.5 and frame-mAP@0.5, the detect-actions video and its counts)."""
    say = say or (lambda text: None if quiet else print(text, flush=True))
    out = Path(out)
    started = time.perf_counter()
    data_dir = demo_subdir(out, "detect_data")
    data = generate(
        "detect", data_dir, num_videos=size.videos, seed=seed + 3000, size=size.size, fps=25.0,
        duration=size.duration_s,
    )  # fmt: skip
    say(f"      {len(data.videos)} videos with 2-3 actors ({data.splits['train']} training, {data.splits['val']} "
        f"held out), {len(data.classes)} classes (4 interactions)")  # fmt: skip
    files = {role: out / name for role, name in FILES.items()}

    person_steps = _steps(size.person_steps, person_budget_s, PERSON_STEPS_PER_S)
    persons_run = demo_subdir(out, "persons_run")
    task = load_task_config(
        _config(PERSON_CONFIG),
        [
            f"data.train.annotations={data_dir / 'train.csv'}", f"data.val.annotations={data_dir / 'val.csv'}",
            f"model.image_size={size.person_image_size}", f"train.max_steps={person_steps}",
            f"train.ckpt_every={person_steps}", f"train.log_every={max(1, person_steps // 5)}", "train.eval_every=0",
            f"train.seed={seed}", "train.device=cpu", "train.tensorboard=false",
        ],
        tasks=("person-detection",), command="demo",
    )  # fmt: skip
    person_model = str(task.cfg.model.name)
    say(f"      training the person detector ({person_model}) for {person_steps} steps")
    t0 = time.perf_counter()
    persons = run_person_detection_training(task.cfg, persons_run, composed=task.composed, quiet=True)
    person_s = time.perf_counter() - t0
    copy_atomic(persons_run / FILES["person_detector"], files["person_detector"])
    person_ap = float(persons.metrics["person_ap50"])

    action_steps = _steps(size.action_steps, action_budget_s, ACTION_STEPS_PER_S)
    detect_run = demo_subdir(out, "detect_run")
    overrides = [
        f"data.videos={data_dir / 'videos'}", f"data.label_map={data_dir / 'label_map.pbtxt'}",
        f"data.train={data_dir / 'train.csv'}", f"data.val={data_dir / 'val.csv'}", f"data.transform.size={size.size}",
        f"train.max_steps={action_steps}", f"train.ckpt_every={action_steps}",
        f"train.log_every={max(1, action_steps // 5)}", "train.eval_every=0", f"train.seed={seed}",
        "train.device=cpu", "train.tensorboard=false",
    ]  # fmt: skip
    if size.widths is not None:
        overrides.append(f"model.backbone.widths=[{','.join(map(str, size.widths))}]")
    task = load_task_config(_config(ACTION_CONFIG), overrides, tasks=("detection",), command="demo")
    head = f"{task.cfg.model.head} head, {task.cfg.model.relation.geometry} geometry"
    say(f"      training the action detector ({task.cfg.model.backbone.name}, {head}) for {action_steps} steps")
    t0 = time.perf_counter()
    actions = run_detection_training(task.cfg, detect_run, composed=task.composed, quiet=True)
    action_s = time.perf_counter() - t0
    copy_atomic(detect_run / FILES["action_detector"], files["action_detector"])
    frame_map = float(actions.metrics["mAP"])
    say(f"      held out: person AP@0.5 {person_ap:.3f}  frame-mAP@0.5 (ground-truth boxes) {frame_map:.3f}")

    val_ids = sorted({row.split(",", 1)[0] for row in (data_dir / "val.csv").read_text().splitlines() if row})
    video = data_dir / "videos" / f"{val_ids[0]}.mp4"
    t0 = time.perf_counter()
    bundle = load_detector(files["action_detector"])
    source = person_box_source(detector=files["person_detector"], min_score=PERSON_MIN_SCORE, device="cpu")
    result = detect_actions(video, bundle, source, every_s=1.0, device="cpu")
    doc = result.to_dict(MIN_PROB)
    write_json_atomic(files["actions_json"], doc)
    write_text_atomic(files["actions_csv"], "".join(row + "\n" for row in result.ava_rows()))
    truth = [row for row in (data_dir / "val.csv").read_text().splitlines() if row.startswith(f"{video.stem},")]
    write_text_atomic(files["actions_truth"], "".join(row + "\n" for row in truth))
    render_detections(result, files["actions_mp4"], min_prob=MIN_PROB)
    boxes = sum(len(kf["actors"]) for kf in doc["keyframes"])
    say(f"      detect-actions on held-out {video.name}: {len(doc['keyframes'])} keyframes, {boxes} actor boxes "
        f"({time.perf_counter() - t0:.1f} s)")  # fmt: skip
    return {
        "videos": dict(data.splits),
        "size": size.size,
        "duration_s": size.duration_s,
        "classes": list(data.classes),
        "persons": {
            "model": person_model, "steps": person_steps, "budget_s": person_budget_s,
            "seconds": round(person_s, 1), "held_out": {"person_ap50": person_ap}, "run_dir": str(persons_run),
        },
        "actions": {
            "model": str(task.cfg.model.backbone.name), "head": task.cfg.model.head,
            "geometry": task.cfg.model.relation.geometry, "steps": action_steps, "budget_s": action_budget_s,
            "seconds": round(action_s, 1), "held_out": {k: float(v) for k, v in actions.metrics.items()},
            "run_dir": str(detect_run),
        },
        "video": str(video),
        "keyframes": len(doc["keyframes"]),
        "actor_boxes": boxes,
        "files": {role: str(path) for role, path in files.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip
